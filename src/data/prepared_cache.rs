//! Prepared images kept between runs, so that a folder of images is decoded and prepared once.
//!
//! One file per image folder, in the user's cache folder (`DIGITS_CACHE_DIR`, else
//! `<cache dir>/digits`), under `prepared-images/`. It is a safetensors file: a tensor `pixels`
//! (`[n, 784]`, f32) holding every prepared image, and in its metadata an index from each file's
//! path (relative to the folder) to its size, its modification time and its row, or the reason
//! it was skipped. An entry is used only while the file's size and modification time are the
//! same; a cache that cannot be read is ignored and rebuilt.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::digit_image::Pixels;
use crate::data::shape::IMAGE_PIXELS;
use crate::files::write_atomically;

/// Overrides the cache folder.
pub const CACHE_ENV: &str = "DIGITS_CACHE_DIR";

/// Changes whenever the preparation of an image changes, so that no older result is reused.
const PREPARATION: &str = "digit_image 2";

/// A file, as far as the cache can tell it apart from its later versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// Its size in bytes.
    pub bytes: u64,
    /// Its modification time, in nanoseconds since 1970.
    pub modified_ns: u64,
}

/// What preparing a file gave: its pixels, or why it was skipped.
pub type Prepared = Result<Box<Pixels>, String>;

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    stamp: Stamp,
    /// The row of `pixels`, or why the file was skipped.
    outcome: Result<usize, String>,
}

/// The cache of one image folder.
pub struct PreparedCache {
    path: PathBuf,
    index: HashMap<String, Entry>,
    pixels: Vec<f32>,
}

impl PreparedCache {
    /// The cache of the folder `root`: read when there is one, else empty.
    pub fn open(root: &Path) -> Self {
        let path = location(root);
        let (index, pixels) = read(&path).unwrap_or_default();
        Self {
            path,
            index,
            pixels,
        }
    }

    /// Where it is kept.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What preparing the file `name` gave, if it is cached for this `stamp`.
    pub fn get(&self, name: &str, stamp: Stamp) -> Option<Prepared> {
        let entry = self.index.get(name).filter(|e| e.stamp == stamp)?;
        Some(match &entry.outcome {
            Ok(row) => {
                let pixels = self
                    .pixels
                    .get(row * IMAGE_PIXELS..(row + 1) * IMAGE_PIXELS)?;
                Ok(Box::new(pixels.try_into().ok()?))
            }
            Err(reason) => Err(reason.clone()),
        })
    }

    /// Replaces the cache with `files`: each file's name, stamp and what preparing it gave.
    pub fn save<'a>(
        &self,
        files: impl Iterator<Item = (&'a str, Stamp, &'a Prepared)>,
    ) -> anyhow::Result<()> {
        let mut index = HashMap::new();
        let mut pixels: Vec<u8> = Vec::new();
        let mut rows = 0;
        for (name, stamp, prepared) in files {
            let outcome = match prepared {
                Ok(image) => {
                    pixels.extend(image.iter().flat_map(|p| p.to_le_bytes()));
                    rows += 1;
                    Ok(rows - 1)
                }
                Err(reason) => Err(reason.clone()),
            };
            index.insert(name.to_string(), Entry { stamp, outcome });
        }
        let metadata = HashMap::from([
            ("preparation".to_string(), PREPARATION.to_string()),
            ("index".to_string(), serde_json::to_string(&index)?),
        ]);
        let tensor = TensorView::new(Dtype::F32, vec![rows, IMAGE_PIXELS], &pixels)?;
        let bytes = safetensors::serialize([("pixels", tensor)], Some(metadata))?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        write_atomically(&self.path, &bytes)
    }
}

/// The cache file of the folder `root`: named by a hash of its absolute path.
fn location(root: &Path) -> PathBuf {
    let absolute = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let hash = Sha256::digest(absolute.to_string_lossy().as_bytes());
    let name: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    let base = std::env::var_os(CACHE_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| dirs::cache_dir().unwrap_or_default().join("digits"));
    base.join("prepared-images")
        .join(format!("{name}.safetensors"))
}

/// The index and the pixels of a cache file, if it is one this version wrote.
fn read(path: &Path) -> Option<(HashMap<String, Entry>, Vec<f32>)> {
    let bytes = std::fs::read(path).ok()?;
    let tensors = SafeTensors::deserialize(&bytes).ok()?;
    let (_, metadata) = SafeTensors::read_metadata(&bytes).ok()?;
    let metadata = metadata.metadata().as_ref()?;
    if metadata.get("preparation")? != PREPARATION {
        return None;
    }
    let index = serde_json::from_str(metadata.get("index")?).ok()?;
    let pixels = tensors
        .tensor("pixels")
        .ok()?
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Some((index, pixels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_used_only_for_the_same_size_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let cache = PreparedCache {
            path: dir.path().join("c.safetensors"),
            index: HashMap::new(),
            pixels: Vec::new(),
        };
        let stamp = Stamp {
            bytes: 10,
            modified_ns: 7,
        };
        let mut image = Box::new([0f32; IMAGE_PIXELS]);
        image[5] = 0.25;
        let files = [
            ("a/1.png".to_string(), stamp, Ok(image)),
            ("a/2.png".to_string(), stamp, Err("broken".to_string())),
        ];
        cache
            .save(files.iter().map(|(n, s, p)| (n.as_str(), *s, p)))
            .unwrap();
        let (index, pixels) = read(&cache.path).unwrap();
        let cache = PreparedCache {
            path: cache.path,
            index,
            pixels,
        };
        assert_eq!(cache.get("a/1.png", stamp).unwrap().unwrap()[5], 0.25);
        assert_eq!(cache.get("a/2.png", stamp).unwrap().unwrap_err(), "broken");
        let touched = Stamp {
            modified_ns: 8,
            ..stamp
        };
        assert!(cache.get("a/1.png", touched).is_none());
        assert!(cache.get("a/3.png", stamp).is_none());
    }
}
