//! `[[model.conv]]`: the convolutional layers before the fully connected ones, as the books'
//! chapters on convolutional networks build them, each a Burn `Conv2d` with an optional
//! `MaxPool2d` and `Dropout` after it.
//!
//! A layer reads like the book's sentence. Nielsen's "20 feature maps, 5×5 local receptive
//! fields, 2×2 max-pooling" is
//!
//! ```toml
//! [[model.conv]]
//! maps = 20
//! kernel = 5
//! pool = 2
//! ```

use burn::module::Module;
use burn::nn::activation::Activation;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::config::is_zero;

/// One convolutional layer of `[[model.conv]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvConfig {
    /// Feature maps: the layer's output channels, one filter each ("20 feature maps").
    pub maps: usize,
    /// Side of each filter's square local receptive field: 5 for 5×5.
    pub kernel: usize,
    /// Pixels the filter moves between outputs; 1 unset.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub stride: usize,
    /// Zeros added around each side of the input; 0 unset. DeepConvNet pads 1 ("same").
    #[serde(default, skip_serializing_if = "is_zero_count")]
    pub padding: usize,
    /// Side of the max-pooling window after the layer, which moves by its own side: 2 for
    /// 2×2 max-pooling. Unset, no pooling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<usize>,
    /// Probability of dropping each of the layer's outputs (after pooling) while training;
    /// 0 unset.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropout: f64,
}

fn one() -> usize {
    1
}

fn is_one(value: &usize) -> bool {
    *value == 1
}

fn is_zero_count(value: &usize) -> bool {
    *value == 0
}

/// The shape of one example between layers: channels × rows × columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapShape {
    /// Feature maps (1 for the grey input image).
    pub channels: usize,
    /// Rows of each map.
    pub height: usize,
    /// Columns of each map.
    pub width: usize,
}

impl MapShape {
    /// Numbers in all: what the first fully connected layer receives when flattened.
    pub fn numbers(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// `[channels, rows, columns]`: an example's shape as a tensor has it.
    pub fn dims(&self) -> Vec<usize> {
        vec![self.channels, self.height, self.width]
    }
}

impl ConvConfig {
    /// The shape after the convolution, or why the filter does not fit `input`.
    pub fn convolved(&self, input: MapShape) -> Result<MapShape, String> {
        let side = |n: usize| {
            let padded = n + 2 * self.padding;
            (padded >= self.kernel).then(|| (padded - self.kernel) / self.stride + 1)
        };
        match (side(input.height), side(input.width)) {
            (Some(height), Some(width)) => Ok(MapShape {
                channels: self.maps,
                height,
                width,
            }),
            _ => Err(format!(
                "a {k}×{k} filter is larger than its {}×{} input{}",
                input.height,
                input.width,
                if self.padding > 0 {
                    format!(" padded by {} on each side", self.padding)
                } else {
                    String::new()
                },
                k = self.kernel
            )),
        }
    }

    /// The shape after pooling `convolved`, or why the window does not fit.
    pub fn pooled(&self, convolved: MapShape) -> Result<MapShape, String> {
        let Some(pool) = self.pool else {
            return Ok(convolved);
        };
        if convolved.height < pool || convolved.width < pool {
            return Err(format!(
                "a {pool}×{pool} pooling window is larger than its {}×{} input",
                convolved.height, convolved.width
            ));
        }
        Ok(MapShape {
            channels: convolved.channels,
            height: convolved.height / pool,
            width: convolved.width / pool,
        })
    }

    /// How the book says it: `conv 20 5×5`, with the stride and padding where they are not 1
    /// and 0.
    pub fn describe(&self) -> String {
        let mut text = format!("conv {} {k}×{k}", self.maps, k = self.kernel);
        if self.stride != 1 {
            text += &format!(" stride {}", self.stride);
        }
        if self.padding != 0 {
            text += &format!(" pad {}", self.padding);
        }
        text
    }

    /// Weights and biases of the layer on `channels` input maps.
    pub fn parameters(&self, channels: usize) -> usize {
        self.maps * channels * self.kernel * self.kernel + self.maps
    }
}

/// One convolutional layer as a Burn module: the convolution, then max-pooling, the
/// activation and dropout.
///
/// The books apply the activation before pooling (DLFS) or after it (network3, which adds the
/// bias after pooling). For the monotonic sigmoid and ReLU, and a bias shared by a whole map,
/// max-pooling commutes with both, so all three orders give the same numbers; pooling first
/// applies the activation to a quarter as many values.
#[derive(Module, Debug)]
pub struct ConvLayer {
    /// The filters: weight `[maps, channels, kernel, kernel]`, bias `[maps]`.
    pub conv: Conv2d,
    /// Max-pooling after the convolution, if the layer has it.
    pub pool: Option<MaxPool2d>,
    /// Dropout on the layer's outputs, if the layer has it.
    pub dropout: Option<Dropout>,
}

impl ConvLayer {
    /// A layer around `conv`, with the pooling and dropout `config` asks for.
    pub fn new(conv: Conv2d, config: &ConvConfig) -> Self {
        Self {
            conv,
            pool: config
                .pool
                .map(|side| MaxPool2dConfig::new([side, side]).init()),
            dropout: (config.dropout > 0.0).then(|| DropoutConfig::new(config.dropout).init()),
        }
    }

    /// `[batch, channels, rows, columns]` in, the layer's maps out, `activation` applied.
    pub fn forward(&self, input: Tensor<4>, activation: &Activation) -> Tensor<4> {
        self.forward_observed(input, activation, None)
    }

    /// [`forward`](Self::forward), showing `observe` the maps after the activation and, where
    /// the layer pools, after pooling too: what the summary's `conv` and `max-pool` rows
    /// compute. The maps before pooling are activated apart from the ones that go on, so that
    /// what goes on is computed as in training, to the bit.
    pub fn forward_observed(
        &self,
        input: Tensor<4>,
        activation: &Activation,
        mut observe: Option<&mut dyn FnMut(Tensor<4>)>,
    ) -> Tensor<4> {
        let x = self.conv.forward(input);
        if let Some(observe) = observe.as_deref_mut() {
            observe(activation.forward(x.clone()));
        }
        let x = match &self.pool {
            Some(pool) => pool.forward(x),
            None => x,
        };
        let x = activation.forward(x);
        if let (Some(observe), Some(_)) = (observe, &self.pool) {
            observe(x.clone());
        }
        match &self.dropout {
            Some(dropout) => dropout.forward(x),
            None => x,
        }
    }
}
