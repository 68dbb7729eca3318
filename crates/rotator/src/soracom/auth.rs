//! Where the SORACOM endpoint and auth key come from.
//!
//! Precedence follows soracom-cli, as docs/configuration.md (*Credentials and endpoints*)
//! says: the endpoint is `SORACOM_ENDPOINT` (an origin without `/v1`), else the configured
//! coverage, else the profile's `endpoint` or `coverageType`, else Japan coverage
//! ([`endpoint`], for the CLI and the Lambda function alike). The auth key is
//! `SORACOM_AUTH_KEY_ID` + `SORACOM_AUTH_KEY`, else the profile
//! (`$SORACOM_PROFILE_DIR/<name>.json`, default `~/.soracom/<name>.json`), which, like
//! soracom-cli, is refused when group or others can read it (`super::profile`).

use std::path::Path;

use super::profile::ProfileError;
use rotator_core::config::Coverage;
pub(crate) use rotator_core::endpoint::{AuthKey, Endpoint};
use rotator_core::secret::Secret;

use crate::error::{Error, Result};

/// Resolves the endpoint and auth key. `env` reads an environment variable (injected for
/// tests); `home` is the user's home directory.
pub fn resolve(
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
    coverage: Option<Coverage>,
    profile: Option<&str>,
) -> Result<(Endpoint, AuthKey)> {
    let env = |k: &str| env(k).filter(|v| !v.is_empty());
    let env_key = match (env("SORACOM_AUTH_KEY_ID"), env("SORACOM_AUTH_KEY")) {
        (Some(id), Some(secret)) => Some(AuthKey {
            id,
            secret: Secret::new(secret),
        }),
        (None, None) => None,
        _ => {
            return Err(Error::SoracomCredentials(
                "set both SORACOM_AUTH_KEY_ID and SORACOM_AUTH_KEY, or neither".into(),
            ))
        }
    };
    let env_endpoint = env("SORACOM_ENDPOINT");
    let need_profile =
        profile.is_some() || env_key.is_none() || (env_endpoint.is_none() && coverage.is_none());
    let loaded = if need_profile {
        let path = super::profile::locate(&env, home, profile)?;
        let fail = |m: String| Err(Error::SoracomCredentials(m));
        match super::profile::read(&path) {
            Ok(p) => Some((path, p)),
            // Without an explicit profile, a missing default profile only matters when it
            // was the sole source of the auth key.
            Err(e) if e.is_missing() && profile.is_none() && env_key.is_some() => None,
            Err(e) if e.is_missing() && profile.is_none() => {
                return fail(format!(
                    "no SORACOM auth key: set SORACOM_AUTH_KEY_ID and SORACOM_AUTH_KEY, or create the soracom-cli profile {}",
                    path.display()
                ))
            }
            Err(e) if e.is_missing() => return fail(format!("profile {} does not exist", path.display())),
            Err(ProfileError::Unreadable(e)) => {
                return fail(format!("cannot read profile {}: {e}", path.display()))
            }
            Err(e) => return fail(format!("profile {} {e}", path.display())),
        }
    } else {
        None
    };

    let endpoint = endpoint(
        env_endpoint.as_deref(),
        coverage,
        loaded.as_ref().map(|(path, p)| (path.as_path(), p)),
    )?;
    let key = match env_key {
        Some(k) => k,
        None => {
            let Some((path, p)) = loaded else {
                return Err(Error::SoracomCredentials("no SORACOM auth key".into()));
            };
            p.key().ok_or_else(|| {
                Error::SoracomCredentials(format!(
                    "profile {} has no authKeyId/authKey; soracom-key-rotator logs in with an auth key",
                    path.display()
                ))
            })?
        }
    };
    Ok((endpoint, key))
}

/// The API origin: `SORACOM_ENDPOINT` (`over`), else the configured coverage, else the
/// profile's `endpoint` or `coverageType` (the Lambda function has no profile), else Japan
/// coverage.
pub fn endpoint(
    over: Option<&str>,
    coverage: Option<Coverage>,
    profile: Option<(&Path, &super::profile::Profile)>,
) -> Result<Endpoint> {
    Ok(
        match (
            over.map(str::trim).filter(|e| !e.is_empty()),
            coverage,
            profile,
        ) {
            (Some(e), _, _) => origin(e, "SORACOM_ENDPOINT")?,
            (None, Some(c), _) => Endpoint(c.endpoint().to_string()),
            (None, None, Some((path, p))) => match (&p.endpoint, p.coverage_type.as_deref()) {
                (Some(e), _) if !e.is_empty() => {
                    origin(e, &format!("endpoint in {}", path.display()))?
                }
                (_, Some("g")) => Endpoint(Coverage::G.endpoint().to_string()),
                _ => Endpoint(Coverage::Jp.endpoint().to_string()),
            },
            (None, None, None) => Endpoint(Coverage::Jp.endpoint().to_string()),
        },
    )
}

/// `value` as an API origin ([`rotator_core::endpoint::origin`]); a bad one is an error of
/// the SORACOM credentials.
pub fn origin(value: &str, what: &str) -> Result<Endpoint> {
    rotator_core::endpoint::origin(value, what).map_err(|e| Error::SoracomCredentials(e.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn write_profile(dir: &Path, name: &str, body: &str, mode: u32) {
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, body).unwrap_or_else(|e| panic!("{e}"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn environment_key_and_endpoint_win() {
        let env = env_of(&[
            ("SORACOM_AUTH_KEY_ID", "keyId-1"),
            ("SORACOM_AUTH_KEY", "secret-1"),
            ("SORACOM_ENDPOINT", "http://127.0.0.1:9/v1/"),
        ]);
        let r = resolve(&env, None, Some(Coverage::G), None);
        let Ok((ep, key)) = r else {
            panic!("resolve failed")
        };
        assert_eq!(ep, Endpoint("http://127.0.0.1:9".into()));
        assert_eq!(key.id, "keyId-1");
        assert_eq!(key.secret.expose(), "secret-1");
    }

    #[test]
    fn coverage_picks_the_endpoint() {
        let env = env_of(&[("SORACOM_AUTH_KEY_ID", "k"), ("SORACOM_AUTH_KEY", "s")]);
        let Ok((ep, _)) = resolve(&env, None, Some(Coverage::G), None) else {
            panic!()
        };
        assert_eq!(ep.0, "https://g.api.soracom.io");
    }

    #[test]
    fn half_a_key_is_an_error() {
        let env = env_of(&[("SORACOM_AUTH_KEY_ID", "k")]);
        let err = resolve(&env, None, None, None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("both"), "{err}");
    }

    #[test]
    fn reads_a_private_profile_and_refuses_an_open_one() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let d = dir.path().to_string_lossy().to_string();
        write_profile(
            dir.path(),
            "default",
            r#"{"coverageType":"g","authKeyId":"keyId-p","authKey":"secret-p"}"#,
            0o600,
        );
        let env = env_of(&[("SORACOM_PROFILE_DIR", &d)]);
        let Ok((ep, key)) = resolve(&env, None, None, None) else {
            panic!("resolve failed")
        };
        assert_eq!(ep.0, "https://g.api.soracom.io");
        assert_eq!(key.id, "keyId-p");

        write_profile(
            dir.path(),
            "open",
            r#"{"authKeyId":"keyId-o","authKey":"secret-o"}"#,
            0o644,
        );
        let err = resolve(&env, None, None, Some("open"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("chmod 600"), "{err}");

        write_profile(
            dir.path(),
            "bad",
            r#"{"authKeyId": "secret-in-broken-json"#,
            0o600,
        );
        let err = resolve(&env, None, None, Some("bad"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("not valid JSON") && !err.contains("secret-in"),
            "{err}"
        );

        write_profile(dir.path(), "pw", r#"{"email":"a@b","password":"x"}"#, 0o600);
        let err = resolve(&env, None, None, Some("pw"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("no authKeyId"), "{err}");

        let err = resolve(&env, None, None, Some("absent"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn no_credentials_at_all_says_what_to_set() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let env = env_of(&[]);
        let err = resolve(&env, Some(dir.path()), None, None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("SORACOM_AUTH_KEY_ID"), "{err}");
    }
}
