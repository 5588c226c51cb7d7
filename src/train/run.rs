//! A training run from start to end: the config with its command-line overrides, the data, the
//! run folder and its files, and the learner.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::backend::{BackendName, Devices};
use crate::data::DataFormat;
use crate::data::MnistSplits;
use crate::data::image_folder::{LoadStats, Skipped};
use crate::data::run_data::RunData;
use crate::files::write_atomically;
use crate::model::{Network, NetworkConfig};
use crate::tracking::mlflow::{Client, Status};
use crate::train::charts::{self, Curves};
use crate::train::checkpoint::{self, Checkpoint, Damaged};
use crate::train::config::RunConfig;
use crate::train::health::{self, Health, WARNINGS_FILE};
use crate::train::learner::{AfterEpoch, FitEnd, Learner, Observer, TrainError};
use crate::train::metrics::{self, CSV_HEADER, EpochMetrics};
use crate::train::mlflow::{self, MlflowRun};
use crate::train::tensorboard::TensorBoardLog;
use crate::train::trained::Trained;

pub use crate::train::checkpoint::CONFIG_FILE;
/// Locked while a process trains in the run folder.
pub const LOCK_FILE: &str = ".lock";
/// Learning curves, redrawn after every epoch.
pub const CURVES_FILES: [&str; 2] = ["curves.png", "curves.svg"];
/// The backend and device the run last trained on.
pub const DEVICE_FILE: &str = "device.toml";
/// One row per epoch.
pub const METRICS_FILE: &str = "metrics.csv";
/// The model after the newest complete epoch, a Burn record (burnpack).
pub const MODEL_FILE: &str = checkpoint::MODEL_FILE;

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
    /// `[training] backend`.
    pub backend: Option<BackendName>,
    /// The device server of `--backend remote` (not a config key: it names a machine).
    pub remote: Option<String>,
    /// `[data] dir`.
    pub data_dir: Option<PathBuf>,
    /// `[training] init_from`.
    pub init_from: Option<PathBuf>,
    /// `[output] dir`.
    pub out: Option<PathBuf>,
    /// `[data] train_limit` (not a flag of `train`: `reproduce --quick` sets it).
    pub train_limit: Option<usize>,
}

impl Overrides {
    /// Writes the given values over `config`.
    pub fn apply(&self, config: &mut RunConfig) {
        let training = &mut config.training;
        training.epochs = self.epochs.unwrap_or(training.epochs);
        training.batch_size = self.batch_size.unwrap_or(training.batch_size);
        training.seed = self.seed.unwrap_or(training.seed);
        training.backend = self.backend.unwrap_or(training.backend);
        config.optimizer.lr = self.lr.unwrap_or(config.optimizer.lr);
        if let Some(dir) = &self.data_dir {
            config.data.dir = Some(dir.clone());
        }
        if let Some(run) = &self.init_from {
            config.training.init_from = Some(run.clone());
        }
        if let Some(out) = &self.out {
            config.output.dir = Some(out.clone());
        }
        if let Some(limit) = self.train_limit {
            config.data.train_limit = Some(limit);
        }
    }
}

/// A run ready to train: config checked against the data, data in tensors, run folder made.
pub struct Run {
    /// The resolved config.
    pub config: RunConfig,
    /// Where the data came from, in a few words.
    pub data: String,
    /// Files of an image folder passed over, with the reason.
    pub skipped: Vec<Skipped>,
    /// How long an image folder took to read.
    pub load: Option<LoadStats>,
    /// The weights a fine-tuned run starts from, and what was said about them.
    pub init: Option<(Network, String)>,
    /// The devices it trains and evaluates on.
    pub devices: Devices,
    /// The run folder.
    pub dir: PathBuf,
    /// Where a previous run in the folder was moved, with `force`.
    pub moved_aside: Option<PathBuf>,
    /// The checkpoint a resumed run carries on from.
    pub resumed: Option<Checkpoint>,
    /// Newer checkpoints passed over because they are damaged.
    pub damaged: Vec<Damaged>,
    /// The MLflow server `MLFLOW_TRACKING_URI` names.
    pub mlflow: Option<Client>,
    splits: MnistSplits,
    _lock: RunLock,
}

/// Held while a process works in a run folder: an OS lock on `<run>/.lock`. The OS releases it
/// when the process ends, however it ends, so a crashed run never leaves it stale.
struct RunLock {
    _file: std::fs::File,
}

impl RunLock {
    /// Takes the lock of `dir` (creating the folder), or says which process holds it.
    fn acquire(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create run folder {}", dir.display()))?;
        let path = dir.join(LOCK_FILE);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0)?;
                write!(file, "{}", std::process::id())?;
                Ok(Self { _file: file })
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let pid = std::fs::read_to_string(&path).unwrap_or_default();
                bail!(
                    "run folder {} is in use by another digits process (pid {}); wait for it to finish or stop it",
                    dir.display(),
                    pid.trim()
                )
            }
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
    }
}

/// Whether a process holds `dir`'s lock now: a run training in it.
pub fn is_in_use(dir: &Path) -> bool {
    let Ok(file) = std::fs::File::open(dir.join(LOCK_FILE)) else {
        return false;
    };
    matches!(
        file.try_lock_shared(),
        Err(std::fs::TryLockError::WouldBlock)
    )
}

/// `device.toml`: the backend and device a run last trained on, and what was said about the
/// choice (a software GPU, or one `auto` passed over).
#[derive(serde::Serialize)]
struct DeviceRecord<'a> {
    backend: BackendName,
    device: String,
    notes: &'a [String],
}

/// What a finished run achieved.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Every epoch, in order, including those before a resume.
    pub history: Vec<EpochMetrics>,
    /// The run folder.
    pub dir: PathBuf,
    /// Size of one checkpoint in bytes.
    pub checkpoint_bytes: u64,
    /// Wall time of each checkpoint this process wrote.
    pub checkpoint_seconds: Vec<f64>,
    /// Whether every epoch ran or early stopping ended the run.
    pub end: FitEnd,
    /// Training examples the final model classifies correctly, and how many there are: set
    /// against the test accuracy, this shows overfitting.
    pub train_correct: (usize, usize),
}

impl RunSummary {
    /// The epoch with the best test accuracy.
    pub fn best(&self) -> Option<&EpochMetrics> {
        metrics::best_test(&self.history)
    }

    /// The epoch with the best validation accuracy: the one to choose without looking at test.
    pub fn best_validation(&self) -> Option<&EpochMetrics> {
        metrics::best_validation(&self.history)
    }

    /// The final model's accuracy on its training examples.
    pub fn train_accuracy(&self) -> f64 {
        self.train_correct.0 as f64 / self.train_correct.1 as f64
    }
}

impl Run {
    /// A new run: reads the config at `path`, applies `overrides`, loads MNIST and checks the
    /// two against each other, then creates the run folder: `[output] dir`, or
    /// `artifacts/<config name>`.
    ///
    /// A folder that already holds a run is refused, unless `force`, which first moves it aside
    /// to `<folder>.previous-<n>`.
    pub fn new(path: &Path, overrides: &Overrides, force: bool) -> anyhow::Result<Self> {
        let mlflow = Client::from_env()?;
        let mut config = RunConfig::load(path)?;
        overrides.apply(&mut config);
        let devices = Devices::select(config.training.backend, overrides.remote.as_deref())?;
        let data = open_data(&mut config, &path.display().to_string())?;
        let dir = config.output.dir.clone().unwrap_or_else(|| {
            let name = path.file_stem().unwrap_or_default();
            Path::new("artifacts").join(name)
        });
        if dir.is_dir() {
            // A running run is never moved aside, not even with `force`.
            drop(RunLock::acquire(&dir)?);
        }
        let moved_aside = prepare_dir(&dir, force)?;
        let lock = RunLock::acquire(&dir)?;
        config.output.dir = Some(dir.clone());
        Self::ready(
            config,
            devices,
            data,
            dir,
            None,
            Vec::new(),
            moved_aside,
            lock,
            mlflow,
        )
    }

    /// Carries on the run in `dir` from its newest intact checkpoint (from the start if it has
    /// none yet), to its configured epochs or `overrides.epochs`.
    ///
    /// Only what leaves the mathematics the same may change: the epochs, the backend (results are
    /// bit for bit the same only on the same one), the data folder and `[output]`. `config`, when given, is compared with the run's own config, and so are
    /// the flags; any other difference is refused, naming the key and both values.
    pub fn resume(
        dir: &Path,
        config: Option<&Path>,
        overrides: &Overrides,
    ) -> anyhow::Result<Self> {
        if overrides.out.is_some() {
            bail!(
                "--out cannot be combined with --resume: the run folder is {}",
                dir.display()
            );
        }
        let mlflow = Client::from_env()?;
        let config_file = dir.join(CONFIG_FILE);
        if !config_file.is_file() {
            bail!(
                "{} is not a run folder: it has no {CONFIG_FILE}",
                dir.display()
            );
        }
        let lock = RunLock::acquire(dir)?;
        let (resumed, damaged) = Checkpoint::newest(dir)?;
        let mut run_config = match &resumed {
            Some(checkpoint) => checkpoint.config.clone(),
            None if damaged.is_empty() => RunConfig::load(&config_file)?,
            None => {
                let problems: Vec<&str> = damaged.iter().map(|d| d.problem.as_str()).collect();
                bail!(
                    "no usable checkpoint in {}: {}",
                    dir.display(),
                    problems.join("; ")
                );
            }
        };
        let mut requested = match config {
            Some(path) => RunConfig::load(path)?,
            None => run_config.clone(),
        };
        overrides.apply(&mut requested);
        if let Some((key, was, now)) = run_config.first_mathematical_difference(&requested) {
            bail!(
                "cannot resume {}: `{key}` is {was} in the run but {now} now; a resumed run may change only the epochs (not under a cosine schedule, which spans them), the patience, the backend, the data folder and [output]",
                dir.display()
            );
        }
        run_config.training.epochs = requested.training.epochs;
        run_config.training.backend = requested.training.backend;
        run_config.data.dir = requested.data.dir;
        run_config.output = requested.output;
        run_config.output.dir = Some(dir.to_path_buf());
        let devices = Devices::select(run_config.training.backend, overrides.remote.as_deref())?;
        let data = open_data(&mut run_config, &config_file.display().to_string())?;
        Self::ready(
            run_config,
            devices,
            data,
            dir.to_path_buf(),
            resumed,
            damaged,
            None,
            lock,
            mlflow,
        )
    }

    /// Writes the resolved config and the device into the run folder and batches the data. The
    /// run holds the folder's lock, and the MLflow server it logs to.
    #[allow(clippy::too_many_arguments)]
    fn ready(
        config: RunConfig,
        devices: Devices,
        data: RunData,
        dir: PathBuf,
        resumed: Option<Checkpoint>,
        damaged: Vec<Damaged>,
        moved_aside: Option<PathBuf>,
        lock: RunLock,
        mlflow: Option<Client>,
    ) -> anyhow::Result<Self> {
        write_atomically(&dir.join(CONFIG_FILE), config.to_toml().as_bytes())?;
        let device = toml::to_string(&DeviceRecord {
            backend: devices.backend,
            device: format!("{:?}", devices.eval),
            notes: &devices.notes,
        })?;
        let device = format!("# Where this run last trained.\n{device}");
        write_atomically(&dir.join(DEVICE_FILE), device.as_bytes())?;
        let splits = data.splits(&config.data, &devices.eval);
        // A fine-tuned run starts from the other run's weights; a resumed one from its own.
        let init = match (&config.training.init_from, &resumed) {
            (Some(from), None) => Some(initial_weights(&config, from, &devices)?),
            _ => None,
        };
        let (skipped, load) = match data {
            RunData::Images(ref folder) => (folder.skipped.clone(), Some(folder.load.clone())),
            RunData::Mnist(_) => (Vec::new(), None),
        };
        Ok(Self {
            config,
            data: data.describe(),
            skipped,
            load,
            init,
            devices,
            dir,
            moved_aside,
            resumed,
            damaged,
            mlflow,
            splits,
            _lock: lock,
        })
    }

    /// Trains the remaining epochs, reporting progress to `observer`. After each, a checkpoint is
    /// written, `metrics.csv` and the model in the run folder are replaced atomically by their
    /// new versions, the epoch is appended to the TensorBoard log, and old checkpoints are
    /// pruned; then it goes to MLflow. Raising `stop` ends the run within a step with
    /// [`TrainError::Interrupted`](crate::train::learner::TrainError::Interrupted), leaving the
    /// last complete epoch's files.
    pub fn train(
        mut self,
        stop: &AtomicBool,
        observer: &mut dyn Observer,
    ) -> anyhow::Result<RunSummary> {
        let (mut learner, mut history) = match &self.resumed {
            Some(checkpoint) => (
                Learner::restore(&self.config, &self.devices.train, checkpoint)?,
                checkpoint.metrics.clone(),
            ),
            None => {
                let mut learner = Learner::new(&self.config, &self.devices.train);
                if let Some((model, _)) = &self.init {
                    learner.start_from(model.clone());
                }
                (learner, Vec::new())
            }
        };
        // A kill between a checkpoint and these files leaves them an epoch behind.
        write_metrics(&self.dir, &history)?;
        if self.resumed.is_some() {
            learner.model().save(&self.dir.join(MODEL_FILE))?;
        }
        let mut checkpoint_bytes = 0;
        let mut checkpoint_seconds = Vec::new();
        let mut tensorboard = if self.config.output.tensorboard {
            Some(TensorBoardLog::start(&self.dir, &self.config, &history)?)
        } else {
            None
        };
        let mut mlflow = self.mlflow.take().and_then(|client| {
            let name = run_name(&self.dir);
            MlflowRun::start(client, &self.dir, &name, &self.config, &history)
                .map_err(|error| observer.warning(&mlflow::unreachable_warning(&error)))
                .ok()
        });
        let untrained = health::untrained_loss(&self.config, &self.splits.validation);
        let mut health = Health::new(&self.config, untrained, &history);
        let warnings_log = self.dir.join(WARNINGS_FILE);
        let end = learner.fit(
            &self.splits,
            self.config.training.epochs,
            stop,
            &mut AfterEpoch {
                inner: &mut *observer,
                after: |metrics: &EpochMetrics, shown: &mut dyn Observer| {
                    health.watch(metrics, &warnings_log, shown);
                    mlflow::send(&mut mlflow, metrics, shown);
                },
            },
            |learner, metrics| {
                history.push(metrics.clone());
                let started = Instant::now();
                checkpoint_bytes = Checkpoint::save(
                    &self.dir,
                    &self.config,
                    &history,
                    learner.model(),
                    learner.optimizer(),
                )?;
                checkpoint_seconds.push(started.elapsed().as_secs_f64());
                write_metrics(&self.dir, &history)?;
                learner.model().save(&self.dir.join(MODEL_FILE))?;
                if let Some(log) = &mut tensorboard {
                    log.epoch(metrics)?;
                }
                checkpoint::prune(&self.dir, self.config.output.keep_last, &history)?;
                let curves = [Curves {
                    label: run_name(&self.dir),
                    epochs: history.clone(),
                }];
                for file in CURVES_FILES {
                    charts::draw_curves(&curves, &self.dir.join(file))?;
                }
                Ok(())
            },
        );
        if let Some(run) = mlflow {
            let status = match &end {
                Ok(_) => Status::Finished,
                Err(TrainError::Interrupted { .. }) => Status::Killed,
                Err(_) => Status::Failed,
            };
            let artifacts = [MODEL_FILE, CONFIG_FILE].map(|name| (name, self.dir.join(name)));
            if let Err(error) = run.finish(status, &artifacts) {
                observer.warning(&mlflow::unreachable_warning(&error));
            }
        }
        let end = end?;
        Ok(RunSummary {
            history,
            dir: self.dir,
            checkpoint_bytes,
            checkpoint_seconds,
            end,
            train_correct: (
                learner.correct_examples(&self.splits.train, &self.splits.device),
                self.splits.train.len(),
            ),
        })
    }
}

/// Reads the data of `config` and checks the two against each other; `source_name` labels the
/// errors. The classes of an image folder are recorded in `[data] classes`, and must be those
/// already there (set by hand, or recorded by the run being resumed).
fn open_data(config: &mut RunConfig, source_name: &str) -> anyhow::Result<RunData> {
    let data = RunData::open(&config.data, None, true)?;
    let classes = data.classes();
    if config.data.format == DataFormat::Images {
        if let Some(recorded) = &config.data.classes
            && *recorded != classes
        {
            bail!(
                "{source_name}: [data] classes: the run's classes are {recorded:?}, but {} now holds {classes:?}",
                config
                    .data
                    .dir
                    .as_deref()
                    .unwrap_or(Path::new("?"))
                    .display()
            );
        }
        config.data.classes = Some(classes.clone());
    }
    config.validate(source_name, data.train_pool(), classes.len())?;
    Ok(data)
}

/// The weights a run fine-tuned from the run or checkpoint `from` starts with, on the training
/// device, and a sentence saying what was kept. The hidden layers must have the run's sizes;
/// the last layer is kept when it has as many outputs as the run has classes, and drawn afresh
/// (from the run's seed) when not.
fn initial_weights(
    config: &RunConfig,
    from: &Path,
    devices: &Devices,
) -> anyhow::Result<(Network, String)> {
    let source = Trained::load(from, &devices.train)
        .with_context(|| format!("[training] init_from {}", from.display()))?;
    let (theirs, ours) = (source.model.sizes(), &config.model.sizes);
    let hidden = |sizes: &[usize]| sizes[..sizes.len() - 1].to_vec();
    if hidden(&theirs) != hidden(ours)
        || source.config.model.batch_norm != config.model.batch_norm
        || source.config.model.conv != config.model.conv
    {
        bail!(
            "[training] init_from {}: its network is {}{}, this run's {}{}; all but the last size must match",
            from.display(),
            source.config.model.describe_layers(),
            if source.config.model.batch_norm {
                " with batch norm"
            } else {
                ""
            },
            config.model.describe_layers(),
            if config.model.batch_norm {
                " with batch norm"
            } else {
                ""
            },
        );
    }
    let fresh = NetworkConfig::new(config.model.clone(), config.output())
        .init(config.training.seed, &devices.train);
    let (outputs, classes) = (theirs[theirs.len() - 1], ours[ours.len() - 1]);
    let mut layers = source.model.layers().to_vec();
    let note = if outputs == classes {
        format!("Starting from the weights of {}", source.path.display())
    } else {
        *layers.last_mut().expect("a network has a layer") = fresh
            .layers()
            .last()
            .expect("a network has a layer")
            .clone();
        format!(
            "Starting from the weights of {}: its {} layers are kept; its last layer has {outputs} outputs and this run {classes} classes, so that layer is drawn afresh",
            source.path.display(),
            if config.model.conv.is_empty() {
                "hidden"
            } else {
                "convolutional and hidden"
            }
        )
    };
    let model = fresh
        .with_conv(source.model.conv().to_vec())
        .with_norms(source.model.norms().to_vec())
        .with_layers(layers);
    Ok((model, note))
}

/// A run's name: its folder's.
pub fn run_name(dir: &Path) -> String {
    dir.file_name()
        .unwrap_or(dir.as_os_str())
        .to_string_lossy()
        .into_owned()
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
            bail!(
                "run folder {0} already holds a run; continue it with --resume {0}, choose another folder with --out DIR, or pass --force to move it aside",
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
