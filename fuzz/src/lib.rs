//! The properties the fuzz targets (`fuzz_targets/`) check, on any input: each returns
//! `Err` with what was violated. Every parser they reach is in the pure core crate
//! (`rotator-core`), so the fuzz build needs neither the AWS SDK nor an HTTP client.
//!
//! `scripts/fuzz` replays `seeds/<target>/` and `regressions/<target>/` (every input a
//! fuzzer once found failing) through the targets before fuzzing them.

use rotator_core::profile;
use rotator_core::wire::{self, status_error, ErrorHeaders};

/// The configuration parser: a configuration that validates has targets; an error names
/// the file.
pub fn check_config(bytes: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(());
    };
    match rotator_core::Config::from_toml(text, std::path::Path::new("fuzz.toml")) {
        Ok(c) if c.targets.is_empty() => Err("a valid configuration without targets".into()),
        Ok(_) => Ok(()),
        Err(e) if !e.to_string().contains("fuzz.toml") => {
            Err(format!("an error that does not name the file: {e}"))
        }
        Err(_) => Ok(()),
    }
}

/// The soracom-cli profile (`rotator_core::profile`): its error never quotes the file
/// (it holds a secret): it is exactly `is not valid JSON (line N, column M)`. A profile that
/// parses, given a new auth key and written out, parses back to the same profile with that
/// key.
pub fn check_profile(bytes: &[u8]) -> Result<(), String> {
    let mut p = match profile::parse(bytes) {
        Ok(p) => p,
        Err(e) => return position_only(&e.to_string()),
    };
    p.auth_key_id = Some("keyId-fuzz".into());
    p.auth_key = Some("secret-fuzz".into());
    match profile::parse(&p.to_json()) {
        Ok(back) if back == p => Ok(()),
        Ok(_) => Err("the rewritten profile reads back differently".into()),
        Err(e) => Err(format!("the rewritten profile does not parse: {e}")),
    }
}

fn position_only(m: &str) -> Result<(), String> {
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

/// The client's error mapping, for the status, content type and body packed in `bytes` (2
/// bytes of status, 1 byte selecting a content type, the rest the body): the message is
/// one line, bounded, and names the status. The body decoders do not panic on it.
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
    let headers = ErrorHeaders {
        content_type: Some(content_type).filter(|c| !c.is_empty()),
        ..ErrorHeaders::default()
    };
    let msg = status_error("fuzz", status, headers, body).to_string();
    if msg.contains(['\n', '\r']) {
        return Err(format!("a multi-line message: {msg:?}"));
    }
    if msg.len() > 1024 {
        return Err(format!("a message of {} bytes", msg.len()));
    }
    if !msg.contains(&format!("HTTP {status}")) {
        return Err(format!("the status is not named: {msg}"));
    }
    // The body decoders must not panic on it either.
    let _ = wire::credentials(body);
    let _ = wire::groups(body);
    let _ = wire::group(body);
    let _ = wire::vpgs(body);
    let _ = wire::log_entries(body);
    Ok(())
}

/// The reference walker on any JSON value: rewriting the first referenced set to a new id
/// moves exactly the references to it, in their shapes and places, and `points_to` confirms
/// it; the same holds through `group_slots` for each namespace.
pub fn check_refs(bytes: &[u8]) -> Result<(), String> {
    use rotator_core::refs::{find_refs, group_slots, points_to, rewrite};
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
