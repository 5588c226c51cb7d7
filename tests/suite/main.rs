//! The integration tests, one module per subject, built as one test binary: each test binary
//! links all of Burn, so one binary instead of twelve saves the other eleven links.
//! Run one subject with `cargo test --release --test suite <module>::`.

mod backends;
mod browser;
mod charts;
mod common;
mod data_info;
mod errors;
mod experiments;
mod fuzz;
mod gradcheck;
mod images;
mod interop;
mod output;
mod predict;
mod resume;
mod serve;
mod train;
