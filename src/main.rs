//! The `digits` command line: a thin layer over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use digits::run::{Overrides, Run};

/// Teach a neural network to read handwritten digits (MNIST), with Burn.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a network described by a TOML config, printing accuracy after every epoch.
    Train(TrainArgs),
}

#[derive(Debug, clap::Args)]
struct TrainArgs {
    /// The run description, e.g. configs/nielsen.toml.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Overrides [training] epochs.
    #[arg(long, value_name = "N")]
    epochs: Option<usize>,
    /// Overrides [training] batch_size.
    #[arg(long, value_name = "N")]
    batch_size: Option<usize>,
    /// Overrides [optimizer] lr.
    #[arg(long, value_name = "RATE", allow_negative_numbers = true)]
    lr: Option<f64>,
    /// Overrides [training] seed.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// A folder holding the four MNIST IDX files, gzipped or not (overrides [data] dir).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The run folder (overrides [output] dir; default artifacts/<config name>).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Move a run folder that already holds a run aside instead of refusing.
    #[arg(long)]
    force: bool,
}

fn main() -> ExitCode {
    let Command::Train(args) = Cli::parse().command;
    match train(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn train(args: TrainArgs) -> anyhow::Result<()> {
    let overrides = Overrides {
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        seed: args.seed,
        data_dir: args.data_dir,
        out: args.out,
    };
    let run = Run::prepare(&args.config, &overrides, args.force)?;
    if let Some(aside) = &run.moved_aside {
        eprintln!("Moved the previous run to {}", aside.display());
    }
    let c = &run.config;
    println!(
        "Training {:?}: {} hidden, {} output, {} init; {} cost; SGD lr {}, batch {}; {} epochs, seed {}",
        c.model.sizes,
        c.model.activation,
        c.output(),
        c.model.init,
        c.loss.cost,
        c.optimizer.lr,
        c.training.batch_size,
        c.training.epochs,
        c.training.seed
    );
    println!(
        "Data: {}; backend: {}; run folder: {}",
        run.source,
        run.devices.name,
        run.dir.display()
    );
    let summary = run.train(|epoch| println!("{epoch}"))?;
    if let Some(best) = summary.best() {
        println!(
            "Best test accuracy: {} / {} ({:.2}%) at epoch {}; validation {:.2}%. Saved in {}",
            best.test_correct,
            best.test_total,
            100.0 * best.test_accuracy(),
            best.epoch,
            100.0 * best.validation_accuracy(),
            summary.dir.display()
        );
    }
    Ok(())
}
