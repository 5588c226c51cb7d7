//! Checkpoints and resume through the real binary: exactness, kills, Ctrl-C, damaged
//! checkpoints, refused changes, eval and export.

use crate::common::*;
use digits::train::checkpoint::Checkpoint;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub fn tests() -> Vec<Test> {
    vec![
        test!(resume_is_exact_for_the_seed_configs, MNIST),
        test!(expanded_data_resumes_exactly),
        test!(conv_dropout_resumes_exactly),
        test!(killed_runs_resume_to_the_uninterrupted_result),
        test!(ctrl_c_keeps_the_last_checkpoint_and_says_how_to_resume),
        test!(a_damaged_checkpoint_falls_back_to_the_previous_one),
        test!(resume_refuses_changes_to_the_mathematics),
        test!(old_checkpoints_are_pruned_but_the_best_is_kept),
        test!(eval_reports_the_runs_accuracy),
        test!(export_reads_back_with_an_independent_reader),
        test!(a_run_in_use_is_refused_until_its_process_ends),
        test!(sigterm_keeps_the_last_checkpoint_too),
        test!(a_full_disk_is_an_error_and_the_last_checkpoint_survives),
        test!(a_failed_checkpoint_write_keeps_the_previous_one),
    ]
}

/// Rows of metrics.csv without `seconds`, model.bpk and the safetensors export of a run.
fn outcome(run: &Path) -> (Vec<String>, Vec<u8>, Vec<u8>) {
    let export = run.with_extension("safetensors");
    Digits::new("export")
        .arg(run)
        .arg("--output")
        .arg(&export)
        .succeeds();
    (
        metrics_without_seconds(run),
        std::fs::read(run.join("model.bpk")).unwrap(),
        std::fs::read(&export).unwrap(),
    )
}

/// A synthetic data folder and its config, inside a temp dir.
struct Synthetic {
    tmp: tempfile::TempDir,
    data: PathBuf,
    config: PathBuf,
}

impl Synthetic {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        synthetic_mnist(&data, 600, 200, false);
        let config = synthetic_config(tmp.path());
        Self { tmp, data, config }
    }

    fn run(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// `digits train` of a new run into `run`.
    fn train(&self, run: &Path) -> Digits {
        Digits::train(&self.config, &self.data, run)
    }
}

fn checkpoint_names(run: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(run.join("checkpoints"))
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn half_written(run: &Path) -> bool {
    checkpoint_names(run)
        .iter()
        .any(|n| n.contains(".partial-"))
}

/// Both seed configs on real MNIST: 1 epoch, then resumed to 3, equals 3 uninterrupted epochs:
/// the same metrics, a byte-identical model and byte-identical exported weights.
fn resume_is_exact_for_the_seed_configs() {
    let tmp = tempfile::tempdir().unwrap();
    for config in ["configs/nielsen.toml", "configs/two-layer-net.toml"] {
        let whole = tmp.path().join("whole");
        let split = tmp.path().join("split");
        let new_run = |out: &Path, epochs: &str| {
            Digits::train(config, mnist(), out)
                .args(["--epochs", epochs])
                .succeeds();
        };
        new_run(&whole, "3");
        new_run(&split, "1");
        Digits::resume(&split).args(["--epochs", "3"]).succeeds();
        assert_eq!(metrics_without_seconds(&split).len(), 3);
        assert!(
            outcome(&whole) == outcome(&split),
            "{config}: resume is not exact"
        );
        std::fs::remove_dir_all(&whole).unwrap();
        std::fs::remove_dir_all(&split).unwrap();
    }
}

/// `[data] expand`: an epoch of expanded data differs from one without, and 1 epoch resumed
/// to 3 equals 3 uninterrupted epochs, byte for byte.
fn expanded_data_resumes_exactly() {
    let synthetic = Synthetic::new();
    let text = std::fs::read_to_string(&synthetic.config).unwrap();
    let expanded = synthetic.run("expanded.toml");
    std::fs::write(
        &expanded,
        text.replace("[data]\n", "[data]\nexpand = true\n"),
    )
    .unwrap();
    let (plain, whole, split) = (
        synthetic.run("plain"),
        synthetic.run("whole"),
        synthetic.run("split"),
    );
    synthetic.train(&plain).args(["--epochs", "1"]).succeeds();
    let train = |out: &Path, epochs: &str| {
        Digits::train(&expanded, &synthetic.data, out)
            .args(["--epochs", epochs])
            .succeeds()
    };
    train(&whole, "3");
    train(&split, "1");
    assert_ne!(
        metrics_without_seconds(&plain)[0],
        metrics_without_seconds(&split)[0],
        "expanding changed nothing"
    );
    Digits::resume(&split).args(["--epochs", "3"]).succeeds();
    assert!(outcome(&whole) == outcome(&split), "resume is not exact");
}

/// A convolutional network with dropout after a pooled conv layer, on the hidden layer and on
/// the scores, and L2 over the filters: 1 epoch resumed to 3 equals 3 uninterrupted epochs,
/// byte for byte.
fn conv_dropout_resumes_exactly() {
    let synthetic = Synthetic::new();
    let config = small_conv_config(synthetic.tmp.path());
    let (whole, split) = (synthetic.run("whole"), synthetic.run("split"));
    let train = |out: &Path, epochs: &str| {
        Digits::train(&config, &synthetic.data, out)
            .args(["--epochs", epochs])
            .succeeds()
    };
    train(&whole, "3");
    train(&split, "1");
    Digits::resume(&split).args(["--epochs", "3"]).succeeds();
    assert!(outcome(&whole) == outcome(&split), "resume is not exact");
}

/// SIGKILL three times, twice while a checkpoint is half written, then resume to the end: the
/// run equals an uninterrupted one and no scratch folder is left.
fn killed_runs_resume_to_the_uninterrupted_result() {
    let s = Synthetic::new();
    let whole = s.run("whole");
    s.train(&whole).succeeds();

    let run = s.run("killed");
    // 1: during the first checkpoint.
    let mut child = spawn_pausing(s.train(&run), 300);
    wait_for("a half-written checkpoint", || half_written(&run));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        checkpoint_names(&run)
            .iter()
            .all(|n| n.contains(".partial-"))
    );
    // 2: during a later checkpoint, with complete ones beside it.
    let mut child = spawn_pausing(Digits::resume(&run), 300);
    wait_for("epoch 3", || run.join("checkpoints/epoch-0003").is_dir());
    wait_for("a half-written checkpoint", || half_written(&run));
    child.kill().unwrap();
    child.wait().unwrap();
    // 3: anywhere.
    let mut child = spawn_pausing(Digits::resume(&run), 30);
    std::thread::sleep(Duration::from_millis(250));
    child.kill().unwrap();
    child.wait().unwrap();

    Digits::resume(&run).succeeds();
    assert!(!half_written(&run), "{:?}", checkpoint_names(&run));
    assert!(outcome(&whole) == outcome(&run), "the killed run differs");
}

/// Ctrl-C stops within a moment, exits non-zero, prints the resume command and keeps the last
/// complete checkpoint, from which the run completes exactly.
fn ctrl_c_keeps_the_last_checkpoint_and_says_how_to_resume() {
    let s = Synthetic::new();
    let whole = s.run("whole");
    s.train(&whole).succeeds();

    let run = s.run("interrupted");
    let child = spawn_pausing(s.train(&run), 100);
    wait_for("epoch 2", || run.join("checkpoints/epoch-0002").is_dir());
    let signalled = Instant::now();
    signal(child.id(), "INT");
    let output = child.wait_with_output().unwrap();
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "took {:?}",
        signalled.elapsed()
    );
    assert_eq!(output.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Interrupted during epoch"), "{stderr}");
    assert!(
        stderr.contains(&format!("train --resume {}", run.display())),
        "{stderr}"
    );

    Digits::resume(&run).succeeds();
    assert!(
        outcome(&whole) == outcome(&run),
        "the interrupted run differs"
    );
}

/// A garbled newest checkpoint is skipped with a warning naming it; with none usable, a
/// one-line error.
fn a_damaged_checkpoint_falls_back_to_the_previous_one() {
    let s = Synthetic::new();
    let whole = s.run("whole");
    s.train(&whole).args(["--epochs", "5"]).succeeds();
    let run = s.run("damaged");
    s.train(&run).args(["--epochs", "4"]).succeeds();

    let model = run.join("checkpoints/epoch-0004/model.bpk");
    let mut bytes = std::fs::read(&model).unwrap();
    bytes[200] ^= 0xff;
    std::fs::write(&model, bytes).unwrap();
    let output = Digits::resume(&run).args(["--epochs", "5"]).output();
    succeeded(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("warning: skipping damaged checkpoint"),
        "{stderr}"
    );
    assert!(
        stderr.contains("epoch-0004/model.bpk: checksum"),
        "{stderr}"
    );
    assert!(outcome(&whole) == outcome(&run), "the fallback run differs");

    for name in checkpoint_names(&run) {
        let state = run.join("checkpoints").join(name).join("state.toml");
        std::fs::write(state, "epoch = ").unwrap();
    }
    let stderr = Digits::resume(&run).args(["--epochs", "6"]).fails();
    assert!(stderr.contains("no usable checkpoint"), "{stderr}");
}

/// Only the epochs, the data folder and [output] may change on resume.
fn resume_refuses_changes_to_the_mathematics() {
    let s = Synthetic::new();
    let run = s.run("run");
    s.train(&run).args(["--epochs", "1"]).succeeds();
    let stderr = Digits::resume(&run).args(["--lr", "0.5"]).fails();
    assert!(
        stderr.contains("`optimizer.lr` is 0.1 in the run but 0.5 now"),
        "{stderr}"
    );
    let stderr = Digits::resume(&run).args(["--batch-size", "20"]).fails();
    assert!(
        stderr.contains("`training.batch_size` is 10 in the run but 20 now"),
        "{stderr}"
    );
    let stderr = Digits::resume(&run).config("configs/nielsen.toml").fails();
    assert!(
        stderr.contains("`data.validation_size` is 100 in the run but 10000 now"),
        "{stderr}"
    );
    let stderr = Digits::resume(&run).out("elsewhere").fails();
    assert!(
        stderr.contains("--out cannot be combined with --resume"),
        "{stderr}"
    );
    let stderr = Digits::resume("/no/such/run").fails();
    assert!(
        stderr.contains("/no/such/run is not a run folder"),
        "{stderr}"
    );
}

/// The newest `keep_last` checkpoints stay, with the best by validation accuracy.
fn old_checkpoints_are_pruned_but_the_best_is_kept() {
    let s = Synthetic::new();
    let run = s.run("run");
    s.train(&run).succeeds();
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let best = csv
        .lines()
        .skip(1)
        .map(|row| row.split(',').collect::<Vec<_>>())
        .fold((0, -1.0), |best, row| {
            let accuracy: f64 = row[2].parse().unwrap();
            if accuracy > best.1 {
                (row[0].parse().unwrap(), accuracy)
            } else {
                best
            }
        })
        .0;
    let mut expected = vec![
        format!("epoch-{best:04}"),
        "epoch-0009".into(),
        "epoch-0010".into(),
    ];
    expected.sort();
    expected.dedup();
    assert_eq!(checkpoint_names(&run), expected);
}

/// `eval` reports the accuracy the run measured, per class and as a confusion matrix, for a run
/// and for one of its checkpoints.
fn eval_reports_the_runs_accuracy() {
    let s = Synthetic::new();
    let run = s.run("run");
    s.train(&run).args(["--epochs", "3"]).succeeds();
    let last = test_accuracies(&run)[2];
    for path in [run.clone(), run.join("checkpoints/epoch-0003")] {
        let stdout = Digits::new("eval").arg(&path).succeeds();
        let expected = format!("Test accuracy: {} / 200", (last * 200.0).round());
        assert!(stdout.contains(&expected), "{stdout}");
        assert!(stdout.contains("Per class:"), "{stdout}");
        assert!(stdout.contains("Confusion matrix"), "{stdout}");
    }
    let stderr = Digits::new("eval").arg(&s.data).fails();
    assert!(
        stderr.contains("neither a run folder nor a checkpoint"),
        "{stderr}"
    );
}

/// The safetensors export, read by the `safetensors` crate, holds the model's tensors under the
/// documented names, shapes and values.
fn export_reads_back_with_an_independent_reader() {
    let s = Synthetic::new();
    let run = s.run("run");
    s.train(&run).args(["--epochs", "2"]).succeeds();
    let file = s.run("model.safetensors");
    Digits::new("export")
        .arg(&run)
        .arg("--output")
        .arg(&file)
        .succeeds();

    let bytes = std::fs::read(&file).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = tensors.names();
    names.sort();
    assert_eq!(
        names,
        [
            "layers.0.bias",
            "layers.0.weight",
            "layers.1.bias",
            "layers.1.weight"
        ]
    );
    let device = digits::backend::Devices::select(Default::default(), None)
        .unwrap()
        .eval;
    let trained = digits::train::trained::Trained::load(&run, &device).unwrap();
    for (i, layer) in trained.model.layers().iter().enumerate() {
        let weight = tensors.tensor(&format!("layers.{i}.weight")).unwrap();
        let bias = tensors.tensor(&format!("layers.{i}.bias")).unwrap();
        assert_eq!(weight.dtype(), safetensors::Dtype::F32);
        assert_eq!(weight.shape(), layer.weight.dims());
        assert_eq!(bias.shape(), layer.bias.as_ref().unwrap().dims());
        let expected = layer.weight.val().into_data().try_to_vec::<f32>().unwrap();
        let found: Vec<f32> = weight
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(found, expected, "layers.{i}.weight");
    }
}

/// A second process refuses a run folder in use, even with --force; the lock of a killed run
/// is not stale.
fn a_run_in_use_is_refused_until_its_process_ends() {
    let s = Synthetic::new();
    let run = s.run("busy");
    let mut child = spawn_pausing(s.train(&run), 300);
    wait_for("epoch 1", || run.join("checkpoints/epoch-0001").is_dir());
    let stderr = Digits::resume(&run).fails();
    assert!(
        stderr.contains("is in use by another digits process"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("pid {}", child.id())), "{stderr}");
    let stderr = s.train(&run).arg("--force").fails();
    assert!(stderr.contains("is in use"), "{stderr}");
    assert!(!s.run("busy.previous-1").exists());

    child.kill().unwrap();
    child.wait().unwrap();
    Digits::resume(&run).succeeds();
}

/// SIGTERM, as a job scheduler sends it, stops like Ctrl-C.
fn sigterm_keeps_the_last_checkpoint_too() {
    let s = Synthetic::new();
    let run = s.run("terminated");
    let child = spawn_pausing(s.train(&run), 100);
    wait_for("epoch 2", || run.join("checkpoints/epoch-0002").is_dir());
    signal(child.id(), "TERM");
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("train --resume"), "{stderr}");
    Digits::resume(&run).succeeds();
}

/// A full disk (here a file-size limit, `ulimit -f`, with SIGXFSZ ignored so that writes fail
/// with EFBIG as on a full disk) stops the run with an error, and the last checkpoint stays
/// loadable: the run resumes from it and ends as an uninterrupted one.
fn a_full_disk_is_an_error_and_the_last_checkpoint_survives() {
    let s = Synthetic::new();
    let whole = s.run("whole");
    s.train(&whole).args(["--epochs", "3"]).succeeds();
    let run = s.run("full");
    s.train(&run).args(["--epochs", "1"]).succeeds();

    let limited = format!(
        "trap '' XFSZ; ulimit -f 40; exec {} train --resume {} --epochs 3",
        env!("CARGO_BIN_EXE_digits"),
        run.display()
    );
    let output = Command::new("bash")
        .args(["-c", &limited])
        .output()
        .unwrap();
    let stderr = clean_error(&output);
    assert!(stderr.contains("File too large"), "{stderr}");
    assert!(Checkpoint::open(&run.join("checkpoints/epoch-0001")).is_ok());

    Digits::resume(&run).args(["--epochs", "3"]).succeeds();
    assert!(
        outcome(&whole) == outcome(&run),
        "the run differs after the full disk"
    );
}

/// A write that fails in the middle of a checkpoint (here: its folder's name is taken by a
/// file) is an error naming it, and the previous checkpoint stays loadable.
fn a_failed_checkpoint_write_keeps_the_previous_one() {
    let s = Synthetic::new();
    let whole = s.run("whole");
    s.train(&whole).args(["--epochs", "3"]).succeeds();
    let run = s.run("blocked");
    s.train(&run).args(["--epochs", "1"]).succeeds();

    let blocker = run.join("checkpoints/epoch-0002");
    std::fs::write(&blocker, "in the way").unwrap();
    let stderr = Digits::resume(&run).args(["--epochs", "3"]).fails();
    assert!(stderr.contains("cannot write checkpoint"), "{stderr}");
    assert!(stderr.contains("epoch-0002"), "{stderr}");
    assert_eq!(
        metrics_without_seconds(&run).len(),
        1,
        "no row without its checkpoint"
    );
    assert!(Checkpoint::open(&run.join("checkpoints/epoch-0001")).is_ok());

    std::fs::remove_file(&blocker).unwrap();
    Digits::resume(&run).args(["--epochs", "3"]).succeeds();
    assert!(
        outcome(&whole) == outcome(&run),
        "the run differs after the failed write"
    );
}
