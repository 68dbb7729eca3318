//! SORACOM's API origins: which values may be an endpoint, and the AuthKey sent to it.
//!
//! The AuthKey, the API key and the token (and new AWS secrets) go to the endpoint, so only
//! `https://` origins are accepted, or `http://` to a loopback host (a local emulator).

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

/// A value that is not an acceptable API origin; the message names where it came from,
/// never the value (it may hold a credential).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadOrigin(pub String);

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
pub fn origin(value: &str, what: &str) -> Result<Endpoint, BadOrigin> {
    let v = value.trim().trim_end_matches('/');
    let v = v.strip_suffix("/v1").unwrap_or(v);
    let bad = |why: &str| BadOrigin(format!("{what}: {why}"));
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
}
