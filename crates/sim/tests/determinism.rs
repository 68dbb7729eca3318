//! A schedule is a function of its seed: run twice, it is the same step for step; and its
//! recorded draws replay it exactly.

use sim::{replay, simulate};

#[test]
fn one_seed_run_twice_gives_the_same_schedule() {
    for seed in [7, 1234, 99_991] {
        let a = simulate(seed, true);
        let b = simulate(seed, true);
        assert!(a.trace.len() > 20, "seed {seed}: a schedule of some length");
        assert_eq!(a.trace, b.trace, "seed {seed}: the traces differ");
        assert_eq!(a.draws, b.draws, "seed {seed}: the draws differ");
        assert_eq!(
            serde_json::to_string(&a.counts).unwrap_or_default(),
            serde_json::to_string(&b.counts).unwrap_or_default()
        );
        let again = replay(seed, a.draws.clone(), true);
        assert_eq!(
            a.trace, again.trace,
            "seed {seed}: the recorded draws replay it"
        );
    }
}

#[test]
fn different_seeds_give_different_schedules() {
    let a = simulate(11, true);
    let b = simulate(12, true);
    assert_ne!(a.trace, b.trace);
}
