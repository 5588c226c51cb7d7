//! The costs (`[loss]`): network.py's quadratic cost, TwoLayerNet's softmax cross-entropy and
//! network2.py's sigmoid cross-entropy, plus network2's L2 term.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::Tensor;
use burn::tensor::activation::log_sigmoid;

use serde::{Deserialize, Serialize};

use crate::config::{Invalid, display_as_toml, is_zero};
use crate::data::MnistBatch;
use crate::model::network::Network;

/// The cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossConfig {
    /// Which cost to minimise.
    #[serde(default)]
    pub cost: Cost,
    /// network2.py's `lmbda`: adds (λ/2n) Σ w² over the weights (not the biases) to the cost,
    /// where n is the number of training examples, so that SGD makes network2's update
    /// w ← (1 − eta·λ/n)·w − (eta/m)·Σ∇. 0 is off.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub l2: f64,
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
    /// network2.py's `CrossEntropyCost`: a sigmoid on each output and
    /// C = −1/n Σₓ Σⱼ [yⱼ ln aⱼ + (1 − yⱼ) ln(1 − aⱼ)], computed from the logits.
    SigmoidCrossEntropy,
}

impl LossConfig {
    /// `l2` is off or a penalty.
    pub fn validate(&self) -> Result<(), Invalid> {
        let l2 = self.l2;
        if !(l2.is_finite() && l2 >= 0.0) {
            return Err(Invalid::new(
                "[loss] l2",
                format!("expected 0 (off) or a positive finite penalty, got {l2}"),
            ));
        }
        Ok(())
    }
}

display_as_toml!(Cost);

impl Cost {
    /// The mean cost of a mini-batch, the quantity `backward()` differentiates.
    ///
    /// - quadratic: C = 1/(2m) Σₓ ‖y(x) − a(x)‖², so that SGD with learning rate eta makes
    ///   network.py's update w ← w − (eta/m) Σₓ ∇Cₓ.
    /// - cross-entropy: −1/m Σₓ log softmax(a(x))[label(x)], computed from logits by Burn's
    ///   `CrossEntropyLoss`.
    /// - sigmoid cross-entropy: −1/m Σₓ Σⱼ [yⱼ ln σ(zⱼ) + (1 − yⱼ) ln(1 − σ(zⱼ))] from the logits
    ///   z, with ln σ computed stably (ln(1 − σ(z)) = ln σ(−z)).
    ///
    /// `output` is `[m, 10]`; the result is `[1]`.
    pub fn loss(&self, output: Tensor<2>, batch: &MnistBatch) -> Tensor<1> {
        match self {
            Cost::Quadratic => {
                let m = output.dims()[0] as f64;
                (batch.targets.clone() - output)
                    .square()
                    .sum()
                    .div_scalar(2.0 * m)
            }
            Cost::CrossEntropy => CrossEntropyLossConfig::new()
                .init(&output.device())
                .forward(output, batch.labels.clone()),
            Cost::SigmoidCrossEntropy => {
                let m = output.dims()[0] as f64;
                let y = batch.targets.clone();
                let not_y = y.clone().neg().add_scalar(1.0);
                (y * log_sigmoid(output.clone()) + not_y * log_sigmoid(output.neg()))
                    .sum()
                    .div_scalar(-m)
            }
        }
    }
}

/// network2.py's L2 term, (λ/2n) Σ w² over every layer's weights (not the biases), `[1]`.
///
/// Added to a mini-batch's mean cost, its gradient λ/n · w makes SGD's step
/// w ← (1 − eta·λ/n)·w − (eta/m)·Σ∇, network2's `update_mini_batch`.
///
/// A convolutional layer's filters count as weights, as network3.py's `l2_norm_squared` counts
/// them.
pub fn l2_penalty(model: &Network, lambda: f64, n: usize) -> Tensor<1> {
    let filters = model
        .conv()
        .iter()
        .map(|layer| layer.conv.weight.val().square().sum());
    let weights = model
        .layers()
        .iter()
        .map(|layer| layer.weight.val().square().sum());
    filters
        .chain(weights)
        .reduce(|a, b| a + b)
        .expect("a network has a layer")
        .mul_scalar(lambda / (2.0 * n as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Int, TensorData};

    fn batch(labels: Vec<i64>, device: &Device) -> MnistBatch {
        let n = labels.len();
        let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), device);
        MnistBatch {
            images: Tensor::zeros([n, 784], device),
            targets: labels.clone().one_hot(10).float(),
            labels,
        }
    }

    #[test]
    fn quadratic_cost_matches_a_hand_computation() {
        let device = Device::flex();
        // Two examples, labels 0 and 2, every output 0.5 but one 0.9 on the first example's 1.
        let mut a = vec![0.5f32; 20];
        a[1] = 0.9;
        let output = Tensor::<2>::from_data(TensorData::new(a, [2, 10]), &device);
        // Example 1: (1-0.5)² + 0.9² + 8·0.5² = 0.25 + 0.81 + 2.0 = 3.06
        // Example 2: (1-0.5)² + 9·0.5² = 2.5
        // C = (3.06 + 2.5) / (2·2) = 1.39
        let cost = Cost::Quadratic.loss(output, &batch(vec![0, 2], &device));
        let value = cost.into_scalar::<f32>();
        assert!((value - 1.39).abs() < 1e-6, "{value}");
    }

    #[test]
    fn l2_penalty_is_network2s_term_and_its_gradient_is_lambda_over_n_times_w() {
        use crate::model::config::{Activation, Init, ModelConfig, Output};
        use crate::model::network::NetworkConfig;
        use burn::optim::GradientsParams;
        let device = Device::flex().autodiff();
        let model = NetworkConfig::new(
            ModelConfig {
                sizes: vec![784, 3, 10],
                activation: Activation::Sigmoid,
                output: None,
                init: Init::StandardNormal,
                init_std: None,
                dropout: 0.0,
                batch_norm: false,
                output_dropout: 0.0,
                conv: Vec::new(),
            },
            Output::Sigmoid,
        )
        .init(4, &device);
        let (lambda, n) = (5.0, 50_000);
        let weights: Vec<Vec<f32>> = model
            .layers()
            .iter()
            .map(|l| l.weight.val().into_data().try_to_vec::<f32>().unwrap())
            .collect();
        let squares: f64 = weights
            .iter()
            .flatten()
            .map(|w| f64::from(*w).powi(2))
            .sum();
        let penalty = l2_penalty(&model, lambda, n);
        let value = f64::from(penalty.clone().into_scalar::<f32>());
        let expected = lambda / (2.0 * n as f64) * squares;
        assert!(
            (value - expected).abs() < 1e-6 * expected,
            "{value} {expected}"
        );
        let grads = GradientsParams::from_grads(penalty.backward(), &model);
        for (layer, weights) in model.layers().iter().zip(&weights) {
            let grad = grads.get::<2>(layer.weight.id).unwrap();
            let grad = grad.into_data().try_to_vec::<f32>().unwrap();
            for (g, w) in grad.iter().zip(weights) {
                let expected = lambda / n as f64 * f64::from(*w);
                assert!((f64::from(*g) - expected).abs() < 1e-9, "{g} {expected}");
            }
            // Biases are not penalised.
            assert!(grads.get::<1>(layer.bias.as_ref().unwrap().id).is_none());
        }
    }

    #[test]
    fn sigmoid_cross_entropy_matches_network2() {
        let device = Device::flex();
        // One example, label 3; logits 0 everywhere but 2 on the label and -1 on digit 5.
        let mut z = vec![0f32; 10];
        z[3] = 2.0;
        z[5] = -1.0;
        let output = Tensor::<2>::from_data(TensorData::new(z.clone(), [1, 10]), &device);
        let value = Cost::SigmoidCrossEntropy
            .loss(output, &batch(vec![3], &device))
            .into_scalar::<f32>();
        // network2: np.sum(np.nan_to_num(-y*np.log(a)-(1-y)*np.log(1-a))) with a = sigmoid(z).
        let expected: f64 = z
            .iter()
            .enumerate()
            .map(|(j, &z)| {
                let a = 1.0 / (1.0 + (-f64::from(z)).exp());
                if j == 3 { -a.ln() } else { -(1.0 - a).ln() }
            })
            .sum();
        assert!(
            (f64::from(value) - expected).abs() < 1e-5,
            "{value} {expected}"
        );
    }

    #[test]
    fn cross_entropy_matches_a_hand_computation() {
        let device = Device::flex();
        // Logits [ln 1, ln 3, 0...] for label 1: p = 3 / (1 + 3 + 8) = 0.25, loss = ln 4.
        let mut logits = vec![0f32; 10];
        logits[1] = 3f32.ln();
        let output = Tensor::<2>::from_data(TensorData::new(logits, [1, 10]), &device);
        let value = Cost::CrossEntropy
            .loss(output, &batch(vec![1], &device))
            .into_scalar::<f32>();
        assert!((value - 4f32.ln()).abs() < 1e-6, "{value}");
    }
}
