//! A run's data, whichever its `[data] format`: MNIST's IDX files or a folder of images. Both
//! give the same splits, and the class names the run records.

use std::path::Path;

use burn::tensor::Device;

use crate::data::batch::{Examples, MnistBatch};
use crate::data::config::{DataConfig, DataFormat};
use crate::data::image_folder::{ImageFolder, Layout};
use crate::data::mnist::{MnistFiles, MnistSplits};
use crate::data::shape::{NUM_CLASSES, digit_names};

/// The examples of a run.
pub enum RunData {
    /// MNIST's four files.
    Mnist(MnistFiles),
    /// A folder of images, prepared.
    Images(Box<ImageFolder>),
}

impl RunData {
    /// Reads the data `data` describes, with `dir` in place of `[data] dir` when given. A
    /// folder of images shows a progress bar on a terminal while it is prepared when
    /// `progress`.
    pub fn open(data: &DataConfig, dir: Option<&Path>, progress: bool) -> anyhow::Result<Self> {
        let dir = dir.or(data.dir.as_deref());
        Ok(match data.format {
            DataFormat::Mnist => Self::Mnist(MnistFiles::open(dir)?),
            DataFormat::Images => {
                let data = DataConfig {
                    dir: dir.map(Path::to_path_buf),
                    ..data.clone()
                };
                Self::Images(Box::new(ImageFolder::open(&data, progress)?))
            }
        })
    }

    /// The class names, in label order: MNIST's digits, or the folder's subfolders.
    pub fn classes(&self) -> Vec<String> {
        match self {
            Self::Mnist(_) => digit_names(NUM_CLASSES),
            Self::Images(folder) => folder.classes.clone(),
        }
    }

    /// What the training examples are drawn from: MNIST's training file (validation is held
    /// out of it later), or the folder's training split.
    pub fn train_pool(&self) -> usize {
        match self {
            Self::Mnist(files) => files.train.len(),
            Self::Images(folder) => folder.train.len(),
        }
    }

    /// The run's three splits, validation and test on `device` (see [`MnistSplits`]), the
    /// training split expanded with `[data] expand`.
    pub fn splits(&self, data: &DataConfig, device: &Device) -> MnistSplits {
        let mut splits = match self {
            Self::Mnist(files) => files.splits(data, device),
            Self::Images(folder) => {
                let mut train = folder.train.clone();
                train.truncate(data.train_size(train.len()));
                MnistSplits {
                    train,
                    validation: folder.validation.clone().into_batch(device),
                    test: folder.test.clone().into_batch(device),
                    device: device.clone(),
                }
            }
        };
        if data.expand {
            splits.train = splits.train.expanded();
        }
        splits
    }

    /// The test split, in host memory.
    pub fn test_examples(&self) -> Examples {
        match self {
            Self::Mnist(files) => files.test_examples(),
            Self::Images(folder) => folder.test.clone(),
        }
    }

    /// The first `n` training examples (all, if fewer), e.g. for a gradient check.
    pub fn first_training_examples(&self, n: usize, device: &Device) -> MnistBatch {
        match self {
            Self::Mnist(files) => files.first_training_examples(n, device),
            Self::Images(folder) => {
                let mut train = folder.train.clone();
                train.truncate(n);
                train.into_batch(device)
            }
        }
    }

    /// The test split alone.
    pub fn test_split(&self, device: &Device) -> MnistBatch {
        match self {
            Self::Mnist(files) => files.test_split(device),
            Self::Images(folder) => folder.test.clone().into_batch(device),
        }
    }

    /// Where the data comes from, in a few words.
    pub fn describe(&self) -> String {
        match self {
            Self::Mnist(files) => files.source.to_string(),
            Self::Images(folder) => {
                let split = match folder.layout {
                    Layout::TrainTest => "train/ and test/ as given",
                    Layout::ByPath => "split by path",
                };
                let mut line = format!(
                    "{} ({} classes; {} train, {} validation, {} test, {split}",
                    folder.root.display(),
                    folder.classes.len(),
                    folder.train.len(),
                    folder.validation.len(),
                    folder.test.len(),
                );
                if !folder.skipped.is_empty() {
                    line += &format!("; {} files skipped", folder.skipped.len());
                }
                line + ")"
            }
        }
    }
}
