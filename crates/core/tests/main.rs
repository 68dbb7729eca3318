//! The core crate's one integration-test binary.

// The fuzz targets' seeds and regressions, replayed through their properties.
mod fuzz_seeds;

// Every relative link and anchor in README.md, CONTRIBUTING.md and docs/*.md resolves.
mod docs;
