//! Where tests leave the figures `scripts/reliability` reports: `<target>/reliability/`.
//!
//! A figure that cannot be written fails the test that measured it: a report must never
//! silently miss a part.

use std::io::Write;
use std::path::PathBuf;

use serde_json::Value;

/// `<target>/reliability`, found from the running test binary (`<target>/<profile>/deps/…`),
/// or `$CARGO_TARGET_DIR/reliability` when that is set.
pub fn dir() -> PathBuf {
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR").filter(|t| !t.is_empty()) {
        return PathBuf::from(t).join("reliability");
    }
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("the test binary's path: {e}"));
    // <target>/<profile>/deps/<binary>
    let target = exe
        .ancestors()
        .nth(3)
        .unwrap_or_else(|| panic!("{} is not inside a target directory", exe.display()));
    target.join("reliability")
}

/// Appends one JSON line to `file`. One `write` of a whole line on a file opened with
/// O_APPEND, so lines from tests running in parallel never interleave.
///
/// # Panics
/// When the line cannot be written.
pub fn append(file: &str, line: &Value) {
    let dir = dir();
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    let mut text = line.to_string();
    text.push('\n');
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(file))
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .unwrap_or_else(|e| panic!("writing figures to {file}: {e}"));
}

/// Writes a whole figures document to `file`.
///
/// # Panics
/// When it cannot be written.
pub fn write(file: &str, doc: &Value) {
    let dir = dir();
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    let text = serde_json::to_string_pretty(doc).unwrap_or_else(|e| panic!("figures: {e}"));
    std::fs::write(dir.join(file), text)
        .unwrap_or_else(|e| panic!("writing figures to {file}: {e}"));
}
