//! `digits export`: a run's or a checkpoint's weights in another format.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
use digits::backend::{BackendName, Devices};
use digits::interop::{Layout, export};
use digits::train::Trained;

// The arguments of `digits export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run folder (its newest epoch) or a checkpoint folder.
    pub path: PathBuf,
    /// The format to write.
    #[arg(long, value_enum, default_value_t = Format::Safetensors)]
    pub format: Format,
    /// The file to write.
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// How safetensors lays out fully connected weights: digits' [n_in, n_out], or PyTorch's
    /// nn.Linear [n_out, n_in].
    #[arg(long, value_enum, default_value_t = Layout::Digits)]
    pub layout: Layout,
}

/// Export formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// Hugging Face safetensors, through burn-store.
    Safetensors,
    /// ONNX (opset 13): inputs `pixels`, outputs `probabilities` and `scores`.
    Onnx,
}

/// Writes the file, atomically.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let trained = Trained::load(&args.path, &Devices::select(BackendName::Auto, None)?.eval)?;
    let output = &args.output;
    let name = match args.format {
        Format::Safetensors => {
            export::safetensors(&trained, output, args.layout)?;
            match args.layout {
                Layout::Digits => "safetensors",
                Layout::Pytorch => "safetensors in PyTorch's layout",
            }
        }
        Format::Onnx => {
            anyhow::ensure!(
                args.layout == Layout::Digits,
                "--layout applies to safetensors; ONNX has its own"
            );
            export::onnx(&trained, output)?;
            "ONNX"
        }
    };
    println!(
        "Wrote {} ({name}) from {}",
        output.display(),
        trained.path.display()
    );
    Ok(ExitCode::SUCCESS)
}
