//! The run description: one TOML file per run, its sections gathered, and what is about the
//! whole file: the checks that cross sections, the one-line description `train` prints, the
//! resolved TOML written into the run folder, and what a resumed run may change.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::backend::BackendName;
use crate::config::{self, ConfigError, Invalid, first_difference};
use crate::data::{DataConfig, DataFormat, digit_names};
use crate::model::{Cost, LossConfig, ModelConfig, Output};
use crate::train::optimizer::{OptimizerConfig, Schedule};

/// A whole run: what [`crate::train::learner::Learner`] needs to train one network.
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
    /// TensorBoard event files in the run folder's `tb/`.
    #[serde(default = "default_tensorboard")]
    pub tensorboard: bool,
    /// The MLflow experiment the run is logged to, when `MLFLOW_TRACKING_URI` names a server.
    /// Unset: `MLFLOW_EXPERIMENT_NAME`, else MLflow's `Default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlflow_experiment: Option<String>,
}

fn default_keep_last() -> usize {
    2
}

fn default_tensorboard() -> bool {
    true
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self {
            dir: None,
            keep_last: default_keep_last(),
            tensorboard: default_tensorboard(),
            mlflow_experiment: None,
        }
    }
}

impl RunConfig {
    /// Reads and parses a config file. Validation against the data is [`RunConfig::validate`].
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        config::load(path)
    }

    /// Parses config text; `path` only labels the errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        config::parse(text, path)
    }

    /// The class names, in label order: those recorded in `[data] classes`, else the digits
    /// `"0"`, `"1"`, ... for each output of the network.
    pub fn class_names(&self) -> Vec<String> {
        self.data
            .classes
            .clone()
            .unwrap_or_else(|| digit_names(self.model.sizes.last().copied().unwrap_or_default()))
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
    /// network, the batch and the validation split can be checked against them. Each section
    /// checks its own keys; the checks here are those that cross sections.
    pub fn validate(
        &self,
        source_name: &str,
        pool: usize,
        classes: usize,
    ) -> Result<(), ConfigError> {
        self.validate_sections(pool, classes)
            .map_err(|invalid| invalid.in_source(source_name))
    }

    fn validate_sections(&self, pool: usize, classes: usize) -> Result<(), Invalid> {
        let invalid = Invalid::new;
        self.model.validate_sizes(classes)?;
        self.optimizer.validate_lr()?;
        if self.loss.cost == Cost::SigmoidCrossEntropy && self.output() != Output::Logits {
            return Err(invalid(
                "[model] output",
                "cost = \"sigmoid_cross_entropy\" applies the sigmoid itself, so it needs output = \"logits\"".into(),
            ));
        }
        self.model.validate_regularisation()?;
        self.loss.validate()?;
        self.optimizer.validate()?;
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
        self.data.validate(pool)?;
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
            "{}: {} hidden, {} output, {} init",
            m.describe_layers(),
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
        if m.output_dropout > 0.0 {
            model += &format!(", output dropout {}", m.output_dropout);
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
        if self.data.expand {
            schedule += ", expanded data (each training image and its four one-pixel shifts)";
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Init;

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
