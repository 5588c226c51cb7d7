//! `digits eval`: test accuracy, per-class accuracy and the confusion matrix of a run, or of
//! several voting.

use std::path::PathBuf;
use std::process::ExitCode;

use digits::backend::BackendName;
use digits::train::Ensemble;

use crate::cli::devices;

// The arguments of `digits eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run folder (its newest epoch) or a checkpoint folder; several vote (most votes wins, a
    /// tie goes to the larger summed probability), and each one's accuracy is shown too.
    #[arg(required = true, value_name = "RUN")]
    pub paths: Vec<PathBuf>,
    /// The run's data folder: the four MNIST IDX files, or its folder of images (default:
    /// where the run found them).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where to compute (any backend reads any checkpoint).
    #[arg(long, value_enum, default_value_t = BackendName::Auto)]
    pub backend: BackendName,
    /// The device server for --backend remote: ws://HOST:PORT.
    #[arg(long, value_name = "URL")]
    pub remote: Option<String>,
}

/// Prints the model's path (or each member's accuracy) and the confusion matrix on the test
/// split.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let device = devices(args.backend, args.remote.as_deref())?.eval;
    let ensemble = Ensemble::load(&args.paths, &device)?;
    println!("{}", ensemble.evaluate(args.data_dir.as_deref(), &device)?);
    Ok(ExitCode::SUCCESS)
}
