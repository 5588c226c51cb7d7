//! What `digits data info` reports: where the data comes from, how it splits and how its
//! classes are spread; for MNIST, whether its files are the official ones; for a folder of
//! images, the files skipped and why.

use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::data::config::DataConfig;
use crate::data::idx;
use crate::data::image_folder::{ImageFolder, Layout};
use crate::data::mnist::{MNIST_FILES, MnistFiles};
use crate::data::shape::NUM_CLASSES;

/// SHA-256 of the uncompressed official MNIST files, so that gzipped and plain copies compare
/// alike. Computed from copies whose gzipped MD5s match the official ones; no reference is
/// known here for the uncompressed official training images.
const OFFICIAL_SHA256: [(&str, &str); 3] = [
    (
        "t10k-images-idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    (
        "t10k-labels-idx1-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
    (
        "train-labels-idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
];

/// A report on the MNIST files of `dir` (or of the default source), with `validation_size`
/// examples held out of the training file.
pub fn report(dir: Option<&Path>, validation_size: usize) -> anyhow::Result<String> {
    let files = MnistFiles::open(dir)?;
    let mut out = String::new();
    writeln!(out, "Source: {}", files.source)?;
    let (train_file, test) = (files.train.len(), files.test.len());
    let validation = validation_size.min(train_file);
    writeln!(
        out,
        "Splits: train {} (the first of the training file's {train_file}), validation {validation} (the last), test {test}",
        train_file - validation
    )?;
    let classes =
        |dataset: &dyn burn::data::dataset::Dataset<burn::data::dataset::vision::MnistItem>| {
            let mut counts = [0usize; NUM_CLASSES];
            for index in 0..dataset.len() {
                let item = dataset.get(index).expect("index in range");
                counts[usize::from(item.label)] += 1;
            }
            counts
        };
    for (name, counts) in [
        ("training file", classes(files.train.as_ref())),
        ("test file", classes(files.test.as_ref())),
    ] {
        let counts: Vec<String> = counts.iter().map(|c| c.to_string()).collect();
        writeln!(out, "Classes 0-9 in the {name}: {}", counts.join(" "))?;
    }
    writeln!(out, "Files:")?;
    for name in MNIST_FILES {
        let Some(path) = files.source.file(name) else {
            continue;
        };
        let mut bytes = Vec::new();
        idx::open(&path)?.read_to_end(&mut bytes)?;
        let sha = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        let verdict = match OFFICIAL_SHA256.iter().find(|(n, _)| *n == name) {
            Some((_, official)) if *official == sha => "the official MNIST file",
            Some(_) => "NOT the official MNIST file",
            None => "no official checksum known for it here",
        };
        writeln!(
            out,
            "  {}: sha256 {} of its content: {verdict}",
            path.display(),
            &sha[..16]
        )?;
    }
    Ok(out.trim_end().to_string())
}

/// A report on the folder of images `data` describes: its classes, their counts per split, and
/// each file skipped, with the reason.
pub fn report_images(data: &DataConfig) -> anyhow::Result<String> {
    let folder = ImageFolder::open(data, true)?;
    let mut out = String::new();
    writeln!(
        out,
        "Source: {} (a folder of images)",
        folder.root.display()
    )?;
    let how = match folder.layout {
        Layout::TrainTest => format!(
            "train/ and test/ as given; validation is {} of train/, drawn by path (split_seed {})",
            data.validation_fraction(),
            data.split_seed()
        ),
        Layout::ByPath => format!(
            "drawn by path (split_seed {}): test {}, validation {}",
            data.split_seed(),
            data.test_fraction(),
            data.validation_fraction()
        ),
    };
    writeln!(
        out,
        "Splits: train {}, validation {}, test {}; {how}",
        folder.train.len(),
        folder.validation.len(),
        folder.test.len()
    )?;
    writeln!(out, "Classes: {}", folder.classes.len())?;
    let width = folder
        .classes
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    writeln!(
        out,
        "  {:width$}  {:>7} {:>10} {:>7}",
        "class", "train", "validation", "test"
    )?;
    let [train, validation, test] = folder.counts();
    for (i, name) in folder.classes.iter().enumerate() {
        writeln!(
            out,
            "  {name:width$}  {:>7} {:>10} {:>7}",
            train[i], validation[i], test[i]
        )?;
    }
    let load = &folder.load;
    writeln!(
        out,
        "Read {} image files in {:.2} s, {} of them prepared before (cache {})",
        load.files,
        load.seconds,
        load.cached,
        load.cache.display()
    )?;
    writeln!(out, "Skipped: {} files", folder.skipped.len())?;
    for skipped in &folder.skipped {
        writeln!(out, "  {}: {}", skipped.path.display(), skipped.reason)?;
    }
    Ok(out.trim_end().to_string())
}
