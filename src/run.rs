//! A training run from start to end: the config with its command-line overrides, the data, the
//! run folder and its files, and the learner.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::module::Module;

use crate::backend::Devices;
use crate::config::RunConfig;
use crate::data::{MnistFiles, MnistSource, MnistSplits};
use crate::metrics::{self, CSV_HEADER, EpochMetrics};
use crate::model::Mlp;
use crate::training::Learner;

/// The resolved config, as written into the run folder.
pub const CONFIG_FILE: &str = "config.toml";
/// One row per epoch.
pub const METRICS_FILE: &str = "metrics.csv";
/// The model after the newest complete epoch, a Burn record (burnpack).
pub const MODEL_FILE: &str = "model.bpk";

/// Command-line values that replace the config's.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `[training] epochs`.
    pub epochs: Option<usize>,
    /// `[training] batch_size`.
    pub batch_size: Option<usize>,
    /// `[optimizer] lr`.
    pub lr: Option<f64>,
    /// `[training] seed`.
    pub seed: Option<u64>,
    /// `[data] dir`.
    pub data_dir: Option<PathBuf>,
    /// `[output] dir`.
    pub out: Option<PathBuf>,
}

impl Overrides {
    /// Writes the given values over `config`.
    pub fn apply(&self, config: &mut RunConfig) {
        let training = &mut config.training;
        training.epochs = self.epochs.unwrap_or(training.epochs);
        training.batch_size = self.batch_size.unwrap_or(training.batch_size);
        training.seed = self.seed.unwrap_or(training.seed);
        config.optimizer.lr = self.lr.unwrap_or(config.optimizer.lr);
        if let Some(dir) = &self.data_dir {
            config.data.dir = Some(dir.clone());
        }
        if let Some(out) = &self.out {
            config.output.dir = Some(out.clone());
        }
    }
}

/// A run ready to train: config checked against the data, data in tensors, run folder made.
pub struct Run {
    /// The resolved config.
    pub config: RunConfig,
    /// Where MNIST came from.
    pub source: MnistSource,
    /// The devices it trains and evaluates on.
    pub devices: Devices,
    /// The run folder.
    pub dir: PathBuf,
    /// Where a previous run in the folder was moved, with `force`.
    pub moved_aside: Option<PathBuf>,
    splits: MnistSplits,
}

/// What a finished run achieved.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Every epoch, in order.
    pub history: Vec<EpochMetrics>,
    /// The run folder.
    pub dir: PathBuf,
}

impl RunSummary {
    /// The epoch with the best test accuracy.
    pub fn best(&self) -> Option<&EpochMetrics> {
        metrics::best_test(&self.history)
    }
}

impl Run {
    /// Reads the config at `path`, applies `overrides`, loads MNIST and checks the two against
    /// each other, then creates the run folder: `[output] dir`, or `artifacts/<config name>`.
    ///
    /// A folder that already holds a run is refused, unless `force`, which first moves it aside
    /// to `<folder>.previous-<n>`.
    pub fn prepare(path: &Path, overrides: &Overrides, force: bool) -> anyhow::Result<Self> {
        let mut config = RunConfig::load(path)?;
        overrides.apply(&mut config);
        let files = MnistFiles::open(config.data.dir.as_deref())?;
        config.validate(&path.display().to_string(), files.train.len())?;

        let dir = config.output.dir.clone().unwrap_or_else(|| {
            let name = path.file_stem().unwrap_or_default();
            Path::new("artifacts").join(name)
        });
        let moved_aside = prepare_dir(&dir, force)?;
        write_atomically(&dir.join(CONFIG_FILE), config.to_toml().as_bytes())?;

        let devices = Devices::cpu();
        let splits = files.splits(config.data.validation_size, &devices.train, &devices.eval);
        Ok(Self {
            config,
            source: files.source,
            devices,
            dir,
            moved_aside,
            splits,
        })
    }

    /// Trains every epoch. After each, `on_epoch` sees the metrics, and `metrics.csv` and the
    /// model in the run folder are replaced, atomically, by their new versions.
    pub fn train(self, mut on_epoch: impl FnMut(&EpochMetrics)) -> anyhow::Result<RunSummary> {
        let mut learner = Learner::new(&self.config, &self.devices.train);
        let mut history = Vec::new();
        learner.fit(
            &self.splits,
            self.config.training.epochs,
            |learner, metrics| {
                history.push(metrics.clone());
                write_metrics(&self.dir, &history)?;
                save_model(learner.model(), &self.dir.join(MODEL_FILE))?;
                on_epoch(metrics);
                Ok(())
            },
        )?;
        Ok(RunSummary {
            history,
            dir: self.dir,
        })
    }
}

/// Creates the run folder, refusing one that already holds a run unless `force`. Returns where
/// a previous run was moved.
fn prepare_dir(dir: &Path, force: bool) -> anyhow::Result<Option<PathBuf>> {
    let holds_run = [CONFIG_FILE, METRICS_FILE, MODEL_FILE]
        .iter()
        .any(|f| dir.join(f).exists());
    let mut moved_aside = None;
    if holds_run {
        if !force {
            anyhow::bail!(
                "run folder {} already holds a run; choose another with --out DIR, or pass --force to move it aside",
                dir.display()
            );
        }
        let aside = (1..)
            .map(|n| PathBuf::from(format!("{}.previous-{n}", dir.display())))
            .find(|p| !p.exists())
            .expect("some suffix is free");
        std::fs::rename(dir, &aside).with_context(|| {
            format!("cannot move {} aside to {}", dir.display(), aside.display())
        })?;
        moved_aside = Some(aside);
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create run folder {}", dir.display()))?;
    Ok(moved_aside)
}

/// Writes `metrics.csv` with every epoch so far.
fn write_metrics(dir: &Path, history: &[EpochMetrics]) -> anyhow::Result<()> {
    let mut csv = format!("{CSV_HEADER}\n");
    for metrics in history {
        csv.push_str(&metrics.csv_row());
        csv.push('\n');
    }
    write_atomically(&dir.join(METRICS_FILE), csv.as_bytes())
}

/// Saves the model as a Burn record; burnpack writes a scratch file and renames it into place.
fn save_model(model: &Mlp, path: &Path) -> anyhow::Result<()> {
    model
        .clone()
        .into_record()
        .save(path)
        .with_context(|| format!("cannot save the model to {}", path.display()))
}

/// Replaces `path` with `contents` so that a crash leaves either the old file or the new one.
fn write_atomically(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let write = || -> std::io::Result<()> {
        let mut file = tempfile::NamedTempFile::new_in(dir)?;
        file.write_all(contents)?;
        file.as_file().sync_all()?;
        file.persist(path)?;
        Ok(())
    };
    write().with_context(|| format!("cannot write {}", path.display()))
}
