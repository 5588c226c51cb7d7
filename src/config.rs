//! The run description: one TOML file per run, read into plain serde structs.
//!
//! Burn's `#[derive(Config)]` does not apply its defaults when a struct is deserialised from
//! TOML, so these are plain serde structs whose defaults are explicit `#[serde(default)]`
//! functions. Every section rejects unknown keys, and every error names the file, the line and
//! the key.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::backend::BackendName;
use crate::data::IMAGE_PIXELS;

/// A whole run: what [`crate::training::Learner`] needs to train one network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The network.
    pub model: ModelConfig,
    /// The cost the optimizer minimises.
    #[serde(default)]
    pub loss: LossConfig,
    /// The optimizer and its learning rate.
    pub optimizer: OptimizerConfig,
    /// Epochs, mini-batch size and seed.
    pub training: TrainingConfig,
    /// Where MNIST comes from and how it is split.
    #[serde(default)]
    pub data: DataConfig,
    /// Where the run folder goes.
    #[serde(default)]
    pub output: OutputConfig,
}

/// The MLP: layer sizes, activations and weight initialisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Layer sizes from input to output, e.g. `[784, 30, 10]`; any depth.
    pub sizes: Vec<usize>,
    /// Activation of the hidden layers.
    #[serde(default)]
    pub activation: Activation,
    /// What the last layer outputs. Unset, it follows the cost: `sigmoid` for `quadratic`,
    /// `logits` for `cross_entropy` and `sigmoid_cross_entropy` (which applies the sigmoid
    /// itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Output>,
    /// How weights and biases are drawn.
    #[serde(default)]
    pub init: Init,
    /// Standard deviation of the weights for `init = "normal"`; unset, TwoLayerNet's 0.01.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_std: Option<f64>,
    /// Probability of dropping each hidden unit during training (Burn's `Dropout`); 0 is off.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropout: f64,
    /// Batch normalisation (Burn's `BatchNorm`) between each hidden layer and its activation.
    #[serde(default, skip_serializing_if = "is_false")]
    pub batch_norm: bool,
}

impl ModelConfig {
    /// The weights' standard deviation for `init = "normal"`.
    pub fn init_std(&self) -> f64 {
        self.init_std.unwrap_or(0.01)
    }
}

/// Activation of the hidden layers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// The logistic function, as in network.py.
    #[default]
    Sigmoid,
    /// max(0, x), as in TwoLayerNet.
    Relu,
}

/// What the network's last layer produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// Sigmoid activations in (0, 1), for the quadratic cost.
    Sigmoid,
    /// Raw scores, for softmax cross-entropy.
    Logits,
}

/// Weight initialisation schemes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// N(0, 1) weights and biases, as network.py.
    #[default]
    StandardNormal,
    /// N(0, 1/n_in) weights and N(0, 1) biases, as network2.py.
    ScaledNormal,
    /// N(0, init_std²) weights and zero biases, as TwoLayerNet.
    Normal,
    /// He: N(0, 2/n_in) weights, zero biases.
    He,
    /// Xavier (Glorot): N(0, 2/(n_in + n_out)) weights, zero biases.
    Xavier,
}

/// The cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossConfig {
    /// Which cost to minimise.
    #[serde(default)]
    pub cost: Cost,
    /// network2.py's `lmbda`: adds (λ/2n) Σ w² over the weights (not the biases) to the cost,
    /// where n is the number of training examples, so that SGD makes network2's update
    /// w ← (1 − eta·λ/n)·w − (eta/m)·Σ∇. 0 is off.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub l2: f64,
}

/// The costs the library implements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cost {
    /// network.py's C = 1/(2n) Σ‖y − a‖².
    #[default]
    Quadratic,
    /// Softmax followed by cross-entropy, TwoLayerNet's SoftmaxWithLoss.
    CrossEntropy,
    /// network2.py's `CrossEntropyCost`: a sigmoid on each output and
    /// C = −1/n Σₓ Σⱼ [yⱼ ln aⱼ + (1 − yⱼ) ln(1 − aⱼ)], computed from the logits.
    SigmoidCrossEntropy,
}

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

/// Epochs, batch size and seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingConfig {
    /// Passes over the training split.
    pub epochs: usize,
    /// Examples per mini-batch.
    pub batch_size: usize,
    /// Seeds the initial weights and every epoch's shuffle.
    #[serde(default)]
    pub seed: u64,
    /// Where to compute: `auto`, `ndarray`, `flex`, `wgpu`, `cuda` or `tch`.
    #[serde(default)]
    pub backend: BackendName,
    /// Early stopping: end the run once validation accuracy has not improved for this many
    /// epochs. The best checkpoint is kept. Unset: train every epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patience: Option<usize>,
    /// Fine-tuning: start from the weights of this run folder or checkpoint instead of drawing
    /// them. Its layer sizes must be these; with another number of classes, its hidden layers
    /// are kept and the last layer is drawn afresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
}

/// Where the examples come from: MNIST's IDX files or a folder of images.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataFormat {
    /// The four MNIST IDX files (Fashion-MNIST's have the same form).
    #[default]
    Mnist,
    /// A folder with one subfolder of PNG or JPEG images per class (see [`crate::image_folder`]).
    Images,
}

/// Where the examples come from, and how they are split.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// `"mnist"` (the default) or `"images"`.
    #[serde(default)]
    pub format: DataFormat,
    /// `mnist`: a folder with the four MNIST IDX files, gzipped or not; unset, burn-dataset's
    /// cache, downloaded on first use. `images`: the folder of class subfolders (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// `mnist`: examples held out from the end of the training file for validation; unset,
    /// network.py's 10,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_size: Option<usize>,
    /// `images`: the share of the images (of `train/`, where the folder has `train/` and
    /// `test/`) held out for validation; unset, 0.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_fraction: Option<f64>,
    /// `images` without `train/` and `test/` subfolders: the share held out for test; unset,
    /// 0.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_fraction: Option<f64>,
    /// `images`: seeds the function of each file's path that assigns it to a split; unset, 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_seed: Option<u64>,
    /// Train on only the first this many training examples, e.g. to provoke overfitting.
    /// Unset: every example not held out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
    /// The class names, in label order. A run records those of its folder here; set by hand,
    /// they must be the folder's. Unset for MNIST, whose classes are the digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
}

impl DataConfig {
    /// `[data] validation_size`, or 10,000.
    pub fn validation_size(&self) -> usize {
        self.validation_size.unwrap_or(10_000)
    }

    /// `[data] validation_fraction`, or 0.1.
    pub fn validation_fraction(&self) -> f64 {
        self.validation_fraction.unwrap_or(0.1)
    }

    /// `[data] test_fraction`, or 0.1.
    pub fn test_fraction(&self) -> f64 {
        self.test_fraction.unwrap_or(0.1)
    }

    /// `[data] split_seed`, or 0.
    pub fn split_seed(&self) -> u64 {
        self.split_seed.unwrap_or(0)
    }

    /// The same with the defaults of its format written out, so that an unset key and its
    /// default compare equal.
    pub fn resolved(&self) -> Self {
        let mut data = self.clone();
        match data.format {
            DataFormat::Mnist => data.validation_size = Some(self.validation_size()),
            DataFormat::Images => {
                data.validation_fraction = Some(self.validation_fraction());
                data.test_fraction = Some(self.test_fraction());
                data.split_seed = Some(self.split_seed());
            }
        }
        data
    }

    /// How many examples a run trains on, given the `pool` it draws them from: MNIST's training
    /// file, less validation; or a folder's training split.
    pub fn train_size(&self, pool: usize) -> usize {
        let available = match self.format {
            DataFormat::Mnist => pool.saturating_sub(self.validation_size()),
            DataFormat::Images => pool,
        };
        self.train_limit
            .map_or(available, |limit| limit.min(available))
    }
}

fn is_zero(value: &f64) -> bool {
    *value == 0.0
}

fn is_false(value: &bool) -> bool {
    !value
}

/// Where the run's files are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// The run folder. Unset: `artifacts/<config file name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Checkpoints kept besides the one of the best validation accuracy: the newest ones.
    #[serde(default = "default_keep_last")]
    pub keep_last: usize,
}

fn default_keep_last() -> usize {
    2
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self {
            dir: None,
            keep_last: default_keep_last(),
        }
    }
}

/// A config that could not be read or does not describe a valid run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("{path}: cannot read config: {error}")]
    Io {
        /// The config file.
        path: PathBuf,
        /// Why it could not be read.
        error: std::io::Error,
    },
    /// The TOML is malformed, has an unknown key or a value of the wrong type.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// 1-based line of the offending text.
        line: usize,
        /// 1-based column of the offending text.
        column: usize,
        /// What is wrong, naming the key.
        message: String,
    },
    /// A value parses but cannot describe a run.
    #[error("{source_name}: {key}: {message}")]
    Invalid {
        /// The config file, or "command line" for a flag.
        source_name: String,
        /// The offending key, e.g. `[training] batch_size`.
        key: &'static str,
        /// What was found and what was expected.
        message: String,
    },
}

impl RunConfig {
    /// Reads and parses a config file. Validation against the data is [`RunConfig::validate`].
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        Self::parse(&text, path)
    }

    /// Parses config text; `path` only labels the errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let parse_error = |span: Option<std::ops::Range<usize>>, message: String| {
            let (line, column) = line_column(text, span.map_or(0, |s| s.start));
            ConfigError::Parse {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        };
        let deserializer =
            toml::Deserializer::parse(text).map_err(|e| parse_error(e.span(), one_line(&e)))?;
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let message = if key == "." || key.is_empty() {
                one_line(&inner)
            } else {
                format!("key `{key}`: {}", one_line(&inner))
            };
            parse_error(inner.span(), message)
        })
    }

    /// The class names, in label order: those recorded in `[data] classes`, else the digits
    /// `"0"`, `"1"`, ... for each output of the network.
    pub fn class_names(&self) -> Vec<String> {
        self.data.classes.clone().unwrap_or_else(|| {
            crate::data::digit_names(self.model.sizes.last().copied().unwrap_or_default())
        })
    }

    /// The output the last layer produces: the configured one, or the one the cost implies.
    pub fn output(&self) -> Output {
        self.model.output.unwrap_or(match self.loss.cost {
            Cost::Quadratic => Output::Sigmoid,
            Cost::CrossEntropy | Cost::SigmoidCrossEntropy => Output::Logits,
        })
    }

    /// Checks the values a run depends on; `source_name` labels the errors (the file name).
    ///
    /// `pool` is what the training examples are drawn from (MNIST's training file, or a
    /// folder's training split) and `classes` the number of classes in the data, so that the
    /// network, the batch and the validation split can be checked against them.
    pub fn validate(
        &self,
        source_name: &str,
        pool: usize,
        classes: usize,
    ) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, message: String| ConfigError::Invalid {
            source_name: source_name.to_string(),
            key,
            message,
        };
        let sizes = &self.model.sizes;
        if sizes.len() < 2 || sizes.contains(&0) {
            return Err(invalid(
                "[model] sizes",
                format!("expected at least two positive layer sizes, got {sizes:?}"),
            ));
        }
        if sizes[0] != IMAGE_PIXELS {
            return Err(invalid(
                "[model] sizes",
                format!(
                    "the first size must be the data's {IMAGE_PIXELS} inputs (28×28 pixels), got {}",
                    sizes[0]
                ),
            ));
        }
        let last = sizes[sizes.len() - 1];
        if last != classes {
            return Err(invalid(
                "[model] sizes",
                format!("the last size must be the data's {classes} classes, got {last}"),
            ));
        }
        if let Some(std) = self.model.init_std {
            if self.model.init != Init::Normal {
                return Err(invalid(
                    "[model] init_std",
                    format!(
                        "only used with init = \"normal\", but init is {}",
                        self.model.init
                    ),
                ));
            }
            if !(std.is_finite() && std > 0.0) {
                return Err(invalid(
                    "[model] init_std",
                    format!("expected a positive finite standard deviation, got {std}"),
                ));
            }
        }
        let lr = self.optimizer.lr;
        if !(lr.is_finite() && lr > 0.0) {
            return Err(invalid(
                "[optimizer] lr",
                format!("expected a positive finite learning rate, got {lr}"),
            ));
        }
        if self.loss.cost == Cost::SigmoidCrossEntropy && self.output() != Output::Logits {
            return Err(invalid(
                "[model] output",
                "cost = \"sigmoid_cross_entropy\" applies the sigmoid itself, so it needs output = \"logits\"".into(),
            ));
        }
        self.validate_regularisation(&invalid)?;
        self.validate_optimizer(&invalid)?;
        if self.training.epochs == 0 {
            return Err(invalid(
                "[training] epochs",
                "expected at least 1 epoch, got 0".into(),
            ));
        }
        if self.training.patience == Some(0) {
            return Err(invalid(
                "[training] patience",
                "expected at least 1 epoch without improvement, got 0".into(),
            ));
        }
        if self.output.keep_last == 0 {
            return Err(invalid(
                "[output] keep_last",
                "expected at least 1 checkpoint to keep, got 0".into(),
            ));
        }
        self.validate_data(&invalid, pool)?;
        let batch = self.training.batch_size;
        let train = self.data.train_size(pool);
        if batch == 0 || batch > train {
            return Err(invalid(
                "[training] batch_size",
                format!("expected between 1 and the {train} training examples, got {batch}"),
            ));
        }
        Ok(())
    }

    /// `[data]`: each key belongs to a format, and the held-out part leaves examples to train on.
    fn validate_data(
        &self,
        invalid: &dyn Fn(&'static str, String) -> ConfigError,
        pool: usize,
    ) -> Result<(), ConfigError> {
        let d = &self.data;
        let belongs = |key: &'static str, set: bool, owner: DataFormat| {
            if set && d.format != owner {
                return Err(invalid(
                    key,
                    format!(
                        "only used with format = \"{owner}\", but format is \"{}\"",
                        d.format
                    ),
                ));
            }
            Ok(())
        };
        use DataFormat::*;
        belongs("[data] validation_size", d.validation_size.is_some(), Mnist)?;
        belongs(
            "[data] validation_fraction",
            d.validation_fraction.is_some(),
            Images,
        )?;
        belongs("[data] test_fraction", d.test_fraction.is_some(), Images)?;
        belongs("[data] split_seed", d.split_seed.is_some(), Images)?;
        let available = match d.format {
            Mnist => {
                let validation = d.validation_size();
                if validation == 0 || validation >= pool {
                    return Err(invalid(
                        "[data] validation_size",
                        format!(
                            "expected between 1 and {} (the training file holds {pool} examples), got {validation}",
                            pool.saturating_sub(1)
                        ),
                    ));
                }
                pool - validation
            }
            Images => {
                let (validation, test) = (d.validation_fraction(), d.test_fraction());
                for (key, value) in [
                    ("[data] validation_fraction", validation),
                    ("[data] test_fraction", test),
                ] {
                    if !(value > 0.0 && value < 1.0) {
                        return Err(invalid(
                            key,
                            format!("expected a share in (0, 1), got {value}"),
                        ));
                    }
                }
                if validation + test >= 1.0 {
                    return Err(invalid(
                        "[data] test_fraction",
                        format!(
                            "validation_fraction {validation} and test_fraction {test} leave nothing to train on"
                        ),
                    ));
                }
                pool
            }
        };
        if let Some(limit) = d.train_limit
            && (limit == 0 || limit > available)
        {
            return Err(invalid(
                "[data] train_limit",
                format!(
                    "expected between 1 and the {available} examples not held out for validation, got {limit}"
                ),
            ));
        }
        Ok(())
    }

    /// Dropout, batch normalisation and L2.
    fn validate_regularisation(
        &self,
        invalid: &dyn Fn(&'static str, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        let hidden_layers = self.model.sizes.len() - 2;
        let dropout = self.model.dropout;
        if !(0.0..1.0).contains(&dropout) {
            return Err(invalid(
                "[model] dropout",
                format!("expected a probability in [0, 1), got {dropout}"),
            ));
        }
        for (key, used) in [
            ("[model] dropout", dropout > 0.0),
            ("[model] batch_norm", self.model.batch_norm),
        ] {
            if used && hidden_layers == 0 {
                return Err(invalid(
                    key,
                    "acts on hidden layers, but [model] sizes has none".into(),
                ));
            }
        }
        for (key, value) in [
            ("[loss] l2", self.loss.l2),
            ("[optimizer] weight_decay", self.optimizer.weight_decay),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(invalid(
                    key,
                    format!("expected 0 (off) or a positive finite penalty, got {value}"),
                ));
            }
        }
        Ok(())
    }

    /// The optimizer's and the schedule's keys: each belongs to one of them and has a range.
    fn validate_optimizer(
        &self,
        invalid: &dyn Fn(&'static str, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        let o = &self.optimizer;
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

    /// The first key, if any, where `self` and `other` describe different mathematics: anything
    /// but the epoch count (unless the cosine schedule spans it), the patience, the backend, the
    /// data folder and `[output]`. Returns the key and both values.
    ///
    /// A resumed run may change only what leaves its result bit for bit the same.
    pub fn first_mathematical_difference(&self, other: &Self) -> Option<(String, String, String)> {
        let comparable = |config: &Self| {
            let mut config = config.clone();
            config.model.output = Some(config.output());
            if config.optimizer.schedule != Schedule::Cosine {
                config.training.epochs = 0;
            }
            config.training.patience = None;
            config.training.backend = BackendName::Auto;
            config.data.dir = None;
            // Recorded from the folder by the run; a resumed run checks them against it.
            config.data.classes = None;
            config.data = config.data.resolved();
            config.output = OutputConfig::default();
            toml::Value::try_from(config).expect("a RunConfig is TOML")
        };
        first_difference("", &comparable(self), &comparable(other))
    }

    /// The run in one line, as `train` announces it: the network, the cost, the optimizer and
    /// the loop, with every option that is on.
    pub fn describe(&self) -> String {
        let (m, o, t) = (&self.model, &self.optimizer, &self.training);
        let mut model = format!(
            "{:?}: {} hidden, {} output, {} init",
            m.sizes,
            m.activation,
            self.output(),
            m.init
        );
        if m.batch_norm {
            model += ", batch norm";
        }
        if m.dropout > 0.0 {
            model += &format!(", dropout {}", m.dropout);
        }
        let mut cost = format!("{} cost", self.loss.cost);
        if self.loss.l2 > 0.0 {
            cost += &format!(", L2 lambda {}", self.loss.l2);
        }
        let mut optimizer = format!("{} lr {}", o.name, o.lr);
        if o.momentum() > 0.0 {
            let kind = if o.nesterov {
                "Nesterov momentum"
            } else {
                "momentum"
            };
            optimizer += &format!(" {kind} {}", o.momentum());
        }
        match o.schedule {
            Schedule::Constant => {}
            Schedule::Step => {
                let every = o.step_epochs.unwrap_or_default();
                optimizer += &format!(" ×{} every {every} epochs", o.gamma());
            }
            Schedule::Cosine => optimizer += &format!(" cosine to {}", o.min_lr()),
        }
        if o.weight_decay > 0.0 {
            optimizer += &format!(", weight decay {}", o.weight_decay);
        }
        let mut schedule = format!("{} epochs, seed {}", t.epochs, t.seed);
        if let Some(patience) = t.patience {
            schedule += &format!(", patience {patience}");
        }
        if let Some(limit) = self.data.train_limit {
            schedule += &format!(", first {limit} training examples");
        }
        if let Some(run) = &t.init_from {
            schedule += &format!(", starting from {}", run.display());
        }
        format!(
            "{model}; {cost}; {optimizer}, batch {}; {schedule}",
            t.batch_size
        )
    }

    /// The resolved config as TOML, as written into the run folder.
    pub fn to_toml(&self) -> String {
        let mut resolved = self.clone();
        resolved.model.output = Some(self.output());
        if self.data.format == DataFormat::Mnist {
            resolved.data.validation_size = Some(self.data.validation_size());
        }
        toml::to_string_pretty(&resolved).expect("a RunConfig always serialises to TOML")
    }
}

/// Names a variant the way the config file spells it.
macro_rules! display_as_toml {
    ($($ty:ty),*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let value = toml::Value::try_from(self).map_err(|_| fmt::Error)?;
                f.write_str(value.as_str().unwrap_or_default())
            }
        }
    )*};
}
display_as_toml!(
    Activation,
    Output,
    Init,
    Cost,
    OptimizerName,
    Schedule,
    DataFormat
);

/// The first path where two TOML values differ, with both values (`none` where one is absent).
fn first_difference(
    path: &str,
    a: &toml::Value,
    b: &toml::Value,
) -> Option<(String, String, String)> {
    match (a, b) {
        (toml::Value::Table(a), toml::Value::Table(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter().find_map(|key| {
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => first_difference(&path, x, y),
                    (x, y) => {
                        let show =
                            |v: Option<&toml::Value>| v.map_or("none".into(), |v| v.to_string());
                        Some((path, show(x), show(y)))
                    }
                }
            })
        }
        _ if a == b => None,
        _ => Some((path.to_string(), a.to_string(), b.to_string())),
    }
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// A toml error's message on one line (toml's own Display draws the source text).
fn one_line(error: &toml::de::Error) -> String {
    error.message().trim().replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NIELSEN: &str = r#"
[model]
sizes = [784, 30, 10]
activation = "sigmoid"
init = "standard_normal"

[loss]
cost = "quadratic"

[optimizer]
name = "sgd"
lr = 3.0

[training]
epochs = 30
batch_size = 10
seed = 1
"#;

    fn parse(text: &str) -> Result<RunConfig, ConfigError> {
        RunConfig::parse(text, Path::new("test.toml"))
    }

    fn invalid(edit: impl FnOnce(&mut RunConfig)) -> String {
        let mut config = parse(NIELSEN).unwrap();
        edit(&mut config);
        config
            .validate("test.toml", 60_000, 10)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn parses_nielsen_and_fills_defaults() {
        let config = parse(NIELSEN).unwrap();
        assert_eq!(config.model.sizes, vec![784, 30, 10]);
        assert_eq!(config.output(), Output::Sigmoid);
        assert_eq!(config.data.validation_size(), 10_000);
        config.validate("test.toml", 60_000, 10).unwrap();
    }

    #[test]
    fn resolved_config_round_trips() {
        let config = parse(NIELSEN).unwrap();
        let again = parse(&config.to_toml()).unwrap();
        assert_eq!(again.model.output, Some(Output::Sigmoid));
        assert_eq!(again.training, config.training);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = NIELSEN.replace("epochs = 30", "epochs = 30\nepoch = 3");
        let message = parse(&text).unwrap_err().to_string();
        assert!(message.starts_with("test.toml:16:1: "), "{message}");
        assert!(message.contains("unknown field `epoch`"), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }

    #[test]
    fn wrong_type_names_key_and_expected_type() {
        let text = NIELSEN.replace("batch_size = 10", "batch_size = \"ten\"");
        let message = parse(&text).unwrap_err().to_string();
        assert!(message.starts_with("test.toml:16:14: "), "{message}");
        assert!(message.contains("training.batch_size"), "{message}");
        assert!(message.contains("usize"), "{message}");
    }

    #[test]
    fn unknown_activation_lists_the_allowed_values() {
        let text = NIELSEN.replace("\"sigmoid\"", "\"tanh\"");
        let message = parse(&text).unwrap_err().to_string();
        assert!(message.contains("model.activation"), "{message}");
        assert!(
            message.contains("expected `sigmoid` or `relu`"),
            "{message}"
        );
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let text = NIELSEN.replace("lr = 3.0", "lr = = 3.0");
        let message = parse(&text).unwrap_err().to_string();
        assert!(message.starts_with("test.toml:12:"), "{message}");
    }

    #[test]
    fn sizes_must_match_the_data() {
        let message = invalid(|c| c.model.sizes = vec![100, 30, 10]);
        assert!(
            message.contains("784") && message.contains("100"),
            "{message}"
        );
        let message = invalid(|c| c.model.sizes = vec![784, 30, 9]);
        assert!(message.contains("10 classes, got 9"), "{message}");
    }

    #[test]
    fn batch_size_zero_and_too_large_are_refused() {
        let message = invalid(|c| c.training.batch_size = 0);
        assert!(message.contains("[training] batch_size"), "{message}");
        assert!(message.contains("got 0"), "{message}");
        let message = invalid(|c| c.training.batch_size = 50_001);
        assert!(message.contains("50000 training examples"), "{message}");
    }

    #[test]
    fn learning_rate_must_be_positive_and_finite() {
        for lr in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let message = invalid(|c| c.optimizer.lr = lr);
            assert!(message.contains("[optimizer] lr"), "{message}");
        }
    }

    #[test]
    fn mathematical_differences_name_the_key_and_both_values() {
        let config = parse(NIELSEN).unwrap();
        let mut other = config.clone();
        other.training.epochs = 40;
        other.training.backend = BackendName::Ndarray;
        other.output.keep_last = 5;
        other.data.dir = Some("elsewhere".into());
        assert_eq!(config.first_mathematical_difference(&other), None);
        other.optimizer.lr = 0.5;
        assert_eq!(
            config.first_mathematical_difference(&other),
            Some(("optimizer.lr".into(), "3.0".into(), "0.5".into()))
        );
        other.model.sizes = vec![784, 100, 10];
        let (key, a, b) = config.first_mathematical_difference(&other).unwrap();
        assert_eq!(
            (key.as_str(), a.as_str(), b.as_str()),
            ("model.sizes", "[784, 30, 10]", "[784, 100, 10]")
        );
    }

    #[test]
    fn epochs_zero_is_refused() {
        let message = invalid(|c| c.training.epochs = 0);
        assert!(message.contains("[training] epochs"), "{message}");
    }

    /// The error for NIELSEN with `find` replaced by `replace`, from parsing or validation.
    fn error_with(find: &str, replace: &str) -> String {
        let text = NIELSEN.replace(find, replace);
        match parse(&text) {
            Ok(config) => config
                .validate("test.toml", 60_000, 10)
                .unwrap_err()
                .to_string(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn optimizer_keys_belong_to_their_optimizer() {
        let cases = [
            (
                "lr = 3.0",
                "lr = 3.0\nbeta1 = 0.8",
                "[optimizer] beta1: only used with name = \"adam\", but name is \"sgd\"",
            ),
            (
                "name = \"sgd\"",
                "name = \"adam\"\nmomentum = 0.9",
                "[optimizer] momentum: only used with name = \"sgd\"",
            ),
            (
                "lr = 3.0",
                "lr = 3.0\nepsilon = 1e-8",
                "[optimizer] epsilon: only used with name = \"adagrad\" or \"rmsprop\" or \"adam\"",
            ),
            (
                "name = \"sgd\"",
                "name = \"adam\"\ndecay_rate = 0.9",
                "[optimizer] decay_rate: only used with name = \"rmsprop\"",
            ),
            (
                "lr = 3.0",
                "lr = 3.0\nnesterov = true",
                "[optimizer] nesterov: needs a positive [optimizer] momentum",
            ),
            (
                "lr = 3.0",
                "lr = 3.0\nmomentum = 1.0",
                "[optimizer] momentum: expected a value in [0, 1), got 1",
            ),
            (
                "name = \"sgd\"",
                "name = \"adam\"\nbeta2 = -0.1",
                "[optimizer] beta2: expected a value in [0, 1), got -0.1",
            ),
            (
                "name = \"sgd\"",
                "name = \"adam\"\nepsilon = 0.0",
                "[optimizer] epsilon: expected a small positive number, got 0.0",
            ),
            (
                "name = \"sgd\"",
                "name = \"adam\"\nepsilon = 1e-50",
                "[optimizer] epsilon: expected a small positive number, got 1e-50",
            ),
            (
                "lr = 3.0",
                "lr = 3.0\nweight_decay = -1.0",
                "[optimizer] weight_decay: expected 0 (off) or a positive finite penalty, got -1",
            ),
        ];
        for (find, replace, expected) in cases {
            let message = error_with(find, replace);
            assert!(message.contains(expected), "{replace}: {message}");
        }
        let message = error_with("name = \"sgd\"", "name = \"lbfgs\"");
        assert!(
            message.contains("expected one of `sgd`, `adagrad`, `rmsprop`, `adam`"),
            "{message}"
        );
    }

    #[test]
    fn schedule_keys_belong_to_their_schedule() {
        let cases = [
            (
                "lr = 3.0",
                "lr = 3.0\nmin_lr = 0.1",
                "[optimizer] min_lr: only used with schedule = \"cosine\", but schedule is \"constant\"",
            ),
            (
                "lr = 3.0",
                "lr = 3.0\nschedule = \"step\"",
                "[optimizer] step_epochs: schedule = \"step\" needs the epochs between decays",
            ),
            (
                "lr = 3.0",
                "lr = 3.0\nschedule = \"step\"\nstep_epochs = 5\ngamma = 2.0",
                "[optimizer] gamma: expected a factor in (0, 1], got 2",
            ),
            (
                "lr = 3.0",
                "lr = 3.0\nschedule = \"cosine\"",
                "[optimizer] lr: Burn's cosine schedule starts from a learning rate of at most 1, got 3",
            ),
            (
                "lr = 3.0",
                "lr = 0.5\nschedule = \"cosine\"\nmin_lr = 0.6",
                "[optimizer] min_lr: expected between 0 and lr = 0.5, got 0.6",
            ),
            (
                "lr = 3.0",
                "lr = 3.0\ngamma = 0.5",
                "[optimizer] gamma: only used with schedule = \"step\"",
            ),
        ];
        for (find, replace, expected) in cases {
            let message = error_with(find, replace);
            assert!(message.contains(expected), "{replace}: {message}");
        }
    }

    #[test]
    fn regularisation_and_loop_keys_are_checked() {
        let cases: [(&[(&str, &str)], &str); 7] = [
            (
                &[(
                    "init = \"standard_normal\"",
                    "init = \"standard_normal\"\ndropout = 1.0",
                )],
                "[model] dropout: expected a probability in [0, 1), got 1",
            ),
            (
                &[(
                    "sizes = [784, 30, 10]",
                    "sizes = [784, 10]\nbatch_norm = true",
                )],
                "[model] batch_norm: acts on hidden layers, but [model] sizes has none",
            ),
            (
                &[("cost = \"quadratic\"", "cost = \"quadratic\"\nl2 = -5.0")],
                "[loss] l2: expected 0 (off) or a positive finite penalty, got -5",
            ),
            (
                &[
                    ("cost = \"quadratic\"", "cost = \"sigmoid_cross_entropy\""),
                    (
                        "init = \"standard_normal\"",
                        "init = \"standard_normal\"\noutput = \"sigmoid\"",
                    ),
                ],
                "[model] output: cost = \"sigmoid_cross_entropy\" applies the sigmoid itself",
            ),
            (
                &[("seed = 1", "seed = 1\npatience = 0")],
                "[training] patience: expected at least 1 epoch without improvement, got 0",
            ),
            (
                &[("seed = 1", "seed = 1\n[data]\ntrain_limit = 50001")],
                "[data] train_limit: expected between 1 and the 50000 examples not held out for validation, got 50001",
            ),
            (
                &[
                    ("seed = 1", "seed = 1\n[data]\ntrain_limit = 300"),
                    ("batch_size = 10", "batch_size = 400"),
                ],
                "[training] batch_size: expected between 1 and the 300 training examples, got 400",
            ),
        ];
        for (edits, expected) in cases {
            let text = edits
                .iter()
                .fold(NIELSEN.to_string(), |text, (find, replace)| {
                    text.replace(find, replace)
                });
            let message = match parse(&text) {
                Ok(config) => config
                    .validate("test.toml", 60_000, 10)
                    .unwrap_err()
                    .to_string(),
                Err(e) => e.to_string(),
            };
            assert!(message.contains(expected), "{edits:?}: {message}");
        }
    }

    #[test]
    fn cosine_schedule_makes_the_epochs_part_of_the_mathematics() {
        let config =
            parse(&NIELSEN.replace("lr = 3.0", "lr = 0.5\nschedule = \"cosine\"")).unwrap();
        let mut other = config.clone();
        other.training.epochs = 40;
        other.training.patience = Some(3);
        assert_eq!(
            config.first_mathematical_difference(&other),
            Some(("training.epochs".into(), "30".into(), "40".into()))
        );
        let plain = parse(NIELSEN).unwrap();
        let mut other = plain.clone();
        other.training.epochs = 40;
        other.training.patience = Some(3);
        assert_eq!(plain.first_mathematical_difference(&other), None);
    }

    #[test]
    fn describe_names_every_option_in_use() {
        let text = NIELSEN
            .replace("init = \"standard_normal\"", "init = \"he\"\ndropout = 0.5\nbatch_norm = true")
            .replace("name = \"sgd\"\nlr = 3.0", "name = \"sgd\"\nlr = 0.1\nmomentum = 0.9\nnesterov = true\nschedule = \"step\"\nstep_epochs = 10\nweight_decay = 0.0005")
            .replace("cost = \"quadratic\"", "cost = \"quadratic\"\nl2 = 5.0")
            .replace("seed = 1", "seed = 1\npatience = 4\n[data]\ntrain_limit = 1000");
        assert_eq!(
            parse(&text).unwrap().describe(),
            "[784, 30, 10]: sigmoid hidden, sigmoid output, he init, batch norm, dropout 0.5; \
             quadratic cost, L2 lambda 5; sgd lr 0.1 Nesterov momentum 0.9 ×0.1 every 10 epochs, \
             weight decay 0.0005, batch 10; 30 epochs, seed 1, patience 4, first 1000 training examples"
        );
    }

    #[test]
    fn init_std_belongs_to_normal_init() {
        let message = invalid(|c| c.model.init_std = Some(0.1));
        assert!(message.contains("[model] init_std"), "{message}");
        let message = invalid(|c| {
            c.model.init = Init::Normal;
            c.model.init_std = Some(-1.0);
        });
        assert!(message.contains("got -1"), "{message}");
    }
}
