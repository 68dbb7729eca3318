//! Where the SORACOM endpoint and auth key come from.
//!
//! Precedence follows soracom-cli, as the README's *Credentials* says: the endpoint is
//! `SORACOM_ENDPOINT` (an origin without `/v1`), else the configured coverage, else the
//! profile's `endpoint` or `coverageType`, else Japan coverage ([`endpoint`], for the CLI
//! and the Lambda function alike). The auth key is
//! `SORACOM_AUTH_KEY_ID` + `SORACOM_AUTH_KEY`, else the profile
//! (`$SORACOM_PROFILE_DIR/<name>.json`, default `~/.soracom/<name>.json`), which, like
//! soracom-cli, is refused when group or others can read it ([`super::profile`]).

use std::path::Path;

use super::profile::ProfileError;
use crate::config::Coverage;
use crate::error::{Error, Result};
use crate::secret::Secret;

/// A SORACOM auth key (id + secret).
#[derive(Clone, Debug)]
pub struct AuthKey {
    /// Auth key id (`keyId-…`).
    pub id: String,
    /// Auth key secret (`secret-…`).
    pub secret: Secret,
}

/// The API origin to call, without `/v1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint(pub String);

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

/// SORACOM's own API origins (Japan and global coverage, and the API sandbox).
pub const SORACOM_ORIGINS: &[&str] = &[
    "https://api.soracom.io",
    "https://g.api.soracom.io",
    "https://api-sandbox.soracom.io",
    "https://g.api-sandbox.soracom.io",
];

/// `value` as an API origin: trimmed, without a trailing `/` or `/v1`; `https://` only,
/// except `http://` to a loopback host (a local emulator). The auth key, the API key and
/// the token (and new AWS secrets) go to it, so nothing else is accepted. `what` names
/// where it came from in the error (never the value: it may hold a credential).
pub fn origin(value: &str, what: &str) -> Result<Endpoint> {
    let v = value.trim().trim_end_matches('/');
    let v = v.strip_suffix("/v1").unwrap_or(v);
    let bad = |why: &str| Error::SoracomCredentials(format!("{what}: {why}"));
    if v.contains(char::is_whitespace) || v.contains(['@', '?', '#']) {
        return Err(bad("is not an API origin (scheme://host[:port])"));
    }
    let (scheme, rest) = v
        .split_once("://")
        .ok_or_else(|| bad("is not an API origin (scheme://host[:port])"))?;
    let host = host_of(rest);
    match scheme {
        "https" if !host.is_empty() => Ok(Endpoint(v.to_string())),
        "http" if is_loopback(host) => Ok(Endpoint(v.to_string())),
        "http" => Err(bad(
            "plain http is accepted only for a loopback host (127.0.0.1, ::1, localhost); use https",
        )),
        _ => Err(bad("is not an https origin")),
    }
}

/// Whether `endpoint` is one of SORACOM's own API origins.
pub fn is_soracom(endpoint: &Endpoint) -> bool {
    SORACOM_ORIGINS.contains(&endpoint.0.as_str())
}

/// The host of `host[:port][/path]` (brackets of an IPv6 literal kept off).
fn host_of(rest: &str) -> &str {
    let authority = rest.split('/').next().unwrap_or_default();
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn only_https_or_a_loopback_host_is_an_origin() {
        for good in [
            "https://api.soracom.io",
            "https://g.api.soracom.io/v1/",
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:9",
            "https://proxy.example.com:8443",
        ] {
            assert!(origin(good, "x").is_ok(), "{good}");
        }
        for bad in [
            "http://api.soracom.io",
            "http://10.0.0.1",
            "http://127.0.0.1.evil.example",
            "ftp://x",
            "api.soracom.io",
            "https://user:pw@api.soracom.io",
            "https://",
            "http://localhost.example.com",
        ] {
            let e = origin(bad, "SORACOM_ENDPOINT").err().map(|e| e.to_string());
            assert!(
                e.as_deref()
                    .is_some_and(|m| m.contains("SORACOM_ENDPOINT") && !m.contains(bad)),
                "{bad}: {e:?}"
            );
        }
        assert!(is_soracom(&Endpoint("https://api.soracom.io".into())));
        assert!(!is_soracom(&Endpoint("https://api.soracom.io.evil".into())));
    }

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
