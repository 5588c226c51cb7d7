//! Trained runs read together: `eval`, `errors` and `predict` given several runs let them vote,
//! as network3's `conv.py` makes its ensemble ([`vote`]). One run is an ensemble of one, which
//! reads as that run does.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::bail;
use burn::tensor::Device;

use crate::data::IMAGE_PIXELS;
use crate::data::digit_image::Pixels;
use crate::model::inference::ConfusionMatrix;
use crate::model::vote::vote;
use crate::train::charts::Mistake;
use crate::train::trained::Trained;

/// One or more trained models that read the same classes.
pub struct Ensemble {
    /// In the order given.
    pub members: Vec<Trained>,
}

/// What an ensemble makes of the test split.
pub struct Evaluation {
    /// The vote's confusion matrix.
    pub matrix: ConfusionMatrix,
    /// Each member's own confusion matrix, with the record it was read from.
    pub members: Vec<(PathBuf, ConfusionMatrix)>,
}

impl Ensemble {
    /// Reads each run folder (its newest epoch) or checkpoint folder. Their classes must be the
    /// same, in the same order.
    pub fn load(paths: &[PathBuf], device: &Device) -> anyhow::Result<Self> {
        let members = paths
            .iter()
            .map(|path| Trained::load(path, device))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let Some(first) = members.first() else {
            bail!("no model given");
        };
        for other in &members[1..] {
            if other.classes() != first.classes() {
                bail!(
                    "{} reads the classes {:?}, but {} reads {:?}: an ensemble's members must \
                     read the same classes",
                    other.path.display(),
                    other.classes(),
                    first.path.display(),
                    first.classes()
                );
            }
        }
        Ok(Self { members })
    }

    /// The class names, in label order.
    pub fn classes(&self) -> Vec<String> {
        self.members[0].classes()
    }

    /// Each image's class by the members' vote, and each member's probabilities
    /// (`[member][image][class]`).
    pub fn read(&self, images: &[Pixels], device: &Device) -> (Vec<usize>, Vec<Vec<Vec<f32>>>) {
        let probabilities: Vec<_> = self
            .members
            .iter()
            .map(|member| member.probabilities(images, device))
            .collect();
        (vote(&probabilities), probabilities)
    }

    /// Classifies the first member's test split (from `data_dir` when given) by vote, and by
    /// each member alone.
    pub fn evaluate(&self, data_dir: Option<&Path>, device: &Device) -> anyhow::Result<Evaluation> {
        let (labels, _, predicted, members) = self.test_votes(data_dir, device)?;
        let classes = self.classes();
        Ok(Evaluation {
            matrix: ConfusionMatrix::tally(&labels, &predicted, classes.clone()),
            members: self
                .members
                .iter()
                .zip(members)
                .map(|(member, own)| {
                    let matrix = ConfusionMatrix::tally(&labels, &own, classes.clone());
                    (member.path.clone(), matrix)
                })
                .collect(),
        })
    }

    /// The test images the vote gets wrong, at most `limit`, in test-split order.
    pub fn mistakes(
        &self,
        data_dir: Option<&Path>,
        device: &Device,
        limit: usize,
    ) -> anyhow::Result<Vec<Mistake>> {
        let (labels, images, predicted, _) = self.test_votes(data_dir, device)?;
        let classes = self.classes();
        Ok((0..labels.len())
            .filter(|&i| predicted[i] != labels[i])
            .take(limit)
            .map(|i| Mistake {
                pixels: images[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS].to_vec(),
                label: classes[labels[i]].clone(),
                predicted: classes[predicted[i]].clone(),
            })
            .collect())
    }

    /// The test split's labels and pixels, the vote's classes, and each member's own classes.
    #[allow(clippy::type_complexity)]
    fn test_votes(
        &self,
        data_dir: Option<&Path>,
        device: &Device,
    ) -> anyhow::Result<(Vec<usize>, Vec<f32>, Vec<usize>, Vec<Vec<usize>>)> {
        let test = self.members[0].test_split(data_dir, device)?;
        let probabilities: Vec<_> = self
            .members
            .iter()
            .map(|member| member.probabilities_of(test.images.clone()))
            .collect();
        let own = probabilities
            .iter()
            .map(|member| vote(std::slice::from_ref(member)))
            .collect();
        let labels = test
            .labels
            .into_data()
            .try_to_vec_as::<i64>()
            .expect("labels read back as integers")
            .into_iter()
            .map(|label| label as usize)
            .collect();
        let images = test
            .images
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 pixels");
        Ok((labels, images, vote(&probabilities), own))
    }
}

impl fmt::Display for Evaluation {
    /// One model: its path, then the matrix. Several: each member's accuracy, then the vote's
    /// matrix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [(path, _)] = &self.members[..] {
            return write!(f, "Model: {}\n{}", path.display(), self.matrix);
        }
        writeln!(
            f,
            "Models: {}, voting (most votes; a tie goes to the larger summed probability)",
            self.members.len()
        )?;
        for (path, own) in &self.members {
            let (correct, total) = (own.correct(), own.total());
            writeln!(
                f,
                "  {}: {correct} / {total} ({:.2}%)",
                path.display(),
                100.0 * correct as f64 / total as f64
            )?;
        }
        write!(f, "{}", self.matrix)
    }
}
