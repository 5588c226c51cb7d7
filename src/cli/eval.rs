//! `digits eval`: test accuracy, per-class accuracy and the confusion matrix of a run.

use std::path::PathBuf;
use std::process::ExitCode;

use digits::backend::BackendName;
use digits::train::Trained;

use crate::cli::devices;

// The arguments of `digits eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run folder (its newest epoch) or a checkpoint folder.
    pub path: PathBuf,
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

/// Prints the model's path and its confusion matrix on the test split.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let device = devices(args.backend, args.remote.as_deref())?.eval;
    let trained = Trained::load(&args.path, &device)?;
    println!("Model: {}", trained.path.display());
    println!("{}", trained.evaluate(args.data_dir.as_deref(), &device)?);
    Ok(ExitCode::SUCCESS)
}
