//! Shared by the integration tests: running the real binary, finding real MNIST, and writing
//! small synthetic IDX folders.

#![allow(dead_code)] // each test file uses a different part

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The environment variable that names a folder with real MNIST (CI sets it).
pub const MNIST_ENV: &str = "DIGITS_MNIST_DIR";

/// The real MNIST folder, or `None` (with the reason printed) when the variable is unset.
/// Under CI a missing variable is a failure, not a skip.
pub fn real_mnist() -> Option<PathBuf> {
    match std::env::var_os(MNIST_ENV) {
        Some(dir) => Some(PathBuf::from(dir)),
        None if std::env::var_os("CI").is_some() => {
            panic!("{MNIST_ENV} must name the MNIST folder under CI")
        }
        None => {
            eprintln!(
                "skipped: set {MNIST_ENV} to a folder with the four MNIST files to run this test"
            );
            None
        }
    }
}

/// Runs `digits` with `args` in the repository root.
pub fn digits(args: &[&str]) -> Output {
    digits_with_env(args, &[])
}

/// Runs `digits` with `args` and extra environment variables.
pub fn digits_with_env(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_digits"));
    command.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("the digits binary runs")
}

/// Stdout of a command that must have succeeded; the test fails with its output otherwise.
pub fn succeeded(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Stderr of a run that must have failed cleanly: non-zero exit, one line, no panic.
pub fn clean_error(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        !output.status.success(),
        "expected a failure, got success: {stderr}"
    );
    assert!(
        !stderr.contains("panicked"),
        "a panic instead of an error: {stderr}"
    );
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "not one line: {stderr}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

/// Rows of a run's metrics.csv with the `seconds` column dropped.
pub fn metrics_without_seconds(run: &Path) -> Vec<String> {
    let csv = std::fs::read_to_string(run.join("metrics.csv")).expect("metrics.csv exists");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("epoch,train_loss,validation_accuracy,test_accuracy,seconds")
    );
    lines
        .map(|row| row.rsplit_once(',').expect("a csv row").0.to_string())
        .collect()
}

/// Test accuracies, one per epoch, from a run's metrics.csv.
pub fn test_accuracies(run: &Path) -> Vec<f64> {
    metrics_without_seconds(run)
        .iter()
        .map(|row| row.rsplit(',').next().unwrap().parse().unwrap())
        .collect()
}

/// Writes an IDX image file (optionally gzipped) of 28×28 images.
pub fn write_images(path: &Path, images: &[[u8; 784]], gzip: bool) {
    let mut bytes = vec![0, 0, 8, 3];
    for v in [images.len() as u32, 28, 28] {
        bytes.extend(v.to_be_bytes());
    }
    for image in images {
        bytes.extend(image);
    }
    write(path, &bytes, gzip);
}

/// Writes an IDX label file (optionally gzipped).
pub fn write_labels(path: &Path, labels: &[u8], gzip: bool) {
    let mut bytes = vec![0, 0, 8, 1];
    bytes.extend((labels.len() as u32).to_be_bytes());
    bytes.extend(labels);
    write(path, &bytes, gzip);
}

fn write(path: &Path, bytes: &[u8], gzip: bool) {
    if gzip {
        let file = std::fs::File::create(path.with_extension("gz")).unwrap();
        let mut encoder = flate2::write::GzEncoder::new(file, Default::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap();
    } else {
        std::fs::write(path, bytes).unwrap();
    }
}

/// A synthetic digit: a bright bar across row `3 + 2·label`, with some deterministic speckle.
fn synthetic_image(label: u8, index: usize) -> [u8; 784] {
    let mut image = [0u8; 784];
    let row = 3 + 2 * usize::from(label);
    for col in 4..24 {
        image[row * 28 + col] = 255;
    }
    for k in 0..20 {
        image[(index * 37 + k * 101) % 784] = 128;
    }
    image
}

/// Writes a small MNIST-shaped folder: `train` training and `test` test examples, classes in
/// turn, as the four official file names (gzipped when `gzip`).
pub fn synthetic_mnist(dir: &Path, train: usize, test: usize, gzip: bool) {
    std::fs::create_dir_all(dir).unwrap();
    for (images_name, labels_name, n) in [
        ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", train),
        ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", test),
    ] {
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let images: Vec<[u8; 784]> = labels
            .iter()
            .enumerate()
            .map(|(i, &l)| synthetic_image(l, i))
            .collect();
        write_images(&dir.join(images_name), &images, gzip);
        write_labels(&dir.join(labels_name), &labels, gzip);
    }
}

/// A config for the synthetic data: TwoLayerNet with batch 10 for 10 epochs, 100 validation
/// examples.
pub fn synthetic_config(dir: &Path) -> PathBuf {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/two-layer-net.toml");
    let text = std::fs::read_to_string(base)
        .unwrap()
        .replace("epochs = 17", "epochs = 10")
        .replace("batch_size = 100", "batch_size = 10")
        + "\n[data]\nvalidation_size = 100\n";
    let path = dir.join("synthetic.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `digits train` of `config` on the MNIST folder `data` into the run folder `out`, with `extra`
/// flags.
pub fn train_run(config: &Path, data: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "train",
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    digits(&args)
}

/// Trains the synthetic config into `dir/name`, with synthetic data (600 training and 200 test
/// examples) made in `dir/data` on first use and `extra` flags, and fails the test unless the
/// run succeeds. Returns the run folder and what the run printed.
pub fn train_synthetic(dir: &Path, name: &str, extra: &[&str]) -> (PathBuf, Output) {
    let data = dir.join("data");
    if !data.exists() {
        synthetic_mnist(&data, 600, 200, false);
    }
    let config = synthetic_config(dir);
    let run = dir.join(name);
    let output = train_run(&config, &data, &run, extra);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (run, output)
}

/// The first `n` test digits of an MNIST folder: (label, 28×28 pixels).
pub fn test_digits(mnist: &Path, n: usize) -> Vec<(u8, image::GrayImage)> {
    use std::io::Read;
    let read = |name: &str| {
        let mut bytes = Vec::new();
        let file = std::fs::File::open(mnist.join(format!("{name}.gz"))).unwrap();
        flate2::read::GzDecoder::new(file)
            .read_to_end(&mut bytes)
            .unwrap();
        bytes
    };
    let (images, labels) = (
        read("t10k-images-idx3-ubyte"),
        read("t10k-labels-idx1-ubyte"),
    );
    (0..n)
        .map(|i| {
            let pixels = images[16 + i * 784..16 + (i + 1) * 784].to_vec();
            (
                labels[8 + i],
                image::GrayImage::from_raw(28, 28, pixels).unwrap(),
            )
        })
        .collect()
}

/// A model trained for two epochs of TwoLayerNet on real MNIST, in `dir/two-layer-net`.
pub fn trained_two_layer_net(mnist: &Path, dir: &Path) -> PathBuf {
    let run = dir.join("two-layer-net");
    let output = digits(&[
        "train",
        "--config",
        "configs/two-layer-net.toml",
        "--epochs",
        "2",
        "--data-dir",
        mnist.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    succeeded(&output);
    run
}

/// A small nielsen network (one epoch of smoke.toml), in `dir/nielsen`.
pub fn trained_nielsen(mnist: &Path, dir: &Path) -> PathBuf {
    let run = dir.join("nielsen");
    succeeded(&train_run(
        Path::new("configs/smoke.toml"),
        mnist,
        &run,
        &["--epochs", "1"],
    ));
    run
}
