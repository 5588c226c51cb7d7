//! `digits import`: a run folder made from weights trained elsewhere.

use std::path::PathBuf;
use std::process::ExitCode;

use digits::interop::Layout;
use digits::interop::import::{self, Normalisation};

// The arguments of `digits import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The safetensors file: digits' tensor names, or a PyTorch state_dict's (read by position),
    /// in digits' or PyTorch's layout.
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
    /// The mean the weights' inputs were normalised with, `(x - mean) / std` (PyTorch's MNIST
    /// example: 0.1307); folded into the first layer.
    #[arg(long, value_name = "MEAN", requires = "input_std")]
    pub input_mean: Option<f64>,
    /// The standard deviation of that normalisation (PyTorch's MNIST example: 0.3081).
    #[arg(long, value_name = "STD", requires = "input_mean")]
    pub input_std: Option<f64>,
}

/// Makes the run folder and says which layout was read.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (weights, out) = (&args.weights, &args.out);
    let normalisation = args
        .input_mean
        .zip(args.input_std)
        .map(|(mean, std)| Normalisation { mean, std });
    let imported = import::import(weights, &args.config, out, args.layout, normalisation)?;
    let layout = match imported.layout {
        Layout::Digits => "digits' layout, [n_in, n_out] weights",
        Layout::Pytorch => "PyTorch's layout, nn.Linear's [n_out, n_in] weights",
    };
    let how = if imported.detected {
        "read off the shapes"
    } else {
        "as --layout says"
    };
    if !imported.by_position.is_empty() {
        let pairs: Vec<String> = imported
            .by_position
            .iter()
            .map(|(theirs, ours)| format!("{theirs} → {ours}"))
            .collect();
        println!("Read by position: {}", pairs.join(", "));
    }
    if let Some(Normalisation { mean, std }) = normalisation {
        println!("Folded the inputs' normalisation, (x - {mean}) / {std}, into the first layer");
    }
    println!(
        "Imported {} in {layout} ({how}) into {}: `digits eval {}` tests it",
        weights.display(),
        out.display(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
