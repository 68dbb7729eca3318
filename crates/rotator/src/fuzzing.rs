//! Entry points for the fuzz targets in `fuzz/` (and their corpus replay in tests): thin,
//! pure wrappers over the parsers that meet untrusted bytes — the configuration, a
//! soracom-cli profile, SORACOM answers (success bodies and the error mapping). Not part
//! of the supported API.

use reqwest::header::{HeaderMap, HeaderValue};

use crate::soracom::client;

/// Parses configuration text; `Ok` only for a configuration that validated.
pub fn config(text: &str) -> Result<crate::Config, crate::ConfigError> {
    crate::Config::from_toml(text, std::path::Path::new("fuzz.toml"))
}

/// Parses a soracom-cli profile; the error is the message the user would see.
pub fn profile(bytes: &[u8]) -> Result<(), String> {
    crate::soracom::profile::parse(bytes)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The message the client gives for a non-2xx answer with this status, content type and
/// body.
pub fn soracom_error(status: u16, content_type: &str, body: &[u8]) -> String {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        headers.insert("content-type", v);
    }
    client::error_from("fuzz", status, &headers, body).to_string()
}

/// Decodes `body` as each success answer the client reads; returns how many decoded.
pub fn soracom_bodies(body: &[u8]) -> usize {
    usize::from(client::decode_credentials(body).is_ok())
        + usize::from(client::decode_groups(body).is_ok())
        + usize::from(client::decode_group(body).is_ok())
}

/// The configuration parser's properties: a configuration that validates has targets;
/// an error names the file.
pub fn check_config(bytes: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(());
    };
    match config(text) {
        Ok(c) if c.targets.is_empty() => Err("a valid configuration without targets".into()),
        Ok(_) => Ok(()),
        Err(e) if !e.to_string().contains("fuzz.toml") => {
            Err(format!("an error that does not name the file: {e}"))
        }
        Err(_) => Ok(()),
    }
}

/// The profile parser's properties: its error never quotes the file (it holds a secret):
/// it is exactly `is not valid JSON (line N, column M)`.
pub fn check_profile(bytes: &[u8]) -> Result<(), String> {
    let Err(m) = profile(bytes) else {
        return Ok(());
    };
    let position = m
        .strip_prefix("is not valid JSON (line ")
        .and_then(|r| r.strip_suffix(')'))
        .and_then(|r| r.split_once(", column "));
    match position {
        Some((line, column))
            if !line.is_empty()
                && !column.is_empty()
                && line
                    .bytes()
                    .chain(column.bytes())
                    .all(|b| b.is_ascii_digit()) =>
        {
            Ok(())
        }
        _ => Err(format!("an error that may quote the profile: {m}")),
    }
}

/// The error mapping's properties, for the status, content type and body packed in
/// `bytes` (2 bytes of status, 1 byte selecting a content type, the rest the body): the
/// message is one line, bounded, and names the status.
pub fn check_soracom_error(bytes: &[u8]) -> Result<(), String> {
    let (head, body) = bytes.split_at(bytes.len().min(3));
    let status = match head {
        [a, b, ..] => 400 + (u16::from_be_bytes([*a, *b]) % 200),
        _ => 500,
    };
    let content_type = match head.get(2).map(|c| c % 4) {
        Some(0) => "application/json",
        Some(1) => "text/html",
        Some(2) => "text/plain; charset=utf-8",
        _ => "",
    };
    let msg = soracom_error(status, content_type, body);
    if msg.contains(['\n', '\r']) {
        return Err(format!("a multi-line message: {msg:?}"));
    }
    if msg.len() > 1024 {
        return Err(format!("a message of {} bytes", msg.len()));
    }
    if !msg.contains(&format!("HTTP {status}")) {
        return Err(format!("the status is not named: {msg}"));
    }
    let _ = soracom_bodies(body);
    Ok(())
}

/// The reference walker's properties on any JSON value: rewriting the first referenced set
/// to a new id moves exactly the references to it, in their shapes and places, and
/// `points_to` confirms it; the same holds through `group_slots` for each namespace.
pub fn check_refs(bytes: &[u8]) -> Result<(), String> {
    use crate::refs::{find_refs, group_slots, points_to, rewrite};
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(());
    };
    let refs = find_refs(&value);
    let Some(from) = refs.first().map(|r| r.set_id.clone()) else {
        return Ok(());
    };
    let to = format!("{from}-new");
    let moved = rewrite(&value, &refs, &from, &to);
    if !points_to(&moved, &refs, &from, &to) {
        return Err("points_to denies the rewrite".into());
    }
    let after = find_refs(&moved);
    if after.len() != refs.len() {
        return Err(format!("{} references became {}", refs.len(), after.len()));
    }
    for (a, b) in refs.iter().zip(&after) {
        let want = if a.set_id == from { &to } else { &a.set_id };
        if a.path != b.path || a.shape != b.shape || &b.set_id != want {
            return Err(format!("reference {a:?} became {b:?}"));
        }
    }
    if let serde_json::Value::Object(config) = &value {
        for slot in group_slots("g", None, config, |id| id == from) {
            let new = rewrite(&slot.value, &slot.refs, &from, &to);
            if find_refs(&new).iter().any(|r| r.set_id == from) {
                return Err(format!("a slot still references {from} after the rewrite"));
            }
        }
    }
    Ok(())
}
