//! The soracom-cli profile file, for both its readers: [`super::auth`] (the auth key and
//! endpoint a run logs in with) and [`crate::selfkey::ProfileStore`] (`rotate-soracom-key`
//! writes the new key back).
//!
//! - [`locate`]: `$SORACOM_PROFILE_DIR/<name>.json`, default `~/.soracom/<name>.json`.
//! - [`read`]: like soracom-cli, refused when group or others can read it (on Unix).
//! - [`parse`] ([`rotator_core::profile`]): the file holds a secret, so an error gives the
//!   position, never the text.
//! - [`update`]: rewritten atomically with mode 0600, the members this tool does not know
//!   kept.

use std::path::{Path, PathBuf};

pub(crate) use rotator_core::profile::{parse, Profile, ProfileError};

use crate::error::{Error, Result};

/// The path of profile `name` (default `default`): in `$SORACOM_PROFILE_DIR` when it is set
/// and not empty, else in `~/.soracom`. `env` reads an environment variable; `home` is the
/// user's home directory.
pub(crate) fn locate(
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
pub(crate) fn read(path: &Path) -> std::result::Result<Profile, ProfileError> {
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

/// Reads the profile at `path` (its mode unchecked: the file is replaced by a private one),
/// lets `change` edit it, and writes it back atomically with mode 0600.
pub(crate) fn update(
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
}
