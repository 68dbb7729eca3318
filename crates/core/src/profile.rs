//! The soracom-cli profile's format: the members this tool reads and writes, every other
//! member kept as it is. Reading and writing the file is the `rotator` crate's
//! (`soracom::profile`).

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::endpoint::AuthKey;
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

#[cfg(test)]
mod tests {
    use super::*;

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
