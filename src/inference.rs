//! Using a trained model: predictions, accuracy, and the confusion matrix.

use std::fmt;

use burn::tensor::activation::softmax;
use burn::tensor::{Int, Tensor};

use crate::config::Output;
use crate::data::{MnistBatch, NUM_CLASSES};
use crate::model::Mlp;

/// The digit the model scores highest for each image: `[n, 784]` -> `[n]`.
pub fn predict(model: &Mlp, images: Tensor<2>) -> Tensor<1, Int> {
    // [n, 784] -> [n, 10] -> [n, 1] -> [n]
    model.forward(images).argmax(1).squeeze_dim::<1>(1)
}

/// How many examples of `split` the model classifies correctly, counted on the device.
pub fn correct(model: &Mlp, split: &MnistBatch) -> usize {
    let hits = predict(model, split.images.clone())
        .equal(split.labels.clone())
        .int()
        .sum();
    usize::try_from(hits.into_scalar::<i64>()).expect("a count is not negative")
}

/// Each image's probability of each digit: `[n, 784]` -> `n × 10`. For logits this is their
/// softmax; sigmoid activations, which need not sum to one, are divided by their sum.
pub fn probabilities(model: &Mlp, output: Output, images: Tensor<2>) -> Vec<[f32; NUM_CLASSES]> {
    probabilities_of(model.forward(images), output)
}

/// [`probabilities`] from the network's output `scores` (`[n, 10]`).
fn probabilities_of(scores: Tensor<2>, output: Output) -> Vec<[f32; NUM_CLASSES]> {
    let probabilities = match output {
        Output::Logits => softmax(scores, 1),
        Output::Sigmoid => scores.clone() / scores.sum_dim(1),
    };
    probabilities
        .into_data()
        .try_to_vec::<f32>()
        .expect("probabilities read back as f32")
        .chunks_exact(NUM_CLASSES)
        .map(|row| row.try_into().expect("10 classes"))
        .collect()
}

/// What the network makes of one image, layer by layer.
#[derive(Debug, Clone)]
pub struct Reading {
    /// The most probable digit.
    pub digit: usize,
    /// The probability of each digit (see [`probabilities`]).
    pub probabilities: [f32; NUM_CLASSES],
    /// Each hidden layer's activations, input side first.
    pub hidden: Vec<Vec<f32>>,
}

/// Reads one image (`[1, 784]`): its digit, probabilities and hidden activations.
pub fn read(model: &Mlp, output: Output, image: Tensor<2>) -> Reading {
    let (hidden, scores) = model.forward_with_hidden(image);
    let [probabilities] = probabilities_of(scores, output)[..] else {
        panic!("one image gives one row of probabilities")
    };
    Reading {
        digit: ranked(&probabilities)[0].0,
        probabilities,
        hidden: hidden
            .into_iter()
            .map(|layer| {
                layer
                    .into_data()
                    .try_to_vec::<f32>()
                    .expect("f32 activations")
            })
            .collect(),
    }
}

/// The digits ranked by probability, most likely first.
pub fn ranked(probabilities: &[f32; NUM_CLASSES]) -> Vec<(usize, f32)> {
    let mut ranked: Vec<(usize, f32)> = probabilities.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked
}

/// Counts of (true digit, predicted digit) over a set of examples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    /// `counts[true][predicted]`.
    pub counts: [[usize; NUM_CLASSES]; NUM_CLASSES],
}

impl ConfusionMatrix {
    /// Classifies `split` with `model` and tallies the results.
    pub fn of(model: &Mlp, split: &MnistBatch) -> Self {
        let as_vec = |t: Tensor<1, Int>| {
            t.into_data()
                .try_to_vec_as::<i64>()
                .expect("digits read back as integers")
        };
        let predicted = as_vec(predict(model, split.images.clone()));
        let labels = as_vec(split.labels.clone());
        let mut counts = [[0; NUM_CLASSES]; NUM_CLASSES];
        for (truth, guess) in labels.iter().zip(&predicted) {
            counts[*truth as usize][*guess as usize] += 1;
        }
        Self { counts }
    }

    /// Examples counted.
    pub fn total(&self) -> usize {
        self.counts.iter().flatten().sum()
    }

    /// Examples classified correctly.
    pub fn correct(&self) -> usize {
        (0..NUM_CLASSES).map(|d| self.counts[d][d]).sum()
    }

    /// Accuracy on the examples of each true digit (NaN for a digit with none).
    pub fn per_class(&self) -> [f64; NUM_CLASSES] {
        std::array::from_fn(|d| {
            self.counts[d][d] as f64 / self.counts[d].iter().sum::<usize>() as f64
        })
    }
}

impl fmt::Display for ConfusionMatrix {
    /// Accuracy, per-class accuracy, then the matrix with true digits as rows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (correct, total) = (self.correct(), self.total());
        writeln!(
            f,
            "Test accuracy: {correct} / {total} ({:.2}%)",
            100.0 * correct as f64 / total as f64
        )?;
        writeln!(f, "\nPer class:")?;
        for (digit, accuracy) in self.per_class().iter().enumerate() {
            let n: usize = self.counts[digit].iter().sum();
            writeln!(f, "  {digit}: {:6.2}% of {n}", 100.0 * accuracy)?;
        }
        writeln!(
            f,
            "\nConfusion matrix (rows: true digit, columns: predicted):"
        )?;
        write!(f, "     ")?;
        for digit in 0..NUM_CLASSES {
            write!(f, "{digit:>6}")?;
        }
        for (digit, row) in self.counts.iter().enumerate() {
            write!(f, "\n  {digit}: ")?;
            for count in row {
                write!(f, "{count:>6}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranking_puts_the_most_likely_first() {
        let mut p = [0.0; NUM_CLASSES];
        p[3] = 0.7;
        p[8] = 0.2;
        p[5] = 0.1;
        let ranked = ranked(&p);
        assert_eq!(ranked[..3], [(3, 0.7), (8, 0.2), (5, 0.1)]);
    }

    #[test]
    fn tallies_and_accuracies() {
        let mut counts = [[0; NUM_CLASSES]; NUM_CLASSES];
        counts[1][1] = 3;
        counts[1][7] = 1;
        counts[7][7] = 4;
        let matrix = ConfusionMatrix { counts };
        assert_eq!((matrix.correct(), matrix.total()), (7, 8));
        assert_eq!(matrix.per_class()[1], 0.75);
        let text = matrix.to_string();
        assert!(text.starts_with("Test accuracy: 7 / 8 (87.50%)"), "{text}");
        assert!(text.contains("  1:  75.00% of 4"), "{text}");
    }
}
