//! Placeholder until the first seeds run.
