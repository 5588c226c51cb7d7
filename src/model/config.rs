//! `[model]`: the network's layer sizes, activations and initialisation, and what its last
//! layer outputs.

use serde::{Deserialize, Serialize};

use crate::config::{Invalid, display_as_toml, is_false, is_zero};
use crate::data::IMAGE_PIXELS;

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

    /// The layer sizes against the data (28×28 pixels in, one output per class) and
    /// `init_std` against the initialisation.
    pub fn validate_sizes(&self, classes: usize) -> Result<(), Invalid> {
        let invalid = Invalid::new;
        let sizes = &self.sizes;
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
        if let Some(std) = self.init_std {
            if self.init != Init::Normal {
                return Err(invalid(
                    "[model] init_std",
                    format!(
                        "only used with init = \"normal\", but init is {}",
                        self.init
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
        Ok(())
    }

    /// Dropout and batch normalisation: a probability, and hidden layers to act on.
    pub fn validate_regularisation(&self) -> Result<(), Invalid> {
        let invalid = Invalid::new;
        let hidden_layers = self.sizes.len() - 2;
        let dropout = self.dropout;
        if !(0.0..1.0).contains(&dropout) {
            return Err(invalid(
                "[model] dropout",
                format!("expected a probability in [0, 1), got {dropout}"),
            ));
        }
        for (key, used) in [
            ("[model] dropout", dropout > 0.0),
            ("[model] batch_norm", self.batch_norm),
        ] {
            if used && hidden_layers == 0 {
                return Err(invalid(
                    key,
                    "acts on hidden layers, but [model] sizes has none".into(),
                ));
            }
        }
        Ok(())
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

display_as_toml!(Activation, Output, Init);
