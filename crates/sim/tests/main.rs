//! The simulator's tests: a fixed set of seeds keeps every promise, a schedule replays
//! exactly, and each failure the simulator found replays without breaking anything now.

mod determinism;
mod regressions;
mod seeds;
