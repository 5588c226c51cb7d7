//! MNIST: finding the files, reading them as a burn-dataset `Dataset<MnistItem>` and splitting
//! them as network.py does.
//!
//! The data is small (50,000 × 784 floats is 157 MB), so each split is read into memory once
//! when the run starts: validation and test as one tensor each, the training split on the host,
//! uploaded a few thousand examples at a time in each epoch's order (see [`crate::data::batch`]).

use std::path::{Path, PathBuf};

use burn::data::dataset::Dataset;
use burn::data::dataset::vision::{MnistDataset, MnistItem};
use burn::tensor::Device;

use crate::data::batch::{Examples, MnistBatch};
use crate::data::config::DataConfig;
use crate::data::idx::{self, IdxError, IdxImages};
use crate::data::shape::{IMAGE_SIDE, NUM_CLASSES};

/// The four MNIST files, by their official names (a `.gz` suffix is also accepted).
pub const MNIST_FILES: [&str; 4] = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];
const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// burn-dataset's MNIST cache: each split's folder, image file and label file.
const CACHE_SPLITS: [(&str, &str, &str); 2] = [
    ("train", TRAIN_IMAGES, TRAIN_LABELS),
    ("test", TEST_IMAGES, TEST_LABELS),
];

/// The team's offline copy, beside this repository; tried when burn-dataset's cache is empty.
const SHARED_COPY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/mnist");

const HOW_TO_GET_MNIST: &str = "get MNIST by running once with network access and no --data-dir \
     (burn-dataset downloads it), or put the four files train-images-idx3-ubyte, \
     train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (gzipped or \
     not) in a folder and pass --data-dir FOLDER";

/// MNIST could not be found or read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The `--data-dir` folder does not exist.
    #[error("data folder {} does not exist; {HOW_TO_GET_MNIST}", .0.display())]
    MissingFolder(PathBuf),
    /// The folder lacks some of the four files.
    #[error("data folder {} is missing {}; {HOW_TO_GET_MNIST}", .dir.display(), .missing.join(", "))]
    MissingFiles {
        /// The folder.
        dir: PathBuf,
        /// The files not found there.
        missing: Vec<String>,
    },
    /// A file is malformed.
    #[error(transparent)]
    Idx(#[from] IdxError),
    /// Images and labels disagree on the number of items.
    #[error("{}: {images} images, but {} holds {labels} labels", .images_path.display(), .labels_path.display())]
    CountMismatch {
        /// The image file.
        images_path: PathBuf,
        /// Items in it.
        images: usize,
        /// The label file.
        labels_path: PathBuf,
        /// Labels in it.
        labels: usize,
    },
    /// burn-dataset's download failed (no network, most likely).
    #[error("MNIST is not in burn-dataset's cache ({}) and downloading it failed ({reason}); {HOW_TO_GET_MNIST}", .cache.display())]
    Download {
        /// burn-dataset's MNIST cache folder.
        cache: PathBuf,
        /// What the downloader said.
        reason: String,
    },
}

/// Where a run's MNIST files were found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MnistSource {
    /// A folder of IDX files: `--data-dir`, `[data] dir`, or the team's offline copy.
    Folder(PathBuf),
    /// burn-dataset's cache, `<cache dir>/burn-dataset/mnist/{train,test}/`, read by
    /// `MnistDataset` and filled by it when missing.
    BurnCache,
}

impl std::fmt::Display for MnistSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MnistSource::Folder(dir) => write!(f, "{}", dir.display()),
            MnistSource::BurnCache => {
                write!(f, "burn-dataset cache ({})", burn_cache().display())
            }
        }
    }
}

/// burn-dataset's MNIST folder (the same `dirs` lookup `MnistDataset` makes).
fn burn_cache() -> PathBuf {
    dirs::cache_dir()
        .unwrap_or_default()
        .join("burn-dataset")
        .join("mnist")
}

/// The train and test files of MNIST, checked and readable as burn-dataset items.
pub struct MnistFiles {
    /// Where they came from.
    pub source: MnistSource,
    /// The 60,000 training images (train and validation).
    pub train: Box<dyn Dataset<MnistItem>>,
    /// The 10,000 official test images.
    pub test: Box<dyn Dataset<MnistItem>>,
}

impl MnistFiles {
    /// Finds and reads MNIST: the folder given, else burn-dataset's cache when complete, else the
    /// team's offline copy beside the repository when present, else a download through
    /// `MnistDataset`.
    pub fn open(dir: Option<&Path>) -> Result<Self, DataError> {
        if let Some(dir) = dir {
            return Self::read_folder(dir);
        }
        let cache = burn_cache();
        let cached = CACHE_SPLITS.iter().all(|(split, images, labels)| {
            [images, labels]
                .iter()
                .all(|name| cache.join(split).join(name).is_file())
        });
        if !cached && Path::new(SHARED_COPY).is_dir() {
            return Self::read_folder(Path::new(SHARED_COPY));
        }
        Self::read_burn_cache(&cache, cached)
    }

    /// Reads a folder holding the four files, gzipped or not.
    fn read_folder(dir: &Path) -> Result<Self, DataError> {
        if !dir.is_dir() {
            return Err(DataError::MissingFolder(dir.to_path_buf()));
        }
        let found = |name: &str| find(dir, name);
        let missing: Vec<String> = MNIST_FILES
            .iter()
            .filter(|n| found(n).is_none())
            .map(|n| n.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(DataError::MissingFiles {
                dir: dir.to_path_buf(),
                missing,
            });
        }
        let split = |images: &str, labels: &str| {
            let (images, labels) = (found(images).unwrap(), found(labels).unwrap());
            read_split(&images, &labels).map(|d| Box::new(d) as Box<dyn Dataset<MnistItem>>)
        };
        Ok(Self {
            source: MnistSource::Folder(dir.to_path_buf()),
            train: split(TRAIN_IMAGES, TRAIN_LABELS)?,
            test: split(TEST_IMAGES, TEST_LABELS)?,
        })
    }

    /// Reads burn-dataset's cache through `MnistDataset`, downloading it first when incomplete.
    ///
    /// `MnistDataset` panics on a failed download or a bad file, so the download runs under
    /// `catch_unwind`, and the cached files are checked by [`idx`] before `MnistDataset` reads
    /// them.
    fn read_burn_cache(cache: &Path, cached: bool) -> Result<Self, DataError> {
        if !cached {
            crate::panics::quietly(|| (MnistDataset::train(), MnistDataset::test())).map_err(
                |reason| DataError::Download {
                    cache: cache.to_path_buf(),
                    reason,
                },
            )?;
        }
        for (split, images, labels) in CACHE_SPLITS {
            let folder = cache.join(split);
            read_split(&folder.join(images), &folder.join(labels))?;
        }
        Ok(Self {
            source: MnistSource::BurnCache,
            train: Box::new(MnistDataset::train()),
            test: Box::new(MnistDataset::test()),
        })
    }
}

/// `name` or `name.gz` in `dir`, whichever exists.
fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    [name.to_string(), format!("{name}.gz")]
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

impl MnistSource {
    /// Where the file `name` (one of [`MNIST_FILES`]) of this source is, if it exists.
    pub fn file(&self, name: &str) -> Option<PathBuf> {
        match self {
            MnistSource::Folder(dir) => find(dir, name),
            MnistSource::BurnCache => CACHE_SPLITS
                .iter()
                .find(|(_, images, labels)| *images == name || *labels == name)
                .map(|(split, _, _)| burn_cache().join(split).join(name))
                .filter(|p| p.is_file()),
        }
    }
}

/// Reads and cross-checks one split's image and label files.
fn read_split(images_path: &Path, labels_path: &Path) -> Result<IdxDataset, DataError> {
    let images = idx::read_images(images_path, IMAGE_SIDE, IMAGE_SIDE)?;
    let labels = idx::read_labels(labels_path, NUM_CLASSES)?;
    if images.len() != labels.len() {
        return Err(DataError::CountMismatch {
            images_path: images_path.to_path_buf(),
            images: images.len(),
            labels_path: labels_path.to_path_buf(),
            labels: labels.len(),
        });
    }
    Ok(IdxDataset { images, labels })
}

/// burn-dataset's `Dataset<MnistItem>` over IDX files read by [`idx`]: the same items
/// `MnistDataset` yields, from any folder.
pub struct IdxDataset {
    images: IdxImages,
    labels: Vec<u8>,
}

impl Dataset<MnistItem> for IdxDataset {
    fn get(&self, index: usize) -> Result<MnistItem, burn::data::dataset::DatasetError> {
        let mut image = [[0f32; IMAGE_SIDE]; IMAGE_SIDE];
        for (row, pixels) in image
            .iter_mut()
            .zip(self.images.image(index).chunks(IMAGE_SIDE))
        {
            for (value, &pixel) in row.iter_mut().zip(pixels) {
                *value = f32::from(pixel);
            }
        }
        Ok(MnistItem {
            image,
            label: self.labels[index],
        })
    }

    fn len(&self) -> usize {
        self.labels.len()
    }
}

/// The three splits of a run. Validation and test are tensors on `device`, a device without
/// autodiff: the data are constants, and a mini-batch that enters the model from there costs no
/// autodiff bookkeeping (1.3 µs an operation on flex, measured). The training split stays in
/// host memory and reaches `device` a part at a time, in each epoch's order.
#[derive(Debug, Clone)]
pub struct MnistSplits {
    /// The first `60,000 − validation_size` training images (at most `train_limit`).
    pub train: Examples,
    /// The last `validation_size` training images.
    pub validation: MnistBatch,
    /// The official test set.
    pub test: MnistBatch,
    /// Where validation and test live and training parts go.
    pub device: Device,
}

impl MnistFiles {
    /// Splits as network.py does: validation is the last `validation_size` training images,
    /// train the ones before (the first `train_limit` of them, if set), test the test file.
    /// `device` is a device without autodiff (see [`MnistSplits`]).
    pub fn splits(&self, data: &DataConfig, device: &Device) -> MnistSplits {
        let validation_start = self.train.len() - data.validation_size();
        MnistSplits {
            train: Examples::read(self.train.as_ref(), 0..data.train_size(self.train.len())),
            validation: Examples::read(self.train.as_ref(), validation_start..self.train.len())
                .into_batch(device),
            test: self.test_split(device),
            device: device.clone(),
        }
    }

    /// The first `n` training examples, e.g. for a gradient check.
    pub fn first_training_examples(&self, n: usize, device: &Device) -> MnistBatch {
        Examples::read(self.train.as_ref(), 0..n.min(self.train.len())).into_batch(device)
    }

    /// The official test set alone.
    pub fn test_split(&self, device: &Device) -> MnistBatch {
        self.test_examples().into_batch(device)
    }

    /// The official test set, in host memory.
    pub fn test_examples(&self) -> Examples {
        Examples::read(self.test.as_ref(), 0..self.test.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_folder_says_how_to_get_mnist() {
        let message = MnistFiles::open(Some(Path::new("/no/such/folder")))
            .err()
            .unwrap()
            .to_string();
        assert!(
            message.contains("/no/such/folder does not exist"),
            "{message}"
        );
        assert!(message.contains("--data-dir"), "{message}");
    }

    #[test]
    fn missing_files_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t10k-labels-idx1-ubyte.gz"), b"").unwrap();
        let message = MnistFiles::open(Some(dir.path()))
            .err()
            .unwrap()
            .to_string();
        assert!(
            message.contains(
                "missing train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte;"
            ),
            "{message}"
        );
    }
}
