//! How fast digits trains, against a hand-written floor.
//!
//! ```sh
//! cargo run --release --example bench -- [--epochs N] [--data-dir DIR] [--only TEXT]
//!     [--backend NAME]... [--remote ws://HOST:PORT] [--pytorch PYTHON]
//! ```
//!
//! For nielsen.toml, two-layer-net.toml, and two-layer-net.toml at batch 1,000 and 10,000 (the
//! large batch, where a GPU's arithmetic counts), and the conv nets (network3-conv1.toml at
//! batch 10, network3-conv2.toml and simple-convnet.toml at batch 10 and 100), on every CPU
//! backend compiled in or on each
//! `--backend` given (cuda, wgpu, tch, remote: build with its feature), it measures: the time to load MNIST into tensors, seconds per epoch of
//! the training pass (the median over `--epochs`, default 3), steps and examples per second,
//! one evaluation of the 10,000 test images, and the process's peak RSS. Each row runs in a
//! process of its own, so that its peak RSS is its own.
//!
//! The **floor** is network.py's [784, 30, 10] network written by hand: plain Rust, sgemm from
//! `matrixmultiply`, the sigmoid and the gradients fused into loops, the update folded into the
//! gradient's sgemm. It starts from the same weights and sees the same data in the same order as
//! nielsen.toml. It exists only here, to show what the framework costs; digits never uses it.
//! Every report prints the ratio of each nielsen.toml epoch to the floor's, measured in the
//! same run.
//!
//! With `--pytorch PYTHON` (a Python with torch and numpy), each row is also run by
//! `bench/pytorch_reference.py`, the same network and hyper-parameters in PyTorch, at 1 and at 2
//! threads, and the report prints each digits row's s/epoch as a multiple of the faster of the
//! two, measured in the same run.
//!
//! The table is for people; each row is also printed as one JSON object, for machines.
//!
//! `--ops` measures instead what one tensor operation costs on a [10, 30] tensor, the size of
//! nielsen.toml's hidden layer, on flex with and without autodiff: the framework's overhead per
//! operation, which is what a step of 10 examples mostly pays.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use digits::backend::{BackendName, Devices};
use digits::data::MnistFiles;
use digits::model::NetworkConfig;
use digits::train::RunConfig;
use digits::train::learner::{Learner, epoch_order};
use serde::{Deserialize, Serialize};

/// One benchmark: a config, a batch size, a backend.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Spec {
    config: String,
    batch_size: usize,
    /// A backend name, or "floor" for the hand-written loop.
    backend: String,
}

/// What one row measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Row {
    config: String,
    batch_size: usize,
    backend: String,
    load_seconds: f64,
    epoch_seconds: f64,
    steps_per_second: f64,
    examples_per_second: f64,
    eval_seconds: f64,
    peak_rss_mb: f64,
    test_accuracy: f64,
}

/// How fast digits trains, against a hand-written floor (see the file's documentation).
#[derive(Debug, clap::Parser)]
struct Args {
    /// Epochs per row; the row reports their median.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    epochs: u64,
    /// A folder holding the four MNIST IDX files.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Only the rows whose "config batch backend" contains this text.
    #[arg(long, value_name = "TEXT")]
    only: Option<String>,
    /// One row, as JSON, measured in this process (how the benchmark runs each row).
    #[arg(long, hide = true)]
    row: Option<String>,
    /// What one tensor operation costs instead.
    #[arg(long)]
    ops: bool,
    /// A backend to measure (cuda, wgpu, tch, remote, flex, ndarray; repeatable). Default: the
    /// CPU backends compiled in.
    #[arg(long = "backend", value_name = "NAME")]
    backends: Vec<String>,
    /// The device server of `--backend remote`: ws://HOST:PORT.
    #[arg(long, value_name = "URL")]
    remote: Option<String>,
    /// A Python with torch and numpy: run bench/pytorch_reference.py's rows beside digits'.
    #[arg(long, value_name = "PYTHON")]
    pytorch: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = <Args as clap::Parser>::parse();
    if args.ops {
        operation_costs();
        return Ok(());
    }
    if let Some(row) = &args.row {
        let spec: Spec = serde_json::from_str(row)?;
        let row = measure(&spec, &args)?;
        println!("{}", serde_json::to_string(&row)?);
        return Ok(());
    }
    let configs = [
        ("configs/nielsen.toml", 10),
        ("configs/two-layer-net.toml", 100),
        ("configs/two-layer-net.toml", 1000),
        ("configs/two-layer-net.toml", 10000),
        ("configs/network3-conv1.toml", 10),
        ("configs/network3-conv2.toml", 10),
        ("configs/network3-conv2.toml", 100),
        ("configs/simple-convnet.toml", 100),
        ("configs/simple-convnet.toml", 10),
    ];
    let backends: Vec<String> = if args.backends.is_empty() {
        [BackendName::Flex, BackendName::Ndarray]
            .into_iter()
            .filter(|b| b.compiled())
            .map(|b| b.to_string())
            .collect()
    } else {
        args.backends.clone()
    };
    let mut specs = vec![Spec {
        config: configs[0].0.into(),
        batch_size: 10,
        backend: "floor".into(),
    }];
    for (config, batch_size) in configs {
        for backend in &backends {
            specs.push(Spec {
                config: config.into(),
                batch_size,
                backend: backend.clone(),
            });
        }
    }
    let specs: Vec<Spec> = specs
        .into_iter()
        .filter(|s| {
            args.only.as_ref().is_none_or(|o| {
                format!("{} {} {}", s.config, s.batch_size, s.backend).contains(o.as_str())
            })
        })
        .collect();
    println!(
        "digits bench: {} epochs per row, median s/epoch; {} CPU cores",
        args.epochs,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mut rows = Vec::new();
    for spec in &specs {
        let mut command = Command::new(std::env::current_exe()?);
        command
            .arg("--row")
            .arg(serde_json::to_string(spec)?)
            .arg("--epochs")
            .arg(args.epochs.to_string());
        if let Some(dir) = &args.data_dir {
            command.arg("--data-dir").arg(dir);
        }
        if let Some(url) = &args.remote {
            command.arg("--remote").arg(url);
        }
        let output = command.output()?;
        anyhow::ensure!(
            output.status.success(),
            "{spec:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout)?;
        let row: Row = serde_json::from_str(stdout.lines().last().unwrap_or_default())?;
        rows.push(row);
    }
    let mut references: Vec<Reference> = Vec::new();
    if let Some(python) = &args.pytorch {
        let mut pairs: Vec<(&str, usize)> = specs
            .iter()
            .filter(|s| s.backend != "floor")
            .map(|s| (s.config.as_str(), s.batch_size))
            .collect();
        pairs.dedup();
        for (config, batch_size) in pairs {
            references.extend(pytorch(python, config, batch_size, &args)?);
        }
    }
    // The faster of PyTorch's thread counts for a config and batch size.
    let fastest = |config: &str, batch_size: usize| {
        references
            .iter()
            .filter(|r| r.config == config && r.batch_size == batch_size)
            .min_by(|a, b| a.epoch_seconds.total_cmp(&b.epoch_seconds))
    };
    let floor = rows
        .iter()
        .find(|r| r.backend == "floor")
        .map(|r| r.epoch_seconds);
    println!(
        "\n{:<28} {:>5} {:<16} {:>8} {:>8} {:>10} {:>7} {:>7} {:>8} {:>7} {:>7} {:>9}",
        "config",
        "batch",
        "backend",
        "s/epoch",
        "steps/s",
        "examples/s",
        "load s",
        "eval s",
        "RSS MB",
        "test %",
        "×floor",
        "×PyTorch"
    );
    for row in &rows {
        let ratio = match floor {
            Some(floor) if row.config.ends_with("nielsen.toml") => {
                format!("{:.2}", row.epoch_seconds / floor)
            }
            _ => "-".into(),
        };
        let against = match fastest(&row.config, row.batch_size) {
            Some(reference) if row.backend != "floor" => {
                format!("{:.2}", row.epoch_seconds / reference.epoch_seconds)
            }
            _ => "-".into(),
        };
        println!(
            "{:<28} {:>5} {:<16} {:>8.3} {:>8.0} {:>10.0} {:>7.3} {:>7.3} {:>8.0} {:>7.2} {:>7} {:>9}",
            row.config,
            row.batch_size,
            row.backend,
            row.epoch_seconds,
            row.steps_per_second,
            row.examples_per_second,
            row.load_seconds,
            row.eval_seconds,
            row.peak_rss_mb,
            100.0 * row.test_accuracy,
            ratio,
            against
        );
    }
    for reference in &references {
        println!(
            "{:<28} {:>5} {:<16} {:>8.3} {:>8.0} {:>10.0} {:>7.3} {:>7} {:>8.0} {:>7.2} {:>7} {:>9}",
            reference.config,
            reference.batch_size,
            format!("{}, {}t", reference.backend, reference.threads),
            reference.epoch_seconds,
            reference.examples_per_second / reference.batch_size as f64,
            reference.examples_per_second,
            reference.load_seconds,
            "-",
            reference.peak_rss_mb,
            100.0 * reference.test_accuracy,
            "-",
            "-"
        );
    }
    println!();
    for row in &rows {
        println!("{}", serde_json::to_string(row)?);
    }
    for reference in &references {
        println!("{}", serde_json::to_string(reference)?);
    }
    Ok(())
}

/// A row of bench/pytorch_reference.py.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Reference {
    config: String,
    batch_size: usize,
    /// `pytorch-VERSION`.
    backend: String,
    threads: usize,
    epoch_seconds: f64,
    examples_per_second: f64,
    load_seconds: f64,
    peak_rss_mb: f64,
    test_accuracy: f64,
}

/// `config` at `batch_size` in PyTorch, at 1 and at 2 threads (none where the reference has no
/// such row).
fn pytorch(
    python: &std::path::Path,
    config: &str,
    batch_size: usize,
    args: &Args,
) -> anyhow::Result<Vec<Reference>> {
    let mut references = Vec::new();
    for threads in [1, 2] {
        let mut command = Command::new(python);
        command
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/bench/pytorch_reference.py"
            ))
            // The trailing space keeps batch 100 from matching batch 1000.
            .args(["--only", &format!("{config} {batch_size} ")])
            .args(["--epochs", &args.epochs.to_string()])
            .args(["--threads", &threads.to_string()]);
        if let Some(dir) = &args.data_dir {
            command.arg("--data-dir").arg(dir);
        }
        let output = command.output()?;
        anyhow::ensure!(
            output.status.success(),
            "bench/pytorch_reference.py on {config} at batch {batch_size} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout)?;
        references.extend(
            stdout
                .lines()
                .filter(|line| line.starts_with('{'))
                .map(serde_json::from_str::<Reference>)
                .collect::<Result<Vec<_>, _>>()?,
        );
    }
    Ok(references)
}

/// Runs one row in this process.
fn measure(spec: &Spec, args: &Args) -> anyhow::Result<Row> {
    let (epochs, data_dir) = (args.epochs as usize, args.data_dir.clone());
    let mut config = RunConfig::load(spec.config.as_ref())?;
    config.training.batch_size = spec.batch_size;
    config.training.epochs = epochs;
    let backend = match spec.backend.as_str() {
        "floor" => BackendName::Flex,
        name => <BackendName as clap::ValueEnum>::from_str(name, true)
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    };
    let remote = args
        .remote
        .as_deref()
        .filter(|_| backend == BackendName::Remote);
    let devices = Devices::select(backend, remote)?;
    let started = Instant::now();
    let files = MnistFiles::open(data_dir.as_deref())?;
    let splits = files.splits(&config.data, &devices.eval);
    let load_seconds = started.elapsed().as_secs_f64();
    let n = splits.train.len();

    let (mut times, test_accuracy, eval_seconds) = if spec.backend == "floor" {
        let model = NetworkConfig::new(config.model.clone(), config.output())
            .init(config.training.seed, &devices.eval);
        let mut floor = Floor::new(&model, &splits.train.clone().into_batch(&devices.eval));
        let times: Vec<f64> = (0..epochs)
            .map(|epoch| {
                let started = Instant::now();
                floor.epoch(config.training.seed, epoch, spec.batch_size, 3.0);
                started.elapsed().as_secs_f64()
            })
            .collect();
        let started = Instant::now();
        let accuracy = floor.accuracy(&splits.test);
        (times, accuracy, started.elapsed().as_secs_f64())
    } else {
        let mut learner = Learner::new(&config, &devices.train);
        let never = AtomicBool::new(false);
        let mut times = Vec::new();
        for _ in 0..epochs {
            let started = Instant::now();
            learner.train_epoch(&splits.train, &splits.device, &never, &mut ())?;
            times.push(started.elapsed().as_secs_f64());
        }
        let started = Instant::now();
        let correct = learner.correct(&splits.test);
        (
            times,
            correct as f64 / splits.test.len() as f64,
            started.elapsed().as_secs_f64(),
        )
    };
    times.sort_by(f64::total_cmp);
    let epoch_seconds = times[times.len() / 2];
    Ok(Row {
        config: spec.config.clone(),
        batch_size: spec.batch_size,
        backend: spec.backend.clone(),
        load_seconds,
        epoch_seconds,
        steps_per_second: n.div_ceil(spec.batch_size) as f64 / epoch_seconds,
        examples_per_second: n as f64 / epoch_seconds,
        eval_seconds,
        peak_rss_mb: peak_rss_mb(),
        test_accuracy,
    })
}

/// Microseconds per `add_scalar` and per `[10, 30] × [30, 10]` matmul on flex: plain, on the
/// autodiff device with an untracked tensor, and with a tracked one.
fn operation_costs() {
    use burn::tensor::{Device, Distribution, Tensor};
    let n = 100_000;
    println!(
        "{:<36} {:>16} {:>16}",
        "flex device", "add_scalar µs", "matmul µs"
    );
    for (name, device, tracked) in [
        ("plain", Device::flex(), false),
        (
            "autodiff, untracked tensor",
            Device::flex().autodiff(),
            false,
        ),
        ("autodiff, tracked tensor", Device::flex().autodiff(), true),
    ] {
        let mut x = Tensor::<2>::random([10, 30], Distribution::Default, &device);
        if tracked {
            x = x.require_grad();
        }
        let w = Tensor::<2>::random([30, 10], Distribution::Default, &device);
        let time = |op: &dyn Fn() -> Tensor<2>| {
            let started = Instant::now();
            let mut last = op();
            for _ in 1..n {
                last = op();
            }
            let _ = last.into_data();
            started.elapsed().as_secs_f64() * 1e6 / n as f64
        };
        let add = time(&|| x.clone().add_scalar(1.0));
        let matmul = time(&|| x.clone().matmul(w.clone()));
        println!("{name:<36} {add:>16.2} {matmul:>16.2}");
    }
}

/// The process's peak resident set size in MB (Linux's VmHWM), 0 where unknown.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// network.py's [784, 30, 10] sigmoid network with the quadratic cost, by hand. Row-major:
/// a batch is `[m, 784]`, weights are `[n_in, n_out]` as in the Burn model.
struct Floor {
    images: Vec<f32>,
    targets: Vec<f32>,
    n: usize,
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
}

const IN: usize = 784;
const HIDDEN: usize = 30;
const OUT: usize = 10;

fn host(tensor: burn::tensor::Tensor<2>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().try_to_vec().unwrap()
}

fn host1(tensor: burn::tensor::Tensor<1>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().try_to_vec().unwrap()
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// C = alpha · A·B + beta · C, A `[m, k]`, B `[k, n]`, with strides to read either transposed.
#[allow(clippy::too_many_arguments)]
fn gemm(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: &[f32],
    (rsa, csa): (isize, isize),
    b: &[f32],
    (rsb, csb): (isize, isize),
    beta: f32,
    c: &mut [f32],
) {
    // SAFETY: every slice holds the elements its strides reach for these dimensions.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

impl Floor {
    fn new(model: &digits::model::Network, train: &digits::data::MnistBatch) -> Self {
        let layers = model.layers();
        Self {
            images: host(train.images.clone()),
            targets: host(train.targets.clone()),
            n: train.len(),
            w1: host(layers[0].weight.val()),
            b1: host1(layers[0].bias.as_ref().unwrap().val()),
            w2: host(layers[1].weight.val()),
            b2: host1(layers[1].bias.as_ref().unwrap().val()),
        }
    }

    /// One epoch of mini-batch SGD in the order of `epoch_order(seed, epoch)`.
    fn epoch(&mut self, seed: u64, epoch: usize, batch: usize, eta: f32) {
        let order = epoch_order(seed, epoch, self.n);
        let (mut x, mut y) = (vec![0f32; batch * IN], vec![0f32; batch * OUT]);
        let (mut a1, mut a2) = (vec![0f32; batch * HIDDEN], vec![0f32; batch * OUT]);
        let mut d1 = vec![0f32; batch * HIDDEN];
        for chunk in order.chunks(batch) {
            let m = chunk.len();
            for (row, &i) in chunk.iter().enumerate() {
                x[row * IN..(row + 1) * IN].copy_from_slice(&self.images[i * IN..(i + 1) * IN]);
                y[row * OUT..(row + 1) * OUT]
                    .copy_from_slice(&self.targets[i * OUT..(i + 1) * OUT]);
            }
            // Forward: a1 = σ(x·w1 + b1), a2 = σ(a1·w2 + b2).
            self.forward(m, &x, &mut a1, &mut a2);
            // δ2 = (a2 − y) ⊙ σ'(z2), in place of a2.
            for (a, t) in a2[..m * OUT].iter_mut().zip(&y[..m * OUT]) {
                *a = (*a - t) * *a * (1.0 - *a);
            }
            // δ1 = (δ2·w2ᵀ) ⊙ σ'(z1), before w2 changes.
            gemm(
                m,
                OUT,
                HIDDEN,
                1.0,
                &a2,
                (OUT as isize, 1),
                &self.w2,
                (1, OUT as isize),
                0.0,
                &mut d1,
            );
            for (d, a) in d1[..m * HIDDEN].iter_mut().zip(&a1[..m * HIDDEN]) {
                *d *= a * (1.0 - a);
            }
            // w ← w − (eta/m)·inputᵀ·δ, folded into the sgemm; b ← b − (eta/m)·Σδ.
            let step = -eta / m as f32;
            gemm(
                HIDDEN,
                m,
                OUT,
                step,
                &a1,
                (1, HIDDEN as isize),
                &a2,
                (OUT as isize, 1),
                1.0,
                &mut self.w2,
            );
            gemm(
                IN,
                m,
                HIDDEN,
                step,
                &x,
                (1, IN as isize),
                &d1,
                (HIDDEN as isize, 1),
                1.0,
                &mut self.w1,
            );
            for row in 0..m {
                for j in 0..OUT {
                    self.b2[j] += step * a2[row * OUT + j];
                }
                for j in 0..HIDDEN {
                    self.b1[j] += step * d1[row * HIDDEN + j];
                }
            }
        }
    }

    fn forward(&self, m: usize, x: &[f32], a1: &mut [f32], a2: &mut [f32]) {
        gemm(
            m,
            IN,
            HIDDEN,
            1.0,
            x,
            (IN as isize, 1),
            &self.w1,
            (HIDDEN as isize, 1),
            0.0,
            a1,
        );
        for a in a1[..m * HIDDEN].chunks_mut(HIDDEN) {
            for (v, b) in a.iter_mut().zip(&self.b1) {
                *v = sigmoid(*v + b);
            }
        }
        gemm(
            m,
            HIDDEN,
            OUT,
            1.0,
            a1,
            (HIDDEN as isize, 1),
            &self.w2,
            (OUT as isize, 1),
            0.0,
            a2,
        );
        for a in a2[..m * OUT].chunks_mut(OUT) {
            for (v, b) in a.iter_mut().zip(&self.b2) {
                *v = sigmoid(*v + b);
            }
        }
    }

    /// Test accuracy, for a sanity check that the floor learns like the Burn model.
    fn accuracy(&self, test: &digits::data::MnistBatch) -> f64 {
        let images = host(test.images.clone());
        let labels: Vec<i64> = test
            .labels
            .clone()
            .into_data()
            .convert::<i64>()
            .try_to_vec()
            .unwrap();
        let n = labels.len();
        let (mut a1, mut a2) = (vec![0f32; n * HIDDEN], vec![0f32; n * OUT]);
        self.forward(n, &images, &mut a1, &mut a2);
        let correct = a2
            .chunks(OUT)
            .zip(&labels)
            .filter(|(scores, label)| {
                let best = (0..OUT)
                    .max_by(|&a, &b| scores[a].total_cmp(&scores[b]))
                    .unwrap();
                best as i64 == **label
            })
            .count();
        correct as f64 / n as f64
    }
}
