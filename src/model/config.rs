//! `[model]`: the network's layers (convolutional ones in [`crate::model::conv`], then fully
//! connected), activations and initialisation, and what its last layer outputs.

use serde::{Deserialize, Serialize};

use crate::config::{Invalid, display_as_toml, is_false, is_zero};
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::model::conv::{ConvConfig, MapShape};
use crate::model::summary::{LayerRow, Summary};

/// The network: convolutional layers, if any, then fully connected layer sizes, activations
/// and weight initialisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Fully connected layer sizes from input to output, e.g. `[784, 30, 10]`; any depth. After
    /// convolutional layers the first size is their output flattened (`20×12×12` is 2880).
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
    /// Probability of dropping each of the last layer's outputs while training, as
    /// DeepConvNet's dropout after its last affine layer; 0 is off.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub output_dropout: f64,
    /// Convolutional layers before the fully connected ones, input first (`[[model.conv]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conv: Vec<ConvConfig>,
}

impl ModelConfig {
    /// The weights' standard deviation for `init = "normal"`.
    pub fn init_std(&self) -> f64 {
        self.init_std.unwrap_or(0.01)
    }

    /// The layers against the data (28×28 pixels in, one output per class) and each other,
    /// and `init_std` against the initialisation.
    pub fn validate_sizes(&self, classes: usize) -> Result<(), Invalid> {
        let invalid = Invalid::new;
        let sizes = &self.sizes;
        if sizes.len() < 2 || sizes.contains(&0) {
            return Err(invalid(
                "[model] sizes",
                format!("expected at least two positive layer sizes, got {sizes:?}"),
            ));
        }
        let (rows, inputs) = self.conv_rows()?;
        if sizes[0] != inputs {
            let message = if self.conv.is_empty() {
                format!(
                    "the first size must be the data's {IMAGE_PIXELS} inputs (28×28 pixels), got {}",
                    sizes[0]
                )
            } else {
                format!(
                    "the first size must be the convolutional layers' output flattened, {inputs}, got {}; the layers give {}",
                    sizes[0],
                    shapes_of(&rows)
                )
            };
            return Err(invalid("[model] sizes", message));
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
        for (key, dropout) in [
            ("[model] dropout", self.dropout),
            ("[model] output_dropout", self.output_dropout),
        ] {
            if !(0.0..1.0).contains(&dropout) {
                return Err(invalid(
                    key,
                    format!("expected a probability in [0, 1), got {dropout}"),
                ));
            }
        }
        let dropout = self.dropout;
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

impl ModelConfig {
    /// The layers in a few words: `[784, 30, 10]`, or `conv 20 5×5 pool 2, [2880, 100, 10]`.
    pub fn describe_layers(&self) -> String {
        let mut parts: Vec<String> = self
            .conv
            .iter()
            .map(|layer| {
                let mut text = layer.describe();
                if let Some(pool) = layer.pool {
                    text += &format!(" pool {pool}");
                }
                if layer.dropout > 0.0 {
                    text += &format!(" dropout {}", layer.dropout);
                }
                text
            })
            .collect();
        parts.push(format!("{:?}", self.sizes));
        parts.join(", ")
    }

    /// The network layer by layer, with each layer's output shape and parameters: what
    /// `train` prints first. The layers must have passed [`validate_sizes`](Self::validate_sizes).
    pub fn summary(&self, output: Output) -> Summary {
        let (mut rows, _) = self.conv_rows().expect("validated layers");
        let last = self.sizes.len() - 2;
        for (i, pair) in self.sizes.windows(2).enumerate() {
            let (n_in, n_out) = (pair[0], pair[1]);
            let (activation, norms) = if i == last {
                (output.to_string(), 0)
            } else {
                (
                    self.activation.to_string(),
                    if self.batch_norm { 2 * n_out } else { 0 },
                )
            };
            let mut name = format!("fc {n_out}, {activation}");
            if norms > 0 {
                name = format!("fc {n_out}, batch norm, {activation}");
            }
            rows.push(LayerRow::new(
                name,
                vec![n_out],
                n_in * n_out + n_out + norms,
            ));
            let dropout = if i == last {
                self.output_dropout
            } else {
                self.dropout
            };
            if dropout > 0.0 {
                rows.push(LayerRow::passive(format!("dropout {dropout}"), vec![n_out]));
            }
        }
        Summary { rows }
    }

    /// The rows of the input and the convolutional layers, ending with their output flattened,
    /// and that output's size: the first fully connected layer's inputs. Without convolutional
    /// layers, the image's pixels. Errors name the layer and the key, and give the shapes up to
    /// that layer.
    fn conv_rows(&self) -> Result<(Vec<LayerRow>, usize), Invalid> {
        let mut shape = MapShape {
            channels: 1,
            height: IMAGE_SIDE,
            width: IMAGE_SIDE,
        };
        if self.conv.is_empty() {
            let row = LayerRow::passive("input".into(), vec![IMAGE_PIXELS]);
            return Ok((vec![row], IMAGE_PIXELS));
        }
        let mut rows = vec![LayerRow::passive("input".into(), shape.dims())];
        for (i, layer) in self.conv.iter().enumerate() {
            let number = i + 1;
            let invalid = |key: &str, message: String| {
                Invalid::new(format!("[[model.conv]] {number} {key}"), message)
            };
            for (key, value) in [
                ("maps", Some(layer.maps)),
                ("kernel", Some(layer.kernel)),
                ("stride", Some(layer.stride)),
                ("pool", layer.pool),
            ] {
                if value == Some(0) {
                    return Err(invalid(key, "expected a positive number, got 0".into()));
                }
            }
            if !(0.0..1.0).contains(&layer.dropout) {
                let message = format!("expected a probability in [0, 1), got {}", layer.dropout);
                return Err(invalid("dropout", message));
            }
            let parameters = layer.parameters(shape.channels);
            let at = |rows: &[LayerRow], message: String| {
                format!("{message}; the layers give {}", shapes_of(rows))
            };
            shape = layer
                .convolved(shape)
                .map_err(|message| invalid("kernel", at(&rows, message)))?;
            let name = format!("{}, {}", layer.describe(), self.activation);
            rows.push(LayerRow::new(name, shape.dims(), parameters));
            if let Some(pool) = layer.pool {
                shape = layer
                    .pooled(shape)
                    .map_err(|message| invalid("pool", at(&rows, message)))?;
                rows.push(LayerRow::new(
                    format!("max-pool {pool}×{pool}"),
                    shape.dims(),
                    0,
                ));
            }
            if layer.dropout > 0.0 {
                let name = format!("dropout {}", layer.dropout);
                rows.push(LayerRow::passive(name, shape.dims()));
            }
        }
        rows.push(LayerRow::passive("flatten".into(), vec![shape.numbers()]));
        Ok((rows, shape.numbers()))
    }
}

/// `input: 1×28×28; conv 20 5×5, relu: 20×24×24; ...`: the shapes in an error.
fn shapes_of(rows: &[LayerRow]) -> String {
    rows.iter()
        .map(|row| format!("{}: {}", row.name, row.output()))
        .collect::<Vec<_>>()
        .join("; ")
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
    /// network3.py's: N(0, 1/n_out) weights and N(0, 1) biases, where a convolutional
    /// layer's n_out is maps·kernel²/pool²; the last (softmax) layer starts at zero.
    Network3,
}

display_as_toml!(Activation, Output, Init);

#[cfg(test)]
mod tests {
    use super::*;

    /// network3.py's `dbl_conv`, with `extra` lines after `[model]`'s keys.
    fn dbl_conv(sizes: &str, second_kernel: usize) -> ModelConfig {
        let text = format!(
            "sizes = {sizes}\ninit = \"network3\"\n\
             [[conv]]\nmaps = 20\nkernel = 5\npool = 2\n\
             [[conv]]\nmaps = 40\nkernel = {second_kernel}\npool = 2\n"
        );
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn the_summary_gives_each_layers_shape_and_parameters() {
        let model = dbl_conv("[640, 100, 10]", 5);
        model.validate_sizes(10).unwrap();
        let rows: Vec<(String, String, usize)> = model
            .summary(Output::Logits)
            .rows
            .into_iter()
            .map(|r| (r.output(), r.name, r.parameters))
            .map(|(output, name, parameters)| (name, output, parameters))
            .collect();
        let row = |name: &str, output: &str, parameters| (name.into(), output.into(), parameters);
        assert_eq!(
            rows,
            vec![
                row("input", "1×28×28", 0),
                row("conv 20 5×5, sigmoid", "20×24×24", 20 * 25 + 20),
                row("max-pool 2×2", "20×12×12", 0),
                row("conv 40 5×5, sigmoid", "40×8×8", 40 * 20 * 25 + 40),
                row("max-pool 2×2", "40×4×4", 0),
                row("flatten", "640", 0),
                row("fc 100, sigmoid", "100", 64_100),
                row("fc 10, logits", "10", 1_010),
            ]
        );
        assert_eq!(model.summary(Output::Logits).parameters(), 85_670);
    }

    #[test]
    fn sizes_must_start_with_the_flattened_maps() {
        let error = dbl_conv("[2880, 100, 10]", 5)
            .validate_sizes(10)
            .unwrap_err();
        assert_eq!(error.key, "[model] sizes");
        assert_eq!(
            error.message,
            "the first size must be the convolutional layers' output flattened, 640, got 2880; \
             the layers give input: 1×28×28; conv 20 5×5, sigmoid: 20×24×24; max-pool 2×2: 20×12×12; \
             conv 40 5×5, sigmoid: 40×8×8; max-pool 2×2: 40×4×4; flatten: 640"
        );
    }

    #[test]
    fn a_filter_larger_than_its_input_is_refused_with_the_shapes_so_far() {
        let error = dbl_conv("[640, 100, 10]", 13)
            .validate_sizes(10)
            .unwrap_err();
        assert_eq!(error.key, "[[model.conv]] 2 kernel");
        assert_eq!(
            error.message,
            "a 13×13 filter is larger than its 12×12 input; the layers give input: 1×28×28; \
             conv 20 5×5, sigmoid: 20×24×24; max-pool 2×2: 20×12×12"
        );
        let mut model = dbl_conv("[640, 100, 10]", 5);
        model.conv[1].pool = Some(9);
        let error = model.validate_sizes(10).unwrap_err();
        assert_eq!(error.key, "[[model.conv]] 2 pool");
        assert!(
            error
                .message
                .starts_with("a 9×9 pooling window is larger than its 8×8 input")
        );
        model.conv[1].pool = Some(0);
        let error = model.validate_sizes(10).unwrap_err();
        assert_eq!(
            (error.key.as_ref(), error.message.as_str()),
            ("[[model.conv]] 2 pool", "expected a positive number, got 0")
        );
    }

    #[test]
    fn padding_and_stride_follow_the_usual_arithmetic() {
        // DeepConvNet's fourth layer pads 2: 14×14 becomes 16×16.
        let layer: ConvConfig = toml::from_str("maps = 32\nkernel = 3\npadding = 2").unwrap();
        let input = MapShape {
            channels: 32,
            height: 14,
            width: 14,
        };
        assert_eq!(layer.convolved(input).unwrap().dims(), [32, 16, 16]);
        let layer: ConvConfig = toml::from_str("maps = 8\nkernel = 3\nstride = 2").unwrap();
        assert_eq!(layer.convolved(input).unwrap().dims(), [8, 6, 6]);
    }

    #[test]
    fn unknown_keys_of_a_layer_are_refused() {
        let error = toml::from_str::<ConvConfig>("maps = 20\nkernal = 5").unwrap_err();
        assert!(
            error.message().contains("unknown field `kernal`"),
            "{error}"
        );
    }
}
