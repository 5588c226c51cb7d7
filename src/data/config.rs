//! `[data]`: where the examples come from, and how they are split.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{Invalid, display_as_toml, is_false};

/// Where the examples come from: MNIST's IDX files or a folder of images.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataFormat {
    /// The four MNIST IDX files (Fashion-MNIST's have the same form).
    #[default]
    Mnist,
    /// A folder with one subfolder of PNG or JPEG images per class (see [`crate::data::image_folder`]).
    Images,
}

/// Where the examples come from, and how they are split.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// `"mnist"` (the default) or `"images"`.
    #[serde(default)]
    pub format: DataFormat,
    /// `mnist`: a folder with the four MNIST IDX files, gzipped or not; unset, burn-dataset's
    /// cache, downloaded on first use. `images`: the folder of class subfolders (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// `mnist`: examples held out from the end of the training file for validation; unset,
    /// network.py's 10,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_size: Option<usize>,
    /// `images`: the share of the images (of `train/`, where the folder has `train/` and
    /// `test/`) held out for validation; unset, 0.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_fraction: Option<f64>,
    /// `images` without `train/` and `test/` subfolders: the share held out for test; unset,
    /// 0.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_fraction: Option<f64>,
    /// `images`: seeds the function of each file's path that assigns it to a split; unset, 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_seed: Option<u64>,
    /// Train on only the first this many training examples, e.g. to provoke overfitting.
    /// Unset: every example not held out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
    /// Nielsen's expanded data (`expand_mnist.py`): each training image and its four one-pixel
    /// shifts, five examples an image in every epoch, shifted as each batch is gathered.
    /// Validation and test are never expanded.
    #[serde(default, skip_serializing_if = "is_false")]
    pub expand: bool,
    /// The class names, in label order. A run records those of its folder here; set by hand,
    /// they must be the folder's. Unset for MNIST, whose classes are the digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
}

impl DataConfig {
    /// `[data] validation_size`, or 10,000.
    pub fn validation_size(&self) -> usize {
        self.validation_size.unwrap_or(10_000)
    }

    /// `[data] validation_fraction`, or 0.1.
    pub fn validation_fraction(&self) -> f64 {
        self.validation_fraction.unwrap_or(0.1)
    }

    /// `[data] test_fraction`, or 0.1.
    pub fn test_fraction(&self) -> f64 {
        self.test_fraction.unwrap_or(0.1)
    }

    /// `[data] split_seed`, or 0.
    pub fn split_seed(&self) -> u64 {
        self.split_seed.unwrap_or(0)
    }

    /// The same with the defaults of its format written out, so that an unset key and its
    /// default compare equal.
    pub fn resolved(&self) -> Self {
        let mut data = self.clone();
        match data.format {
            DataFormat::Mnist => data.validation_size = Some(self.validation_size()),
            DataFormat::Images => {
                data.validation_fraction = Some(self.validation_fraction());
                data.test_fraction = Some(self.test_fraction());
                data.split_seed = Some(self.split_seed());
            }
        }
        data
    }

    /// How many examples a run trains on, given the `pool` it draws them from: MNIST's training
    /// file, less validation; or a folder's training split.
    pub fn train_size(&self, pool: usize) -> usize {
        let available = match self.format {
            DataFormat::Mnist => pool.saturating_sub(self.validation_size()),
            DataFormat::Images => pool,
        };
        self.train_limit
            .map_or(available, |limit| limit.min(available))
    }

    /// Each key belongs to a format, and the held-out part leaves examples to train on. `pool`
    /// is what the training examples are drawn from: MNIST's training file, or a folder's
    /// training split.
    pub fn validate(&self, pool: usize) -> Result<(), Invalid> {
        let invalid = Invalid::new;
        let d = self;
        let belongs = |key: &'static str, set: bool, owner: DataFormat| {
            if set && d.format != owner {
                return Err(invalid(
                    key,
                    format!(
                        "only used with format = \"{owner}\", but format is \"{}\"",
                        d.format
                    ),
                ));
            }
            Ok(())
        };
        use DataFormat::*;
        belongs("[data] validation_size", d.validation_size.is_some(), Mnist)?;
        belongs(
            "[data] validation_fraction",
            d.validation_fraction.is_some(),
            Images,
        )?;
        belongs("[data] test_fraction", d.test_fraction.is_some(), Images)?;
        belongs("[data] split_seed", d.split_seed.is_some(), Images)?;
        let available = match d.format {
            Mnist => {
                let validation = d.validation_size();
                if validation == 0 || validation >= pool {
                    return Err(invalid(
                        "[data] validation_size",
                        format!(
                            "expected between 1 and {} (the training file holds {pool} examples), got {validation}",
                            pool.saturating_sub(1)
                        ),
                    ));
                }
                pool - validation
            }
            Images => {
                let (validation, test) = (d.validation_fraction(), d.test_fraction());
                for (key, value) in [
                    ("[data] validation_fraction", validation),
                    ("[data] test_fraction", test),
                ] {
                    if !(value > 0.0 && value < 1.0) {
                        return Err(invalid(
                            key,
                            format!("expected a share in (0, 1), got {value}"),
                        ));
                    }
                }
                if validation + test >= 1.0 {
                    return Err(invalid(
                        "[data] test_fraction",
                        format!(
                            "validation_fraction {validation} and test_fraction {test} leave nothing to train on"
                        ),
                    ));
                }
                pool
            }
        };
        if let Some(limit) = d.train_limit
            && (limit == 0 || limit > available)
        {
            return Err(invalid(
                "[data] train_limit",
                format!(
                    "expected between 1 and the {available} examples not held out for validation, got {limit}"
                ),
            ));
        }
        Ok(())
    }
}

display_as_toml!(DataFormat);
