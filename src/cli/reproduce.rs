//! `digits reproduce`: the books' experiments rerun, and the report against their figures.

use std::path::PathBuf;
use std::process::ExitCode;

use digits::backend::BackendName;
use digits::books::reproduce::{self, Options};
use digits::train::learner::TrainError;
use digits::train::progress::{Display, Reporter};

use crate::cli::{STOP, stop_on_signals};

// The arguments of `digits reproduce`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Cut every run to 2 epochs, and the convolutional chapters' to 1,000 training images:
    /// the whole pipeline in minutes, for CI.
    #[arg(long)]
    pub quick: bool,
    /// Cut every new run to at most N epochs; the report says which rows ran shorter.
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,
    /// Keep the runs already in the output folder: resume each to its own epochs (a finished
    /// one is read back, not trained again) instead of training it afresh.
    #[arg(long)]
    pub keep: bool,
    /// Only the experiment of this name, or those whose name contains it (ch6-optimizer);
    /// repeatable. Without
    /// it every group runs but the convolutional chapters (network3, convnet), which run when
    /// named here.
    #[arg(long, value_name = "TEXT")]
    pub only: Vec<String>,
    /// The folder of the experiments' configs.
    #[arg(long, value_name = "DIR", default_value = "configs")]
    pub configs: PathBuf,
    /// Where the runs and the report go.
    #[arg(long, value_name = "DIR", default_value = "artifacts/reproduce")]
    pub out: PathBuf,
    /// A folder holding the four MNIST IDX files (overrides [data] dir).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Overrides [training] backend.
    #[arg(long, value_enum)]
    pub backend: Option<BackendName>,
    /// Print each run's summary only, not every epoch.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs the experiments and writes the report; Ctrl-C stops with exit code 130.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = Options {
        configs: args.configs,
        out: args.out,
        quick: args.quick,
        epochs: args.epochs,
        keep: args.keep,
        only: args.only,
        data_dir: args.data_dir,
        backend: args.backend,
    };
    stop_on_signals()?;
    let display = if args.quiet {
        Display::Quiet
    } else {
        Display::for_terminal()
    };
    let mut reporter = Reporter::new(display);
    let result = reproduce::reproduce(
        &options,
        &STOP,
        &mut |line| println!("{line}"),
        &mut reporter,
    );
    match result {
        Ok(report) => {
            println!("Wrote {}", report.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(error) if matches!(error.downcast_ref(), Some(TrainError::Interrupted { .. })) => {
            eprintln!("Interrupted; the report was not written.");
            Ok(ExitCode::from(130))
        }
        Err(error) => Err(error),
    }
}
