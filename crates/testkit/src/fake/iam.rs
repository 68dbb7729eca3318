//! The in-memory IAM (being written).
