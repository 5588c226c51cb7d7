//! `digits errors`: a grid of the test digits a run (or several voting) gets wrong.

use std::path::PathBuf;
use std::process::ExitCode;

use digits::backend::{BackendName, Devices};
use digits::train::Ensemble;
use digits::train::charts;

// The arguments of `digits errors`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run folder (its newest epoch) or a checkpoint folder; several vote, as in `eval`.
    #[arg(required = true, value_name = "RUN")]
    pub paths: Vec<PathBuf>,
    /// The PNG to write.
    #[arg(long, value_name = "FILE", default_value = "errors.png")]
    pub output: PathBuf,
    /// Mistakes shown at most.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: usize,
    /// The run's data folder: the four MNIST IDX files, or its folder of images (default:
    /// where the run found them).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Draws the grid of mistakes.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let output = &args.output;
    let device = Devices::select(BackendName::Auto, None)?.eval;
    let ensemble = Ensemble::load(&args.paths, &device)?;
    let mistakes = ensemble.mistakes(args.data_dir.as_deref(), &device, args.limit)?;
    charts::draw_mistakes(&mistakes, output)?;
    println!(
        "Wrote {} with {} misclassified test digits",
        output.display(),
        mistakes.len()
    );
    Ok(ExitCode::SUCCESS)
}
