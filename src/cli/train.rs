//! `digits train`: a run trained, or resumed, from its config, with its progress and summary.

use std::path::PathBuf;
use std::process::ExitCode;

use digits::backend::BackendName;
use digits::data::image_folder::Skipped;
use digits::train::checkpoint;
use digits::train::learner::{FitEnd, TrainError};
use digits::train::progress::{Display, Reporter};
use digits::train::run::{Overrides, Run};

use crate::cli::{STOP, stop_on_signals};

// The arguments of `digits train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run description, e.g. configs/nielsen.toml.
    #[arg(long, value_name = "FILE", required_unless_present = "resume")]
    pub config: Option<PathBuf>,
    /// Carry on the run in this folder from its newest checkpoint.
    #[arg(long, value_name = "RUN")]
    pub resume: Option<PathBuf>,
    /// Overrides [training] epochs.
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,
    /// Overrides [training] batch_size.
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Overrides [optimizer] lr.
    #[arg(long, value_name = "RATE", allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Overrides [training] seed.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Overrides [training] backend.
    #[arg(long, value_enum)]
    pub backend: Option<BackendName>,
    /// The device server for --backend remote: ws://HOST:PORT.
    #[arg(long, value_name = "URL")]
    pub remote: Option<String>,
    /// A folder holding the four MNIST IDX files, gzipped or not, or with [data] format =
    /// "images" the folder of class subfolders (overrides [data] dir).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Fine-tune: start from this run's (or checkpoint's) weights; with another number of
    /// classes its last layer is drawn afresh (overrides [training] init_from).
    #[arg(long, value_name = "RUN", conflicts_with = "resume")]
    pub init_from: Option<PathBuf>,
    /// The run folder (overrides [output] dir; default artifacts/<config name>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Move a run folder that already holds a run aside instead of refusing.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Print the final summary only.
    #[arg(long, conflicts_with = "json")]
    pub quiet: bool,
    /// Print one JSON object per epoch on stdout (everything else goes to stderr).
    #[arg(long)]
    pub json: bool,
}

/// Trains, or resumes, and prints the summary; Ctrl-C stops with exit code 130 and says how to
/// resume.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let overrides = Overrides {
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        seed: args.seed,
        backend: args.backend,
        remote: args.remote,
        data_dir: args.data_dir,
        init_from: args.init_from,
        out: args.out,
        train_limit: None,
    };
    let run = match (&args.resume, &args.config) {
        (Some(dir), config) => Run::resume(dir, config.as_deref(), &overrides)?,
        (None, Some(config)) => Run::new(config, &overrides, args.force)?,
        (None, None) => unreachable!("clap requires --config without --resume"),
    };
    stop_on_signals()?;
    let display = match (args.quiet, args.json) {
        (true, _) => Display::Quiet,
        (_, true) => Display::Json,
        _ => Display::for_terminal(),
    };
    // What is not per-epoch output: stdout normally, stderr beside JSON, nothing when quiet.
    let info = |line: String| match display {
        Display::Json => eprintln!("{line}"),
        Display::Quiet => {}
        Display::Bar | Display::Lines => println!("{line}"),
    };
    if let Some(aside) = &run.moved_aside {
        eprintln!("Moved the previous run to {}", aside.display());
    }
    for damaged in &run.damaged {
        eprintln!(
            "warning: skipping damaged checkpoint {}: {}",
            damaged.dir.display(),
            damaged.problem
        );
    }
    let c = &run.config;
    info(format!("Training {}", c.describe()));
    info(format!("Network:\n{}", c.model.summary(c.output())));
    info(format!(
        "Data: {}; backend: {}; run folder: {}",
        run.data,
        run.devices.describe(),
        run.dir.display()
    ));
    if let Some(load) = &run.load {
        info(format!(
            "Images: {} files read in {:.2} s, {} of them prepared before (cache {})",
            load.files,
            load.seconds,
            load.cached,
            load.cache.display()
        ));
    }
    warn_skipped(&run.skipped);
    if let Some((_, note)) = &run.init {
        info(note.clone());
    }
    for note in &run.devices.notes {
        info(format!("Backend: {note}"));
    }
    if let Some(checkpoint) = &run.resumed {
        info(format!(
            "Resuming after epoch {} from {}",
            checkpoint.epoch,
            checkpoint.dir.display()
        ));
        if checkpoint.epoch >= c.training.epochs {
            info(format!(
                "The run has completed its {} epochs; pass --epochs N to extend it.",
                c.training.epochs
            ));
        }
    }
    let dir = run.dir.clone();
    let patience = c.training.patience.unwrap_or_default();
    let summary = match run.train(&STOP, &mut Reporter::new(display)) {
        Ok(summary) => summary,
        Err(error) => {
            let Some(TrainError::Interrupted { epoch }) = error.downcast_ref() else {
                return Err(error);
            };
            let program = std::env::args().next().unwrap_or_else(|| "digits".into());
            eprintln!(
                "Interrupted during epoch {epoch}; {} keeps epoch {}. Resume with:\n  {program} train --resume {}",
                dir.display(),
                epoch - 1,
                dir.display()
            );
            return Ok(ExitCode::from(130));
        }
    };
    let summary_line = |line: String| match display {
        Display::Json => eprintln!("{line}"),
        _ => println!("{line}"),
    };
    if let FitEnd::EarlyStopped { best_epoch } = summary.end {
        info(format!(
            "Stopped early: validation accuracy has not improved since epoch {best_epoch} ({patience} epochs of patience); its checkpoint is kept: {}",
            checkpoint::folder(&summary.dir, best_epoch).display()
        ));
    }
    if let (Some(best), Some(chosen)) = (summary.best(), summary.best_validation()) {
        summary_line(format!(
            "Best test accuracy: {} / {} ({:.2}%) at epoch {}; validation {:.2}%. Saved in {}",
            best.test_correct,
            best.test_total,
            100.0 * best.test_accuracy(),
            best.epoch,
            100.0 * best.validation_accuracy(),
            summary.dir.display()
        ));
        summary_line(format!(
            "Best validation accuracy: {:.2}% at epoch {}, where test is {} / {} ({:.2}%). Training accuracy at the end: {:.2}%",
            100.0 * chosen.validation_accuracy(),
            chosen.epoch,
            chosen.test_correct,
            chosen.test_total,
            100.0 * chosen.test_accuracy(),
            100.0 * summary.train_accuracy()
        ));
    }
    let saves = &summary.checkpoint_seconds;
    if !saves.is_empty() {
        info(format!(
            "Checkpoints: {} written, {:.1} KiB each, {:.1} ms per save on average",
            saves.len(),
            summary.checkpoint_bytes as f64 / 1024.0,
            1000.0 * saves.iter().sum::<f64>() / saves.len() as f64
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// A warning for each file of an image folder that was skipped: the first few, then a count.
fn warn_skipped(skipped: &[Skipped]) {
    const SHOWN: usize = 10;
    for file in skipped.iter().take(SHOWN) {
        eprintln!("warning: skipped {}: {}", file.path.display(), file.reason);
    }
    if skipped.len() > SHOWN {
        eprintln!(
            "warning: and {} more files skipped; `digits data info` lists them all",
            skipped.len() - SHOWN
        );
    }
}
