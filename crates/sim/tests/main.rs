//! The simulator's own tests: fixed seeds, determinism, regression seeds.

mod seeds;
