//! `digits import`: a run folder made from weights trained elsewhere.

use std::path::PathBuf;
use std::process::ExitCode;

use digits::interop::import::{self, Layout};

// The arguments of `digits import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The safetensors file: digits' tensor names, in digits' or PyTorch's layout.
    #[arg(long, value_name = "FILE")]
    pub weights: PathBuf,
    /// The config that describes the network (its [model] and [loss] sections count).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The run folder to make; it must not exist.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// How the weights are laid out (default: read off their shapes).
    #[arg(long, value_enum)]
    pub layout: Option<Layout>,
}

/// Makes the run folder and says which layout was read.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (weights, out) = (&args.weights, &args.out);
    let imported = import::import(weights, &args.config, out, args.layout)?;
    let layout = match imported.layout {
        Layout::Digits => "digits' layout, [n_in, n_out] weights",
        Layout::Pytorch => "PyTorch's layout, nn.Linear's [n_out, n_in] weights",
    };
    let how = if imported.detected {
        "read off the shapes"
    } else {
        "as --layout says"
    };
    println!(
        "Imported {} in {layout} ({how}) into {}: `digits eval {}` tests it",
        weights.display(),
        out.display(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
