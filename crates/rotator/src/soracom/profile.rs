//! The soracom-cli profile file, for both its readers: [`super::auth`] (the auth key and
//! endpoint a run logs in with) and [`crate::selfkey::ProfileStore`] (`rotate-soracom-key`
//! writes the new key back).
//!
//! - [`locate`]: `$SORACOM_PROFILE_DIR/<name>.json`, default `~/.soracom/<name>.json`.
//! - [`read`]: like soracom-cli, refused when group or others can read it (on Unix).
//! - [`parse`]: the file holds a secret, so an error gives the position, never the text.
//! - [`update`]: rewritten atomically with mode 0600, the members this tool does not know
//!   kept.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use super::AuthKey;
use crate::error::{Error, Result};
use crate::secret::Secret;

/// A profile: the members this tool reads, and every other member as it is. No `Debug`:
/// it holds the auth key.
#[derive(Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// `authKeyId`.
    pub auth_key_id: Option<String>,
    /// `authKey`, the secret.
    pub auth_key: Option<String>,
    /// `coverageType` (`jp` or `g`).
    pub coverage_type: Option<String>,
    /// `endpoint`, an API origin overriding the coverage's.
    pub endpoint: Option<String>,
    /// Every other member (`email`, `password`, `replacedAuthKeyId`, …), kept on a rewrite.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Why a profile could not be read or written. `Display` says what is wrong with the file,
/// without naming it, except in the `chmod` hint.
#[derive(Debug)]
pub enum ProfileError {
    /// It cannot be read (the kind is `NotFound` when it does not exist).
    Unreadable(std::io::Error),
    /// Group or others can read it.
    Open {
        /// Its permission bits.
        mode: u32,
        /// Its path, for the `chmod` hint.
        path: PathBuf,
    },
    /// It is not a JSON object of profile members (the position of the first problem).
    Invalid {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// Writing it failed; nothing was replaced.
    Unwritable(String),
}

impl ProfileError {
    /// Whether the profile does not exist.
    pub fn is_missing(&self) -> bool {
        matches!(self, ProfileError::Unreadable(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

impl std::fmt::Display for ProfileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProfileError::Unreadable(e) => write!(f, "cannot read: {e}"),
            ProfileError::Open { mode, path } => write!(
                f,
                "can be read by group or others (mode {mode:o}); run: chmod 600 {}",
                path.display()
            ),
            ProfileError::Invalid { line, column } => {
                write!(f, "is not valid JSON (line {line}, column {column})")
            }
            ProfileError::Unwritable(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ProfileError {}

/// The path of profile `name` (default `default`): in `$SORACOM_PROFILE_DIR` when it is set
/// and not empty, else in `~/.soracom`. `env` reads an environment variable; `home` is the
/// user's home directory.
pub fn locate(
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
    name: Option<&str>,
) -> Result<PathBuf> {
    let dir = match env("SORACOM_PROFILE_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => home.map(|h| h.join(".soracom")).ok_or_else(|| {
            Error::SoracomCredentials("no home directory to find soracom-cli profiles in".into())
        })?,
    };
    Ok(dir.join(format!("{}.json", name.unwrap_or("default"))))
}

/// Reads the profile at `path`, refused (as soracom-cli does) when group or others can read
/// it.
pub fn read(path: &Path) -> std::result::Result<Profile, ProfileError> {
    let meta = std::fs::metadata(path).map_err(ProfileError::Unreadable)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(ProfileError::Open {
                mode,
                path: path.to_path_buf(),
            });
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    read_any(path)
}

fn read_any(path: &Path) -> std::result::Result<Profile, ProfileError> {
    parse(&std::fs::read(path).map_err(ProfileError::Unreadable)?)
}

/// Parses a profile's bytes. A member this tool reads must be a string or null; the error
/// gives the position only (the parser's message may quote the file, which holds a secret).
pub fn parse(bytes: &[u8]) -> std::result::Result<Profile, ProfileError> {
    serde_json::from_slice(bytes).map_err(|e| ProfileError::Invalid {
        line: e.line(),
        column: e.column(),
    })
}

impl Profile {
    /// The auth key, when both its id and its secret are there and not empty.
    pub fn key(&self) -> Option<AuthKey> {
        match (self.auth_key_id.as_deref(), self.auth_key.as_deref()) {
            (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => Some(AuthKey {
                id: id.to_string(),
                secret: Secret::new(secret),
            }),
            _ => None,
        }
    }

    /// The string value of another member (`member` is not one of the typed ones), when it
    /// is a non-empty string.
    pub fn member(&self, member: &str) -> Option<&str> {
        self.other
            .get(member)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The profile as pretty JSON, members in name order, absent ones left out.
    pub fn to_json(&self) -> Vec<u8> {
        let mut members = self.other.clone();
        for (name, value) in [
            ("authKeyId", &self.auth_key_id),
            ("authKey", &self.auth_key),
            ("coverageType", &self.coverage_type),
            ("endpoint", &self.endpoint),
        ] {
            if let Some(v) = value {
                members.insert(name.into(), Value::String(v.clone()));
            }
        }
        // A map of strings and JSON values always serialises.
        serde_json::to_vec_pretty(&Value::Object(members)).unwrap_or_default()
    }
}

/// Reads the profile at `path` (its mode unchecked: the file is replaced by a private one),
/// lets `change` edit it, and writes it back atomically with mode 0600.
pub fn update(
    path: &Path,
    change: impl FnOnce(&mut Profile),
) -> std::result::Result<(), ProfileError> {
    let mut profile = read_any(path)?;
    change(&mut profile);
    write_private_atomically(path, &profile.to_json()).map_err(ProfileError::Unwritable)
}

/// Writes `data` to a temporary file with mode 0600 beside `path`, syncs it, and renames
/// it over `path`, so that a crash leaves the old file or the new one, never half of one.
fn write_private_atomically(path: &Path, data: &[u8]) -> std::result::Result<(), String> {
    use std::io::Write;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "profile".into());
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| {
        let mut f = options
            .open(&tmp)
            .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
        f.write_all(data)
            .and_then(|()| f.sync_all())
            .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("cannot replace the profile: {e}"))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_in_the_profile_dir_else_under_home() {
        let env = |k: &str| (k == "SORACOM_PROFILE_DIR").then(|| "/p".to_string());
        let path = locate(&env, None, Some("x")).ok();
        assert_eq!(path, Some(PathBuf::from("/p/x.json")));
        let empty = |_: &str| Some(String::new());
        let path = locate(&empty, Some(Path::new("/h")), None).ok();
        assert_eq!(path, Some(PathBuf::from("/h/.soracom/default.json")));
        assert!(locate(&empty, None, None).is_err());
    }

    #[test]
    fn a_bad_profile_is_refused_by_position_never_quoted() {
        for bad in [
            &br#"{"authKey": "secret-in-broken-json"#[..],
            br#"{"authKeyId": 5, "authKey": "secret-x"}"#,
            br#"["secret-x", "secret-y", null, null]"#,
            br#""secret-x""#,
            b"",
        ] {
            let e = parse(bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                e.starts_with("is not valid JSON (line ") && !e.contains("secret"),
                "{e}"
            );
        }
    }

    #[test]
    fn rewriting_keeps_the_members_it_does_not_know() {
        let text = br#"{"coverageType":"g","authKeyId":"keyId-1","authKey":"secret-1","email":"a@b","n":[1]}"#;
        let mut p = parse(text).unwrap_or_default();
        assert_eq!(p.key().map(|k| k.id), Some("keyId-1".to_string()));
        p.auth_key_id = Some("keyId-2".into());
        let back = parse(&p.to_json()).unwrap_or_default();
        assert_eq!(back.key().map(|k| k.id), Some("keyId-2".to_string()));
        assert_eq!(back.coverage_type.as_deref(), Some("g"));
        assert_eq!(back.member("email"), Some("a@b"));
        assert_eq!(back.other.get("n"), Some(&serde_json::json!([1])));
        assert!(parse(b"{}").is_ok_and(|p| p.key().is_none()));
    }
}
