//! MNIST: finding the files, reading them as a burn-dataset `Dataset<MnistItem>`, splitting them
//! as network.py does and turning them into tensors.
//!
//! The data is small (50,000 × 784 floats is 157 MB), so each split is read into memory once
//! when the run starts: validation and test as one tensor each, the training split on the host,
//! uploaded a few thousand examples at a time in each epoch's order. A step only slices its
//! part: there is no per-item work in the hot loop.

use std::path::{Path, PathBuf};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::data::dataset::vision::{MnistDataset, MnistItem};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::config::DataConfig;
use crate::idx::{self, IdxError, IdxImages};

/// Side of an MNIST image in pixels.
pub const IMAGE_SIDE: usize = 28;
/// Inputs of the network: one per pixel.
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Digits 0 to 9.
pub const NUM_CLASSES: usize = 10;

/// `"0"`, `"1"`, ...: the names of classes that have none of their own, as MNIST's digits.
pub fn digit_names(classes: usize) -> Vec<String> {
    (0..classes).map(|c| c.to_string()).collect()
}

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

/// A set of examples as tensors: a mini-batch, or a whole split.
#[derive(Debug, Clone)]
pub struct MnistBatch {
    /// Pixels scaled to [0, 1]: `[n, 784]`.
    pub images: Tensor<2>,
    /// Digits: `[n]`.
    pub labels: Tensor<1, Int>,
    /// The digits one-hot, network.py's y vectors: `[n, 10]`.
    pub targets: Tensor<2>,
}

impl MnistBatch {
    /// `labels.len()` examples on `device` from their pixels (already scaled to [0, 1], image
    /// after image) and classes, out of `classes`; the one-hot targets are made here.
    pub fn new(pixels: Vec<f32>, labels: &[u8], classes: usize, device: &Device) -> Self {
        let n = labels.len();
        let mut targets = vec![0f32; n * classes];
        for (i, &label) in labels.iter().enumerate() {
            targets[i * classes + usize::from(label)] = 1.0;
        }
        let labels: Vec<i64> = labels.iter().map(|&l| i64::from(l)).collect();
        Self {
            images: Tensor::from_data(TensorData::new(pixels, [n, IMAGE_PIXELS]), device),
            labels: Tensor::from_data(TensorData::new(labels, [n]), device),
            targets: Tensor::from_data(TensorData::new(targets, [n, classes]), device),
        }
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.dims()[0]
    }

    /// Whether there is no example.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The examples `range`, in order.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Self {
        Self {
            images: self.images.clone().slice(range.clone()),
            labels: self.labels.clone().slice(range.clone()),
            targets: self.targets.clone().slice(range),
        }
    }

    /// The same examples without autodiff, so that a split a caller built on an autodiff device
    /// still meets the inference model on its own device.
    pub fn without_autodiff(&self) -> Self {
        Self {
            images: self.images.clone().without_autodiff(),
            labels: self.labels.clone().without_autodiff(),
            targets: self.targets.clone().without_autodiff(),
        }
    }
}

/// Examples in host memory: pixels scaled to [0, 1], one image after another, their classes,
/// and how many classes there are.
///
/// A training split stays here and reaches the device a part at a time ([`Examples::gather`]):
/// a GPU allocates no buffer larger than a part, where the whole split (157 MB for 50,000
/// images) would exceed what many devices allow in one buffer (128 MiB under lavapipe).
#[derive(Debug, Clone, PartialEq)]
pub struct Examples {
    pixels: Vec<f32>,
    labels: Vec<u8>,
    classes: usize,
}

/// MNIST's items: the ten digits.
impl FromIterator<MnistItem> for Examples {
    fn from_iter<I: IntoIterator<Item = MnistItem>>(items: I) -> Self {
        let items = items.into_iter();
        let mut examples = Self::empty(NUM_CLASSES);
        examples.pixels.reserve(items.size_hint().0 * IMAGE_PIXELS);
        for item in items {
            let pixels = item.image.iter().flatten().map(|p| p / 255.0);
            examples.pixels.extend(pixels);
            examples.labels.push(item.label);
        }
        examples
    }
}

impl Examples {
    /// No examples yet, of `classes` classes.
    pub fn empty(classes: usize) -> Self {
        Self {
            pixels: Vec::new(),
            labels: Vec::new(),
            classes,
        }
    }

    /// Adds one example: its pixels in [0, 1] and its class (below the number of classes).
    pub fn push(&mut self, pixels: &[f32; IMAGE_PIXELS], label: u8) {
        debug_assert!(usize::from(label) < self.classes);
        self.pixels.extend_from_slice(pixels);
        self.labels.push(label);
    }

    /// The first `n` examples only.
    pub fn truncate(&mut self, n: usize) {
        self.labels.truncate(n);
        self.pixels.truncate(n * IMAGE_PIXELS);
    }

    /// The classes of the examples, in order.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// Example `index`'s pixels.
    pub fn pixels(&self, index: usize) -> &[f32] {
        &self.pixels[index * IMAGE_PIXELS..(index + 1) * IMAGE_PIXELS]
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there is no example.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The examples at `rows`, in that order, as tensors on `device`.
    pub fn gather(&self, rows: &[usize], device: &Device) -> MnistBatch {
        let mut pixels = Vec::with_capacity(rows.len() * IMAGE_PIXELS);
        for &row in rows {
            pixels.extend_from_slice(&self.pixels[row * IMAGE_PIXELS..(row + 1) * IMAGE_PIXELS]);
        }
        let labels: Vec<u8> = rows.iter().map(|&row| self.labels[row]).collect();
        MnistBatch::new(pixels, &labels, self.classes, device)
    }

    /// All the examples, in order, moved onto `device` as one batch.
    pub fn into_batch(self, device: &Device) -> MnistBatch {
        MnistBatch::new(self.pixels, &self.labels, self.classes, device)
    }

    /// The examples in order, as batches of at most `size` on `device`.
    pub fn parts<'a>(
        &'a self,
        size: usize,
        device: &'a Device,
    ) -> impl Iterator<Item = MnistBatch> + 'a {
        let rows: Vec<usize> = (0..self.len()).collect();
        (0..self.len())
            .step_by(size.max(1))
            .map(move |start| self.gather(&rows[start..(start + size).min(self.len())], device))
    }
}

/// Turns burn-dataset items into an [`MnistBatch`]: pixels divided by 255, labels one-hot.
#[derive(Debug, Clone, Copy, Default)]
pub struct MnistBatcher;

impl Batcher<MnistItem, MnistBatch> for MnistBatcher {
    fn batch(&self, items: Vec<MnistItem>, device: &Device) -> MnistBatch {
        items.into_iter().collect::<Examples>().into_batch(device)
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
            train: examples(self.train.as_ref(), 0..data.train_size(self.train.len())),
            validation: examples(self.train.as_ref(), validation_start..self.train.len())
                .into_batch(device),
            test: self.test_split(device),
            device: device.clone(),
        }
    }

    /// The first `n` training examples, e.g. for a gradient check.
    pub fn first_training_examples(&self, n: usize, device: &Device) -> MnistBatch {
        examples(self.train.as_ref(), 0..n.min(self.train.len())).into_batch(device)
    }

    /// The official test set alone.
    pub fn test_split(&self, device: &Device) -> MnistBatch {
        self.test_examples().into_batch(device)
    }

    /// The official test set, in host memory.
    pub fn test_examples(&self) -> Examples {
        examples(self.test.as_ref(), 0..self.test.len())
    }
}

/// The items `range` of `dataset`, read one at a time into host memory.
fn examples(dataset: &dyn Dataset<MnistItem>, range: std::ops::Range<usize>) -> Examples {
    range
        .map(|i| dataset.get(i).expect("index in range"))
        .collect()
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

    #[test]
    fn batcher_scales_pixels_and_encodes_labels() {
        let mut image = [[0f32; IMAGE_SIDE]; IMAGE_SIDE];
        image[0][1] = 255.0;
        let batch = MnistBatcher.batch(vec![MnistItem { image, label: 3 }], &Device::flex());
        assert_eq!(batch.images.dims(), [1, IMAGE_PIXELS]);
        let pixels = batch.images.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(&pixels[..3], &[0.0, 1.0, 0.0]);
        let targets = batch.targets.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(targets, [0., 0., 0., 1., 0., 0., 0., 0., 0., 0.]);
    }
}
