//! The runs found below a folder, and how far each got: what `digits runs` lists.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use super::checkpoint::Checkpoint;
use super::metrics::{EpochMetrics, best_validation};
use super::run::{is_in_use, run_name};

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// A process is training in its folder now (it holds the folder's lock).
    Training,
    /// Stopped before its planned epochs, with no early stopping to explain it: Ctrl-C, a
    /// crash, or a kill. `digits train --resume` carries it on.
    Interrupted,
    /// All its planned epochs done, or stopped early by `[training] patience`.
    Finished,
}

/// One run folder, as `digits runs` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// The folder.
    pub path: PathBuf,
    /// The folder's name: the config's, unless `--out` named it otherwise.
    pub name: String,
    /// The network, as the summary describes it: `[784, 30, 10]`, `conv 20 5×5 pool 2, ...`.
    pub network: String,
    /// Epochs completed.
    pub epochs: usize,
    /// Epochs planned.
    pub planned: usize,
    /// The epoch of the best validation accuracy, and that accuracy.
    pub best_epoch: Option<usize>,
    /// The best validation accuracy, as a fraction.
    pub best_validation: Option<f64>,
    /// The test accuracy at the best validation epoch.
    pub test: Option<f64>,
    /// Training time of the epochs completed, in seconds.
    pub seconds: f64,
    /// Finished, interrupted, or training now.
    pub status: Status,
}

impl RunSummary {
    /// Reads the run in `dir` from its newest usable checkpoint. A run with no complete epoch
    /// yet reads its plan from `config.toml`.
    pub fn read(dir: &Path, root: &Path) -> anyhow::Result<Self> {
        let (newest, _) = Checkpoint::newest(dir)?;
        let (config, metrics) = match newest {
            Some(checkpoint) => (checkpoint.config, checkpoint.metrics),
            None => {
                let path = dir.join("config.toml");
                let config = super::RunConfig::load(&path)
                    .with_context(|| format!("{}: not a run folder", dir.display()))?;
                (config, Vec::new())
            }
        };
        let best = best_validation(&metrics);
        let epochs = metrics.len();
        let planned = config.training.epochs;
        let status = if is_in_use(dir) {
            Status::Training
        } else if epochs >= planned || stopped_early(&metrics, config.training.patience) {
            Status::Finished
        } else {
            Status::Interrupted
        };
        let name = dir
            .strip_prefix(root)
            .ok()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| run_name(dir), |p| p.display().to_string());
        Ok(Self {
            path: dir.to_path_buf(),
            name,
            network: config.model.describe_layers(),
            epochs,
            planned,
            best_epoch: best.map(|m| m.epoch),
            best_validation: best.map(EpochMetrics::validation_accuracy),
            test: best.map(EpochMetrics::test_accuracy),
            seconds: metrics.iter().map(|m| m.seconds).sum(),
            status,
        })
    }
}

/// Whether early stopping ended the run: `patience` epochs have passed since its best.
fn stopped_early(metrics: &[EpochMetrics], patience: Option<usize>) -> bool {
    match (patience, best_validation(metrics), metrics.last()) {
        (Some(patience), Some(best), Some(last)) => {
            last.epoch.saturating_sub(best.epoch) >= patience
        }
        _ => false,
    }
}

/// Every run folder below `root` (`root` itself included), in path order: folders holding a
/// `config.toml` and a `checkpoints/` folder. A run's own folders are not searched further.
pub fn find(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    anyhow::ensure!(
        root.is_dir(),
        "{}: no such folder (runs looks for run folders below it)",
        root.display()
    );
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        if dir.join("config.toml").is_file() && dir.join("checkpoints").is_dir() {
            found.push(dir);
            continue;
        }
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push(entry.path());
            }
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epochs(validation_correct: &[usize]) -> Vec<EpochMetrics> {
        validation_correct
            .iter()
            .enumerate()
            .map(|(i, &correct)| EpochMetrics {
                epoch: i + 1,
                train_loss: 0.1,
                validation_correct: correct,
                validation_total: 100,
                test_correct: correct,
                test_total: 100,
                seconds: 1.0,
                learning_rate: Some(0.1),
                finished_at: None,
            })
            .collect()
    }

    /// A run stopped by `patience` is finished; one stopped sooner, or without patience, is not.
    #[test]
    fn early_stopping_counts_epochs_since_the_best() {
        let run = epochs(&[90, 95, 94, 93, 92]);
        assert!(stopped_early(&run, Some(3)));
        assert!(!stopped_early(&run, Some(4)));
        assert!(!stopped_early(&run, None));
        assert!(!stopped_early(&[], Some(1)));
    }
}
