//! The fuzz targets' properties live in the fuzz crate (`fuzz/src/lib.rs`) and reach only
//! this crate, so the plain test suite replays every seed (`fuzz/seeds/<target>/`) and
//! every input a fuzzer once found failing (`fuzz/regressions/<target>/`) through them, as
//! `scripts/fuzz` does before it fuzzes. It also keeps that replay from going quiet: every
//! target has seeds, is a bin of the fuzz crate, and is one `scripts/fuzz` runs.

use std::path::{Path, PathBuf};

#[path = "../../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod properties;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_fuzz_target_has_seeds_and_is_replayed_by_scripts_fuzz() {
    let fuzz = root().join("fuzz");
    let mut targets: Vec<String> = files(&fuzz.join("fuzz_targets"))
        .iter()
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().to_string()))
        .collect();
    targets.sort();
    assert!(targets.len() >= 4, "{targets:?}");

    let script = read(&root().join("scripts/fuzz"));
    let mut replayed: Vec<String> = script
        .lines()
        .find_map(|l| l.trim().strip_prefix("for t in ")?.strip_suffix("; do"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    replayed.sort();
    assert_eq!(
        replayed, targets,
        "the targets scripts/fuzz replays and fuzzes"
    );

    let manifest = read(&fuzz.join("Cargo.toml"));
    for t in &targets {
        assert!(
            manifest.contains(&format!("name = \"{t}\"\npath = \"fuzz_targets/{t}.rs\"")),
            "{t} is not a bin of fuzz/Cargo.toml"
        );
        assert!(
            !files(&fuzz.join("seeds").join(t)).is_empty(),
            "no seeds for {t}"
        );
    }
    // A regression outside regressions/<target>/ would be replayed by no target.
    let stray = files(&fuzz.join("regressions"));
    assert!(stray.is_empty(), "not in a target's folder: {stray:?}");
    for dir in std::fs::read_dir(fuzz.join("regressions"))
        .into_iter()
        .flatten()
    {
        let name = dir.map(|d| d.file_name().to_string_lossy().to_string());
        let name = name.unwrap_or_default();
        assert!(targets.contains(&name), "regressions/{name} is no target's");
    }
}

/// The property of fuzz target `target`.
fn property(target: &str) -> fn(&[u8]) -> Result<(), String> {
    match target {
        "config" => properties::check_config,
        "profile" => properties::check_profile,
        "soracom_response" => properties::check_soracom_error,
        "refs" => properties::check_refs,
        other => panic!("fuzz target {other} has no property here: add it"),
    }
}

#[test]
fn every_seed_and_regression_holds_its_target_s_property() {
    let fuzz = root().join("fuzz");
    let mut replayed = 0;
    for target in files(&fuzz.join("fuzz_targets")) {
        let name = target
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let check = property(&name);
        for dir in ["seeds", "regressions"] {
            for input in files(&fuzz.join(dir).join(&name)) {
                let bytes =
                    std::fs::read(&input).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
                if let Err(e) = check(&bytes) {
                    panic!("{}: {e}", input.display());
                }
                replayed += 1;
            }
        }
    }
    assert!(replayed >= 8, "only {replayed} inputs replayed");
}
