//! What an epoch measured, as a log line and as a row of `metrics.csv`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The header of `metrics.csv`. Accuracies are fractions; `seconds` is the wall time of the
/// epoch's training pass; `learning_rate` is the rate of its first mini-batch, empty for an
/// epoch of a run made before digits recorded it. New columns go last, so that readers going by
/// position or by name keep working.
pub const CSV_HEADER: &str =
    "epoch,train_loss,validation_accuracy,test_accuracy,seconds,learning_rate";

/// One epoch's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean cost per training example over the epoch, measured during training.
    pub train_loss: f64,
    /// Validation examples classified correctly after the epoch.
    pub validation_correct: usize,
    /// Validation examples.
    pub validation_total: usize,
    /// Test examples classified correctly after the epoch.
    pub test_correct: usize,
    /// Test examples.
    pub test_total: usize,
    /// Wall time of the training pass.
    pub seconds: f64,
    /// The learning rate of the epoch's first mini-batch (the schedule may lower it during the
    /// epoch). `None` in the checkpoints of runs made before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f64>,
    /// When the epoch was evaluated, in seconds since the Unix epoch: the time TensorBoard and
    /// MLflow show it at, however often the run is resumed. `None` in the checkpoints of runs
    /// made before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<f64>,
}

impl EpochMetrics {
    /// Validation accuracy as a fraction.
    pub fn validation_accuracy(&self) -> f64 {
        self.validation_correct as f64 / self.validation_total as f64
    }

    /// Test accuracy as a fraction.
    pub fn test_accuracy(&self) -> f64 {
        self.test_correct as f64 / self.test_total as f64
    }

    /// The epoch's values under `metrics.csv`'s column names, but the epoch itself: what
    /// TensorBoard and MLflow receive. The learning rate is left out where it is unknown.
    pub fn scalars(&self) -> Vec<(&'static str, f64)> {
        let mut scalars = vec![
            ("train_loss", self.train_loss),
            ("validation_accuracy", self.validation_accuracy()),
            ("test_accuracy", self.test_accuracy()),
            ("seconds", self.seconds),
        ];
        scalars.extend(self.learning_rate.map(|lr| ("learning_rate", lr)));
        scalars
    }

    /// The row of `metrics.csv`, in [`CSV_HEADER`]'s order.
    pub fn csv_row(&self) -> String {
        format!(
            "{},{},{},{},{},{}",
            self.epoch,
            self.train_loss,
            self.validation_accuracy(),
            self.test_accuracy(),
            self.seconds,
            self.learning_rate
                .map(|lr| lr.to_string())
                .unwrap_or_default()
        )
    }
}

impl fmt::Display for EpochMetrics {
    /// network.py's line, with validation, loss and time added:
    /// `Epoch 12: test 9512 / 10000 (95.12%)  validation 9561 / 10000  loss 0.0213  3.1 s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Epoch {}: test {} / {} ({:.2}%)  validation {} / {}  loss {:.4}  {:.1} s",
            self.epoch,
            self.test_correct,
            self.test_total,
            100.0 * self.test_accuracy(),
            self.validation_correct,
            self.validation_total,
            self.train_loss,
            self.seconds
        )
    }
}

/// The epoch with the best test accuracy (the earliest, on a tie).
pub fn best_test(history: &[EpochMetrics]) -> Option<&EpochMetrics> {
    best_by(history, |m| m.test_correct)
}

/// The epoch with the best validation accuracy (the earliest, on a tie): the one a run would
/// pick without looking at the test set, which early stopping and checkpoint pruning keep.
pub fn best_validation(history: &[EpochMetrics]) -> Option<&EpochMetrics> {
    best_by(history, |m| m.validation_correct)
}

fn best_by(history: &[EpochMetrics], key: fn(&EpochMetrics) -> usize) -> Option<&EpochMetrics> {
    history
        .iter()
        .reduce(|best, m| if key(m) > key(best) { m } else { best })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(epoch: usize, test_correct: usize) -> EpochMetrics {
        EpochMetrics {
            epoch,
            train_loss: 0.0213,
            validation_correct: 9561,
            validation_total: 10_000,
            test_correct,
            test_total: 10_000,
            seconds: 3.0864,
            learning_rate: Some(0.5),
            finished_at: Some(1.8e9),
        }
    }

    #[test]
    fn line_and_row_read_as_specified() {
        let m = epoch(12, 9512);
        assert_eq!(
            m.to_string(),
            "Epoch 12: test 9512 / 10000 (95.12%)  validation 9561 / 10000  loss 0.0213  3.1 s"
        );
        assert_eq!(m.csv_row(), "12,0.0213,0.9561,0.9512,3.0864,0.5");
        let older = EpochMetrics {
            learning_rate: None,
            ..m
        };
        assert_eq!(older.csv_row(), "12,0.0213,0.9561,0.9512,3.0864,");
        // TensorBoard and MLflow get metrics.csv's columns, under their names.
        let names: Vec<&str> = m.scalars().iter().map(|(name, _)| *name).collect();
        assert_eq!(
            Some(names.join(",").as_str()),
            CSV_HEADER.strip_prefix("epoch,")
        );
        assert_eq!(older.scalars().len(), 4);
    }

    #[test]
    fn best_is_the_earliest_highest() {
        let history = [
            epoch(1, 9000),
            epoch(2, 9500),
            epoch(3, 9500),
            epoch(4, 9400),
        ];
        assert_eq!(best_test(&history).unwrap().epoch, 2);
        assert!(best_test(&[]).is_none());
        let mut history = history.to_vec();
        history[3].validation_correct = 9600;
        assert_eq!(best_validation(&history).unwrap().epoch, 4);
    }
}
