//! What `digits data info` reports: where MNIST comes from, how it splits, how its classes are
//! spread, and whether its files are the official ones.

use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::data::{MNIST_FILES, MnistFiles, NUM_CLASSES};
use crate::idx;

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
