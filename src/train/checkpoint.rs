//! Checkpoints: after every epoch, everything a run needs to carry on as if it had never
//! stopped.
//!
//! A checkpoint is a folder `<run>/checkpoints/epoch-NNNN/` holding the model (`model.bpk`), the
//! optimizer state (`optimizer.bpk`), `state.toml` (the epoch, the resolved config and the
//! metrics so far) and `manifest.toml` (each file's size and SHA-256). The data order needs no
//! state: each epoch's permutation is a function of the seed and the epoch.
//!
//! It is written in a scratch folder, synced, and renamed into place, so a kill at any instant
//! leaves either no new checkpoint or a complete one. A damaged one (truncated, garbled) fails
//! its manifest and loading falls back to the one before.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::Network;
use crate::train::config::RunConfig;
use crate::train::metrics::{self, EpochMetrics};

/// The folder of a run that holds its checkpoints.
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// The model, a Burn record.
pub const MODEL_FILE: &str = "model.bpk";
/// A run folder's resolved config.
pub const CONFIG_FILE: &str = "config.toml";
/// The optimizer state, a Burn optimizer record.
pub const OPTIMIZER_FILE: &str = "optimizer.bpk";
const STATE_FILE: &str = "state.toml";
const MANIFEST_FILE: &str = "manifest.toml";
/// Testing aid: milliseconds to pause in the middle of writing a checkpoint, so that a test can
/// kill the process while one is half written.
pub const PAUSE_ENV: &str = "DIGITS_CHECKPOINT_PAUSE_MS";

/// What a checkpoint records besides the model and the optimizer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    epoch: usize,
    config: RunConfig,
    metrics: Vec<EpochMetrics>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    files: Vec<ManifestEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestEntry {
    name: String,
    bytes: u64,
    sha256: String,
}

/// A complete checkpoint whose files match its manifest.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Its folder.
    pub dir: PathBuf,
    /// Epochs completed when it was written.
    pub epoch: usize,
    /// The resolved config of the run.
    pub config: RunConfig,
    /// Every epoch's metrics up to `epoch`.
    pub metrics: Vec<EpochMetrics>,
}

/// A checkpoint that was skipped while looking for the newest usable one.
#[derive(Debug, Clone)]
pub struct Damaged {
    /// The checkpoint folder.
    pub dir: PathBuf,
    /// What is wrong with it, naming the file.
    pub problem: String,
}

impl Checkpoint {
    /// The model record.
    pub fn model_path(&self) -> PathBuf {
        self.dir.join(MODEL_FILE)
    }

    /// The optimizer record.
    pub fn optimizer_path(&self) -> PathBuf {
        self.dir.join(OPTIMIZER_FILE)
    }

    /// Writes the checkpoint of epoch `metrics.len()` into `run`, atomically. Returns its size in
    /// bytes.
    pub fn save(
        run: &Path,
        config: &RunConfig,
        metrics: &[EpochMetrics],
        model: &Network,
        optim: &ModuleOptimizer,
    ) -> anyhow::Result<u64> {
        let epoch = metrics.len();
        let checkpoints = run.join(CHECKPOINTS_DIR);
        let name = folder_name(epoch);
        let scratch = checkpoints.join(format!(".{name}.partial-{}", std::process::id()));
        let write = || -> anyhow::Result<u64> {
            if scratch.exists() {
                fs::remove_dir_all(&scratch)?;
            }
            fs::create_dir_all(&scratch)?;
            model.save(&scratch.join(MODEL_FILE))?;
            optim.save(scratch.join(OPTIMIZER_FILE))?;
            let state = State {
                epoch,
                config: config.clone(),
                metrics: metrics.to_vec(),
            };
            write_synced(
                &scratch.join(STATE_FILE),
                toml::to_string(&state)?.as_bytes(),
            )?;
            if let Some(ms) = std::env::var(PAUSE_ENV).ok().and_then(|v| v.parse().ok()) {
                std::thread::sleep(Duration::from_millis(ms));
            }
            let mut files = Vec::new();
            for name in [MODEL_FILE, OPTIMIZER_FILE, STATE_FILE] {
                let bytes = fs::read(scratch.join(name))?;
                files.push(ManifestEntry {
                    name: name.to_string(),
                    bytes: bytes.len() as u64,
                    sha256: hex(&Sha256::digest(&bytes)),
                });
            }
            let size = files.iter().map(|f| f.bytes).sum();
            let manifest = toml::to_string(&Manifest { files })?;
            write_synced(&scratch.join(MANIFEST_FILE), manifest.as_bytes())?;
            let target = checkpoints.join(&name);
            if target.exists() {
                // Left by a run that was resumed from an earlier epoch; this one replaces it.
                fs::remove_dir_all(&target)?;
            }
            fs::rename(&scratch, &target)?;
            fs::File::open(&checkpoints)?.sync_all()?;
            Ok(size)
        };
        write().with_context(|| {
            format!(
                "cannot write checkpoint {}",
                checkpoints.join(&name).display()
            )
        })
    }

    /// The newest checkpoint of `run` that is complete and intact, with the newer ones that were
    /// not. `Ok((None, []))` when the run has none.
    pub fn newest(run: &Path) -> anyhow::Result<(Option<Checkpoint>, Vec<Damaged>)> {
        let mut damaged = Vec::new();
        for (_, dir) in complete(run)?.into_iter().rev() {
            match Self::open(&dir) {
                Ok(checkpoint) => return Ok((Some(checkpoint), damaged)),
                Err(problem) => damaged.push(Damaged { dir, problem }),
            }
        }
        Ok((None, damaged))
    }

    /// Opens the checkpoint in `dir`, checking every file against the manifest.
    pub fn open(dir: &Path) -> Result<Checkpoint, String> {
        let read = |name: &str| {
            let path = dir.join(name);
            fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
        };
        let manifest: Manifest = read_toml(&dir.join(MANIFEST_FILE))?;
        for name in [MODEL_FILE, OPTIMIZER_FILE, STATE_FILE] {
            let Some(entry) = manifest.files.iter().find(|f| f.name == name) else {
                return Err(format!(
                    "{}: does not list {name}",
                    dir.join(MANIFEST_FILE).display()
                ));
            };
            let path = dir.join(name);
            let bytes = read(name)?;
            if bytes.len() as u64 != entry.bytes {
                return Err(format!(
                    "{}: {} bytes, the manifest says {}",
                    path.display(),
                    bytes.len(),
                    entry.bytes
                ));
            }
            if hex(&Sha256::digest(&bytes)) != entry.sha256 {
                return Err(format!(
                    "{}: checksum does not match the manifest",
                    path.display()
                ));
            }
        }
        let state: State = read_toml(&dir.join(STATE_FILE))?;
        if state.metrics.len() != state.epoch {
            return Err(format!(
                "{}: epoch {} with {} rows of metrics",
                dir.join(STATE_FILE).display(),
                state.epoch,
                state.metrics.len()
            ));
        }
        Ok(Checkpoint {
            dir: dir.to_path_buf(),
            epoch: state.epoch,
            config: state.config,
            metrics: state.metrics,
        })
    }
}

/// Deletes all but the newest `keep_last` checkpoints and the one of the best validation
/// accuracy, and any scratch folder a killed writer left behind.
pub fn prune(run: &Path, keep_last: usize, metrics: &[EpochMetrics]) -> anyhow::Result<()> {
    let best = metrics::best_validation(metrics).map(|m| m.epoch);
    let complete = complete(run)?;
    let newest_kept = complete.len().saturating_sub(keep_last);
    for (i, (epoch, dir)) in complete.iter().enumerate() {
        if i < newest_kept && Some(*epoch) != best {
            fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
        }
    }
    let checkpoints = run.join(CHECKPOINTS_DIR);
    for entry in fs::read_dir(&checkpoints)? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with('.') && name.contains(".partial-") {
            fs::remove_dir_all(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

/// The checkpoint folders of `run` that were renamed into place, oldest first, with their epoch.
fn complete(run: &Path) -> anyhow::Result<Vec<(usize, PathBuf)>> {
    let checkpoints = run.join(CHECKPOINTS_DIR);
    if !checkpoints.is_dir() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for entry in fs::read_dir(&checkpoints)
        .with_context(|| format!("cannot read {}", checkpoints.display()))?
    {
        let path = entry?.path();
        let epoch = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("epoch-"))
            .and_then(|n| n.parse::<usize>().ok());
        if let Some(epoch) = epoch.filter(|_| path.is_dir()) {
            found.push((epoch, path));
        }
    }
    found.sort();
    Ok(found)
}

/// Reads a TOML file, describing any failure with the file's path.
fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|text| toml::from_str(&text).map_err(|e| e.message().to_string()))
        .map_err(|e| format!("{}: unreadable: {e}", path.display()))
}

/// The folder of the checkpoint of `epoch` in the run folder `run`.
pub fn folder(run: &Path, epoch: usize) -> PathBuf {
    run.join(CHECKPOINTS_DIR).join(folder_name(epoch))
}

fn folder_name(epoch: usize) -> String {
    format!("epoch-{epoch:04}")
}

/// Writes a new file and syncs it to disk.
fn write_synced(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut file = fs::File::create(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
