//! A validating reader for IDX files, the format MNIST ships in.
//!
//! burn-dataset's `MnistDataset` reads IDX itself but panics on a bad file, so every file is
//! read here first: a truncated file, a wrong magic number, a wrong image size or a label out of
//! range becomes an [`IdxError`] naming the file, never a panic. Files may be gzipped or not;
//! the gzip magic bytes decide, not the name.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

/// Magic number of an IDX file of unsigned bytes with three dimensions (images).
const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with one dimension (labels).
const LABELS_MAGIC: u32 = 0x0000_0801;

/// A bad IDX file, with the file named.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct IdxError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: String,
}

/// The images of one IDX image file, row-major bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Rows of each image.
    pub rows: usize,
    /// Columns of each image.
    pub cols: usize,
    /// `count * rows * cols` pixels, one byte each.
    pub pixels: Vec<u8>,
}

impl IdxImages {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len() / (self.rows * self.cols).max(1)
    }

    /// Whether the file holds no image.
    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }

    /// The pixels of image `index`.
    pub fn image(&self, index: usize) -> &[u8] {
        let size = self.rows * self.cols;
        &self.pixels[index * size..(index + 1) * size]
    }
}

/// Reads an IDX image file and checks that every image is `rows × cols`.
pub fn read_images(path: &Path, rows: usize, cols: usize) -> Result<IdxImages, IdxError> {
    let error = |problem: String| IdxError {
        path: path.to_path_buf(),
        problem,
    };
    let mut reader = open(path)?;
    let header = read_header::<4>(&mut reader, path, IMAGES_MAGIC, "images (0x00000803)")?;
    let [_, count, file_rows, file_cols] = header.map(|v| v as usize);
    if (file_rows, file_cols) != (rows, cols) {
        return Err(error(format!(
            "images are {file_rows}×{file_cols}, expected {rows}×{cols}"
        )));
    }
    let expected = count as u64 * (rows * cols) as u64;
    let pixels = read_payload(&mut reader, path, expected, "image bytes")?;
    Ok(IdxImages { rows, cols, pixels })
}

/// Reads an IDX label file and checks that every label is below `classes`.
pub fn read_labels(path: &Path, classes: usize) -> Result<Vec<u8>, IdxError> {
    let mut reader = open(path)?;
    let [_, count] = read_header::<2>(&mut reader, path, LABELS_MAGIC, "labels (0x00000801)")?;
    let labels = read_payload(&mut reader, path, count.into(), "labels")?;
    if let Some(index) = labels.iter().position(|&l| usize::from(l) >= classes) {
        return Err(IdxError {
            path: path.to_path_buf(),
            problem: format!(
                "label {} of item {index} is out of range: expected 0 to {}",
                labels[index],
                classes - 1
            ),
        });
    }
    Ok(labels)
}

/// Opens a file, decompressing it when it starts with the gzip magic bytes.
pub fn open(path: &Path) -> Result<Box<dyn Read>, IdxError> {
    let io_error = |e: io::Error| IdxError {
        path: path.to_path_buf(),
        problem: format!("cannot read: {e}"),
    };
    let mut file = BufReader::new(File::open(path).map_err(io_error)?);
    let mut magic = [0u8; 2];
    let gzipped = match file.get_mut().read_exact(&mut magic) {
        Ok(()) => magic == [0x1f, 0x8b],
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => false,
        Err(e) => return Err(io_error(e)),
    };
    let file = File::open(path).map_err(io_error)?;
    Ok(if gzipped {
        Box::new(GzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(BufReader::new(file))
    })
}

/// Reads the magic number and the `N - 1` dimensions that follow it.
fn read_header<const N: usize>(
    reader: &mut dyn Read,
    path: &Path,
    magic: u32,
    kind: &str,
) -> Result<[u32; N], IdxError> {
    let error = |problem: String| IdxError {
        path: path.to_path_buf(),
        problem,
    };
    let mut bytes = [0u8; 4];
    let mut header = [0u32; N];
    for (i, value) in header.iter_mut().enumerate() {
        reader.read_exact(&mut bytes).map_err(|e| {
            error(match e.kind() {
                io::ErrorKind::UnexpectedEof => {
                    format!("truncated: the file ends inside its {}-byte header", 4 * N)
                }
                _ => format!("cannot read: {e}"),
            })
        })?;
        *value = u32::from_be_bytes(bytes);
        if i == 0 && *value != magic {
            return Err(error(format!(
                "wrong magic number 0x{:08x}: expected an IDX file of {kind}",
                *value
            )));
        }
    }
    Ok(header)
}

/// Reads exactly `expected` bytes and checks that nothing follows them.
///
/// Nothing is allocated from the header's claim: the buffer grows only with the bytes that are
/// really there, so a header claiming billions of items costs nothing before it is refused.
fn read_payload(
    reader: &mut dyn Read,
    path: &Path,
    expected: u64,
    what: &str,
) -> Result<Vec<u8>, IdxError> {
    let mut payload = Vec::new();
    reader
        .take(expected.saturating_add(1))
        .read_to_end(&mut payload)
        .map_err(|e| IdxError {
            path: path.to_path_buf(),
            problem: format!("cannot read: {e}"),
        })?;
    let found = payload.len() as u64;
    if found != expected {
        let problem = if found < expected {
            format!("truncated: the header promises {expected} {what}, the file holds {found}")
        } else {
            format!("the file holds more than the {expected} {what} its header promises")
        };
        return Err(IdxError {
            path: path.to_path_buf(),
            problem,
        });
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn images_file(dir: &Path, count: u32, rows: u32, cols: u32, payload: usize) -> PathBuf {
        let path = dir.join("images");
        let mut bytes = IMAGES_MAGIC.to_be_bytes().to_vec();
        for v in [count, rows, cols] {
            bytes.extend(v.to_be_bytes());
        }
        bytes.extend((0..payload).map(|i| i as u8));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn labels_file(dir: &Path, labels: &[u8]) -> PathBuf {
        let path = dir.join("labels");
        let mut bytes = LABELS_MAGIC.to_be_bytes().to_vec();
        bytes.extend((labels.len() as u32).to_be_bytes());
        bytes.extend(labels);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn reads_raw_and_gzipped_files_alike() {
        let dir = tempfile::tempdir().unwrap();
        let raw = images_file(dir.path(), 3, 2, 2, 12);
        let gz = dir.path().join("images.gz");
        let mut encoder =
            flate2::write::GzEncoder::new(File::create(&gz).unwrap(), Default::default());
        encoder.write_all(&std::fs::read(&raw).unwrap()).unwrap();
        encoder.finish().unwrap();

        let images = read_images(&raw, 2, 2).unwrap();
        assert_eq!(images.len(), 3);
        assert_eq!(images.image(1), &[4, 5, 6, 7]);
        assert_eq!(read_images(&gz, 2, 2).unwrap(), images);
    }

    #[test]
    fn truncated_images_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = images_file(dir.path(), 3, 2, 2, 11);
        let message = read_images(&path, 2, 2).unwrap_err().to_string();
        assert!(message.contains("truncated"), "{message}");
        assert!(message.contains("images"), "{message}");
    }

    #[test]
    fn truncated_header_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short");
        std::fs::write(&path, [0, 0, 8, 3, 0]).unwrap();
        let message = read_images(&path, 2, 2).unwrap_err().to_string();
        assert!(message.contains("16-byte header"), "{message}");
    }

    #[test]
    fn wrong_magic_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let labels = labels_file(dir.path(), &[1, 2]);
        let message = read_images(&labels, 2, 2).unwrap_err().to_string();
        assert!(
            message.contains("wrong magic number 0x00000801"),
            "{message}"
        );
    }

    #[test]
    fn wrong_image_size_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = images_file(dir.path(), 1, 3, 3, 9);
        let message = read_images(&path, 28, 28).unwrap_err().to_string();
        assert!(message.contains("3×3, expected 28×28"), "{message}");
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = images_file(dir.path(), 1, 2, 2, 5);
        let message = read_images(&path, 2, 2).unwrap_err().to_string();
        assert!(message.contains("more than"), "{message}");
    }

    #[test]
    fn a_header_claiming_billions_costs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = images_file(dir.path(), u32::MAX, 28, 28, 100);
        let message = read_images(&path, 28, 28).unwrap_err().to_string();
        assert!(message.contains("truncated"), "{message}");
    }

    #[test]
    fn labels_out_of_range_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = labels_file(dir.path(), &[0, 9, 10]);
        let message = read_labels(&path, 10).unwrap_err().to_string();
        assert!(message.contains("label 10 of item 2"), "{message}");
        assert_eq!(read_labels(&path, 11).unwrap(), vec![0, 9, 10]);
    }
}
