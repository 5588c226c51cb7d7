//! The `[optimizer]` section, its checks, and its keys made into Burn objects: a
//! `ModuleOptimizer` and a learning-rate scheduler. Every update rule is Burn's; this module only
//! maps our keys onto Burn's configs.
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

use serde::{Deserialize, Serialize};

use crate::config::{Invalid, display_as_toml, is_false, is_zero};

/// The optimizer, its hyper-parameters and the learning-rate schedule.
///
/// Keys that belong to another optimizer or schedule are refused. Unset, each takes the default
/// of *Deep Learning from Scratch*'s `common/optimizer.py`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    /// Which optimizer.
    #[serde(default)]
    pub name: OptimizerName,
    /// Learning rate; with the quadratic cost this is network.py's eta.
    pub lr: f64,
    /// `sgd`: momentum factor, PyTorch's semantics with dampening 0 (v ← μ·v + g, w ← w − lr·v);
    /// unset or 0 is plain SGD. The book's `Momentum` is the same update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f64>,
    /// `sgd` with momentum: Nesterov's variant (w ← w − lr·(g + μ·v)).
    #[serde(default, skip_serializing_if = "is_false")]
    pub nesterov: bool,
    /// `adam`: decay of the first moment; unset, 0.9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beta1: Option<f64>,
    /// `adam`: decay of the second moment; unset, 0.999.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beta2: Option<f64>,
    /// `rmsprop`: decay of the mean square (the book's `decay_rate`); unset, 0.99.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decay_rate: Option<f64>,
    /// `adagrad`, `rmsprop`, `adam`: added to the root mean square; unset, the book's 1e-7.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon: Option<f64>,
    /// Weight decay as the optimizer applies it (Burn's `WeightDecayConfig`, PyTorch's
    /// `weight_decay`): penalty·w is added to every parameter's gradient, biases included.
    /// Separate from `[loss] l2`. 0 is off.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub weight_decay: f64,
    /// How the learning rate changes over the run.
    #[serde(default)]
    pub schedule: Schedule,
    /// `step`: epochs between two decays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_epochs: Option<usize>,
    /// `step`: factor applied at each decay; unset, 0.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gamma: Option<f64>,
    /// `cosine`: the learning rate at the end of the last epoch; unset, 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_lr: Option<f64>,
}

impl OptimizerConfig {
    /// `[optimizer] momentum`, 0 when unset.
    pub fn momentum(&self) -> f64 {
        self.momentum.unwrap_or(0.0)
    }
    /// `[optimizer] beta1`, or 0.9.
    pub fn beta1(&self) -> f64 {
        self.beta1.unwrap_or(0.9)
    }
    /// `[optimizer] beta2`, or 0.999.
    pub fn beta2(&self) -> f64 {
        self.beta2.unwrap_or(0.999)
    }
    /// `[optimizer] decay_rate`, or 0.99.
    pub fn decay_rate(&self) -> f64 {
        self.decay_rate.unwrap_or(0.99)
    }
    /// `[optimizer] epsilon`, or 1e-7.
    pub fn epsilon(&self) -> f64 {
        self.epsilon.unwrap_or(1e-7)
    }
    /// `[optimizer] gamma`, or 0.1.
    pub fn gamma(&self) -> f64 {
        self.gamma.unwrap_or(0.1)
    }
    /// `[optimizer] min_lr`, or 0.
    pub fn min_lr(&self) -> f64 {
        self.min_lr.unwrap_or(0.0)
    }

    /// The learning rate is a positive number.
    pub fn validate_lr(&self) -> Result<(), Invalid> {
        let lr = self.lr;
        if !(lr.is_finite() && lr > 0.0) {
            return Err(Invalid::new(
                "[optimizer] lr",
                format!("expected a positive finite learning rate, got {lr}"),
            ));
        }
        Ok(())
    }

    /// Weight decay is off or a penalty, and the optimizer's and the schedule's keys each
    /// belong to one of them and have a range.
    pub fn validate(&self) -> Result<(), Invalid> {
        let invalid = Invalid::new;
        let o = self;
        let weight_decay = o.weight_decay;
        if !(weight_decay.is_finite() && weight_decay >= 0.0) {
            return Err(invalid(
                "[optimizer] weight_decay",
                format!("expected 0 (off) or a positive finite penalty, got {weight_decay}"),
            ));
        }
        let name = o.name;
        let belongs = |key: &'static str, set: bool, owners: &[OptimizerName]| {
            if set && !owners.contains(&name) {
                let owners: Vec<String> = owners.iter().map(|o| format!("\"{o}\"")).collect();
                return Err(invalid(
                    key,
                    format!(
                        "only used with name = {}, but name is \"{name}\"",
                        owners.join(" or ")
                    ),
                ));
            }
            Ok(())
        };
        use OptimizerName::*;
        belongs("[optimizer] momentum", o.momentum.is_some(), &[Sgd])?;
        belongs("[optimizer] nesterov", o.nesterov, &[Sgd])?;
        belongs("[optimizer] beta1", o.beta1.is_some(), &[Adam])?;
        belongs("[optimizer] beta2", o.beta2.is_some(), &[Adam])?;
        belongs("[optimizer] decay_rate", o.decay_rate.is_some(), &[Rmsprop])?;
        let adaptive = [Adagrad, Rmsprop, Adam];
        belongs("[optimizer] epsilon", o.epsilon.is_some(), &adaptive)?;
        for (key, value) in [
            ("[optimizer] momentum", o.momentum()),
            ("[optimizer] beta1", o.beta1()),
            ("[optimizer] beta2", o.beta2()),
            ("[optimizer] decay_rate", o.decay_rate()),
        ] {
            if !(0.0..1.0).contains(&value) {
                return Err(invalid(
                    key,
                    format!("expected a value in [0, 1), got {value}"),
                ));
            }
        }
        if o.nesterov && o.momentum() == 0.0 {
            return Err(invalid(
                "[optimizer] nesterov",
                "needs a positive [optimizer] momentum".into(),
            ));
        }
        let epsilon = o.epsilon();
        // Burn's optimizers take it as f32: it must stay positive there too.
        if !(epsilon.is_finite() && epsilon as f32 > 0.0) {
            return Err(invalid(
                "[optimizer] epsilon",
                format!("expected a small positive number, got {epsilon:?}"),
            ));
        }
        let schedule = o.schedule;
        let scheduled = |key: &'static str, set: bool, owner: Schedule| {
            if set && schedule != owner {
                return Err(invalid(
                    key,
                    format!(
                        "only used with schedule = \"{owner}\", but schedule is \"{schedule}\""
                    ),
                ));
            }
            Ok(())
        };
        scheduled(
            "[optimizer] step_epochs",
            o.step_epochs.is_some(),
            Schedule::Step,
        )?;
        scheduled("[optimizer] gamma", o.gamma.is_some(), Schedule::Step)?;
        scheduled("[optimizer] min_lr", o.min_lr.is_some(), Schedule::Cosine)?;
        match schedule {
            Schedule::Constant => {}
            Schedule::Step => {
                if o.step_epochs.unwrap_or(0) == 0 {
                    return Err(invalid(
                        "[optimizer] step_epochs",
                        "schedule = \"step\" needs the epochs between decays, at least 1".into(),
                    ));
                }
                let gamma = o.gamma();
                if !(gamma > 0.0 && gamma <= 1.0) {
                    return Err(invalid(
                        "[optimizer] gamma",
                        format!("expected a factor in (0, 1], got {gamma}"),
                    ));
                }
            }
            Schedule::Cosine => {
                if o.lr > 1.0 {
                    return Err(invalid(
                        "[optimizer] lr",
                        format!(
                            "Burn's cosine schedule starts from a learning rate of at most 1, got {}",
                            o.lr
                        ),
                    ));
                }
                let min_lr = o.min_lr();
                if !(0.0..=o.lr).contains(&min_lr) {
                    return Err(invalid(
                        "[optimizer] min_lr",
                        format!("expected between 0 and lr = {}, got {min_lr}", o.lr),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The optimizers the library offers, all Burn's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerName {
    /// Mini-batch stochastic gradient descent, with optional (Nesterov) momentum.
    #[default]
    Sgd,
    /// AdaGrad: each parameter's step divided by the root of its summed squared gradients.
    Adagrad,
    /// RMSprop: the same with a decaying mean of the squares.
    Rmsprop,
    /// Adam: bias-corrected moving averages of the gradient and its square.
    Adam,
}

/// Learning-rate schedules, stepped once per mini-batch by Burn's schedulers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// `lr` throughout.
    #[default]
    Constant,
    /// `lr` multiplied by `gamma` every `step_epochs` epochs.
    Step,
    /// From `lr` down to `min_lr` along a half cosine over all `[training] epochs`.
    Cosine,
}

display_as_toml!(OptimizerName, Schedule);

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
        built.expect("OptimizerConfig::validate checks the schedule's keys")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::nn::LinearConfig;
    use burn::optim::GradientsParams;
    use burn::tensor::{Device, Tensor};
    use std::path::Path;

    fn optimizer(keys: &str) -> OptimizerConfig {
        let config: OptimizerConfig = crate::config::parse(keys, Path::new("t.toml")).unwrap();
        config.validate_lr().unwrap();
        config.validate().unwrap();
        config
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
