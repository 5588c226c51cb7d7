//! The network, a Burn `Module`: convolutional layers, if `[[model.conv]]` has any, then a
//! multilayer perceptron. network.py's `Network` and TwoLayerNet are the perceptron alone;
//! network3.py's nets and DLFS's SimpleConvNet and DeepConvNet put convolutions in front.
//!
//! There is no backward pass here. Gradients come from `loss.backward()` on an autodiff device.

use std::path::Path;

use anyhow::Context;
use burn::module::{Module, Param, ParamId, RunningState};
use burn::nn::activation::{Activation, ActivationConfig};
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, PaddingConfig2d};
use burn::store::ModuleRecord;
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};

use crate::data::IMAGE_SIDE;
use crate::model::config::{self, Init, ModelConfig, Output};
use crate::model::conv::{ConvConfig, ConvLayer, LayerInput};

/// Convolutional layers, if any, flattened into fully connected `Linear` layers with an
/// activation between them, and optionally batch normalisation before each hidden activation
/// and dropout after it.
#[derive(Module, Debug)]
pub struct Network {
    /// The convolutional layers, input first; none in an MLP. Layer `i`'s filters are
    /// `conv.{i}.conv.weight` `[maps, channels, kernel, kernel]` and `conv.{i}.conv.bias`.
    conv: Vec<ConvLayer>,
    /// One layer per pair of consecutive sizes.
    layers: Vec<Linear>,
    /// One per hidden layer with `batch_norm`, else none.
    norms: Vec<BatchNorm>,
    /// Applied after every layer but the last.
    hidden: Activation,
    /// Applied to every hidden layer's activations; only while training on an autodiff device.
    dropout: Dropout,
    /// Applied after the last layer: a sigmoid, or the identity for logits.
    output: Activation,
    /// Applied to the last layer's outputs while training, if `[model] output_dropout` asks.
    output_dropout: Option<Dropout>,
}

impl Network {
    /// Maps a batch of flattened images to one score per class.
    ///
    /// - input: `[batch, 784]`, each row an image's pixels row by row
    /// - output: `[batch, sizes[last]]`, sigmoid activations or logits
    pub fn forward(&self, input: Tensor<2>) -> Tensor<2> {
        self.forward_observed(input, None)
    }

    /// What every layer computes, one `[batch, numbers]` tensor per row of the model's
    /// [`Summary`](crate::model::summary::Summary) that computes, in its order: each
    /// convolution's maps after the activation and each pooling's (flattened channel, row,
    /// column), each fully connected hidden layer's activations, and last the output
    /// [`forward`](Self::forward) gives.
    pub fn forward_layers(&self, input: Tensor<2>) -> Vec<Tensor<2>> {
        let mut layers = Vec::new();
        let output = self.forward_observed(input, Some(&mut |x| layers.push(x)));
        layers.push(output);
        layers
    }

    /// The forward pass, showing `observe` what each layer but the last computes (see
    /// [`forward_layers`](Self::forward_layers)), before dropout.
    fn forward_observed(
        &self,
        input: Tensor<2>,
        mut observe: Option<&mut dyn FnMut(Tensor<2>)>,
    ) -> Tensor<2> {
        let (last, hidden) = self.layers.split_last().expect("a network has a layer");
        let features = self.features_observed(input, lend(&mut observe));
        let x = hidden.iter().enumerate().fold(features, |x, (i, layer)| {
            // [batch, n_in] -> [batch, n_out]
            let z = layer.forward(x);
            let z = match self.norms.get(i) {
                Some(norm) => norm.forward(z),
                None => z,
            };
            let a = self.hidden.forward(z);
            if let Some(observe) = observe.as_deref_mut() {
                observe(a.clone());
            }
            self.dropout.forward(a)
        });
        // [batch, n_hidden] -> [batch, classes]
        let output = self.output.forward(last.forward(x));
        match &self.output_dropout {
            Some(dropout) => dropout.forward(output),
            None => output,
        }
    }

    /// What the fully connected layers see: the convolutional layers' maps flattened in
    /// PyTorch's order (channel, row, column), `[batch, maps·rows·columns]`; the pixels
    /// themselves without convolutional layers.
    pub fn features(&self, input: Tensor<2>) -> Tensor<2> {
        self.features_observed(input, None)
    }

    /// [`features`](Self::features), showing `observe` each convolution's and pooling's maps,
    /// flattened.
    fn features_observed(
        &self,
        input: Tensor<2>,
        mut observe: Option<&mut dyn FnMut(Tensor<2>)>,
    ) -> Tensor<2> {
        if self.conv.is_empty() {
            return input;
        }
        // [batch, 784] -> [batch, 1, 28, 28] -> the last layer's [batch, maps, rows, columns]
        let batch = input.dims()[0];
        let x = input.reshape([batch, 1, IMAGE_SIDE, IMAGE_SIDE]);
        let x = self.conv.iter().enumerate().fold(x, |x, (i, layer)| {
            let from = if i == 0 {
                LayerInput::Images
            } else {
                LayerInput::Maps
            };
            match lend(&mut observe) {
                Some(observe) => {
                    let mut flattened = |maps: Tensor<4>| observe(maps.flatten(1, 3));
                    layer.forward_observed(x, from, &self.hidden, Some(&mut flattened))
                }
                None => layer.forward(x, from, &self.hidden),
            }
        });
        x.flatten(1, 3)
    }

    /// The convolutional layers, input first; empty for an MLP.
    pub fn conv(&self) -> &[ConvLayer] {
        &self.conv
    }

    /// The same network with other convolutional layers of the same shapes: another run's, say.
    pub fn with_conv(&self, conv: Vec<ConvLayer>) -> Network {
        Network {
            conv,
            ..self.clone()
        }
    }

    /// The layers, input first. Layer `i`'s weight is `[n_in, n_out]`, stored as
    /// `layers.{i}.weight` in records and exports, its bias `layers.{i}.bias`.
    pub fn layers(&self) -> &[Linear] {
        &self.layers
    }

    /// The batch normalisations, one per hidden layer, or none.
    pub fn norms(&self) -> &[BatchNorm] {
        &self.norms
    }

    /// The same network with other layers of the same shapes: one weight nudged, say.
    pub fn with_layers(&self, layers: Vec<Linear>) -> Network {
        Network {
            layers,
            ..self.clone()
        }
    }

    /// The same network with other batch normalisations of the same sizes: another run's, say.
    pub fn with_norms(&self, norms: Vec<BatchNorm>) -> Network {
        Network {
            norms,
            ..self.clone()
        }
    }

    /// Saves the weights as a Burn record (burnpack), which is written to a scratch file and
    /// renamed into place.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        self.clone()
            .into_record()
            .save(path)
            .with_context(|| format!("cannot save the model to {}", path.display()))
    }

    /// Fully connected layer sizes, input first, read back from the weights.
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes = vec![self.layers[0].weight.dims()[0]];
        sizes.extend(self.layers.iter().map(|l| l.weight.dims()[1]));
        sizes
    }
}

/// `observe` lent for one call. `Option::as_deref_mut` would lend it for as long as the
/// closure behind it lives, since a trait object's lifetime cannot shrink inside an `Option`.
fn lend<'a, T>(observe: &'a mut Option<&mut dyn FnMut(T)>) -> Option<&'a mut dyn FnMut(T)> {
    match observe {
        Some(observe) => Some(&mut **observe),
        None => None,
    }
}

/// Builds an [`Network`] from the `[model]` section and the output the cost needs.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    model: ModelConfig,
    output: Output,
}

impl NetworkConfig {
    /// A network as `model` describes it, ending in `output`.
    pub fn new(model: ModelConfig, output: Output) -> Self {
        Self { model, output }
    }

    /// Builds the network on `device`, with weights drawn from a generator seeded by `seed`.
    ///
    /// The weights are drawn on the host, not by the backend's generator: that one is global to
    /// the process and differs between backends, while these are a pure function of the seed,
    /// the same on every backend and in every thread.
    pub fn init(&self, seed: u64, device: &Device) -> Network {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut channels = 1;
        let conv = self
            .model
            .conv
            .iter()
            .enumerate()
            .map(|(index, layer)| {
                let (maps, k) = (layer.maps, layer.kernel);
                let (weight_std, bias_std) = self.conv_stds(layer, channels);
                let weight = draw(&mut rng, vec![maps, channels, k, k], weight_std);
                let bias = draw(&mut rng, vec![maps], bias_std);
                channels = maps;
                let position = CONV_POSITIONS + 2 * index;
                let padding = layer.padding;
                let conv = Conv2d {
                    weight: param(position, weight, device),
                    bias: Some(param(position + 1, bias, device)),
                    stride: [layer.stride; 2],
                    kernel_size: [k, k],
                    dilation: [1, 1],
                    groups: 1,
                    padding: PaddingConfig2d::Explicit(padding, padding, padding, padding),
                };
                ConvLayer::new(conv, layer)
            })
            .collect();
        let last = self.model.sizes.len() - 2;
        let layers = self
            .model
            .sizes
            .windows(2)
            .enumerate()
            .map(|(index, pair)| {
                let (n_in, n_out) = (pair[0], pair[1]);
                let (weight_std, bias_std) = self.stds(n_in, n_out, index == last);
                let weight = draw(&mut rng, vec![n_in, n_out], weight_std);
                let bias = draw(&mut rng, vec![n_out], bias_std);
                Linear {
                    weight: param(2 * index, weight, device),
                    bias: Some(param(2 * index + 1, bias, device)),
                }
            })
            .collect::<Vec<Linear>>();
        let norms = if self.model.batch_norm {
            let hidden = &self.model.sizes[1..self.model.sizes.len() - 1];
            hidden
                .iter()
                .enumerate()
                .map(|(i, &n)| batch_norm(2 * layers.len() + 4 * i, n, device))
                .collect()
        } else {
            Vec::new()
        };
        let activation = |a: ActivationConfig| a.init(device);
        let output_dropout = self.model.output_dropout;
        Network {
            conv,
            layers,
            norms,
            dropout: DropoutConfig::new(self.model.dropout).init(),
            output_dropout: (output_dropout > 0.0)
                .then(|| DropoutConfig::new(output_dropout).init()),
            hidden: activation(match self.model.activation {
                config::Activation::Sigmoid => ActivationConfig::Sigmoid,
                config::Activation::Relu => ActivationConfig::Relu,
            }),
            output: activation(match self.output {
                Output::Sigmoid => ActivationConfig::Sigmoid,
                Output::Logits => ActivationConfig::Identity,
            }),
        }
    }

    /// Builds the network and loads the weights of the Burn record at `path` into it.
    pub fn load(&self, path: &Path, device: &Device) -> anyhow::Result<Network> {
        let error = || format!("cannot load the model {}", path.display());
        let record = ModuleRecord::load(path).with_context(error)?;
        self.init(0, device)
            .try_load_record(record)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| {
                format!(
                    "{}: does not fit a {} network",
                    path.display(),
                    self.model.describe_layers()
                )
            })
    }

    /// Standard deviations of a fully connected layer's weights and biases (0 means zeros).
    fn stds(&self, n_in: usize, n_out: usize, last: bool) -> (f64, f64) {
        if last && self.model.init == Init::Network3 {
            // network3.py's SoftmaxLayer starts from zero weights and biases.
            return (0.0, 0.0);
        }
        self.scheme_stds(n_in as f64, n_out as f64, n_out as f64)
    }

    /// Standard deviations of a convolutional layer's weights and biases on `channels` inputs.
    /// Its fan-in is what one output sees (`channels·kernel²`) and its fan-out what one input
    /// reaches (`maps·kernel²`), which network3.py divides by the pooling window's area.
    fn conv_stds(&self, layer: &ConvConfig, channels: usize) -> (f64, f64) {
        let area = (layer.kernel * layer.kernel) as f64;
        let (fan_in, fan_out) = (channels as f64 * area, layer.maps as f64 * area);
        let pool = layer.pool.unwrap_or(1) as f64;
        self.scheme_stds(fan_in, fan_out, fan_out / (pool * pool))
    }

    /// The scheme's standard deviations for a layer with these fans; `network3_out` is the
    /// n_out network3.py scales by.
    fn scheme_stds(&self, n_in: f64, n_out: f64, network3_out: f64) -> (f64, f64) {
        match self.model.init {
            Init::StandardNormal => (1.0, 1.0),
            Init::ScaledNormal => (1.0 / n_in.sqrt(), 1.0),
            Init::Normal => (self.model.init_std(), 0.0),
            Init::He => ((2.0 / n_in).sqrt(), 0.0),
            Init::Xavier => ((2.0 / (n_in + n_out)).sqrt(), 0.0),
            Init::Network3 => ((1.0 / network3_out).sqrt(), 1.0),
        }
    }
}

/// Where the convolutional layers' parameter ids start (see [`param`]): past any fully
/// connected layer's and batch norm's, so that an MLP's ids are what they were before
/// networks had convolutions.
const CONV_POSITIONS: usize = 1 << 20;

/// `shape` filled from N(0, std²) drawn from `rng`, or zeros where `std` is 0.
fn draw(rng: &mut StdRng, shape: Vec<usize>, std: f64) -> TensorData {
    let count = shape.iter().product();
    let values: Vec<f32> = if std == 0.0 {
        vec![0.0; count]
    } else {
        let normal = Normal::new(0.0, std).expect("std is positive and finite");
        (0..count).map(|_| normal.sample(rng) as f32).collect()
    };
    TensorData::new(values, shape)
}

/// Burn's `BatchNorm` over `n` features, with ids from `position` on (see [`param`]).
fn batch_norm(position: usize, n: usize, device: &Device) -> BatchNorm {
    let norm = BatchNormConfig::new(n).init(device);
    let id = |offset: usize| ParamId::from((position + offset) as u64);
    BatchNorm {
        gamma: Param::initialized(id(0), norm.gamma.val()).set_require_grad(true),
        beta: Param::initialized(id(1), norm.beta.val()).set_require_grad(true),
        running_mean: RunningState::with_id(id(2), norm.running_mean.value()),
        running_var: RunningState::with_id(id(3), norm.running_var.value()),
        ..norm
    }
}

/// A trainable parameter whose id is its position in the network, not a random number, so
/// that the same seed gives byte-identical records.
fn param<const D: usize>(position: usize, data: TensorData, device: &Device) -> Param<Tensor<D>> {
    Param::initialized(
        ParamId::from(position as u64),
        Tensor::from_data(data, device),
    )
    .set_require_grad(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::config::Activation;
    use burn::tensor::Distribution;

    fn config(sizes: Vec<usize>, init: Init, output: Output) -> NetworkConfig {
        NetworkConfig::new(
            ModelConfig {
                sizes,
                activation: Activation::Sigmoid,
                output: None,
                init,
                init_std: None,
                dropout: 0.0,
                batch_norm: false,
                output_dropout: 0.0,
                conv: Vec::new(),
            },
            output,
        )
    }

    #[test]
    fn output_shape_follows_the_sizes_at_any_depth() {
        let device = Device::flex();
        for sizes in [vec![784, 10], vec![784, 30, 10], vec![784, 100, 50, 20, 10]] {
            let model = config(sizes.clone(), Init::He, Output::Logits).init(1, &device);
            assert_eq!(model.sizes(), sizes);
            let output = model.forward(Tensor::zeros([7, 784], &device));
            assert_eq!(output.dims(), [7, 10]);
        }
    }

    #[test]
    fn sigmoid_output_lies_in_the_unit_interval() {
        let device = Device::flex();
        let model =
            config(vec![784, 30, 10], Init::StandardNormal, Output::Sigmoid).init(1, &device);
        let input = Tensor::<2>::ones([4, 784], &device);
        let values = model
            .forward(input)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(values.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn init_is_a_function_of_the_seed() {
        let device = Device::flex();
        let weights = |seed| {
            let model = config(vec![784, 30, 10], Init::StandardNormal, Output::Sigmoid)
                .init(seed, &device);
            model.layers[0].weight.val().into_data()
        };
        assert_eq!(weights(7), weights(7));
        assert_ne!(weights(7), weights(8));
    }

    fn regularised(seed: u64, device: &Device) -> Network {
        NetworkConfig::new(
            ModelConfig {
                sizes: vec![784, 40, 20, 10],
                activation: Activation::Relu,
                output: None,
                init: Init::He,
                init_std: None,
                dropout: 0.5,
                batch_norm: true,
                output_dropout: 0.0,
                conv: Vec::new(),
            },
            Output::Logits,
        )
        .init(seed, device)
    }

    #[test]
    fn dropout_and_batch_statistics_act_only_while_training() {
        let device = Device::flex().autodiff();
        let model = regularised(1, &device);
        assert_eq!(model.norms.len(), 2);
        let input = Tensor::<2>::random([8, 784], Distribution::Default, &device);
        let values =
            |m: &Network, x: Tensor<2>| m.forward(x).into_data().try_to_vec::<f32>().unwrap();
        let (a, b) = (values(&model, input.clone()), values(&model, input.clone()));
        assert_ne!(a, b, "dropout draws a new mask at every forward pass");
        let valid = model.valid();
        let x = input.clone().without_autodiff();
        assert_eq!(values(&valid, x.clone()), values(&valid, x.clone()));
        // Inference uses the running statistics, not the batch's: one example alone gives the
        // same scores as within the batch.
        let alone = values(&valid, x.clone().slice(0..1));
        let within = values(&valid, x);
        for (a, b) in alone.iter().zip(&within[..10]) {
            assert!((a - b).abs() < 1e-4, "{alone:?} {within:?}");
        }
    }

    #[test]
    fn records_with_batch_norm_are_a_function_of_the_seed() {
        let device = Device::flex();
        let tmp = tempfile::tempdir().unwrap();
        let bytes = |seed: u64, name: &str| {
            let path = tmp.path().join(name);
            regularised(seed, &device).save(&path).unwrap();
            std::fs::read(path).unwrap()
        };
        assert_eq!(bytes(5, "a.bpk"), bytes(5, "b.bpk"));
        assert_ne!(bytes(5, "a.bpk"), bytes(6, "c.bpk"));
    }

    #[test]
    fn maps_flatten_in_pytorchs_order_channel_row_column() {
        let device = Device::flex();
        let model: ModelConfig = toml::from_str(
            "sizes = [1568, 10]\nactivation = \"relu\"\ninit = \"he\"\n\
             [[conv]]\nmaps = 2\nkernel = 1\n",
        )
        .unwrap();
        let network = NetworkConfig::new(model.clone(), Output::Logits).init(1, &device);
        // 1×1 filters that copy the image into map 0 and double it into map 1.
        let mut layer = network.conv()[0].clone();
        let weight = TensorData::new(vec![1.0f32, 2.0], [2, 1, 1, 1]);
        layer.conv.weight = param(0, weight, &device);
        layer.conv.bias = Some(param(1, TensorData::new(vec![0.0f32; 2], [2]), &device));
        let network = network.with_conv(vec![layer]);
        let pixels: Vec<f32> = (0..784).map(|i| i as f32 / 784.0).collect();
        let input = Tensor::<2>::from_data(TensorData::new(pixels.clone(), [1, 784]), &device);
        let features = network
            .features(input)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let doubled: Vec<f32> = pixels.iter().map(|p| 2.0 * p).collect();
        assert_eq!(features.len(), 1568);
        assert_eq!(&features[..784], pixels.as_slice(), "map 0, row by row");
        assert_eq!(&features[784..], doubled.as_slice(), "then map 1");
    }

    #[test]
    fn conv_networks_reach_their_classes_and_draw_network3s_scales() {
        let device = Device::flex();
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/deep-convnet.toml"),
        )
        .unwrap();
        let value: toml::Value = toml::from_str(&text).unwrap();
        let model: ModelConfig = value["model"].clone().try_into().unwrap();
        let network = NetworkConfig::new(model, Output::Logits).init(1, &device);
        assert_eq!(network.conv().len(), 6);
        let output = network.forward(Tensor::zeros([3, 784], &device));
        assert_eq!(output.dims(), [3, 10]);

        let conv2: ModelConfig = toml::from_str(
            "sizes = [640, 100, 10]\ninit = \"network3\"\n\
             [[conv]]\nmaps = 20\nkernel = 5\npool = 2\n\
             [[conv]]\nmaps = 40\nkernel = 5\npool = 2\n",
        )
        .unwrap();
        let network = NetworkConfig::new(conv2, Output::Logits).init(2, &device);
        let std = |data: TensorData| {
            let values = data.try_to_vec::<f32>().unwrap();
            let n = values.len() as f64;
            (values.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / n).sqrt()
        };
        // network3.py: n_out = maps·5²/2², so 1/√250 for the second layer's 20,000 weights.
        let filters = std(network.conv()[1].conv.weight.val().into_data());
        assert!(
            (filters - (1.0f64 / 250.0).sqrt()).abs() < 0.002,
            "{filters}"
        );
        let last = network.layers().last().unwrap();
        assert_eq!(
            std(last.weight.val().into_data()),
            0.0,
            "the softmax layer starts at zero"
        );
    }

    #[test]
    fn init_scales_follow_the_scheme() {
        let device = Device::flex();
        let std_of = |init| {
            let model = config(vec![784, 100, 10], init, Output::Logits).init(3, &device);
            let values = model.layers[0]
                .weight
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let n = values.len() as f64;
            (values.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / n).sqrt()
        };
        assert!((std_of(Init::StandardNormal) - 1.0).abs() < 0.02);
        assert!((std_of(Init::ScaledNormal) - (1.0f64 / 784.0).sqrt()).abs() < 0.002);
        assert!((std_of(Init::He) - (2.0f64 / 784.0).sqrt()).abs() < 0.002);
        assert!((std_of(Init::Xavier) - (2.0f64 / 884.0).sqrt()).abs() < 0.002);
    }
}
