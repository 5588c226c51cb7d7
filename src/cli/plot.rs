//! `digits plot`: the learning curves of several runs in one picture.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use digits::train::charts::{self, Curves};
use digits::train::checkpoint::Checkpoint;
use digits::train::run::run_name;

// The arguments of `digits plot`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run folders; each is labelled by its folder name.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// The picture to write: PNG, or SVG by extension.
    #[arg(long, value_name = "FILE", default_value = "plot.png")]
    pub output: PathBuf,
}

/// Draws the runs' curves into one picture.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    draw(&args.runs, &args.output)?;
    Ok(ExitCode::SUCCESS)
}

/// Draws the curves of `runs` into `output`, each labelled by its folder name, and says so.
pub fn draw(runs: &[PathBuf], output: &Path) -> anyhow::Result<()> {
    let mut curves = Vec::new();
    for run in runs {
        let (newest, _) = Checkpoint::newest(run)?;
        let Some(checkpoint) = newest else {
            anyhow::bail!("{}: no complete epoch to plot", run.display());
        };
        curves.push(Curves {
            label: run_name(run),
            epochs: checkpoint.metrics,
        });
    }
    charts::draw_curves(&curves, output)?;
    println!("Wrote {}", output.display());
    Ok(())
}
