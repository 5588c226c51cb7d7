//! `digits data export-images`: MNIST-style IDX files written as a folder of PNGs,
//! `<out>/{train,test}/<class>/<index>.png`, the layout `[data] format = "images"` reads. With
//! Fashion-MNIST's files and its class names, this makes a folder of clothes.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::data::dataset::Dataset;
use burn::data::dataset::vision::MnistItem;
use image::GrayImage;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use crate::data::mnist::MnistFiles;
use crate::data::shape::{IMAGE_SIDE, NUM_CLASSES, digit_names};

/// Images written per split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exported {
    /// Into `train/`.
    pub train: usize,
    /// Into `test/`.
    pub test: usize,
}

/// Writes the first `limit` images (all when `None`) of each of `files`' splits into `out`,
/// which must not exist, one subfolder per class, named by `names` (the digits when `None`).
/// The folder is made under a temporary name and renamed into place when complete.
pub fn export_images(
    files: &MnistFiles,
    out: &Path,
    names: Option<&[String]>,
    limit: Option<usize>,
    progress: bool,
) -> anyhow::Result<Exported> {
    let digits = digit_names(NUM_CLASSES);
    let names = names.unwrap_or(&digits);
    check_names(names)?;
    if out.exists() {
        bail!(
            "{} already exists; choose a new folder for the images",
            out.display()
        );
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix(".export-images-")
        .tempdir_in(parent)
        .with_context(|| format!("cannot create a folder in {}", parent.display()))?;
    let splits = [
        ("train", files.train.as_ref()),
        ("test", files.test.as_ref()),
    ];
    let count = |d: &dyn Dataset<MnistItem>| limit.map_or(d.len(), |l| l.min(d.len()));
    let total: usize = splits.iter().map(|(_, d)| count(*d)).sum();
    let bar = if progress {
        ProgressBar::new(total as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("Writing images {bar:30} {pos}/{len} ({eta} left)")
            .expect("a valid template"),
    );
    for (split, _) in splits {
        for name in names {
            let dir = scratch.path().join(split).join(name);
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
    }
    for (split, dataset) in splits {
        (0..count(dataset))
            .into_par_iter()
            .try_for_each(|index| -> anyhow::Result<()> {
                let item = dataset.get(index).context("an index in range")?;
                let image = GrayImage::from_fn(IMAGE_SIDE as u32, IMAGE_SIDE as u32, |x, y| {
                    image::Luma([item.image[y as usize][x as usize].clamp(0.0, 255.0) as u8])
                });
                let name = &names[usize::from(item.label)];
                let path: PathBuf = [split, name, &format!("{index:05}.png")].iter().collect();
                image
                    .save(scratch.path().join(&path))
                    .with_context(|| format!("cannot write {}", out.join(&path).display()))?;
                bar.inc(1);
                Ok(())
            })?;
    }
    bar.finish_and_clear();
    std::fs::rename(scratch.keep(), out)
        .with_context(|| format!("cannot move the images into {}", out.display()))?;
    Ok(Exported {
        train: count(files.train.as_ref()),
        test: count(files.test.as_ref()),
    })
}

/// Ten distinct names that can be folder names.
fn check_names(names: &[String]) -> anyhow::Result<()> {
    if names.len() != NUM_CLASSES {
        bail!(
            "--names: expected {NUM_CLASSES} class names, one per label 0-9, got {}",
            names.len()
        );
    }
    for (label, name) in names.iter().enumerate() {
        let trimmed = name.trim();
        if trimmed.is_empty()
            || trimmed != name
            || name.contains(['/', '\\'])
            || name.starts_with('.')
        {
            bail!(
                "--names: the name of label {label}, {name:?}, cannot be a folder name (empty, padded, hidden or with a slash)"
            );
        }
        if names[..label].contains(name) {
            bail!("--names: {name:?} is given twice");
        }
    }
    Ok(())
}
