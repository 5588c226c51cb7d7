//! Shared by the integration tests: running the real binary ([`Digits`]), checking what it
//! printed, and writing small synthetic IDX folders. Real MNIST and the other things a test may
//! need are in `needs.rs`.

#![allow(dead_code)] // each test file uses a different part

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use crate::harness::Test;
pub(crate) use crate::harness::{note, test};
pub use crate::needs::*;

/// The `digits` binary with its arguments, run in the repository root: the one way the tests run
/// it.
///
/// ```ignore
/// let stdout = Digits::new("eval").arg(&run).data_dir(mnist()).succeeds();
/// let stdout = Digits::train(config, mnist(), &run).args(["--epochs", "1"]).succeeds();
/// let error = Digits::resume(&run).args(["--lr", "0.5"]).fails();
/// ```
pub struct Digits {
    command: Command,
}

impl Digits {
    /// `digits subcommand`.
    pub fn new(subcommand: &str) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_digits"));
        // A tracking server of the person running the tests receives none of their runs.
        command
            .arg(subcommand)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("MLFLOW_TRACKING_URI");
        Self { command }
    }

    /// `digits train` of `config` on the MNIST folder `data` into the new run folder `out`.
    pub fn train(
        config: impl AsRef<OsStr>,
        data: impl AsRef<OsStr>,
        out: impl AsRef<OsStr>,
    ) -> Self {
        Self::new("train").config(config).data_dir(data).out(out)
    }

    /// `digits train --resume run`.
    pub fn resume(run: impl AsRef<OsStr>) -> Self {
        Self::new("train").arg("--resume").arg(run)
    }

    /// One more argument: a word, or a path as it is.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.command.arg(arg);
        self
    }

    /// More arguments.
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Self {
        self.command.args(args);
        self
    }

    /// `--config path`.
    pub fn config(self, path: impl AsRef<OsStr>) -> Self {
        self.arg("--config").arg(path)
    }

    /// `--data-dir dir`.
    pub fn data_dir(self, dir: impl AsRef<OsStr>) -> Self {
        self.arg("--data-dir").arg(dir)
    }

    /// `--out dir`.
    pub fn out(self, dir: impl AsRef<OsStr>) -> Self {
        self.arg("--out").arg(dir)
    }

    /// `--model run`.
    pub fn model(self, run: impl AsRef<OsStr>) -> Self {
        self.arg("--model").arg(run)
    }

    /// `--backend name`.
    pub fn backend(self, name: impl AsRef<OsStr>) -> Self {
        self.arg("--backend").arg(name)
    }

    /// An environment variable for the run.
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    /// An environment variable removed for the run.
    pub fn env_remove(mut self, key: &str) -> Self {
        self.command.env_remove(key);
        self
    }

    /// Runs in `dir` instead of the repository root.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.command.current_dir(dir);
        self
    }

    /// The command, to spawn or to give other standard streams.
    pub fn command(self) -> Command {
        self.command
    }

    /// Runs it to the end, whatever the outcome.
    pub fn output(mut self) -> Output {
        self.command.output().expect("the digits binary runs")
    }

    /// Runs it and returns its stdout; the test fails with the command and both streams
    /// unless it succeeds.
    pub fn succeeds(self) -> String {
        let line = self.to_string();
        let output = self.output();
        assert!(
            output.status.success(),
            "`{line}` failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs it and returns its error, which must be clean: see [`clean_error`].
    pub fn fails(self) -> String {
        clean_error(&self.output())
    }
}

impl std::fmt::Display for Digits {
    /// `digits ARGS`, as a shell would show it (for messages).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "digits")?;
        for arg in self.command.get_args() {
            write!(f, " {}", arg.to_string_lossy())?;
        }
        Ok(())
    }
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

/// The columns of metrics.csv, in order.
pub const METRICS_COLUMNS: [&str; 6] = [
    "epoch",
    "train_loss",
    "validation_accuracy",
    "test_accuracy",
    "seconds",
    "learning_rate",
];

/// Where metrics.csv's column `name` is in a row.
fn metrics_column(name: &str) -> usize {
    METRICS_COLUMNS.iter().position(|c| *c == name).unwrap()
}

/// A run's metrics.csv, a row of fields per epoch, after checking the header.
pub fn metrics_rows(run: &Path) -> Vec<Vec<String>> {
    let csv = std::fs::read_to_string(run.join("metrics.csv")).expect("metrics.csv exists");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(METRICS_COLUMNS.join(",").as_str()));
    lines
        .map(|row| row.split(',').map(str::to_string).collect())
        .collect()
}

/// Rows of a run's metrics.csv with the `seconds` column dropped: what a resumed run and an
/// uninterrupted one have in common.
pub fn metrics_without_seconds(run: &Path) -> Vec<String> {
    let seconds = metrics_column("seconds");
    metrics_rows(run)
        .into_iter()
        .map(|mut row| {
            row.remove(seconds);
            row.join(",")
        })
        .collect()
}

/// Test accuracies, one per epoch, from a run's metrics.csv.
pub fn test_accuracies(run: &Path) -> Vec<f64> {
    let test = metrics_column("test_accuracy");
    metrics_rows(run)
        .iter()
        .map(|row| row[test].parse().unwrap())
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

/// `digits train` of the synthetic config (see [`synthetic_config`]) into `dir/name`, with
/// synthetic data (600 training and 200 test examples) made in `dir/data` on first use and
/// `extra` flags; fails the test unless the run succeeds. Returns the run folder and what the
/// run printed.
pub fn train_synthetic(dir: &Path, name: &str, extra: &[&str]) -> (PathBuf, Output) {
    let data = dir.join("data");
    if !data.exists() {
        synthetic_mnist(&data, 600, 200, false);
    }
    let run = dir.join(name);
    let output = Digits::train(synthetic_config(dir), &data, &run)
        .args(extra)
        .output();
    succeeded(&output);
    (run, output)
}

/// A port of 127.0.0.1 that nothing listens on (it was free a moment ago).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

/// Sends `signal` (`INT` for Ctrl-C, `TERM`, ...) to the process `pid`.
pub fn signal(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -s {signal} {pid}");
}

/// Starts `digits`, pausing `pause_ms` in the middle of each checkpoint it writes, with its
/// stderr piped.
pub fn spawn_pausing(digits: Digits, pause_ms: u64) -> Child {
    digits
        .env("DIGITS_CHECKPOINT_PAUSE_MS", pause_ms.to_string())
        .command()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until `found` holds, failing after 60 s.
pub fn wait_for(what: &str, mut found: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !found() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Runs `train` until it has printed its first epoch's line (the epoch's files are on disk by
/// then), and kills it there.
pub fn kill_after_first_epoch(train: Digits) {
    use std::io::{BufRead, BufReader};
    let mut child = train
        .command()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("Epoch 1:") {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "the run ended early"
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The first `n` test digits of an MNIST folder (its files gzipped or not): (label, 28×28
/// pixels).
pub fn test_digits(mnist: &Path, n: usize) -> Vec<(u8, image::GrayImage)> {
    let read = |name: &str| {
        let path = mnist_file(mnist, name).unwrap_or_else(|| panic!("no {name} in {mnist:?}"));
        let mut bytes = Vec::new();
        digits::data::idx::open(&path)
            .unwrap()
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
pub fn trained_two_layer_net(dir: &Path) -> PathBuf {
    let run = dir.join("two-layer-net");
    Digits::train("configs/two-layer-net.toml", mnist(), &run)
        .args(["--epochs", "2"])
        .succeeds();
    run
}

/// A small nielsen network (one epoch of smoke.toml) on real MNIST, in `dir/nielsen`.
pub fn trained_nielsen(dir: &Path) -> PathBuf {
    let run = dir.join("nielsen");
    Digits::train("configs/smoke.toml", mnist(), &run)
        .args(["--epochs", "1"])
        .succeeds();
    run
}

/// A small convolutional network, written as `dir/conv.toml`: two pooled 3×3 layers of 4 and
/// 6 maps, FC 20, ReLU, dropout after the first conv layer, on the hidden layer and on the
/// scores, L2 over the filters too, SGD with momentum, 3 epochs of mini-batches of 10, and
/// 100 validation images (so that it suits the synthetic data as well as MNIST).
pub fn small_conv_config(dir: &Path) -> PathBuf {
    let path = dir.join("conv.toml");
    std::fs::write(
        &path,
        "[model]\nsizes = [150, 20, 10]\nactivation = \"relu\"\ninit = \"he\"\n\
         dropout = 0.5\noutput_dropout = 0.25\n\
         [[model.conv]]\nmaps = 4\nkernel = 3\npool = 2\ndropout = 0.25\n\
         [[model.conv]]\nmaps = 6\nkernel = 3\npool = 2\n\
         [loss]\ncost = \"cross_entropy\"\nl2 = 0.5\n\
         [optimizer]\nname = \"sgd\"\nlr = 0.05\nmomentum = 0.9\n\
         [training]\nepochs = 3\nbatch_size = 10\nseed = 1\n[data]\nvalidation_size = 100\n",
    )
    .unwrap();
    path
}

/// A small conv net on real MNIST, in `dir/conv`: conv 8 5×5 with 2×2 max-pooling, FC 30, ReLU,
/// one epoch on 10,000 images (a few seconds; about 95% on the test set).
pub fn trained_small_convnet(dir: &Path) -> PathBuf {
    let config = dir.join("conv.toml");
    std::fs::write(
        &config,
        "[model]\nsizes = [1152, 30, 10]\nactivation = \"relu\"\ninit = \"he\"\n\
         [[model.conv]]\nmaps = 8\nkernel = 5\npool = 2\n\
         [loss]\ncost = \"cross_entropy\"\n\
         [optimizer]\nname = \"sgd\"\nlr = 0.05\nmomentum = 0.9\n\
         [training]\nepochs = 1\nbatch_size = 20\nseed = 1\n[data]\ntrain_limit = 10000\n",
    )
    .unwrap();
    let run = dir.join("conv");
    Digits::train(&config, mnist(), &run).succeeds();
    run
}

/// The first `n` MNIST test digits saved as PNGs in `dir`: their labels and files.
pub fn test_digit_files(dir: &Path, n: usize) -> (Vec<u8>, Vec<PathBuf>) {
    test_digits(mnist(), n)
        .into_iter()
        .enumerate()
        .map(|(i, (label, image))| {
            let path = dir.join(format!("digit-{i}.png"));
            image.save(&path).unwrap();
            (label, path)
        })
        .unzip()
}

/// `digits errors RUN... --output grid --limit 10000`: it says it drew `misclassified` digits,
/// and the picture is there.
pub fn errors_drawn(runs: &[PathBuf], grid: &Path, misclassified: usize) {
    let errors = Digits::new("errors")
        .args(runs)
        .arg("--output")
        .arg(grid)
        .args(["--limit", "10000"])
        .succeeds();
    assert!(
        errors.contains(&format!("with {misclassified} misclassified")),
        "{errors}"
    );
    assert!(grid.is_file());
}
