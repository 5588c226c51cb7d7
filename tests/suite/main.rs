//! The integration tests, one module per subject, built as one test binary: each test binary
//! links all of Burn, so one binary instead of twelve saves the other eleven links.
//! Run one subject with `cargo test --release --test suite <module>::`.
//!
//! The harness is `harness.rs` (libtest-mimic): each module lists its tests in `tests()`, with
//! what each needs (`needs.rs`), and a test this machine or build cannot run is reported as
//! ignored with the reason.

mod backends;
mod browser;
mod charts;
mod common;
mod conv;
mod data_info;
mod ensemble;
mod errors;
mod experiments;
mod fuzz;
mod gradcheck;
mod harness;
mod images;
mod interop;
mod limits;
mod needs;
mod output;
mod photos;
mod predict;
mod resume;
mod runs;
mod serve;
mod tracking;
mod train;

fn main() -> std::process::ExitCode {
    harness::run(
        [
            backends::tests(),
            browser::tests(),
            charts::tests(),
            conv::tests(),
            data_info::tests(),
            ensemble::tests(),
            errors::tests(),
            experiments::tests(),
            fuzz::tests(),
            gradcheck::tests(),
            images::tests(),
            interop::tests(),
            limits::tests(),
            output::tests(),
            photos::tests(),
            predict::tests(),
            resume::tests(),
            runs::tests(),
            serve::tests(),
            tracking::tests(),
            train::tests(),
        ]
        .into_iter()
        .flatten()
        .collect(),
    )
}
