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
use burn::nn::{Dropout, DropoutConfig, PaddingConfig2d};
use burn::tensor::Tensor;
use burn::tensor::ops::PadMode;
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

/// What a conv layer convolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerInput {
    /// The images themselves: the first layer, whose input needs no gradient.
    Images,
    /// Another conv layer's maps.
    Maps,
}

/// One convolutional layer as a Burn module: the convolution, then max-pooling, the
/// activation and dropout.
///
/// The first layer convolves as an unfold (im2col) and one matmul, the others with Burn's
/// `Conv2d`: the same numbers to float rounding, but on flex a first layer's training step is
/// 10–30% faster that way, since its backward pass is only the filters' gradient, one matmul,
/// where `Conv2d`'s runs flex's convolution loops. A later layer's input needs its gradient
/// too, and unfolding's backward pass costs more than `Conv2d`'s (`examples/conv_step.rs`
/// measures every formulation; docs/speed.md has the figures).
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
    pub fn forward(
        &self,
        input: Tensor<4>,
        from: LayerInput,
        activation: &Activation,
    ) -> Tensor<4> {
        self.forward_observed(input, from, activation, None)
    }

    /// The convolution alone: `[batch, maps, rows', columns']`.
    pub fn convolve(&self, input: Tensor<4>, from: LayerInput) -> Tensor<4> {
        match from {
            LayerInput::Images => im2col(&self.conv, input),
            LayerInput::Maps => self.conv.forward(input),
        }
    }

    /// [`forward`](Self::forward), showing `observe` the maps after the activation and, where
    /// the layer pools, after pooling too: what the summary's `conv` and `max-pool` rows
    /// compute. The maps before pooling are activated apart from the ones that go on, so that
    /// what goes on is computed as in training, to the bit.
    pub fn forward_observed(
        &self,
        input: Tensor<4>,
        from: LayerInput,
        activation: &Activation,
        mut observe: Option<&mut dyn FnMut(Tensor<4>)>,
    ) -> Tensor<4> {
        let x = self.convolve(input, from);
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

/// `conv` as an unfold and one matmul: `[b, c, h, w]` → columns `[b, c·k², L]`, then filters
/// `[1, maps, c·k²]` × columns + bias → `[b, maps, L]` → `[b, maps, h', w']`.
///
/// The columns come from two `Tensor::unfold`s, windows over the rows and then over the
/// columns, which are strided views: one copy lays them out. Burn's `unfold4d` instead
/// convolves with a one-hot `[c·k², c, k, k]` kernel, which costs flex as many multiplications
/// as the layer's own convolution. The filters broadcast over the batch, so the product comes
/// out in channel-first order with no layout copy. Both choices were measured with
/// `examples/conv_step.rs` (docs/speed.md).
fn im2col(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let [maps, channels, k, _] = conv.weight.dims();
    let x = match conv.padding {
        PaddingConfig2d::Explicit(0, 0, 0, 0) | PaddingConfig2d::Valid => x,
        PaddingConfig2d::Explicit(top, left, bottom, right) => {
            x.pad((left, right, top, bottom), PadMode::Constant(0.0))
        }
        ref other => unreachable!("digits pads explicitly, not {other:?}"),
    };
    let batch = x.dims()[0];
    // [b, c, rows, columns, k (row in the window), k (column in the window)]
    let windows: Tensor<6> = x
        .unfold::<5, _>(2, k, conv.stride[0])
        .unfold(3, k, conv.stride[1]);
    let [_, _, rows, columns, _, _] = windows.dims();
    let columns_of_patches =
        windows
            .permute([0, 1, 4, 5, 2, 3])
            .reshape([batch, channels * k * k, rows * columns]);
    let filters = conv.weight.val().reshape([1, maps, channels * k * k]);
    let bias = conv
        .bias
        .as_ref()
        .expect("digits' filters have biases")
        .val()
        .reshape([1, maps, 1]);
    (filters.matmul(columns_of_patches) + bias).reshape([batch, maps, rows, columns])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::{Device, Distribution};

    /// The largest difference between two tensors' values relative to the largest of the first.
    fn relative_difference<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        let a: Vec<f32> = a.into_data().iter::<f32>().collect();
        let b: Vec<f32> = b.into_data().iter::<f32>().collect();
        assert_eq!(a.len(), b.len());
        let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = a
            .iter()
            .zip(&b)
            .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        worst / scale
    }

    /// On fixed filters and a fixed batch, the unfold-and-matmul convolution gives `Conv2d`'s
    /// outputs, and the gradients of the input, the filters and the bias, to 1e-5 relative:
    /// SimpleConvNet's first layer, DeepConvNet's (padded), and a strided one of 3 channels.
    #[test]
    fn im2col_gives_conv2ds_outputs_and_gradients() {
        let device = Device::flex().autodiff();
        device.seed(7);
        for (channels, maps, k, stride, pad) in
            [(1, 30, 5, 1, 0), (1, 16, 3, 1, 1), (3, 4, 3, 2, 1)]
        {
            let conv = Conv2dConfig::new([channels, maps], [k, k])
                .with_stride([stride; 2])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .init(&device);
            let x = Tensor::<4>::random([4, channels, 28, 28], Distribution::Default, &device)
                .require_grad();
            let ours = im2col(&conv, x.clone());
            let theirs = conv.forward(x.clone());
            assert_eq!(ours.dims(), theirs.dims());
            let output = relative_difference(theirs.clone(), ours.clone());
            assert!(
                output <= 1e-5,
                "{channels}×{maps}×{k}: outputs differ by {output}"
            );
            // Each output weighted differently, so that every gradient is a different sum.
            let weights = Tensor::<4>::random(ours.dims(), Distribution::Default, &device);
            let ours = (ours * weights.clone()).sum().backward();
            let theirs = (theirs * weights).sum().backward();
            for (name, a, b) in [
                ("input", x.grad(&theirs), x.grad(&ours)),
                (
                    "filters",
                    conv.weight.grad(&theirs),
                    conv.weight.grad(&ours),
                ),
            ] {
                let difference = relative_difference(a.unwrap(), b.unwrap());
                assert!(
                    difference <= 1e-5,
                    "{channels}×{maps}×{k}: {name} differ by {difference}"
                );
            }
            let bias = conv.bias.as_ref().unwrap();
            let difference =
                relative_difference(bias.grad(&theirs).unwrap(), bias.grad(&ours).unwrap());
            assert!(
                difference <= 1e-5,
                "{channels}×{maps}×{k}: bias differs by {difference}"
            );
        }
    }
}
