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

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{DType, Device, FloatDType, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::index::sample;

use crate::data::MnistBatch;
use crate::model::{Network, NetworkConfig};
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
/// Where the slopes on either side of an entry, (C(θ + h) − C(θ)) / h and (C(θ) − C(θ − h)) / h,
/// differ by more than this fraction, the entry sits at a kink: ReLU's at 0. A convolution
/// over MNIST's blank background with a zero bias puts hundreds of pre-activations exactly
/// there, and the bias moves them all across it at once. Autodiff then gives one of the two
/// slopes (ReLU's derivative at 0 is taken as 0), and the central difference their mean; such
/// an entry is compared with the slope autodiff took.
pub const KINK: f64 = 1e-2;

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
    /// Entries at a kink of the cost, compared with a one-sided difference (see [`KINK`]).
    pub kinks: usize,
}

impl ParamCheck {
    /// Whether it passes [`THRESHOLD`].
    pub fn passes(&self) -> bool {
        self.max_rel_error <= THRESHOLD
    }
}

/// Checks every parameter of the network `config` describes (weights drawn with its seed) on
/// `batch`, which lives on the autodiff device `device`: convolutional filters, fully connected
/// weights and every bias.
///
/// Dropout draws its masks from the device's generator, which is seeded with the run's seed
/// before every forward pass, so that every cost, autodiff's and each nudged one, sees the same
/// masks and is a fixed function of the weights.
pub fn check(config: &RunConfig, batch: &MnistBatch, device: &Device) -> Vec<ParamCheck> {
    let (cost, seed) = (config.loss.cost, config.training.seed);
    let model = NetworkConfig::new(config.model.clone(), config.output()).init(seed, device);
    device.seed(seed);
    let loss = cost.loss(model.forward(batch.images.clone()), batch);
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let mut parameters = Parameters {
        path: Vec::new(),
        grads: &grads,
        found: Vec::new(),
    };
    model.visit(&mut parameters);

    // The same network and examples in f64, still on the autodiff device so that dropout acts,
    // but with no gradients recorded.
    let plain = model.clone().map(&mut Replace {
        id: None,
        data: None,
    });
    let batch64 = MnistBatch {
        images: batch.images.clone().cast(FloatDType::F64),
        labels: batch.labels.clone(),
        targets: batch.targets.clone().cast(FloatDType::F64),
    };
    let cost_of = |model: &Network| -> f64 {
        device.seed(seed);
        cost.loss(model.forward(batch64.images.clone()), &batch64)
            .into_scalar::<f64>()
    };
    let at = cost_of(&plain);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut checks = Vec::new();
    for found in parameters.found {
        let Found {
            name,
            id,
            data,
            analytic,
        } = found;
        let shape = data.shape().to_vec();
        let values = data.try_to_vec_as::<f64>().expect("float parameters");
        let entries = sample(&mut rng, values.len(), ENTRIES.min(values.len())).into_vec();
        let mut kinks = 0;
        let pairs: Vec<(f64, f64)> = entries
            .iter()
            .map(|&entry| {
                let nudged = |delta: f64| {
                    let mut values = values.clone();
                    values[entry] += delta;
                    let data = TensorData::new(values, shape.clone());
                    cost_of(&plain.clone().map(&mut Replace {
                        id: Some(id),
                        data: Some(data),
                    }))
                };
                let (above, below) = (nudged(STEP), nudged(-STEP));
                let autodiff = f64::from(analytic[entry]);
                let central = (above - below) / (2.0 * STEP);
                let (right, left) = ((above - at) / STEP, (at - below) / STEP);
                let one_sided = if (autodiff - right).abs() < (autodiff - left).abs() {
                    right
                } else {
                    left
                };
                let kink = (right - left).abs() > KINK * right.abs().max(left.abs());
                if kink && (autodiff - one_sided).abs() < (autodiff - central).abs() {
                    kinks += 1;
                    (autodiff, one_sided)
                } else {
                    (autodiff, central)
                }
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
            name,
            shape,
            checked: entries.len(),
            mean_abs_diff: sum_abs / entries.len() as f64,
            max_rel_error: max_rel,
            kinks,
        });
    }
    checks
}

/// One parameter as the visit found it, with autodiff's gradient.
struct Found {
    /// `conv.0.conv.weight`, `layers.1.bias`: its name in records and exports.
    name: String,
    id: ParamId,
    data: TensorData,
    analytic: Vec<f32>,
}

/// Collects every float parameter, named by its path in the module, with its gradient.
struct Parameters<'a> {
    path: Vec<String>,
    grads: &'a GradientsParams,
    found: Vec<Found>,
}

impl ModuleVisitor for Parameters<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let analytic = self
            .grads
            .get::<D>(param.id)
            .expect("every parameter has a gradient")
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 gradients");
        self.found.push(Found {
            name: self.path.join("."),
            id: param.id,
            data: param.val().into_data(),
            analytic,
        });
    }
}

/// Casts every float parameter to f64, outside autodiff's graph; the one with `id`, if any,
/// takes `data`.
struct Replace {
    id: Option<ParamId>,
    data: Option<TensorData>,
}

impl ModuleMapper for Replace {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor) = (param.id, param.val());
        let tensor = match self.data.take_if(|_| Some(id) == self.id) {
            Some(data) => Tensor::from_data(data, (&tensor.device(), DType::F64)),
            None => tensor.cast(FloatDType::F64).detach(),
        };
        Param::initialized(id, tensor)
    }
}
