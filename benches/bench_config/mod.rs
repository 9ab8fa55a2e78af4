//! Shared criterion settings of the benches.

use std::time::Duration;

use criterion::Criterion;

/// Short runs, so the whole `cargo bench` stays within a few minutes on two
/// cores; raise these (or pass `--measurement-time`) for publishable
/// numbers. Plots cost more than the measurements here; reports and
/// baselines (`--save-baseline`, `--baseline`) still work without them.
pub fn config(measurement: Duration, samples: usize) -> Criterion {
    Criterion::default()
        .without_plots()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(measurement)
        .sample_size(samples)
}
