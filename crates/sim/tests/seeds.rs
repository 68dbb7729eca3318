//! A fixed range of seeds, in two halves so the two cores share them: every schedule keeps
//! every promise. `scripts/simulate` runs more (docs/RELIABILITY.md, *Simulation*).

use sim::simulate;

/// Schedules per half: about 25 s each in a debug build on this machine (2 cores).
const PER_HALF: u64 = 750;

fn run(first: u64) {
    let mut broken = Vec::new();
    for seed in first..first + PER_HALF {
        let ran = simulate(seed, false);
        assert!(ran.counts.steps > 0, "seed {seed} took no step");
        if !ran.violations.is_empty() {
            broken.push(format!(
                "seed {seed}: {} (replay: scripts/simulate --seed {seed})",
                ran.violations
                    .iter()
                    .map(|(step, v)| format!("step {step}: {v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn the_first_half_of_the_fixed_seeds_keeps_every_promise() {
    run(1);
}

#[test]
fn the_second_half_of_the_fixed_seeds_keeps_every_promise() {
    run(1 + PER_HALF);
}
