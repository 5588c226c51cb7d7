//! Using a trained model: predictions, accuracy, and the confusion matrix.

use std::fmt;

use burn::tensor::activation::softmax;
use burn::tensor::{Int, Tensor};

use crate::data::MnistBatch;
use crate::model::config::{ModelConfig, Output};
use crate::model::network::Network;

/// The class the model scores highest for each image: `[n, 784]` -> `[n]`.
pub fn predict(model: &Network, images: Tensor<2>) -> Tensor<1, Int> {
    // [n, 784] -> [n, classes] -> [n, 1] -> [n]
    model.forward(images).argmax(1).squeeze_dim::<1>(1)
}

/// Examples a forward pass of [`correct`] takes at once. A convolutional network's maps for
/// all 10,000 test images at once would take gigabytes (DeepConvNet's first layer alone,
/// 10,000×16×28×28 floats, is 500 MB); a thousand at a time keeps evaluation within the memory
/// a training step uses, and each example's scores are the same either way.
pub const EVAL_ROWS: usize = 1000;

/// How many examples of `split` the model classifies correctly, counted on the device,
/// [`EVAL_ROWS`] at a time.
pub fn correct(model: &Network, split: &MnistBatch) -> usize {
    let n = split.len();
    let hits = (0..n)
        .step_by(EVAL_ROWS)
        .map(|start| {
            let rows = start..(start + EVAL_ROWS).min(n);
            predict(model, split.images.clone().slice(rows.clone()))
                .equal(split.labels.clone().slice(rows))
                .int()
                .sum()
        })
        .reduce(|a, b| a + b);
    hits.map_or(0, |hits| {
        usize::try_from(hits.into_scalar::<i64>()).expect("a count is not negative")
    })
}

/// Each image's probability of each class: `[n, 784]` -> `n × classes`, [`EVAL_ROWS`] images
/// at a time. For logits this is their softmax; sigmoid activations, which need not sum to one,
/// are divided by their sum.
pub fn probabilities(model: &Network, output: Output, images: Tensor<2>) -> Vec<Vec<f32>> {
    let n = images.dims()[0];
    (0..n)
        .step_by(EVAL_ROWS)
        .flat_map(|start| {
            let rows = images.clone().slice(start..(start + EVAL_ROWS).min(n));
            probabilities_of(model.forward(rows), output)
        })
        .collect()
}

/// [`probabilities`] from the network's output `scores` (`[n, classes]`).
fn probabilities_of(scores: Tensor<2>, output: Output) -> Vec<Vec<f32>> {
    let classes = scores.dims()[1];
    let probabilities = match output {
        Output::Logits => softmax(scores, 1),
        Output::Sigmoid => scores.clone() / scores.sum_dim(1),
    };
    probabilities
        .into_data()
        .try_to_vec::<f32>()
        .expect("probabilities read back as f32")
        .chunks_exact(classes)
        .map(<[f32]>::to_vec)
        .collect()
}

/// What the network makes of one image, layer by layer.
#[derive(Debug, Clone)]
pub struct Reading {
    /// The most probable class.
    pub class: usize,
    /// The probability of each class (see [`probabilities`]).
    pub probabilities: Vec<f32>,
    /// What each layer that computes gives, input side first, the output last.
    pub layers: Vec<LayerValues>,
}

/// One layer's outputs for one image.
#[derive(Debug, Clone)]
pub struct LayerValues {
    /// The layer as the summary names it: `conv 20 5×5, relu`, `max-pool 2×2`, `fc 100, relu`.
    pub name: String,
    /// `[maps, rows, columns]` for a convolution or pooling, `[units]` for a fully connected
    /// layer.
    pub shape: Vec<usize>,
    /// Its outputs, in the order of `shape` (map by map, row by row).
    pub values: Vec<f32>,
}

impl Reading {
    /// The fully connected hidden layers' activations, input side first: every layer but the
    /// output with one dimension.
    pub fn hidden(&self) -> impl Iterator<Item = &LayerValues> {
        let (_, layers) = self.layers.split_last().expect("a network has an output");
        layers.iter().filter(|layer| layer.shape.len() == 1)
    }
}

/// Reads one image (`[1, 784]`) with `model`, built from `config`: its class, probabilities and
/// every layer's outputs.
pub fn read(model: &Network, config: &ModelConfig, output: Output, image: Tensor<2>) -> Reading {
    let outputs = model.forward_layers(image);
    let rows = config.summary(output).rows.into_iter();
    let layers: Vec<LayerValues> = rows
        .filter(|row| row.computes)
        .zip(&outputs)
        .map(|(row, values)| LayerValues {
            name: row.name,
            shape: row.shape,
            values: values
                .clone()
                .into_data()
                .try_to_vec::<f32>()
                .expect("f32 activations"),
        })
        .collect();
    assert_eq!(
        layers.len(),
        outputs.len(),
        "the summary names every layer the network computes"
    );
    let scores = outputs.into_iter().last().expect("a network has an output");
    let probabilities = probabilities_of(scores, output).remove(0);
    Reading {
        class: ranked(&probabilities)[0].0,
        probabilities,
        layers,
    }
}

/// The classes ranked by probability, most likely first.
pub fn ranked(probabilities: &[f32]) -> Vec<(usize, f32)> {
    let mut ranked: Vec<(usize, f32)> = probabilities.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked
}

/// Counts of (true class, predicted class) over a set of examples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    /// `counts[true][predicted]`.
    pub counts: Vec<Vec<usize>>,
    /// The class names, in label order.
    pub classes: Vec<String>,
}

impl ConfusionMatrix {
    /// Tallies `predicted` against the true `labels` under the names `classes`.
    pub fn tally(labels: &[usize], predicted: &[usize], classes: Vec<String>) -> Self {
        let mut counts = vec![vec![0; classes.len()]; classes.len()];
        for (&truth, &guess) in labels.iter().zip(predicted) {
            counts[truth][guess] += 1;
        }
        Self { counts, classes }
    }

    /// Examples counted.
    pub fn total(&self) -> usize {
        self.counts.iter().flatten().sum()
    }

    /// Examples classified correctly.
    pub fn correct(&self) -> usize {
        (0..self.counts.len()).map(|c| self.counts[c][c]).sum()
    }

    /// Accuracy on the examples of each true class (NaN for a class with none).
    pub fn per_class(&self) -> Vec<f64> {
        (0..self.counts.len())
            .map(|c| self.counts[c][c] as f64 / self.counts[c].iter().sum::<usize>() as f64)
            .collect()
    }
}

impl fmt::Display for ConfusionMatrix {
    /// Accuracy, per-class accuracy, then the matrix with true classes as rows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (correct, total) = (self.correct(), self.total());
        writeln!(
            f,
            "Test accuracy: {correct} / {total} ({:.2}%)",
            100.0 * correct as f64 / total as f64
        )?;
        let name_width = self
            .classes
            .iter()
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(1);
        let count_width = self.total().to_string().len().max(name_width) + 1;
        writeln!(f, "\nPer class:")?;
        for ((name, accuracy), row) in self.classes.iter().zip(self.per_class()).zip(&self.counts) {
            let n: usize = row.iter().sum();
            writeln!(f, "  {name:>name_width$}: {:6.2}% of {n}", 100.0 * accuracy)?;
        }
        writeln!(
            f,
            "\nConfusion matrix (rows: true class, columns: predicted):"
        )?;
        write!(f, "  {:name_width$}  ", "")?;
        for name in &self.classes {
            write!(f, "{name:>count_width$}")?;
        }
        for (name, row) in self.classes.iter().zip(&self.counts) {
            write!(f, "\n  {name:>name_width$}: ")?;
            for count in row {
                write!(f, "{count:>count_width$}")?;
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
        let mut p = [0.0; 10];
        p[3] = 0.7;
        p[8] = 0.2;
        p[5] = 0.1;
        let ranked = ranked(&p);
        assert_eq!(ranked[..3], [(3, 0.7), (8, 0.2), (5, 0.1)]);
    }

    #[test]
    fn tallies_and_accuracies() {
        let mut counts = vec![vec![0; 10]; 10];
        counts[1][1] = 3;
        counts[1][7] = 1;
        counts[7][7] = 4;
        let matrix = ConfusionMatrix {
            counts,
            classes: crate::data::digit_names(10),
        };
        assert_eq!((matrix.correct(), matrix.total()), (7, 8));
        assert_eq!(matrix.per_class()[1], 0.75);
        let text = matrix.to_string();
        assert!(text.starts_with("Test accuracy: 7 / 8 (87.50%)"), "{text}");
        assert!(text.contains("  1:  75.00% of 4"), "{text}");
        assert!(text.contains("\n  7:  0 0 0 0 0 0 0 4 0 0"), "{text}");
    }
}
