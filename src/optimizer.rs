//! The `[optimizer]` section made into Burn objects: a `ModuleOptimizer` and a learning-rate
//! scheduler. Every update rule is Burn's; this module only maps our keys onto Burn's configs.
//!
//! | `name` | Burn | the book's (*Deep Learning from Scratch*, `common/optimizer.py`) |
//! |---|---|---|
//! | `sgd` | `SgdConfig` | `SGD(lr=0.01)` |
//! | `sgd`, `momentum` | `MomentumConfig`, dampening 0 | `Momentum(lr=0.01, momentum=0.9)` |
//! | `adagrad` | `AdaGradConfig`, lr decay 0 | `AdaGrad(lr=0.01)` |
//! | `rmsprop` | `RmsPropConfig`, momentum 0, not centred | `RMSprop(lr=0.01, decay_rate=0.99)` |
//! | `adam` | `AdamConfig` | `Adam(lr=0.001, beta1=0.9, beta2=0.999)` |
//!
//! Burn's momentum defaults to dampening 0.1, which scales every gradient after the first by
//! 0.9; digits sets it to 0, PyTorch's default, which is also the book's `Momentum`. epsilon is
//! the book's 1e-7 unless set (Burn's default is 1e-5, PyTorch's Adam 1e-8).

use burn::optim::decay::WeightDecayConfig;
use burn::optim::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::optim::lr_scheduler::step::StepLrSchedulerConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdaGradConfig, AdamConfig, ModuleOptimizer, RmsPropConfig, SgdConfig};

use crate::config::{OptimizerConfig, OptimizerName, Schedule};

impl OptimizerConfig {
    /// The Burn optimizer these keys describe, with empty state.
    pub fn init(&self) -> ModuleOptimizer {
        let decay =
            (self.weight_decay > 0.0).then(|| WeightDecayConfig::new(self.weight_decay as f32));
        let epsilon = self.epsilon() as f32;
        match self.name {
            OptimizerName::Sgd => SgdConfig::new()
                .with_weight_decay(decay)
                .with_momentum((self.momentum() > 0.0).then(|| {
                    MomentumConfig::new()
                        .with_momentum(self.momentum())
                        .with_dampening(0.0)
                        .with_nesterov(self.nesterov)
                }))
                .init(),
            OptimizerName::Adagrad => AdaGradConfig::new()
                .with_epsilon(epsilon)
                .with_weight_decay(decay)
                .init(),
            OptimizerName::Rmsprop => RmsPropConfig::new()
                .with_alpha(self.decay_rate() as f32)
                .with_momentum(0.0)
                .with_epsilon(epsilon)
                .with_weight_decay(decay)
                .init(),
            OptimizerName::Adam => AdamConfig::new()
                .with_beta_1(self.beta1() as f32)
                .with_beta_2(self.beta2() as f32)
                .with_epsilon(epsilon)
                .with_weight_decay(decay)
                .init(),
        }
    }

    /// Burn's scheduler for `schedule`, stepped once per mini-batch, for a run of `epochs`
    /// epochs of `batches` mini-batches each. Its state is the number of steps taken, so a
    /// resumed run rebuilds it and steps it to where the checkpoint stopped.
    pub fn scheduler(&self, epochs: usize, batches: usize) -> ModuleLrScheduler {
        let built = match self.schedule {
            Schedule::Constant => Ok(ModuleLrScheduler::from(self.lr)),
            Schedule::Step => {
                StepLrSchedulerConfig::new(self.lr, self.step_epochs.unwrap_or(1).max(1) * batches)
                    .with_gamma(self.gamma())
                    .init()
            }
            Schedule::Cosine => CosineAnnealingLrSchedulerConfig::new(self.lr, epochs * batches)
                .with_min_lr(self.min_lr())
                .init(),
        };
        built.expect("RunConfig::validate checks the schedule's keys")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RunConfig;
    use burn::module::Param;
    use burn::nn::LinearConfig;
    use burn::optim::GradientsParams;
    use burn::tensor::{Device, Tensor};
    use std::path::Path;

    fn optimizer(keys: &str) -> OptimizerConfig {
        let text = format!(
            "[model]\nsizes = [784, 10]\n[optimizer]\n{keys}\n[training]\nepochs = 4\nbatch_size = 10\n"
        );
        let config = RunConfig::parse(&text, Path::new("t.toml")).unwrap();
        config.validate("t.toml", 60_000, 10).unwrap();
        config.optimizer
    }

    fn rates(config: &OptimizerConfig, epochs: usize, batches: usize) -> Vec<f64> {
        let mut scheduler = config.scheduler(epochs, batches);
        (0..epochs * batches)
            .map(|_| scheduler.step().base())
            .collect()
    }

    /// The weight after each of two steps from w = 1 under the cost C = w, whose gradient is 1.
    fn two_steps(keys: &str) -> [f64; 2] {
        let config = optimizer(keys);
        let device = Device::flex().autodiff();
        let mut layer = LinearConfig::new(1, 1).with_bias(false).init(&device);
        layer.weight = Param::from_tensor(Tensor::from_data([[1.0f32]], &device));
        let mut optim = config.init();
        [0, 1].map(|_| {
            let loss = layer.weight.val().sum();
            let grads = GradientsParams::from_grads(loss.backward(), &layer);
            layer = optim.step(config.lr, layer.clone(), grads);
            f64::from(layer.weight.val().into_data().try_to_vec::<f32>().unwrap()[0])
        })
    }

    #[test]
    fn update_rules_follow_the_documented_formulas() {
        let cases: [(&str, [f64; 2]); 7] = [
            ("name = \"sgd\"", [0.9, 0.8]),
            // v = g = 1, then v = 0.9·1 + 1 = 1.9 (Burn's default dampening would give 1.8).
            ("name = \"sgd\"\nmomentum = 0.9", [0.9, 0.71]),
            // steps g + 0.9·v: 1.9, then 1 + 0.9·1.9 = 2.71.
            (
                "name = \"sgd\"\nmomentum = 0.9\nnesterov = true",
                [0.81, 0.539],
            ),
            // g = 1 + 0.5·w: 1.5, then 1.425.
            ("name = \"sgd\"\nweight_decay = 0.5", [0.85, 0.7075]),
            // lr·g/√(Σg²): 0.1, then 0.1/√2.
            ("name = \"adagrad\"", [0.9, 0.9 - 0.1 / 2f64.sqrt()]),
            // h = 0.01, then 0.0199: steps 0.1/0.1 and 0.1/√0.0199.
            ("name = \"rmsprop\"", [0.0, -0.1 / 0.0199f64.sqrt()]),
            // Bias-corrected moments of a constant gradient are exactly 1: steps of lr.
            ("name = \"adam\"", [0.9, 0.8]),
        ];
        for (keys, expected) in cases {
            let got = two_steps(&format!("{keys}\nlr = 0.1"));
            for (g, e) in got.iter().zip(expected) {
                assert!(
                    (g - e).abs() < 1e-5,
                    "{keys}: {got:?}, expected {expected:?}"
                );
            }
        }
    }

    #[test]
    fn step_schedule_decays_every_step_epochs() {
        let config = optimizer("lr = 0.5\nschedule = \"step\"\nstep_epochs = 2\ngamma = 0.5");
        let lr = rates(&config, 4, 3);
        assert_eq!(lr[..6], [0.5; 6]);
        assert_eq!(lr[6..], [0.25; 6]);
    }

    #[test]
    fn cosine_schedule_falls_from_lr_towards_min_lr() {
        let config = optimizer("lr = 0.1\nschedule = \"cosine\"\nmin_lr = 0.01");
        let lr = rates(&config, 4, 25);
        assert_eq!(lr[0], 0.1);
        assert!((lr[50] - 0.055).abs() < 1e-12, "{}", lr[50]);
        assert!(lr.windows(2).all(|w| w[1] < w[0]));
        assert!(lr[99] > 0.01 && lr[99] < 0.0101, "{}", lr[99]);
    }

    #[test]
    fn constant_schedule_keeps_lr() {
        let lr = rates(&optimizer("lr = 3.0"), 2, 5);
        assert_eq!(lr, [3.0; 10]);
    }
}
