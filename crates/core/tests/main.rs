//! The core crate's one integration-test binary.

// The fuzz targets' seeds and regressions, replayed through their properties.
mod fuzz_seeds;
