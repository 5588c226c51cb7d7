//! Your own images as a run's data: a folder with one subfolder per class
//! (`root/<class>/*.png`), each image read and prepared as `predict` reads one
//! ([`digit_image::load`]).
//!
//! **Splits.** A folder with `train/` and `test/` subfolders, each with one subfolder per class,
//! is split as given, validation being drawn from `train/`. Any other folder is split by a
//! seeded hash of each file's path, so that adding files never moves one already there to
//! another split.
//!
//! **Speed.** Preparing is done once per file: the results are kept in a
//! [`PreparedCache`](crate::data::prepared_cache) and reused while the file's size and modification
//! time stay the same. The files the cache lacks are prepared on every core, with a progress
//! bar.

use std::path::{Path, PathBuf};
use std::time::{Instant, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::data::batch::Examples;
use crate::data::config::DataConfig;
use crate::data::digit_image;
use crate::data::prepared_cache::{Prepared, PreparedCache, Stamp};

/// The extensions read as images (any case).
pub const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];
/// Labels are bytes.
pub const MAX_CLASSES: usize = 256;

/// A folder that cannot be a run's data.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    /// `[data] dir` is unset.
    #[error("format = \"images\" needs a folder: set [data] dir or pass --data-dir")]
    NoFolder,
    /// The folder does not exist, or is not a folder.
    #[error("image folder {} does not exist", .0.display())]
    Missing(PathBuf),
    /// It holds no class subfolder.
    #[error("{}: no class folders: expected one subfolder of PNG or JPEG images per class ({}/<class>/*.png)", .0.display(), .0.display())]
    NoClasses(PathBuf),
    /// A class subfolder without images.
    #[error("{}: class folder with no images (PNG or JPEG) it can read", .0.display())]
    EmptyClass(PathBuf),
    /// One class only: nothing to tell apart.
    #[error("{}: only one class ({class}); a classifier needs at least two class folders", .dir.display())]
    OneClass {
        /// The folder.
        dir: PathBuf,
        /// Its class.
        class: String,
    },
    /// More classes than a label can hold.
    #[error("{}: {count} classes; at most {MAX_CLASSES} are supported", .dir.display())]
    TooManyClasses {
        /// The folder.
        dir: PathBuf,
        /// Its classes.
        count: usize,
    },
    /// A class of `test/` that `train/` lacks.
    #[error("{}: class {class} has no folder in {}", .path.display(), .train.display())]
    UnknownTestClass {
        /// The test class folder.
        path: PathBuf,
        /// Its name.
        class: String,
        /// The `train/` folder.
        train: PathBuf,
    },
    /// A split came out empty.
    #[error("{}: the {split} split is empty ({images} images usable); add images or raise [data] {key}", .dir.display())]
    EmptySplit {
        /// The folder.
        dir: PathBuf,
        /// `validation` or `test`.
        split: &'static str,
        /// Images usable in all.
        images: usize,
        /// The key that sizes it.
        key: &'static str,
    },
    /// `[data] test_fraction` with a `test/` folder.
    #[error("{}: [data] test_fraction: the folder has train/ and test/ subfolders, so test/ is the test split", .0.display())]
    TestFractionWithTestFolder(PathBuf),
    /// The folder could not be listed.
    #[error("{}: cannot read: {error}", .path.display())]
    Io {
        /// The folder.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
}

/// How the folder was split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `train/` and `test/` subfolders, validation drawn from `train/` by path.
    TrainTest,
    /// One folder, every split drawn by path.
    ByPath,
}

/// A file that is not part of the data, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// Why it was skipped.
    pub reason: String,
}

/// How long reading the folder took, and how much of it the cache held.
#[derive(Debug, Clone)]
pub struct LoadStats {
    /// Image files found.
    pub files: usize,
    /// Of them, those taken from the cache.
    pub cached: usize,
    /// Wall time of listing, preparing and caching, in seconds.
    pub seconds: f64,
    /// The cache file.
    pub cache: PathBuf,
}

/// A folder of images, prepared and split.
#[derive(Debug, Clone)]
pub struct ImageFolder {
    /// The folder.
    pub root: PathBuf,
    /// The class names, sorted: class `i` is the `i`-th.
    pub classes: Vec<String>,
    /// How it was split.
    pub layout: Layout,
    /// The training split, in path order.
    pub train: Examples,
    /// The validation split.
    pub validation: Examples,
    /// The test split.
    pub test: Examples,
    /// Files passed over, with the reason.
    pub skipped: Vec<Skipped>,
    /// Timing.
    pub load: LoadStats,
}

/// The splits, as named in `data info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Split {
    Train,
    Validation,
    Test,
}

/// An image file found in a class folder.
struct Listed {
    /// Its path relative to the root, with `/` between parts: the cache's key and the split's.
    name: String,
    path: PathBuf,
    class: u8,
    split: Split,
    stamp: Stamp,
}

impl ImageFolder {
    /// Lists, prepares and splits the folder `[data] dir`, showing a progress bar on stderr
    /// (where it is a terminal) while images are prepared when `progress`.
    pub fn open(data: &DataConfig, progress: bool) -> Result<Self, FolderError> {
        let started = Instant::now();
        let root = data.dir.clone().ok_or(FolderError::NoFolder)?;
        if !root.is_dir() {
            return Err(FolderError::Missing(root));
        }
        let (train_dir, test_dir) = (root.join("train"), root.join("test"));
        let layout = if train_dir.is_dir() && test_dir.is_dir() {
            Layout::TrainTest
        } else {
            Layout::ByPath
        };
        let mut skipped = Vec::new();
        let mut listed = Vec::new();
        let classes = match layout {
            Layout::ByPath => {
                let classes = class_folders(&root, &mut skipped)?;
                for (label, class) in classes.iter().enumerate() {
                    list_class(&root, class, label, None, data, &mut listed, &mut skipped)?;
                }
                classes
            }
            Layout::TrainTest => {
                if data.test_fraction.is_some() {
                    return Err(FolderError::TestFractionWithTestFolder(root));
                }
                let classes = class_folders(&train_dir, &mut skipped)?;
                for (label, class) in classes.iter().enumerate() {
                    list_class(
                        &root,
                        class,
                        label,
                        Some("train"),
                        data,
                        &mut listed,
                        &mut skipped,
                    )?;
                }
                for class in class_folders(&test_dir, &mut skipped)? {
                    let Some(label) = classes.iter().position(|c| *c == class) else {
                        return Err(FolderError::UnknownTestClass {
                            path: test_dir.join(&class),
                            class,
                            train: train_dir,
                        });
                    };
                    list_class(
                        &root,
                        &class,
                        label,
                        Some("test"),
                        data,
                        &mut listed,
                        &mut skipped,
                    )?;
                }
                classes
            }
        };
        if classes.len() > MAX_CLASSES {
            return Err(FolderError::TooManyClasses {
                dir: root,
                count: classes.len(),
            });
        }
        let cache = PreparedCache::open(&root);
        let cached: Vec<Option<Prepared>> = listed
            .iter()
            .map(|file| cache.get(&file.name, file.stamp))
            .collect();
        let missing: Vec<usize> = (0..listed.len()).filter(|&i| cached[i].is_none()).collect();
        let fresh = prepare(&listed, &missing, progress);
        let mut prepared = cached;
        for (i, result) in missing.iter().zip(fresh) {
            prepared[*i] = Some(result);
        }
        let prepared: Vec<Prepared> = prepared.into_iter().map(Option::unwrap).collect();
        if !missing.is_empty() {
            let files = listed
                .iter()
                .zip(&prepared)
                .map(|(file, result)| (file.name.as_str(), file.stamp, result));
            if let Err(error) = cache.save(files) {
                eprintln!(
                    "warning: cannot keep the prepared images in {}: {error:#}",
                    cache.path().display()
                );
            }
        }

        let mut splits = [
            Examples::empty(classes.len()),
            Examples::empty(classes.len()),
            Examples::empty(classes.len()),
        ];
        let mut usable = vec![0usize; classes.len()];
        for (file, result) in listed.iter().zip(&prepared) {
            match result {
                Ok(pixels) => {
                    splits[file.split as usize].push(pixels, file.class);
                    usable[usize::from(file.class)] += 1;
                }
                Err(reason) => skipped.push(Skipped {
                    path: file.path.clone(),
                    reason: reason.clone(),
                }),
            }
        }
        if let Some(class) = usable.iter().position(|&n| n == 0) {
            let dir = match layout {
                Layout::ByPath => root.join(&classes[class]),
                Layout::TrainTest => train_dir.join(&classes[class]),
            };
            return Err(FolderError::EmptyClass(dir));
        }
        let [train, validation, test] = splits;
        let images = usable.iter().sum();
        for (split, examples, key) in [
            ("validation", &validation, "validation_fraction"),
            ("test", &test, "test_fraction"),
        ] {
            if examples.is_empty() {
                return Err(FolderError::EmptySplit {
                    dir: root,
                    split,
                    images,
                    key,
                });
            }
        }
        if train.is_empty() {
            return Err(FolderError::EmptySplit {
                dir: root,
                split: "train",
                images,
                key: "validation_fraction",
            });
        }
        skipped.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Self {
            load: LoadStats {
                files: listed.len(),
                cached: listed.len() - missing.len(),
                seconds: started.elapsed().as_secs_f64(),
                cache: cache.path().to_path_buf(),
            },
            root,
            classes,
            layout,
            train,
            validation,
            test,
            skipped,
        })
    }

    /// Images per class in each split: `[train, validation, test]`, each indexed by class.
    pub fn counts(&self) -> [Vec<usize>; 3] {
        [&self.train, &self.validation, &self.test].map(|examples| {
            let mut counts = vec![0; self.classes.len()];
            for &label in examples.labels() {
                counts[usize::from(label)] += 1;
            }
            counts
        })
    }
}

/// The class folders of `dir`, sorted by name (as torchvision's `ImageFolder` numbers them). Image
/// files beside them are skipped; hidden entries are ignored.
fn class_folders(dir: &Path, skipped: &mut Vec<Skipped>) -> Result<Vec<String>, FolderError> {
    let mut classes = Vec::new();
    for (path, name) in entries(dir)? {
        if path.is_dir() {
            classes.push(name);
        } else if is_image(&path) {
            skipped.push(Skipped {
                path,
                reason: "not in a class folder".into(),
            });
        }
    }
    classes.sort();
    match classes.len() {
        0 => Err(FolderError::NoClasses(dir.to_path_buf())),
        1 => Err(FolderError::OneClass {
            dir: dir.to_path_buf(),
            class: classes.remove(0),
        }),
        _ => Ok(classes),
    }
}

/// Lists the images of class folder `<root>/<part>/<class>` into `listed`, each assigned to a
/// split. Other files are skipped; a folder without images is an error.
fn list_class(
    root: &Path,
    class: &str,
    label: usize,
    part: Option<&str>,
    data: &DataConfig,
    listed: &mut Vec<Listed>,
    skipped: &mut Vec<Skipped>,
) -> Result<(), FolderError> {
    let prefix = match part {
        Some(part) => format!("{part}/{class}"),
        None => class.to_string(),
    };
    let dir = root.join(&prefix);
    let before = listed.len();
    for (path, name) in entries(&dir)? {
        if !is_image(&path) {
            let reason = if path.is_dir() {
                "a folder inside a class folder"
            } else {
                "not a .png, .jpg or .jpeg file"
            };
            skipped.push(Skipped {
                path,
                reason: reason.into(),
            });
            continue;
        }
        let metadata = std::fs::metadata(&path).map_err(|error| FolderError::Io {
            path: path.clone(),
            error,
        })?;
        let modified_ns = metadata
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64);
        let name = format!("{prefix}/{name}");
        let split = match part {
            Some("test") => Split::Test,
            _ => assign(data, &name, part.is_some()),
        };
        listed.push(Listed {
            name,
            path,
            class: label as u8,
            split,
            stamp: Stamp {
                bytes: metadata.len(),
                modified_ns,
            },
        });
    }
    if listed.len() == before {
        return Err(FolderError::EmptyClass(dir));
    }
    Ok(())
}

/// The split of the file `name`: a function of `[data] split_seed` and the path alone, so that
/// adding files moves none. With a `test/` folder, only validation is drawn.
fn assign(data: &DataConfig, name: &str, test_folder: bool) -> Split {
    let mut hash = Sha256::new();
    hash.update(data.split_seed().to_le_bytes());
    hash.update(name.as_bytes());
    let bits = u64::from_le_bytes(hash.finalize()[..8].try_into().expect("8 bytes"));
    let draw = bits as f64 / 2f64.powi(64);
    let test = if test_folder {
        0.0
    } else {
        data.test_fraction()
    };
    if draw < test {
        Split::Test
    } else if draw < test + data.validation_fraction() {
        Split::Validation
    } else {
        Split::Train
    }
}

/// The entries of `dir` with their names, sorted, hidden ones left out.
fn entries(dir: &Path) -> Result<Vec<(PathBuf, String)>, FolderError> {
    let io = |error| FolderError::Io {
        path: dir.to_path_buf(),
        error,
    };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            entries.push((entry.path(), name));
        }
    }
    entries.sort();
    Ok(entries)
}

fn is_image(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Prepares the files `which` of `listed` on every core, as `predict` prepares an image (EXIF
/// orientation included).
fn prepare(listed: &[Listed], which: &[usize], progress: bool) -> Vec<Prepared> {
    let bar = if progress {
        ProgressBar::new(which.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("Preparing images {bar:30} {pos}/{len} ({eta} left)")
            .expect("a valid template"),
    );
    let prepared = which
        .par_iter()
        .map(|&i| {
            let result = digit_image::load(&listed[i].path)
                .map(Box::new)
                .map_err(|e| e.problem);
            bar.inc(1);
            result
        })
        .collect();
    bar.finish_and_clear();
    prepared
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("class-{}/{i:05}.png", i % 7))
            .collect()
    }

    #[test]
    fn a_files_split_depends_on_its_path_and_the_seed_alone() {
        let data = DataConfig::default();
        let before: Vec<Split> = names(2000)
            .iter()
            .map(|n| assign(&data, n, false))
            .collect();
        // Ten times the files: the first 2,000 keep their splits.
        let after: Vec<Split> = names(20_000)
            .iter()
            .map(|n| assign(&data, n, false))
            .collect();
        assert_eq!(before, after[..2000]);
        let share = |split| after.iter().filter(|&&s| s == split).count() as f64 / 20_000.0;
        assert!(
            (share(Split::Test) - 0.1).abs() < 0.01,
            "{}",
            share(Split::Test)
        );
        assert!((share(Split::Validation) - 0.1).abs() < 0.01);
        // Another seed draws other splits; a test/ folder leaves only validation to draw.
        let reseeded = DataConfig {
            split_seed: Some(7),
            ..DataConfig::default()
        };
        let moved = names(2000)
            .iter()
            .zip(&before)
            .filter(|(n, s)| assign(&reseeded, n, false) != **s)
            .count();
        assert!(moved > 200, "{moved}");
        assert!(
            names(2000)
                .iter()
                .all(|n| assign(&data, n, true) != Split::Test)
        );
    }
}
