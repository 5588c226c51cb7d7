//! Is the run learning? A run whose training loss has grown far above the untrained network's,
//! or whose validation accuracy stays at chance, still ends without an error; this says so, once
//! for each, naming the epoch and the likely cause, on the screen and in the run folder's
//! `warnings.log`. Some runs are meant not to learn (`ch6-init-std001`); they are warned too.

use std::io::Write;
use std::path::Path;

use crate::data::MnistBatch;
use crate::model::NetworkConfig;
use crate::train::config::RunConfig;
use crate::train::learner::Observer;
use crate::train::metrics::EpochMetrics;

/// The run folder's file of warnings, one line each, appended as they come.
pub const WARNINGS_FILE: &str = "warnings.log";

/// A training loss this many times the untrained network's has exploded.
const EXPLODED: f64 = 100.0;
/// Validation accuracy below this multiple of chance (1 / classes) is chance level.
const CHANCE_MARGIN: f64 = 1.5;
/// Epochs at chance level before saying so: a first epoch may be slow to start.
const CHANCE_EPOCHS: usize = 2;
/// Validation examples the untrained network's loss is measured on.
const UNTRAINED_SAMPLE: usize = 1000;

/// The mean cost of the network as the seed initialises it, on the first validation examples:
/// where the training loss starts. `None` without validation examples.
pub fn untrained_loss(config: &RunConfig, validation: &MnistBatch) -> Option<f64> {
    let n = validation.labels.dims()[0].min(UNTRAINED_SAMPLE);
    if n == 0 {
        return None;
    }
    let device = validation.images.device();
    let model = NetworkConfig::new(config.model.clone(), config.output())
        .init(config.training.seed, &device);
    let sample = MnistBatch {
        images: validation.images.clone().narrow(0, 0, n),
        labels: validation.labels.clone().narrow(0, 0, n),
        targets: validation.targets.clone().narrow(0, 0, n),
    };
    let loss = config
        .loss
        .cost
        .loss(model.forward(sample.images.clone()), &sample);
    Some(loss.into_scalar::<f64>()).filter(|l| l.is_finite() && *l > 0.0)
}

/// What has been seen of a run's epochs, and what has been said.
#[derive(Debug)]
pub struct Health {
    untrained_loss: Option<f64>,
    chance: f64,
    lr: f64,
    epochs_at_chance: usize,
    said_exploded: bool,
    said_chance: bool,
}

impl Health {
    /// Watches a run of `config` whose loss starts at `untrained_loss`; `earlier` are the epochs
    /// of a resumed run, replayed so that nothing is said twice.
    pub fn new(config: &RunConfig, untrained_loss: Option<f64>, earlier: &[EpochMetrics]) -> Self {
        let classes = *config.model.sizes.last().expect("sizes has an output") as f64;
        let mut health = Self {
            untrained_loss,
            chance: 1.0 / classes,
            lr: config.optimizer.lr,
            epochs_at_chance: 0,
            said_exploded: false,
            said_chance: false,
        };
        for metrics in earlier {
            health.check(metrics);
        }
        health
    }

    /// The warnings an epoch's metrics raise, each at most once in a run.
    pub fn check(&mut self, metrics: &EpochMetrics) -> Vec<String> {
        let mut warnings = Vec::new();
        let epoch = metrics.epoch;
        if let Some(start) = self.untrained_loss
            && !self.said_exploded
            && metrics.train_loss > EXPLODED * start
        {
            self.said_exploded = true;
            warnings.push(format!(
                "epoch {epoch}: the training loss ({:.4e}) has grown to {:.0}× the untrained network's ({start:.4}): the learning rate ({}) is likely too high",
                metrics.train_loss,
                metrics.train_loss / start,
                self.lr
            ));
        }
        let accuracy = metrics.validation_accuracy();
        if metrics.validation_total > 0 && accuracy < CHANCE_MARGIN * self.chance {
            self.epochs_at_chance += 1;
        } else {
            self.epochs_at_chance = 0;
        }
        if self.epochs_at_chance >= CHANCE_EPOCHS && !self.said_chance {
            self.said_chance = true;
            warnings.push(format!(
                "epoch {epoch}: validation accuracy has stayed at chance level ({:.2}%, chance is {:.0}%) for {} epochs: the network is not learning; the learning rate ({}) or the initialisation ([model] init) is the likely cause",
                100.0 * accuracy,
                100.0 * self.chance,
                self.epochs_at_chance,
                self.lr
            ));
        }
        warnings
    }
}

impl Health {
    /// Checks an epoch, warning through `observer` of what is wrong and appending each warning
    /// to the run folder's `log`.
    pub fn watch(&mut self, metrics: &EpochMetrics, log: &Path, observer: &mut dyn Observer) {
        for warning in self.check(metrics) {
            observer.warning(&warning);
            let appended = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .and_then(|mut file| writeln!(file, "{warning}"));
            if let Err(error) = appended {
                observer.warning(&format!("cannot write {}: {error}", log.display()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(epoch: usize, train_loss: f64, validation_correct: usize) -> EpochMetrics {
        EpochMetrics {
            epoch,
            train_loss,
            validation_correct,
            validation_total: 1000,
            test_correct: validation_correct,
            test_total: 1000,
            seconds: 1.0,
            learning_rate: Some(0.1),
            finished_at: None,
        }
    }

    fn config() -> RunConfig {
        RunConfig::load("configs/two-layer-net.toml".as_ref()).unwrap()
    }

    #[test]
    fn a_learning_run_raises_nothing() {
        let mut health = Health::new(&config(), Some(2.3), &[]);
        for (i, (loss, correct)) in [(0.9, 880), (0.4, 910), (0.3, 930)].into_iter().enumerate() {
            assert!(health.check(&epoch(i + 1, loss, correct)).is_empty());
        }
    }

    #[test]
    fn an_exploding_loss_and_chance_accuracy_are_each_said_once() {
        let mut health = Health::new(&config(), Some(2.3), &[]);
        let first = health.check(&epoch(1, 5e8, 100));
        assert_eq!(first.len(), 1, "{first:?}");
        assert!(
            first[0].starts_with("epoch 1: the training loss"),
            "{first:?}"
        );
        let second = health.check(&epoch(2, 450.0, 98));
        assert_eq!(second.len(), 1, "{second:?}");
        assert!(second[0].contains("chance level (9.80%, chance is 10%) for 2 epochs"));
        assert!(health.check(&epoch(3, 6e8, 101)).is_empty());
    }

    #[test]
    fn a_resumed_run_is_not_warned_again() {
        let earlier = [epoch(1, 5e8, 100), epoch(2, 450.0, 98)];
        let mut health = Health::new(&config(), Some(2.3), &earlier);
        assert!(health.check(&epoch(3, 6e8, 100)).is_empty());
    }

    #[test]
    fn one_slow_epoch_at_chance_is_not_yet_said() {
        let mut health = Health::new(&config(), Some(2.3), &[]);
        assert!(health.check(&epoch(1, 2.2, 120)).is_empty());
        assert!(health.check(&epoch(2, 1.0, 700)).is_empty());
    }
}
