//! Shared settings of the property-based fuzz tests (`tests/fuzz_*.rs`).

#![allow(dead_code)]

use proptest::prelude::ProptestConfig;

/// Cases per property: 1000 in CI, `PROPTEST_CASES` for a longer run.
pub fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

/// The fuzzers' proptest configuration. Failures are turned into
/// regression tests by hand, not into files beside the sources.
pub fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}
