//! The `digits` command line: a dispatch over the commands in `cli/`, each of which holds its
//! arguments and the glue that prints what the library returns.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    Train(cli::train::Args),
    /// Test accuracy, per-class accuracy and confusion matrix of a run or a checkpoint.
    Eval(cli::eval::Args),
    /// Read handwritten digits from image files (PNG, JPEG; any size, either polarity).
    Predict(cli::predict::Args),
    /// Compare autodiff gradients with central differences on a few training examples.
    Gradcheck(cli::gradcheck::Args),
    /// Overlay the learning curves of several runs in one picture.
    Plot(cli::plot::Args),
    /// List the runs below a folder (default: artifacts): network, epochs, best accuracy,
    /// time, and whether each finished, was interrupted or is training now.
    Runs(cli::runs::Args),
    /// Draw a grid of the test digits a run gets wrong, captioned true → predicted.
    Errors(cli::errors::Args),
    /// Rerun the books' experiments (configs/) and write a report against the published
    /// figures, artifacts/reproduce/REPORT.md.
    Reproduce(cli::reproduce::Args),
    /// Serve this machine's device to other machines' `--backend remote` (Burn's remote
    /// backend over WebSocket). Clients need the token, from DIGITS_REMOTE_TOKEN or printed here.
    DeviceServer(cli::device_server::Args),
    /// About the data.
    Data(cli::data::Args),
    /// Write a run's or a checkpoint's weights in another format.
    Export(cli::export::Args),
    /// Serve a page where you draw a digit and watch the network read it, and its JSON API.
    Serve(cli::serve::Args),
    /// Make a run folder from weights trained elsewhere (safetensors), for eval, predict and
    /// errors.
    Import(cli::import::Args),
}

fn main() -> ExitCode {
    digits::panics::as_one_line_errors();
    let result = match Cli::parse().command {
        Command::Train(args) => cli::train::run(args),
        Command::Eval(args) => cli::eval::run(args),
        Command::Predict(args) => cli::predict::run(args),
        Command::Gradcheck(args) => cli::gradcheck::run(args),
        Command::Plot(args) => cli::plot::run(args),
        Command::Runs(args) => cli::runs::run(args),
        Command::Errors(args) => cli::errors::run(args),
        Command::Reproduce(args) => cli::reproduce::run(args),
        Command::DeviceServer(args) => cli::device_server::run(args),
        Command::Data(args) => cli::data::run(args),
        Command::Export(args) => cli::export::run(args),
        Command::Serve(args) => cli::serve::run(args),
        Command::Import(args) => cli::import::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
