//! The in-memory SORACOM transport (being written).
