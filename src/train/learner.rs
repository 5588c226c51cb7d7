//! The learner: a train step, an inference step, and a loop that owns the model, the optimizer
//! and the epoch counter, in the shape of Burn's `Learner`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Context;
use burn::module::Module;
use burn::optim::lr_scheduler::module_lr_scheduler::{ModuleLearningRate, ModuleLrScheduler};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::data::{Examples, MnistBatch, MnistSplits};
use crate::model::cost::l2_penalty;
use crate::model::inference;
use crate::model::{Network, NetworkConfig};
use crate::train::checkpoint::Checkpoint;
use crate::train::config::RunConfig;
use crate::train::metrics::{self, EpochMetrics};

/// Training stopped before its last epoch.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The loss stopped being a number.
    #[error(
        "training diverged at epoch {epoch}: the training loss is {loss}; try a smaller learning rate than {lr}"
    )]
    Diverged {
        /// The epoch whose loss is not finite.
        epoch: usize,
        /// That loss.
        loss: f64,
        /// The learning rate in use.
        lr: f64,
    },
    /// The device failed while computing the epoch (a lost GPU, a device server gone).
    #[error("the {backend} device failed during epoch {epoch}: {reason}")]
    Device {
        /// The epoch in progress.
        epoch: usize,
        /// The backend's device, as Burn prints it.
        backend: String,
        /// What the backend said.
        reason: String,
    },
    /// The stop flag was raised (Ctrl-C): the epoch in progress is abandoned.
    #[error("interrupted during epoch {epoch}")]
    Interrupted {
        /// The epoch that was abandoned; the ones before it are complete.
        epoch: usize,
    },
    /// The per-epoch callback (writing metrics or the model) failed.
    #[error(transparent)]
    Callback(#[from] anyhow::Error),
}

/// Watches training as it happens; the loop calls it at every step, so it must be cheap.
pub trait Observer {
    /// An epoch over `examples` training examples starts (1-based `epoch`).
    fn epoch_started(&mut self, _epoch: usize, _examples: usize) {}
    /// `done` examples of the epoch are trained. `mean_loss` reads the running mean cost back
    /// from the device, which waits for it: call it only when the value is shown.
    fn step(&mut self, _done: usize, _mean_loss: &dyn Fn() -> f64) {}
    /// The epoch is complete, evaluated and saved.
    fn epoch_finished(&mut self, _metrics: &EpochMetrics) {}
    /// Something a person should know about the run, on one line (see [`crate::train::health`]).
    fn warning(&mut self, _message: &str) {}
}

/// An observer that watches nothing.
impl Observer for () {}

/// An [`Observer`] that passes everything on to `inner` and, once an epoch is shown, hands it
/// to `after` with `inner` to warn through: how a run adds what watches it (the health checks,
/// MLflow) to what shows its progress.
pub struct AfterEpoch<'a, F: FnMut(&EpochMetrics, &mut dyn Observer)> {
    /// Where progress is shown.
    pub inner: &'a mut dyn Observer,
    /// What is done with each epoch after it is shown.
    pub after: F,
}

impl<F: FnMut(&EpochMetrics, &mut dyn Observer)> Observer for AfterEpoch<'_, F> {
    fn epoch_started(&mut self, epoch: usize, examples: usize) {
        self.inner.epoch_started(epoch, examples);
    }

    fn step(&mut self, done: usize, mean_loss: &dyn Fn() -> f64) {
        self.inner.step(done, mean_loss);
    }

    fn epoch_finished(&mut self, metrics: &EpochMetrics) {
        self.inner.epoch_finished(metrics);
        (self.after)(metrics, self.inner);
    }

    fn warning(&mut self, message: &str) {
        self.inner.warning(message);
    }
}

/// Examples gathered and sent to the device at once in an epoch's order (see
/// [`Learner::train_epoch`]): 13 MB of images.
const GATHER_ROWS: usize = 4096;

/// What one pass over the training examples measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pass {
    /// The mean cost per example, without the L2 term.
    pub mean_loss: f64,
    /// The learning rate of the first mini-batch (NaN for an empty pass).
    pub learning_rate: f64,
}

/// How [`Learner::fit`] ended when it was not stopped by an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitEnd {
    /// Every requested epoch is trained.
    Completed,
    /// Validation accuracy had not improved for `[training] patience` epochs.
    EarlyStopped {
        /// The epoch of the best validation accuracy, whose checkpoint is kept.
        best_epoch: usize,
    },
}

/// Owns what changes during training: the model, the optimizer's state and the epoch counter.
pub struct Learner {
    /// Always `Some` between steps; taken for the moment the optimizer consumes it, so that the
    /// update owns the only reference to the parameters.
    model: Option<Network>,
    optim: ModuleOptimizer,
    /// Built at the start of an epoch, when the number of mini-batches is known, and stepped to
    /// the epoch; dropped when an epoch is abandoned.
    scheduler: Option<ModuleLrScheduler>,
    config: RunConfig,
    epoch: usize,
    /// Epoch and correct count of the best validation accuracy so far.
    best: Option<(usize, usize)>,
}

impl Learner {
    /// A fresh model and optimizer as `config` describes them, on `device` (an autodiff device).
    pub fn new(config: &RunConfig, device: &Device) -> Self {
        let model = NetworkConfig::new(config.model.clone(), config.output())
            .init(config.training.seed, device);
        Self {
            model: Some(model),
            optim: config.optimizer.init(),
            scheduler: None,
            config: config.clone(),
            epoch: 0,
            best: None,
        }
    }

    /// Carries on from a checkpoint: its model, its optimizer state, its epoch counter and its
    /// best validation accuracy.
    pub fn restore(
        config: &RunConfig,
        device: &Device,
        checkpoint: &Checkpoint,
    ) -> anyhow::Result<Self> {
        let mut learner = Self::new(config, device);
        let model = NetworkConfig::new(config.model.clone(), config.output())
            .load(&checkpoint.model_path(), device)?;
        learner.model = Some(model);
        let path = checkpoint.optimizer_path();
        learner.optim = learner
            .optim
            .load(&path)
            .with_context(|| format!("cannot load the optimizer state {}", path.display()))?;
        learner.epoch = checkpoint.epoch;
        learner.best =
            metrics::best_validation(&checkpoint.metrics).map(|m| (m.epoch, m.validation_correct));
        Ok(learner)
    }

    /// Starts from `model` instead of the drawn weights: fine-tuning. Before the first epoch.
    pub fn start_from(&mut self, model: Network) {
        debug_assert_eq!(self.epoch, 0);
        self.model = Some(model);
    }

    /// The optimizer, with its state.
    pub fn optimizer(&self) -> &ModuleOptimizer {
        &self.optim
    }

    /// The model as trained so far.
    pub fn model(&self) -> &Network {
        self.model
            .as_ref()
            .expect("the model is back after every step")
    }

    /// One optimizer step on a mini-batch of a training split of `n` examples (the `n` of the
    /// L2 term), with learning rate `lr`. Returns the batch's summed cost, still on the device,
    /// so that the loop never waits for a read-back between steps.
    fn train_step(&mut self, batch: &MnistBatch, n: usize, lr: ModuleLearningRate) -> Tensor<1> {
        let model = self
            .model
            .take()
            .expect("the model is back after every step");
        // [m, 784] -> [m, 10]
        let output = model.forward(batch.images.clone());
        let cost = self.config.loss.cost.loss(output, batch);
        let lambda = self.config.loss.l2;
        let loss = if lambda > 0.0 {
            cost.clone() + l2_penalty(&model, lambda, n)
        } else {
            cost.clone()
        };
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        self.model = Some(self.optim.step(lr, model, grads));
        cost.inner().mul_scalar(batch.len() as f64)
    }

    /// Inference step: how many examples of `split` the model classifies correctly.
    pub fn correct(&self, split: &MnistBatch) -> usize {
        inference::correct(&self.model().valid(), &split.without_autodiff())
    }

    /// How many of `examples` the model classifies correctly, sent to `device` (without
    /// autodiff) a part at a time.
    pub fn correct_examples(&self, examples: &Examples, device: &Device) -> usize {
        examples
            .parts(GATHER_ROWS, device)
            .map(|part| self.correct(&part))
            .sum()
    }

    /// One pass over `train` in the order of [`epoch_order`], its mini-batches sent to `device`
    /// (without autodiff) a part at a time. If `stop` was raised, or the device failed, the epoch
    /// counter is unchanged.
    pub fn train_epoch(
        &mut self,
        train: &Examples,
        device: &Device,
        stop: &AtomicBool,
        observer: &mut dyn Observer,
    ) -> Result<Pass, TrainError> {
        let n = train.len();
        let batch_size = self.config.training.batch_size;
        let seed = self.config.training.seed;
        observer.epoch_started(self.epoch + 1, n);
        let mut scheduler = self.scheduler.take().unwrap_or_else(|| {
            let batches = n.div_ceil(batch_size);
            let mut scheduler = self
                .config
                .optimizer
                .scheduler(self.config.training.epochs, batches);
            for _ in 0..self.epoch * batches {
                scheduler.step();
            }
            scheduler
        });
        // Dropout draws from the backend's generator, which is global to the process; seeding it
        // per epoch makes the masks a function of (seed, epoch), like the order.
        device.seed(mix(seed, self.epoch));
        let order = epoch_order(seed, self.epoch, n);
        // The epoch is gathered in its order a part at a time, whole mini-batches of about
        // GATHER_ROWS examples, and each step slices its batch from the part: one gather and
        // upload per part is faster than one per step, and a part costs the device a 13 MB
        // buffer where the whole split would need 157.
        let part_size = batch_size * (GATHER_ROWS / batch_size).max(1);
        let mut total = Tensor::<1>::zeros([1], device);
        let mut first_lr = None;
        for part_start in (0..n).step_by(part_size) {
            let part_order = &order[part_start..(part_start + part_size).min(n)];
            let part = train.gather(part_order, device);
            for start in (0..part_order.len()).step_by(batch_size) {
                if stop.load(Ordering::Relaxed) {
                    return Err(TrainError::Interrupted {
                        epoch: self.epoch + 1,
                    });
                }
                let end = (start + batch_size).min(part_order.len());
                let lr = scheduler.step();
                first_lr.get_or_insert(lr.base());
                total = total + self.train_step(&part.slice(start..end), n, lr);
                let done = part_start + end;
                observer.step(done, &|| total.clone().into_scalar::<f64>() / done as f64);
            }
        }
        // The first read-back of the epoch: a device failure surfaces here.
        let total = total
            .try_into_scalar::<f64>()
            .map_err(|e| TrainError::Device {
                epoch: self.epoch + 1,
                backend: format!("{device:?}"),
                reason: format!("{e:?}"),
            })?;
        self.scheduler = Some(scheduler);
        self.epoch += 1;
        Ok(Pass {
            mean_loss: total / n as f64,
            learning_rate: first_lr.unwrap_or(f64::NAN),
        })
    }

    /// Trains until `epochs` epochs are complete, or until validation accuracy has not improved
    /// for `[training] patience` epochs, evaluating after each one and handing its metrics to
    /// `on_epoch` (which writes them down and saves the model), then to `observer`. Raising
    /// `stop` abandons the epoch in progress within a step.
    pub fn fit(
        &mut self,
        splits: &MnistSplits,
        epochs: usize,
        stop: &AtomicBool,
        observer: &mut dyn Observer,
        mut on_epoch: impl FnMut(&Self, &EpochMetrics) -> anyhow::Result<()>,
    ) -> Result<FitEnd, TrainError> {
        loop {
            if let (Some(patience), Some((best_epoch, _))) =
                (self.config.training.patience, self.best)
                && self.epoch - best_epoch >= patience
            {
                return Ok(FitEnd::EarlyStopped { best_epoch });
            }
            if self.epoch >= epochs {
                return Ok(FitEnd::Completed);
            }
            let started = Instant::now();
            let pass = self.train_epoch(&splits.train, &splits.device, stop, observer)?;
            let train_loss = pass.mean_loss;
            let seconds = started.elapsed().as_secs_f64();
            if !train_loss.is_finite() {
                return Err(TrainError::Diverged {
                    epoch: self.epoch,
                    loss: train_loss,
                    lr: self.config.optimizer.lr,
                });
            }
            let metrics = EpochMetrics {
                epoch: self.epoch,
                train_loss,
                validation_correct: self.correct(&splits.validation),
                validation_total: splits.validation.len(),
                test_correct: self.correct(&splits.test),
                test_total: splits.test.len(),
                seconds,
                learning_rate: Some(pass.learning_rate),
                finished_at: Some(crate::tracking::now()),
            };
            if self
                .best
                .is_none_or(|(_, correct)| metrics.validation_correct > correct)
            {
                self.best = Some((metrics.epoch, metrics.validation_correct));
            }
            on_epoch(self, &metrics)?;
            observer.epoch_finished(&metrics);
        }
    }
}

/// The order of the training examples in epoch `epoch` (0-based): a pure function of the seed
/// and the epoch, so that a run resumed at any epoch sees the same data in the same order.
pub fn epoch_order(seed: u64, epoch: usize, n: usize) -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(mix(seed, epoch));
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    order
}

/// Mixes the epoch into the seed; seeding then spreads it over the generator's state.
fn mix(seed: u64, epoch: usize) -> u64 {
    seed ^ (epoch as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{BackendName, Devices};
    use crate::data::MnistBatcher;
    use burn::data::dataloader::batcher::Batcher;
    use burn::data::dataset::vision::MnistItem;
    use burn::module::Param;
    use burn::nn::Linear;
    use std::path::Path;

    /// A loss that turns NaN at epoch 2 stops the run there: the epochs before it were handed
    /// on (and so checkpointed), the bad one never is.
    #[test]
    fn divergence_stops_at_its_epoch_and_keeps_the_good_ones() {
        let config = RunConfig::parse(
            include_str!("../../configs/two-layer-net.toml"),
            Path::new("two-layer-net.toml"),
        )
        .unwrap();
        let devices = Devices::select(BackendName::Auto, None).unwrap();
        let items = |n: usize| -> Vec<MnistItem> {
            (0..n)
                .map(|i| MnistItem {
                    image: std::array::from_fn(|r| {
                        std::array::from_fn(|c| ((i + r * c) % 256) as f32)
                    }),
                    label: (i % 10) as u8,
                })
                .collect()
        };
        let splits = MnistSplits {
            train: items(200).into_iter().collect(),
            validation: MnistBatcher.batch(items(50), &devices.eval),
            test: MnistBatcher.batch(items(50), &devices.eval),
            device: devices.eval.clone(),
        };
        let mut learner = Learner::new(&config, &devices.train);
        let never = AtomicBool::new(false);
        let mut handed_on = Vec::new();
        learner
            .fit(&splits, 1, &never, &mut (), |_, m| {
                handed_on.push(m.epoch);
                Ok(())
            })
            .unwrap();
        // Poison the weights, as an exploding learning rate would.
        let model = learner.model.take().unwrap();
        let layers = model
            .layers()
            .iter()
            .map(|layer| Linear {
                weight: Param::from_tensor(
                    layer.weight.val().detach().mul_scalar(f32::NAN).detach(),
                ),
                bias: layer.bias.clone(),
            })
            .collect();
        learner.model = Some(model.with_layers(layers).train());
        let result = learner.fit(&splits, 3, &never, &mut (), |_, m| {
            handed_on.push(m.epoch);
            Ok(())
        });
        assert!(
            matches!(result, Err(TrainError::Diverged { epoch: 2, .. })),
            "{result:?}"
        );
        assert_eq!(handed_on, [1]);
    }

    #[test]
    fn epoch_order_is_a_permutation_fixed_by_seed_and_epoch() {
        let order = epoch_order(1, 0, 1000);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_eq!(order, epoch_order(1, 0, 1000));
        assert_ne!(order, epoch_order(1, 1, 1000));
        assert_ne!(order, epoch_order(2, 0, 1000));
    }
}
