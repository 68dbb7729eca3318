//! Every failure the simulator found, as the schedule that showed it (`regressions/*.txt`:
//! `seed S`, `draws d,d,…`, and `shows <text>` lines the schedule's trace must contain, so
//! that a change of the simulator that no longer leads there fails here instead of passing
//! silently). Each replays without breaking a promise.

use std::path::Path;

use sim::replay;

#[test]
fn every_recorded_failure_replays_without_breaking_a_promise() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "the two known failures at least");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let (seed, draws, shows) = parse(&text);
        let ran = replay(seed, draws, true);
        let trace = ran.trace.join("\n");
        assert!(
            ran.violations.is_empty(),
            "{}: {:?}\n{trace}",
            path.display(),
            ran.violations
        );
        for s in &shows {
            assert!(
                trace.contains(s.as_str()),
                "{}: the schedule no longer shows {s:?}; record it again (scripts/simulate)\n{trace}",
                path.display()
            );
        }
    }
}

fn parse(text: &str) -> (u64, Vec<u32>, Vec<String>) {
    let mut seed = 0;
    let mut draws = Vec::new();
    let mut shows = Vec::new();
    for line in text.lines() {
        if let Some(s) = line.strip_prefix("seed ") {
            seed = s.trim().parse().unwrap_or(0);
        } else if let Some(d) = line.strip_prefix("draws ") {
            draws = d.split(',').filter_map(|x| x.trim().parse().ok()).collect();
        } else if let Some(s) = line.strip_prefix("shows ") {
            shows.push(s.to_string());
        }
    }
    (seed, draws, shows)
}
