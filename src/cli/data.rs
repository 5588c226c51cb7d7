//! `digits data`: about the data (`info`), and MNIST-style files written as a folder of images
//! (`export-images`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use digits::data::{DataConfig, DataFormat, MnistFiles};
use digits::train::RunConfig;

// The arguments of `digits data`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Where the data comes from, its splits and class counts; for MNIST whether the files are
    /// official, for a folder of images the files skipped and why.
    Info {
        /// A folder holding the four MNIST IDX files (default: burn-dataset's cache or the
        /// offline copy), or of class subfolders with --format images (overrides [data] dir).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The data of this run description (its [data] section).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// What --data-dir holds (overrides [data] format).
        #[arg(long, value_enum)]
        format: Option<DataFormatArg>,
    },
    /// Write MNIST-style IDX files (MNIST, Fashion-MNIST) as a folder of PNGs,
    /// OUT/{train,test}/<class>/<index>.png, for [data] format = "images".
    ExportImages {
        /// The folder to make; it must not exist.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// A folder holding the four IDX files (default: burn-dataset's cache or the offline
        /// copy).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The class folders' names for labels 0-9, comma-separated (default: the digits).
        #[arg(long, value_name = "NAMES", value_delimiter = ',')]
        names: Option<Vec<String>>,
        /// Write only the first N images of each split.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
}

/// `[data] format`, as a flag.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DataFormatArg {
    /// The four MNIST IDX files.
    Mnist,
    /// A folder of class subfolders of images.
    Images,
}

/// Runs the `data` subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Info {
            data_dir,
            config,
            format,
        } => data_info(data_dir, config.as_deref(), format),
        Command::ExportImages {
            out,
            data_dir,
            names,
            limit,
        } => export_images(&out, data_dir.as_deref(), names.as_deref(), limit),
    }
}

fn data_info(
    data_dir: Option<PathBuf>,
    config: Option<&Path>,
    format: Option<DataFormatArg>,
) -> anyhow::Result<ExitCode> {
    let mut data = match config {
        Some(path) => RunConfig::load(path)?.data,
        None => DataConfig::default(),
    };
    if let Some(format) = format {
        data.format = match format {
            DataFormatArg::Mnist => DataFormat::Mnist,
            DataFormatArg::Images => DataFormat::Images,
        };
    }
    if data_dir.is_some() {
        data.dir = data_dir;
    }
    let report = match data.format {
        DataFormat::Mnist => {
            digits::data::info::report(data.dir.as_deref(), data.validation_size())?
        }
        DataFormat::Images => digits::data::info::report_images(&data)?,
    };
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}

fn export_images(
    out: &Path,
    data_dir: Option<&Path>,
    names: Option<&[String]>,
    limit: Option<usize>,
) -> anyhow::Result<ExitCode> {
    let files = MnistFiles::open(data_dir)?;
    let exported = digits::data::export_images::export_images(&files, out, names, limit, true)?;
    println!(
        "Wrote {} training and {} test images from {} into {}/train and {}/test",
        exported.train,
        exported.test,
        files.source,
        out.display(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
