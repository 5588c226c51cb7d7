//! The multilayer perceptron, a Burn `Module`: network.py's `Network` and TwoLayerNet alike.
//!
//! There is no backward pass here. Gradients come from `loss.backward()` on an autodiff device.

use std::path::Path;

use anyhow::Context;
use burn::module::{Module, Param, ParamId, RunningState};
use burn::nn::activation::{Activation, ActivationConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear};
use burn::store::ModuleRecord;
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};

use crate::model::config::{self, Init, ModelConfig, Output};

/// A fully connected network: `Linear` layers with an activation between them, and optionally
/// batch normalisation before each hidden activation and dropout after it.
#[derive(Module, Debug)]
pub struct Mlp {
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
}

impl Mlp {
    /// Maps a batch of flattened images to one score per class.
    ///
    /// - input: `[batch, sizes[0]]`
    /// - output: `[batch, sizes[last]]`, sigmoid activations or logits
    pub fn forward(&self, input: Tensor<2>) -> Tensor<2> {
        self.forward_observed(input, |_| {})
    }

    /// [`forward`](Self::forward), also returning each hidden layer's activations
    /// (`[batch, n_hidden]`, after the activation function): what the network computes inside.
    pub fn forward_with_hidden(&self, input: Tensor<2>) -> (Vec<Tensor<2>>, Tensor<2>) {
        let mut hidden = Vec::new();
        let output = self.forward_observed(input, |activations| hidden.push(activations.clone()));
        (hidden, output)
    }

    /// The forward pass, showing `observe` each hidden layer's activations before dropout.
    fn forward_observed(&self, input: Tensor<2>, mut observe: impl FnMut(&Tensor<2>)) -> Tensor<2> {
        let (last, hidden) = self.layers.split_last().expect("an MLP has a layer");
        let x = hidden.iter().enumerate().fold(input, |x, (i, layer)| {
            // [batch, n_in] -> [batch, n_out]
            let z = layer.forward(x);
            let z = match self.norms.get(i) {
                Some(norm) => norm.forward(z),
                None => z,
            };
            let a = self.hidden.forward(z);
            observe(&a);
            self.dropout.forward(a)
        });
        // [batch, n_hidden] -> [batch, classes]
        self.output.forward(last.forward(x))
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
    pub fn with_layers(&self, layers: Vec<Linear>) -> Mlp {
        Mlp {
            layers,
            norms: self.norms.clone(),
            hidden: self.hidden.clone(),
            dropout: self.dropout.clone(),
            output: self.output.clone(),
        }
    }

    /// The same network with other batch normalisations of the same sizes: another run's, say.
    pub fn with_norms(&self, norms: Vec<BatchNorm>) -> Mlp {
        Mlp {
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

    /// Layer sizes, input first, read back from the weights.
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes = vec![self.layers[0].weight.dims()[0]];
        sizes.extend(self.layers.iter().map(|l| l.weight.dims()[1]));
        sizes
    }
}

/// Builds an [`Mlp`] from the `[model]` section and the output the cost needs.
#[derive(Debug, Clone)]
pub struct MlpConfig {
    model: ModelConfig,
    output: Output,
}

impl MlpConfig {
    /// A network as `model` describes it, ending in `output`.
    pub fn new(model: ModelConfig, output: Output) -> Self {
        Self { model, output }
    }

    /// Builds the network on `device`, with weights drawn from a generator seeded by `seed`.
    ///
    /// The weights are drawn on the host, not by the backend's generator: that one is global to
    /// the process and differs between backends, while these are a pure function of the seed,
    /// the same on every backend and in every thread.
    pub fn init(&self, seed: u64, device: &Device) -> Mlp {
        let mut rng = StdRng::seed_from_u64(seed);
        let layers = self
            .model
            .sizes
            .windows(2)
            .enumerate()
            .map(|(index, pair)| {
                let (n_in, n_out) = (pair[0], pair[1]);
                let (weight_std, bias_std) = self.stds(n_in, n_out);
                let mut draw = |shape: Vec<usize>, std: f64| {
                    let count = shape.iter().product();
                    let values: Vec<f32> = if std == 0.0 {
                        vec![0.0; count]
                    } else {
                        let normal = Normal::new(0.0, std).expect("std is positive and finite");
                        (0..count).map(|_| normal.sample(&mut rng) as f32).collect()
                    };
                    TensorData::new(values, shape)
                };
                let weight = draw(vec![n_in, n_out], weight_std);
                let bias = draw(vec![n_out], bias_std);
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
        Mlp {
            layers,
            norms,
            dropout: DropoutConfig::new(self.model.dropout).init(),
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
    pub fn load(&self, path: &Path, device: &Device) -> anyhow::Result<Mlp> {
        let error = || format!("cannot load the model {}", path.display());
        let record = ModuleRecord::load(path).with_context(error)?;
        self.init(0, device)
            .try_load_record(record)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| {
                format!(
                    "{}: does not fit a {:?} network",
                    path.display(),
                    self.model.sizes
                )
            })
    }

    /// Standard deviations of a layer's weights and biases (0 means zeros).
    fn stds(&self, n_in: usize, n_out: usize) -> (f64, f64) {
        let (n_in, n_out) = (n_in as f64, n_out as f64);
        match self.model.init {
            Init::StandardNormal => (1.0, 1.0),
            Init::ScaledNormal => (1.0 / n_in.sqrt(), 1.0),
            Init::Normal => (self.model.init_std(), 0.0),
            Init::He => ((2.0 / n_in).sqrt(), 0.0),
            Init::Xavier => ((2.0 / (n_in + n_out)).sqrt(), 0.0),
        }
    }
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

    fn config(sizes: Vec<usize>, init: Init, output: Output) -> MlpConfig {
        MlpConfig::new(
            ModelConfig {
                sizes,
                activation: Activation::Sigmoid,
                output: None,
                init,
                init_std: None,
                dropout: 0.0,
                batch_norm: false,
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

    fn regularised(seed: u64, device: &Device) -> Mlp {
        MlpConfig::new(
            ModelConfig {
                sizes: vec![784, 40, 20, 10],
                activation: Activation::Relu,
                output: None,
                init: Init::He,
                init_std: None,
                dropout: 0.5,
                batch_norm: true,
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
        let values = |m: &Mlp, x: Tensor<2>| m.forward(x).into_data().try_to_vec::<f32>().unwrap();
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
