//! Examples as the network meets them: in host memory ([`Examples`]), and as tensors on a device
//! ([`MnistBatch`]), a mini-batch or a whole split. A step only slices its part: there is no
//! per-item work in the hot loop.

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::data::dataset::vision::MnistItem;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::data::shape::{IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};

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
    /// Whether each image also stands for its four one-pixel shifts ([`Examples::expanded`]).
    shifted: bool,
}

/// The copies of an image in expanded data: itself, then shifted one pixel down, up, right and
/// left, as `expand_mnist.py` makes them (`np.roll`, the row or column that comes in blank).
const COPIES: usize = 5;

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
            shifted: false,
        }
    }

    /// Nielsen's expanded data (`expand_mnist.py`): each image and its four one-pixel shifts
    /// (down, up, right, left) as five examples, in that order, so that 50,000 images are
    /// 250,000 examples. The shifts are made when a batch is gathered: nothing is copied.
    pub fn expanded(self) -> Self {
        Self {
            shifted: true,
            ..self
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

    /// The classes of the images, in order (of each image once, when expanded).
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// Image `index`'s pixels (unshifted, when expanded).
    pub fn pixels(&self, index: usize) -> &[f32] {
        &self.pixels[index * IMAGE_PIXELS..(index + 1) * IMAGE_PIXELS]
    }

    /// Number of examples: of images, or five times as many when expanded.
    pub fn len(&self) -> usize {
        self.labels.len() * if self.shifted { COPIES } else { 1 }
    }

    /// Whether there is no example.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The examples at `rows`, in that order, as tensors on `device`.
    pub fn gather(&self, rows: &[usize], device: &Device) -> MnistBatch {
        let copies = if self.shifted { COPIES } else { 1 };
        let mut pixels = Vec::with_capacity(rows.len() * IMAGE_PIXELS);
        let mut labels = Vec::with_capacity(rows.len());
        for &row in rows {
            let (image, copy) = (row / copies, row % copies);
            shift_into(&mut pixels, self.pixels(image), copy);
            labels.push(self.labels[image]);
        }
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

/// Appends `image` to `pixels`, shifted by one pixel as copy `copy` of expanded data is: 0 as it
/// is, 1 down, 2 up, 3 right, 4 left. The row or column that comes in is blank.
fn shift_into(pixels: &mut Vec<f32>, image: &[f32], copy: usize) {
    let side = IMAGE_SIDE as isize;
    let (dy, dx): (isize, isize) = match copy {
        0 => (0, 0),
        1 => (1, 0),
        2 => (-1, 0),
        3 => (0, 1),
        _ => (0, -1),
    };
    pixels.extend((0..side * side).map(|i| {
        let (y, x) = (i / side - dy, i % side - dx);
        if (0..side).contains(&y) && (0..side).contains(&x) {
            image[(y * side + x) as usize]
        } else {
            0.0
        }
    }));
}

impl Examples {
    /// The items `range` of `dataset`, read one at a time into host memory.
    pub fn read(dataset: &dyn Dataset<MnistItem>, range: std::ops::Range<usize>) -> Self {
        range
            .map(|i| dataset.get(i).expect("index in range"))
            .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expanded_data_is_each_image_and_its_four_one_pixel_shifts() {
        // A 28×28 image with one ink pixel at row 5, column 9, and one in the corner that
        // each shift away from it pushes out of the frame.
        let mut image = [0f32; IMAGE_PIXELS];
        image[5 * IMAGE_SIDE + 9] = 1.0;
        image[0] = 0.5;
        let mut examples = Examples::empty(10);
        examples.push(&image, 4);
        let examples = examples.expanded();
        assert_eq!(examples.len(), 5);
        let batch = examples.gather(&[0, 1, 2, 3, 4], &Device::flex());
        let pixels = batch.images.into_data().try_to_vec::<f32>().unwrap();
        let ink = |copy: usize| -> Vec<(usize, usize, f32)> {
            (0..IMAGE_PIXELS)
                .filter(|&i| pixels[copy * IMAGE_PIXELS + i] > 0.0)
                .map(|i| {
                    (
                        i / IMAGE_SIDE,
                        i % IMAGE_SIDE,
                        pixels[copy * IMAGE_PIXELS + i],
                    )
                })
                .collect()
        };
        assert_eq!(ink(0), [(0, 0, 0.5), (5, 9, 1.0)]);
        assert_eq!(ink(1), [(1, 0, 0.5), (6, 9, 1.0)], "down");
        assert_eq!(ink(2), [(4, 9, 1.0)], "up: the top row leaves the frame");
        assert_eq!(ink(3), [(0, 1, 0.5), (5, 10, 1.0)], "right");
        assert_eq!(
            ink(4),
            [(5, 8, 1.0)],
            "left: the first column leaves the frame"
        );
        let labels = batch.labels.into_data().try_to_vec_as::<i64>().unwrap();
        assert_eq!(labels, [4; 5]);
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
