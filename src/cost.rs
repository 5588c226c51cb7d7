//! The two costs: network.py's quadratic cost and TwoLayerNet's softmax cross-entropy.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::Tensor;

use crate::config::Cost;
use crate::data::MnistBatch;

impl Cost {
    /// The mean cost of a mini-batch, the quantity `backward()` differentiates.
    ///
    /// - quadratic: C = 1/(2m) Σₓ ‖y(x) − a(x)‖², so that SGD with learning rate eta makes
    ///   network.py's update w ← w − (eta/m) Σₓ ∇Cₓ.
    /// - cross-entropy: −1/m Σₓ log softmax(a(x))[label(x)], computed from logits by Burn's
    ///   `CrossEntropyLoss`.
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
        }
    }
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
