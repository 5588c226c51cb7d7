//! Autodiff checked against central differences, as *Deep Learning from Scratch*'s
//! `gradient_check.py` checks its hand-written backprop.
//!
//! For a few training examples, the gradient of the cost with respect to each parameter entry
//! comes once from `loss.backward()` (in f32, as training computes it) and once from
//! (C(θ + h) − C(θ − h)) / 2h.
//!
//! The difference quotient is computed in f64, on the same weights cast up. In f32 (ε = 1.2e-7)
//! it carries a rounding error near ε·|C|/h and a truncation error near h²·|C‴|/6, so the best
//! step is near 1e-2, which leaves relative errors near 1e-2 and, with ReLU, crosses kinks:
//! TwoLayerNet's N(0, 0.01²) weights put many pre-activations within 0.01 of zero, and such
//! entries differ by 100%. In f64 (ε = 2.2e-16) the book's small step works: h = 1e-5 makes both
//! errors below 1e-9, and what remains is autodiff's own f32 rounding, about 1e-6 relative.
//! The check passes below a relative error of 1e-3.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::optim::GradientsParams;
use burn::tensor::{DType, Device, FloatDType, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::index::sample;

use crate::data::MnistBatch;
use crate::model::{Mlp, MlpConfig};
use crate::train::RunConfig;

/// The central-difference step, in f64.
pub const STEP: f64 = 1e-5;
/// Entries whose gradient is below this fraction of the parameter's largest are compared to
/// that fraction: a saturated sigmoid's σ' = σ(1 − σ) has 1 − σ near f32's resolution at 1, so
/// its tiny gradients are only as accurate as f32 can make them.
pub const FLOOR: f64 = 1e-3;
/// The largest relative error that passes.
pub const THRESHOLD: f64 = 1e-3;
/// Entries checked per parameter at most (all of them when it has fewer).
pub const ENTRIES: usize = 200;

/// How autodiff and the numerical gradient agree on one parameter.
#[derive(Debug, Clone)]
pub struct ParamCheck {
    /// The parameter's name, as in records and exports.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Entries compared.
    pub checked: usize,
    /// Mean of |autodiff − numerical| over those entries.
    pub mean_abs_diff: f64,
    /// Largest |autodiff − numerical| / max(|autodiff|, |numerical|, FLOOR × the largest).
    pub max_rel_error: f64,
}

impl ParamCheck {
    /// Whether it passes [`THRESHOLD`].
    pub fn passes(&self) -> bool {
        self.max_rel_error <= THRESHOLD
    }
}

/// Checks every parameter of the network `config` describes (weights drawn with its seed) on
/// `batch`, which lives on the autodiff device `device`.
pub fn check(config: &RunConfig, batch: &MnistBatch, device: &Device) -> Vec<ParamCheck> {
    let cost = config.loss.cost;
    let model =
        MlpConfig::new(config.model.clone(), config.output()).init(config.training.seed, device);
    let loss = cost.loss(model.forward(batch.images.clone()), batch);
    let grads = GradientsParams::from_grads(loss.backward(), &model);

    // The same network and examples in f64, without autodiff.
    let plain = model.valid();
    let plain = plain.with_layers(
        plain
            .layers()
            .iter()
            .map(|layer| Linear {
                weight: Param::from_tensor(layer.weight.val().cast(FloatDType::F64)),
                bias: layer
                    .bias
                    .as_ref()
                    .map(|b| Param::from_tensor(b.val().cast(FloatDType::F64))),
            })
            .collect(),
    );
    let batch64 = MnistBatch {
        images: batch.images.clone().inner().cast(FloatDType::F64),
        labels: batch.labels.clone().inner(),
        targets: batch.targets.clone().inner().cast(FloatDType::F64),
    };
    let cost_of = |model: &Mlp| -> f64 {
        cost.loss(model.forward(batch64.images.clone()), &batch64)
            .into_scalar::<f64>()
    };
    let mut rng = StdRng::seed_from_u64(config.training.seed);
    let mut checks = Vec::new();
    for (index, layer) in model.layers().iter().enumerate() {
        let bias = layer.bias.as_ref().expect("layers have biases");
        let values = |data: Option<TensorData>| -> Vec<f32> {
            data.expect("every parameter has a gradient")
                .try_to_vec::<f32>()
                .expect("f32 gradients")
        };
        let parameters = [
            (
                "weight",
                layer.weight.val().into_data(),
                values(grads.get::<2>(layer.weight.id).map(|g| g.into_data())),
            ),
            (
                "bias",
                bias.val().into_data(),
                values(grads.get::<1>(bias.id).map(|g| g.into_data())),
            ),
        ];
        for (kind, data, analytic) in parameters {
            let shape = data.shape().to_vec();
            let values = data.try_to_vec_as::<f64>().expect("float parameters");
            let entries = sample(&mut rng, values.len(), ENTRIES.min(values.len())).into_vec();
            let pairs: Vec<(f64, f64)> = entries
                .iter()
                .map(|&entry| {
                    let nudged = |delta: f64| {
                        let mut values = values.clone();
                        values[entry] += delta;
                        let data = TensorData::new(values, shape.clone());
                        let mut layers = plain.layers().to_vec();
                        layers[index] = replaced(&layers[index], kind, data);
                        cost_of(&plain.with_layers(layers))
                    };
                    let numerical = (nudged(STEP) - nudged(-STEP)) / (2.0 * STEP);
                    (f64::from(analytic[entry]), numerical)
                })
                .collect();
            let largest = pairs
                .iter()
                .map(|(a, n)| a.abs().max(n.abs()))
                .fold(0.0, f64::max);
            let floor = (FLOOR * largest).max(f64::MIN_POSITIVE);
            let diffs = pairs.iter().map(|(a, n)| (a - n).abs());
            let sum_abs: f64 = diffs.clone().sum();
            let max_rel = pairs
                .iter()
                .zip(diffs)
                .map(|((a, n), diff)| diff / a.abs().max(n.abs()).max(floor))
                .fold(0.0, f64::max);
            checks.push(ParamCheck {
                name: format!("layers.{index}.{kind}"),
                shape,
                checked: entries.len(),
                mean_abs_diff: sum_abs / entries.len() as f64,
                max_rel_error: max_rel,
            });
        }
    }
    checks
}

/// `layer` with its weight or bias replaced by `data`, in f64.
fn replaced(layer: &Linear, kind: &str, data: TensorData) -> Linear {
    let device = layer.weight.device();
    let mut layer = layer.clone();
    if kind == "weight" {
        layer.weight = Param::from_tensor(Tensor::from_data(data, (&device, DType::F64)));
    } else {
        layer.bias = Some(Param::from_tensor(Tensor::from_data(
            data,
            (&device, DType::F64),
        )));
    }
    layer
}
