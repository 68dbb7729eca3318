//! The fuzz targets' properties (`rotator::fuzzing`) on their seed corpora and on every
//! input a fuzzer once found failing (`fuzz/regressions/<target>/`), as plain tests, so the
//! suite keeps them without a fuzzer installed. `scripts/fuzz` runs the real fuzzers.

use std::path::PathBuf;

type Check = fn(&[u8]) -> Result<(), String>;

const TARGETS: [(&str, Check); 4] = [
    ("config", rotator::fuzzing::check_config),
    ("profile", rotator::fuzzing::check_profile),
    ("soracom_response", rotator::fuzzing::check_soracom_error),
    ("refs", rotator::fuzzing::check_refs),
];

fn inputs(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b)))
        .collect();
    out.sort();
    out
}

#[test]
fn seeds_and_regressions_hold_every_property() {
    let mut checked = 0;
    for (target, check) in TARGETS {
        let seeds = inputs("seeds", target);
        assert!(!seeds.is_empty(), "no seeds for {target}");
        for (path, bytes) in seeds.into_iter().chain(inputs("regressions", target)) {
            if let Err(e) = check(&bytes) {
                panic!("{target}: {}: {e}", path.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 8);
}

#[test]
fn a_long_soracom_error_message_is_one_bounded_line() {
    // Valid JSON whose message holds an escaped newline and 100 kB.
    let mut body = br#"{"code":"X","message":"line one\nline two "#.to_vec();
    body.extend(std::iter::repeat_n(b'a', 100_000));
    body.extend_from_slice(br#""}"#);
    let mut input = vec![0x01, 0x90, 0x00];
    input.extend(body);
    let result = rotator::fuzzing::check_soracom_error(&input);
    assert!(
        result.is_ok(),
        "{}",
        result.unwrap_err().chars().take(300).collect::<String>()
    );
}
