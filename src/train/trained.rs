//! A trained model read back from a run folder or a checkpoint, and evaluated on its test split.

use std::path::{Path, PathBuf};

use anyhow::bail;
use burn::tensor::{Device, Tensor, TensorData};

use crate::data::digit_image::Pixels;
use crate::data::{IMAGE_PIXELS, MnistBatch, RunData};
use crate::model::inference;
use crate::model::{Network, NetworkConfig};
use crate::train::checkpoint::{CONFIG_FILE, Checkpoint, MODEL_FILE};
use crate::train::config::RunConfig;

/// A model with the config it was trained from.
pub struct Trained {
    /// The run's resolved config.
    pub config: RunConfig,
    /// The weights, on the evaluation device.
    pub model: Network,
    /// The record they were read from.
    pub path: PathBuf,
}

impl Trained {
    /// Reads the model of a run folder (its newest epoch) or of one checkpoint folder.
    pub fn load(path: &Path, device: &Device) -> anyhow::Result<Self> {
        let (config, model_path) = if path.join("manifest.toml").is_file() {
            let checkpoint = Checkpoint::open(path)
                .map_err(|problem| anyhow::anyhow!("damaged checkpoint: {problem}"))?;
            let model = checkpoint.model_path();
            (checkpoint.config, model)
        } else if path.join(CONFIG_FILE).is_file() {
            let model = path.join(MODEL_FILE);
            if !model.is_file() {
                bail!(
                    "{}: no {MODEL_FILE} yet: the run has not finished an epoch",
                    path.display()
                );
            }
            (RunConfig::load(&path.join(CONFIG_FILE))?, model)
        } else if path.exists() {
            bail!(
                "{} is neither a run folder nor a checkpoint",
                path.display()
            );
        } else {
            bail!("{} does not exist", path.display());
        };
        let model =
            NetworkConfig::new(config.model.clone(), config.output()).load(&model_path, device)?;
        let (classes, outputs) = (config.class_names().len(), config.model.sizes.last());
        if Some(&classes) != outputs {
            bail!(
                "{}: [data] classes names {classes} classes, but the network has {} outputs",
                path.display(),
                outputs.copied().unwrap_or_default()
            );
        }
        Ok(Self {
            config,
            model,
            path: model_path,
        })
    }

    /// The class names, in label order (see [`RunConfig::class_names`]).
    pub fn classes(&self) -> Vec<String> {
        self.config.class_names()
    }

    /// The run's test split, from `data_dir` in place of `[data] dir` when given: MNIST's
    /// official test set, or the test split of the run's image folder. An image folder must
    /// still hold the run's classes.
    pub fn test_split(
        &self,
        data_dir: Option<&Path>,
        device: &Device,
    ) -> anyhow::Result<MnistBatch> {
        let data = RunData::open(&self.config.data, data_dir, true)?;
        let (found, classes) = (data.classes(), self.classes());
        if found != classes {
            bail!(
                "the model was trained on the classes {classes:?}, but its data now has {found:?}"
            );
        }
        Ok(data.test_split(device))
    }

    /// Each image's probability of each class (see [`inference::probabilities`]).
    pub fn probabilities(&self, images: &[Pixels], device: &Device) -> Vec<Vec<f32>> {
        let flat: Vec<f32> = images.iter().flatten().copied().collect();
        let images = Tensor::from_data(TensorData::new(flat, [images.len(), IMAGE_PIXELS]), device);
        self.probabilities_of(images)
    }

    /// [`probabilities`](Self::probabilities) of a batch of images already on the device
    /// (`[n, 784]`).
    pub fn probabilities_of(&self, images: Tensor<2>) -> Vec<Vec<f32>> {
        inference::probabilities(&self.model, self.config.output(), images)
    }

    /// The test accuracy of the epoch the weights are from, where the run recorded one: that of
    /// their checkpoint, or of a run folder's newest checkpoint (whose epoch `model.bpk` holds).
    /// An imported run has none.
    pub fn recorded_test_accuracy(&self) -> Option<f64> {
        let folder = self.path.parent()?;
        let checkpoint = if folder.join("manifest.toml").is_file() {
            Checkpoint::open(folder).ok()
        } else {
            Checkpoint::newest(folder)
                .ok()
                .and_then(|(newest, _)| newest)
        };
        checkpoint?.metrics.last().map(|m| m.test_accuracy())
    }
}
