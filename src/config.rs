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
use crate::data::{IMAGE_PIXELS, NUM_CLASSES};

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
    /// `logits` for `cross_entropy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Output>,
    /// How weights and biases are drawn.
    #[serde(default)]
    pub init: Init,
    /// Standard deviation of the weights for `init = "normal"`; unset, TwoLayerNet's 0.01.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_std: Option<f64>,
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
}

/// The optimizer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    /// Which optimizer.
    #[serde(default)]
    pub name: OptimizerName,
    /// Learning rate; with the quadratic cost this is network.py's eta.
    pub lr: f64,
}

/// The optimizers the library implements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerName {
    /// Plain mini-batch stochastic gradient descent.
    #[default]
    Sgd,
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
}

/// Where the MNIST files come from, and the validation split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// A folder with the four MNIST IDX files, gzipped or not. Unset: burn-dataset's cache,
    /// downloaded on first use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Examples held out from the end of the training file for validation (network.py: 10,000).
    #[serde(default = "default_validation_size")]
    pub validation_size: usize,
}

fn default_validation_size() -> usize {
    10_000
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dir: None,
            validation_size: default_validation_size(),
        }
    }
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

    /// The output the last layer produces: the configured one, or the one the cost implies.
    pub fn output(&self) -> Output {
        self.model.output.unwrap_or(match self.loss.cost {
            Cost::Quadratic => Output::Sigmoid,
            Cost::CrossEntropy => Output::Logits,
        })
    }

    /// Checks the values a run depends on; `source_name` labels the errors (the file name).
    ///
    /// `train_size` is the number of examples in the training file, so that the batch and the
    /// validation split can be checked against it.
    pub fn validate(&self, source_name: &str, train_size: usize) -> Result<(), ConfigError> {
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
        if last != NUM_CLASSES {
            return Err(invalid(
                "[model] sizes",
                format!("the last size must be the data's {NUM_CLASSES} classes, got {last}"),
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
        if self.training.epochs == 0 {
            return Err(invalid(
                "[training] epochs",
                "expected at least 1 epoch, got 0".into(),
            ));
        }
        if self.output.keep_last == 0 {
            return Err(invalid(
                "[output] keep_last",
                "expected at least 1 checkpoint to keep, got 0".into(),
            ));
        }
        let validation = self.data.validation_size;
        if validation == 0 || validation >= train_size {
            return Err(invalid(
                "[data] validation_size",
                format!(
                    "expected between 1 and {} (the training file holds {train_size} examples), got {validation}",
                    train_size.saturating_sub(1)
                ),
            ));
        }
        let batch = self.training.batch_size;
        let train = train_size - validation;
        if batch == 0 || batch > train {
            return Err(invalid(
                "[training] batch_size",
                format!("expected between 1 and the {train} training examples, got {batch}"),
            ));
        }
        Ok(())
    }

    /// The first key, if any, where `self` and `other` describe different mathematics: anything
    /// but the epoch count, the backend, the data folder and `[output]`. Returns the key and both
    /// values.
    ///
    /// A resumed run may change only what leaves its result bit for bit the same.
    pub fn first_mathematical_difference(&self, other: &Self) -> Option<(String, String, String)> {
        let comparable = |config: &Self| {
            let mut config = config.clone();
            config.model.output = Some(config.output());
            config.training.epochs = 0;
            config.training.backend = BackendName::Auto;
            config.data.dir = None;
            config.output = OutputConfig::default();
            toml::Value::try_from(config).expect("a RunConfig is TOML")
        };
        first_difference("", &comparable(self), &comparable(other))
    }

    /// The resolved config as TOML, as written into the run folder.
    pub fn to_toml(&self) -> String {
        let mut resolved = self.clone();
        resolved.model.output = Some(self.output());
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
display_as_toml!(Activation, Output, Init, Cost, OptimizerName);

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
            .validate("test.toml", 60_000)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn parses_nielsen_and_fills_defaults() {
        let config = parse(NIELSEN).unwrap();
        assert_eq!(config.model.sizes, vec![784, 30, 10]);
        assert_eq!(config.output(), Output::Sigmoid);
        assert_eq!(config.data.validation_size, 10_000);
        config.validate("test.toml", 60_000).unwrap();
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
