//! The `digits` command line: a thin layer over the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Parser, Subcommand, ValueEnum};
use digits::backend::{BackendName, Devices};
use digits::charts::{self, Curves};
use digits::checkpoint::Checkpoint;
use digits::config::{DataConfig, DataFormat, RunConfig};
use digits::data::MnistFiles;
use digits::dataset::RunData;
use digits::import::Layout;
use digits::progress::{Display, Reporter};
use digits::run::{Overrides, Run, run_name};
use digits::trained::Trained;
use digits::training::{FitEnd, TrainError};
use digits::{digit_image, gradcheck, inference};

/// Teach a neural network to read handwritten digits (MNIST), with Burn.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a network described by a TOML config, printing accuracy after every epoch.
    Train(TrainArgs),
    /// Test accuracy, per-class accuracy and confusion matrix of a run or a checkpoint.
    Eval {
        /// A run folder (its newest epoch) or a checkpoint folder.
        path: PathBuf,
        /// The run's data folder: the four MNIST IDX files, or its folder of images (default:
        /// where the run found them).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Where to compute (any backend reads any checkpoint).
        #[arg(long, value_enum, default_value_t = BackendName::Auto)]
        backend: BackendName,
        /// The device server for --backend remote: ws://HOST:PORT.
        #[arg(long, value_name = "URL")]
        remote: Option<String>,
    },
    /// Read handwritten digits from image files (PNG, JPEG; any size, either polarity).
    Predict {
        /// A run folder (its newest epoch) or a checkpoint folder.
        #[arg(long, value_name = "RUN")]
        model: PathBuf,
        /// The images.
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// Also print each 28×28 input as text: what the network saw.
        #[arg(long)]
        show: bool,
        /// Where to compute.
        #[arg(long, value_enum, default_value_t = BackendName::Auto)]
        backend: BackendName,
        /// The device server for --backend remote: ws://HOST:PORT.
        #[arg(long, value_name = "URL")]
        remote: Option<String>,
    },
    /// Compare autodiff gradients with central differences on a few training examples.
    Gradcheck {
        /// The run description whose network (and seed) is checked.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// A folder holding the four MNIST IDX files (overrides [data] dir).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Training examples in the batch.
        #[arg(long, value_name = "N", default_value_t = 3)]
        examples: usize,
    },
    /// Overlay the learning curves of several runs in one picture.
    Plot {
        /// Run folders; each is labelled by its folder name.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// The picture to write: PNG, or SVG by extension.
        #[arg(long, value_name = "FILE", default_value = "plot.png")]
        output: PathBuf,
    },
    /// Draw a grid of the test digits a run gets wrong, captioned true → predicted.
    Errors {
        /// A run folder (its newest epoch) or a checkpoint folder.
        path: PathBuf,
        /// The PNG to write.
        #[arg(long, value_name = "FILE", default_value = "errors.png")]
        output: PathBuf,
        /// Mistakes shown at most.
        #[arg(long, value_name = "N", default_value_t = 100)]
        limit: usize,
        /// The run's data folder: the four MNIST IDX files, or its folder of images (default:
        /// where the run found them).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Rerun the books' experiments (configs/) and write a report against the published
    /// figures, artifacts/reproduce/REPORT.md.
    Reproduce {
        /// Cut every run to 2 epochs: the whole pipeline in about a minute, for CI.
        #[arg(long)]
        quick: bool,
        /// Only the experiments whose name contains this, e.g. ch6-optimizer.
        #[arg(long, value_name = "TEXT")]
        only: Option<String>,
        /// The folder of the experiments' configs.
        #[arg(long, value_name = "DIR", default_value = "configs")]
        configs: PathBuf,
        /// Where the runs and the report go.
        #[arg(long, value_name = "DIR", default_value = "artifacts/reproduce")]
        out: PathBuf,
        /// A folder holding the four MNIST IDX files (overrides [data] dir).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Overrides [training] backend.
        #[arg(long, value_enum)]
        backend: Option<BackendName>,
        /// Print each run's summary only, not every epoch.
        #[arg(long)]
        quiet: bool,
    },
    /// Serve this machine's device to other machines' `--backend remote` (Burn's remote
    /// backend over WebSocket). Clients need the token, from DIGITS_REMOTE_TOKEN or printed here.
    DeviceServer {
        /// The device to serve.
        #[arg(long, value_enum, default_value_t = BackendName::Auto)]
        backend: BackendName,
        /// The port to listen on (0: any free one).
        #[arg(long, default_value_t = 7000)]
        port: u16,
        /// The address to listen on; the default lets in this machine only (tunnel over ssh).
        #[arg(long, default_value = "127.0.0.1")]
        addr: std::net::IpAddr,
    },
    /// About the data.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Write a run's or a checkpoint's weights in another format.
    Export {
        /// A run folder (its newest epoch) or a checkpoint folder.
        path: PathBuf,
        /// The format to write.
        #[arg(long, value_enum, default_value_t = Format::Safetensors)]
        format: Format,
        /// The file to write.
        #[arg(long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Serve a page where you draw a digit and watch the network read it, and its JSON API.
    Serve {
        /// A run folder (its newest epoch) or a checkpoint folder; repeat to offer several.
        #[arg(long, value_name = "RUN", required = true)]
        model: Vec<PathBuf>,
        /// Where to listen. Loopback unless you say otherwise; port 0 picks a free one.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
        /// The first model's data folder, for random test images: the four MNIST IDX files, or
        /// its folder of images (default: where its run found them).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Where to compute.
        #[arg(long, value_enum, default_value_t = BackendName::Auto)]
        backend: BackendName,
        /// The device server for --backend remote: ws://HOST:PORT.
        #[arg(long, value_name = "URL")]
        remote: Option<String>,
    },
    /// Make a run folder from weights trained elsewhere (safetensors), for eval, predict and
    /// errors.
    Import {
        /// The safetensors file: digits' tensor names, in digits' or PyTorch's layout.
        #[arg(long, value_name = "FILE")]
        weights: PathBuf,
        /// The config that describes the network (its [model] and [loss] sections count).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The run folder to make; it must not exist.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// How the weights are laid out (default: read off their shapes).
        #[arg(long, value_enum)]
        layout: Option<Layout>,
    },
}

#[derive(Debug, Subcommand)]
enum DataCommand {
    /// Where the data comes from, its splits and class counts; for MNIST whether the files are
    /// official, for a folder of images the files skipped and why.
    Info {
        /// A folder holding the four MNIST IDX files (default: burn-dataset's cache or the
        /// offline copy), or of class subfolders with --format images (overrides [data] dir).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The data of this run description (its [data] section).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// What --data-dir holds (overrides [data] format).
        #[arg(long, value_enum)]
        format: Option<DataFormatArg>,
    },
    /// Write MNIST-style IDX files (MNIST, Fashion-MNIST) as a folder of PNGs,
    /// OUT/{train,test}/<class>/<index>.png, for [data] format = "images".
    ExportImages {
        /// The folder to make; it must not exist.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// A folder holding the four IDX files (default: burn-dataset's cache or the offline
        /// copy).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The class folders' names for labels 0-9, comma-separated (default: the digits).
        #[arg(long, value_name = "NAMES", value_delimiter = ',')]
        names: Option<Vec<String>>,
        /// Write only the first N images of each split.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
}

/// `[data] format`, as a flag.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum DataFormatArg {
    /// The four MNIST IDX files.
    Mnist,
    /// A folder of class subfolders of images.
    Images,
}

/// Export formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// Hugging Face safetensors, through burn-store.
    Safetensors,
    /// ONNX (opset 13): inputs `pixels`, outputs `probabilities` and `scores`.
    Onnx,
}

#[derive(Debug, clap::Args)]
struct TrainArgs {
    /// The run description, e.g. configs/nielsen.toml.
    #[arg(long, value_name = "FILE", required_unless_present = "resume")]
    config: Option<PathBuf>,
    /// Carry on the run in this folder from its newest checkpoint.
    #[arg(long, value_name = "RUN")]
    resume: Option<PathBuf>,
    /// Overrides [training] epochs.
    #[arg(long, value_name = "N")]
    epochs: Option<usize>,
    /// Overrides [training] batch_size.
    #[arg(long, value_name = "N")]
    batch_size: Option<usize>,
    /// Overrides [optimizer] lr.
    #[arg(long, value_name = "RATE", allow_negative_numbers = true)]
    lr: Option<f64>,
    /// Overrides [training] seed.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Overrides [training] backend.
    #[arg(long, value_enum)]
    backend: Option<BackendName>,
    /// The device server for --backend remote: ws://HOST:PORT.
    #[arg(long, value_name = "URL")]
    remote: Option<String>,
    /// A folder holding the four MNIST IDX files, gzipped or not, or with [data] format =
    /// "images" the folder of class subfolders (overrides [data] dir).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Fine-tune: start from this run's (or checkpoint's) weights; with another number of
    /// classes its last layer is drawn afresh (overrides [training] init_from).
    #[arg(long, value_name = "RUN", conflicts_with = "resume")]
    init_from: Option<PathBuf>,
    /// The run folder (overrides [output] dir; default artifacts/<config name>).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Move a run folder that already holds a run aside instead of refusing.
    #[arg(long, conflicts_with = "resume")]
    force: bool,
    /// Print the final summary only.
    #[arg(long, conflicts_with = "json")]
    quiet: bool,
    /// Print one JSON object per epoch on stdout (everything else goes to stderr).
    #[arg(long)]
    json: bool,
}

/// Raised by Ctrl-C or SIGTERM; the training loop checks it at every step.
static STOP: AtomicBool = AtomicBool::new(false);

fn main() -> ExitCode {
    digits::panics::as_one_line_errors();
    let result = match Cli::parse().command {
        Command::Train(args) => train(args),
        Command::Eval {
            path,
            data_dir,
            backend,
            remote,
        } => devices(backend, remote.as_deref())
            .and_then(|devices| eval(&path, data_dir.as_deref(), &devices)),
        Command::Predict {
            model,
            images,
            show,
            backend,
            remote,
        } => devices(backend, remote.as_deref())
            .and_then(|devices| predict(&model, &images, show, &devices)),
        Command::DeviceServer {
            backend,
            port,
            addr,
        } => device_server(backend, std::net::SocketAddr::new(addr, port)),
        Command::Serve {
            model,
            addr,
            data_dir,
            backend,
            remote,
        } => devices(backend, remote.as_deref())
            .and_then(|devices| serve(&model, addr, data_dir.as_deref(), &devices)),
        Command::Gradcheck {
            config,
            data_dir,
            examples,
        } => gradcheck(&config, data_dir.as_deref(), examples),
        Command::Plot { runs, output } => plot(&runs, &output),
        Command::Reproduce {
            quick,
            only,
            configs,
            out,
            data_dir,
            backend,
            quiet,
        } => reproduce(
            &digits::reproduce::Options {
                configs,
                out,
                quick,
                only,
                data_dir,
                backend,
            },
            quiet,
        ),
        Command::Data {
            command:
                DataCommand::Info {
                    data_dir,
                    config,
                    format,
                },
        } => data_info(data_dir, config.as_deref(), format),
        Command::Data {
            command:
                DataCommand::ExportImages {
                    out,
                    data_dir,
                    names,
                    limit,
                },
        } => export_images(&out, data_dir.as_deref(), names.as_deref(), limit),
        Command::Errors {
            path,
            output,
            limit,
            data_dir,
        } => errors(&path, &output, limit, data_dir.as_deref()),
        Command::Export {
            path,
            format,
            output,
        } => export(&path, format, &output),
        Command::Import {
            weights,
            config,
            out,
            layout,
        } => import(&weights, &config, &out, layout),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn data_info(
    data_dir: Option<PathBuf>,
    config: Option<&Path>,
    format: Option<DataFormatArg>,
) -> anyhow::Result<ExitCode> {
    let mut data = match config {
        Some(path) => RunConfig::load(path)?.data,
        None => DataConfig::default(),
    };
    if let Some(format) = format {
        data.format = match format {
            DataFormatArg::Mnist => DataFormat::Mnist,
            DataFormatArg::Images => DataFormat::Images,
        };
    }
    if data_dir.is_some() {
        data.dir = data_dir;
    }
    let report = match data.format {
        DataFormat::Mnist => digits::datainfo::report(data.dir.as_deref(), data.validation_size())?,
        DataFormat::Images => digits::datainfo::report_images(&data)?,
    };
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}

fn export_images(
    out: &Path,
    data_dir: Option<&Path>,
    names: Option<&[String]>,
    limit: Option<usize>,
) -> anyhow::Result<ExitCode> {
    let files = MnistFiles::open(data_dir)?;
    let exported = digits::export_images::export_images(&files, out, names, limit, true)?;
    println!(
        "Wrote {} training and {} test images from {} into {}/train and {}/test",
        exported.train,
        exported.test,
        files.source,
        out.display(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn reproduce(options: &digits::reproduce::Options, quiet: bool) -> anyhow::Result<ExitCode> {
    stop_on_signals()?;
    let display = if quiet {
        Display::Quiet
    } else {
        Display::for_terminal()
    };
    let mut reporter = Reporter::new(display);
    let result = digits::reproduce::reproduce(
        options,
        &STOP,
        &mut |line| println!("{line}"),
        &mut reporter,
    );
    match result {
        Ok(report) => {
            println!("Wrote {}", report.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(error) if matches!(error.downcast_ref(), Some(TrainError::Interrupted { .. })) => {
            eprintln!("Interrupted; the report was not written.");
            Ok(ExitCode::from(130))
        }
        Err(error) => Err(error),
    }
}

/// Ctrl-C and SIGTERM raise [`STOP`]; a second one exits at once.
fn stop_on_signals() -> anyhow::Result<()> {
    ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            // A second Ctrl-C: the files of the last complete epoch are on disk already.
            std::process::exit(130);
        }
    })?;
    Ok(())
}

fn train(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let overrides = Overrides {
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        seed: args.seed,
        backend: args.backend,
        remote: args.remote,
        data_dir: args.data_dir,
        init_from: args.init_from,
        out: args.out,
    };
    let run = match (&args.resume, &args.config) {
        (Some(dir), config) => Run::resume(dir, config.as_deref(), &overrides)?,
        (None, Some(config)) => Run::new(config, &overrides, args.force)?,
        (None, None) => unreachable!("clap requires --config without --resume"),
    };
    stop_on_signals()?;
    let display = match (args.quiet, args.json) {
        (true, _) => Display::Quiet,
        (_, true) => Display::Json,
        _ => Display::for_terminal(),
    };
    // What is not per-epoch output: stdout normally, stderr beside JSON, nothing when quiet.
    let info = |line: String| match display {
        Display::Json => eprintln!("{line}"),
        Display::Quiet => {}
        Display::Bar | Display::Lines => println!("{line}"),
    };
    if let Some(aside) = &run.moved_aside {
        eprintln!("Moved the previous run to {}", aside.display());
    }
    for damaged in &run.damaged {
        eprintln!(
            "warning: skipping damaged checkpoint {}: {}",
            damaged.dir.display(),
            damaged.problem
        );
    }
    let c = &run.config;
    info(format!("Training {}", c.describe()));
    info(format!(
        "Data: {}; backend: {}; run folder: {}",
        run.data,
        run.devices.describe(),
        run.dir.display()
    ));
    if let Some(load) = &run.load {
        info(format!(
            "Images: {} files read in {:.2} s, {} of them prepared before (cache {})",
            load.files,
            load.seconds,
            load.cached,
            load.cache.display()
        ));
    }
    warn_skipped(&run.skipped);
    if let Some((_, note)) = &run.init {
        info(note.clone());
    }
    for note in &run.devices.notes {
        info(format!("Backend: {note}"));
    }
    if let Some(checkpoint) = &run.resumed {
        info(format!(
            "Resuming after epoch {} from {}",
            checkpoint.epoch,
            checkpoint.dir.display()
        ));
        if checkpoint.epoch >= c.training.epochs {
            info(format!(
                "The run has completed its {} epochs; pass --epochs N to extend it.",
                c.training.epochs
            ));
        }
    }
    let dir = run.dir.clone();
    let patience = c.training.patience.unwrap_or_default();
    let summary = match run.train(&STOP, &mut Reporter::new(display)) {
        Ok(summary) => summary,
        Err(error) => {
            let Some(TrainError::Interrupted { epoch }) = error.downcast_ref() else {
                return Err(error);
            };
            let program = std::env::args().next().unwrap_or_else(|| "digits".into());
            eprintln!(
                "Interrupted during epoch {epoch}; {} keeps epoch {}. Resume with:\n  {program} train --resume {}",
                dir.display(),
                epoch - 1,
                dir.display()
            );
            return Ok(ExitCode::from(130));
        }
    };
    let summary_line = |line: String| match display {
        Display::Json => eprintln!("{line}"),
        _ => println!("{line}"),
    };
    if let FitEnd::EarlyStopped { best_epoch } = summary.end {
        info(format!(
            "Stopped early: validation accuracy has not improved since epoch {best_epoch} ({patience} epochs of patience); its checkpoint is kept: {}",
            digits::checkpoint::folder(&summary.dir, best_epoch).display()
        ));
    }
    if let (Some(best), Some(chosen)) = (summary.best(), summary.best_validation()) {
        summary_line(format!(
            "Best test accuracy: {} / {} ({:.2}%) at epoch {}; validation {:.2}%. Saved in {}",
            best.test_correct,
            best.test_total,
            100.0 * best.test_accuracy(),
            best.epoch,
            100.0 * best.validation_accuracy(),
            summary.dir.display()
        ));
        summary_line(format!(
            "Best validation accuracy: {:.2}% at epoch {}, where test is {} / {} ({:.2}%). Training accuracy at the end: {:.2}%",
            100.0 * chosen.validation_accuracy(),
            chosen.epoch,
            chosen.test_correct,
            chosen.test_total,
            100.0 * chosen.test_accuracy(),
            100.0 * summary.train_accuracy()
        ));
    }
    let saves = &summary.checkpoint_seconds;
    if !saves.is_empty() {
        info(format!(
            "Checkpoints: {} written, {:.1} KiB each, {:.1} ms per save on average",
            saves.len(),
            summary.checkpoint_bytes as f64 / 1024.0,
            1000.0 * saves.iter().sum::<f64>() / saves.len() as f64
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// A warning for each file of an image folder that was skipped: the first few, then a count.
fn warn_skipped(skipped: &[digits::image_folder::Skipped]) {
    const SHOWN: usize = 10;
    for file in skipped.iter().take(SHOWN) {
        eprintln!("warning: skipped {}: {}", file.path.display(), file.reason);
    }
    if skipped.len() > SHOWN {
        eprintln!(
            "warning: and {} more files skipped; `digits data info` lists them all",
            skipped.len() - SHOWN
        );
    }
}

/// The devices of `backend`, with what was said about the choice on stderr.
fn devices(backend: BackendName, remote: Option<&str>) -> anyhow::Result<Devices> {
    let devices = Devices::select(backend, remote)?;
    for note in &devices.notes {
        eprintln!("Backend: {note}");
    }
    Ok(devices)
}

#[cfg(feature = "remote")]
fn device_server(backend: BackendName, address: std::net::SocketAddr) -> anyhow::Result<ExitCode> {
    use digits::backend::remote::{DeviceServer, TOKEN_ENV};
    let devices = devices(backend, None)?;
    let server = DeviceServer::bind(address)?;
    let url = server.url()?;
    println!("Serving {} at {url}", devices.describe());
    if server.token_generated {
        println!("Token (set {TOKEN_ENV} to choose it): {}", server.token);
    }
    println!(
        "Clients: {TOKEN_ENV}=<token> digits train --config FILE --backend remote --remote {url}"
    );
    println!(
        "WebSocket is unencrypted: reach another machine through an ssh tunnel. Ctrl-C stops."
    );
    server.serve(devices.eval)?;
    println!("Stopped.");
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "remote"))]
fn device_server(_: BackendName, _: std::net::SocketAddr) -> anyhow::Result<ExitCode> {
    Err(digits::backend::BackendError::NotCompiled {
        name: BackendName::Remote,
    }
    .into())
}

fn eval(path: &Path, data_dir: Option<&Path>, devices: &Devices) -> anyhow::Result<ExitCode> {
    let device = devices.eval.clone();
    let trained = Trained::load(path, &device)?;
    println!("Model: {}", trained.path.display());
    println!("{}", trained.evaluate(data_dir, &device)?);
    Ok(ExitCode::SUCCESS)
}

fn predict(
    model: &Path,
    images: &[PathBuf],
    show: bool,
    devices: &Devices,
) -> anyhow::Result<ExitCode> {
    let device = devices.eval.clone();
    let trained = Trained::load(model, &device)?;
    let mut failed = false;
    let mut read = Vec::new();
    for path in images {
        match digit_image::load(path) {
            Ok(pixels) => read.push((path, pixels)),
            Err(error) => {
                eprintln!("error: {error}");
                failed = true;
            }
        }
    }
    let pixels: Vec<_> = read.iter().map(|(_, p)| *p).collect();
    let probabilities = if pixels.is_empty() {
        Vec::new()
    } else {
        trained.probabilities(&pixels, &device)
    };
    let classes = trained.classes();
    for ((path, pixels), probabilities) in read.iter().zip(&probabilities) {
        let ranked = inference::ranked(probabilities);
        let runners_up: Vec<String> = ranked[1..ranked.len().min(3)]
            .iter()
            .map(|(class, p)| format!("{} ({:.1}%)", classes[*class], 100.0 * p))
            .collect();
        println!(
            "{}: {} ({:.1}%)  then {}",
            path.display(),
            classes[ranked[0].0],
            100.0 * ranked[0].1,
            runners_up.join(", ")
        );
        if show {
            println!("{}", digit_image::text_art(pixels));
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn serve(
    models: &[PathBuf],
    address: std::net::SocketAddr,
    data_dir: Option<&Path>,
    devices: &Devices,
) -> anyhow::Result<ExitCode> {
    let app = digits::serve::App::new(models, &devices.eval)?;
    // Random test images come from the first model's data: a folder given must be there;
    // otherwise the page works without them.
    let data = RunData::open(app.data(), data_dir, true);
    let app = match (data, data_dir) {
        (Ok(data), _) => app.with_test_set(&data),
        (Err(error), Some(_)) => return Err(error),
        (Err(error), None) => {
            eprintln!("Random test digits are off: {error:#}");
            app
        }
    };
    let described: Vec<String> = app
        .models()
        .iter()
        .map(|m| match m.test_accuracy {
            Some(accuracy) => format!("{} ({:.2}%)", m.name, 100.0 * accuracy),
            None => m.name.clone(),
        })
        .collect();
    digits::serve::run(app, address, |url| {
        println!("Serving {} at {url}", described.join(", "));
        println!("Open it in a browser; the API is in the README (Draw a digit). Ctrl-C stops.");
    })?;
    println!("Stopped.");
    Ok(ExitCode::SUCCESS)
}

fn gradcheck(config: &Path, data_dir: Option<&Path>, examples: usize) -> anyhow::Result<ExitCode> {
    let run = RunConfig::load(config)?;
    let data = RunData::open(&run.data, data_dir, true)?;
    run.validate(
        &config.display().to_string(),
        data.train_pool(),
        data.classes().len(),
    )?;
    if run.model.dropout > 0.0 || run.model.batch_norm {
        anyhow::bail!(
            "{}: gradcheck checks networks whose cost is a fixed function of the weights; set [model] dropout = 0 and batch_norm = false (random masks and batch statistics are not)",
            config.display()
        );
    }
    let devices = devices(run.training.backend, None)?;
    let batch = data.first_training_examples(examples.max(1), &devices.train);
    println!(
        "Gradient check of {:?} ({} cost, seed {}) on {} training examples: central differences, step {}",
        run.model.sizes,
        run.loss.cost,
        run.training.seed,
        batch.len(),
        gradcheck::STEP
    );
    let checks = gradcheck::check(&run, &batch, &devices.train);
    for check in &checks {
        println!(
            "  {:<16} {:>11}  {:>3} entries  mean |autodiff - numerical| {:.2e}  max relative error {:.2e}{}",
            check.name,
            format!("{:?}", check.shape),
            check.checked,
            check.mean_abs_diff,
            check.max_rel_error,
            if check.passes() { "" } else { "  TOO LARGE" }
        );
    }
    if checks.iter().all(|c| c.passes()) {
        println!(
            "OK: every relative error is below {:.0e}",
            gradcheck::THRESHOLD
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "error: autodiff and central differences disagree beyond {:.0e}",
            gradcheck::THRESHOLD
        );
        Ok(ExitCode::FAILURE)
    }
}

fn plot(runs: &[PathBuf], output: &Path) -> anyhow::Result<ExitCode> {
    let mut curves = Vec::new();
    for run in runs {
        let (newest, _) = Checkpoint::newest(run)?;
        let Some(checkpoint) = newest else {
            anyhow::bail!("{}: no complete epoch to plot", run.display());
        };
        curves.push(Curves {
            label: run_name(run),
            epochs: checkpoint.metrics,
        });
    }
    charts::draw_curves(&curves, output)?;
    println!("Wrote {}", output.display());
    Ok(ExitCode::SUCCESS)
}

fn errors(
    path: &Path,
    output: &Path,
    limit: usize,
    data_dir: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let device = Devices::select(BackendName::Auto, None)?.eval;
    let trained = Trained::load(path, &device)?;
    let mistakes = trained.mistakes(data_dir, &device, limit)?;
    charts::draw_mistakes(&mistakes, output)?;
    println!(
        "Wrote {} with {} misclassified test digits",
        output.display(),
        mistakes.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn export(path: &Path, format: Format, output: &Path) -> anyhow::Result<ExitCode> {
    let trained = Trained::load(path, &Devices::select(BackendName::Auto, None)?.eval)?;
    let name = match format {
        Format::Safetensors => {
            trained.export_safetensors(output)?;
            "safetensors"
        }
        Format::Onnx => {
            trained.export_onnx(output)?;
            "ONNX"
        }
    };
    println!(
        "Wrote {} ({name}) from {}",
        output.display(),
        trained.path.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn import(
    weights: &Path,
    config: &Path,
    out: &Path,
    layout: Option<Layout>,
) -> anyhow::Result<ExitCode> {
    let imported = digits::import::import(weights, config, out, layout)?;
    let layout = match imported.layout {
        Layout::Digits => "digits' layout, [n_in, n_out] weights",
        Layout::Pytorch => "PyTorch's layout, nn.Linear's [n_out, n_in] weights",
    };
    let how = if imported.detected {
        "read off the shapes"
    } else {
        "as --layout says"
    };
    println!(
        "Imported {} in {layout} ({how}) into {}: `digits eval {}` tests it",
        weights.display(),
        out.display(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
