//! The books' ingredients through the real binary: stateful optimizers, dropout, batch norm,
//! schedules and L2 resume exactly; early stopping; a training subset; `reproduce`.

use crate::common::*;
use std::path::{Path, PathBuf};

pub fn tests() -> Vec<Test> {
    vec![
        test!(stateful_runs_resume_exactly),
        test!(early_stopping_ends_the_run_and_keeps_the_best_checkpoint),
        test!(train_limit_trains_on_a_subset),
        test!(misplaced_optimizer_key_is_a_clean_error),
        test!(reproduce_quick_runs_the_suite_and_writes_the_report, MNIST),
        test!(a_shortened_reproduce_row_says_so, MNIST),
    ]
}

/// The synthetic config with `[model]`, `[loss]`, `[optimizer]`, `[training]` and `[data]`
/// keys added (each `extra` entry is inserted after its section header).
fn config_with(dir: &Path, name: &str, extra: &[Keys]) -> PathBuf {
    let mut text = std::fs::read_to_string(synthetic_config(dir)).unwrap();
    for (section, keys) in extra {
        text = text.replace(section, &format!("{section}\n{keys}"));
    }
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Keys to insert after a section header: (header, keys).
type Keys<'a> = (&'a str, &'a str);

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn checkpoints(run: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    names
}

/// Every optimizer with state (momentum, AdaGrad, RMSprop, Adam), with dropout, batch norm,
/// L2, weight decay and the step and cosine schedules: resumed from epoch 2 of 4, a run ends
/// where the uninterrupted one did, metrics and model bytes alike.
fn stateful_runs_resume_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synthetic_mnist(&data, 600, 200, false);
    // (optimizer, its [optimizer] keys, other sections' keys)
    let variants: [(&str, &str, &[Keys]); 4] = [
        (
            "adam",
            "name = \"adam\"\nlr = 0.001\nschedule = \"cosine\"\nweight_decay = 0.001",
            &[
                ("[model]", "dropout = 0.3\nbatch_norm = true"),
                ("[loss]", "l2 = 1.0"),
            ],
        ),
        (
            "sgd",
            "name = \"sgd\"\nlr = 0.1\nmomentum = 0.9\nnesterov = true\nschedule = \"step\"\nstep_epochs = 1\ngamma = 0.5",
            &[("[model]", "dropout = 0.2")],
        ),
        (
            "rmsprop",
            "name = \"rmsprop\"\nlr = 0.001",
            &[("[model]", "batch_norm = true")],
        ),
        (
            "adagrad",
            "name = \"adagrad\"\nlr = 0.01",
            &[("[loss]", "l2 = 5.0")],
        ),
    ];
    for (name, optimizer, extra) in variants {
        let config = config_with(tmp.path(), name, extra);
        let text = std::fs::read_to_string(&config)
            .unwrap()
            .replace("name = \"sgd\"\nlr = 0.1", optimizer)
            + "\n[output]\nkeep_last = 4\n";
        std::fs::write(&config, text).unwrap();
        let (whole, split) = (
            tmp.path().join(format!("{name}-whole")),
            tmp.path().join(format!("{name}-split")),
        );
        let header = Digits::train(&config, &data, &whole)
            .args(["--epochs", "4"])
            .succeeds();
        assert!(header.contains(&format!("; {name} lr")), "{header}");
        // As if the run had been killed after epoch 2 (the epochs stay 4: a cosine schedule
        // spans them): its checkpoints of epochs 3 and 4 are gone.
        copy_dir(&whole, &split);
        for epoch in ["epoch-0003", "epoch-0004"] {
            std::fs::remove_dir_all(split.join("checkpoints").join(epoch)).unwrap();
        }
        let resumed = Digits::resume(&split).succeeds();
        assert!(resumed.contains("Resuming after epoch 2"), "{resumed}");
        let rows = metrics_without_seconds(&whole);
        assert_eq!(rows.len(), 4);
        assert_eq!(
            rows,
            metrics_without_seconds(&split),
            "{name}: metrics differ after resume"
        );
        assert!(
            std::fs::read(whole.join("model.bpk")).unwrap()
                == std::fs::read(split.join("model.bpk")).unwrap(),
            "{name}: weights differ after resume"
        );
    }
}

/// A learning rate too small to change any prediction: validation accuracy never improves on
/// epoch 1, so patience 2 stops the run after epoch 3. The best checkpoint (epoch 1) is kept
/// although keep_last is 1, and a resume does not train further.
fn early_stopping_ends_the_run_and_keeps_the_best_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config_with(
        tmp.path(),
        "patient",
        &[("[training]", "patience = 2"), ("[data]", "")],
    );
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("lr = 0.1", "lr = 1e-12")
        + "\n[output]\nkeep_last = 1\n";
    std::fs::write(&config, text).unwrap();
    let data = tmp.path().join("data");
    synthetic_mnist(&data, 600, 200, false);
    let out = tmp.path().join("run");
    let stdout = Digits::train(&config, &data, &out).succeeds();
    assert!(
        stdout.contains("Stopped early: validation accuracy has not improved since epoch 1 (2 epochs of patience)"),
        "{stdout}"
    );
    assert!(stdout.contains("Best validation accuracy: "), "{stdout}");
    assert_eq!(metrics_without_seconds(&out).len(), 3);
    assert_eq!(checkpoints(&out), ["epoch-0001", "epoch-0003"]);
    let stdout = Digits::resume(&out).args(["--epochs", "20"]).succeeds();
    assert!(stdout.contains("Stopped early"), "{stdout}");
    assert!(!stdout.contains("Epoch 4"), "{stdout}");
    assert_eq!(metrics_without_seconds(&out).len(), 3);
}

/// `[data] train_limit` trains on the first examples only: the batch is checked against it,
/// and the header says so.
fn train_limit_trains_on_a_subset() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synthetic_mnist(&data, 600, 200, false);
    let limited = config_with(tmp.path(), "limited", &[("[data]", "train_limit = 50")]);
    let stdout = Digits::train(&limited, &data, tmp.path().join("run")).succeeds();
    assert!(stdout.contains("first 50 training examples"), "{stdout}");
    let out = tmp.path().join("too-big");
    let message = Digits::train(&limited, &data, &out)
        .args(["--batch-size", "60"])
        .fails();
    assert!(
        message.contains(
            "[training] batch_size: expected between 1 and the 50 training examples, got 60"
        ),
        "{message}"
    );
}

/// A key of another optimizer is a one-line error naming the file and the key.
fn misplaced_optimizer_key_is_a_clean_error() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synthetic_mnist(&data, 600, 200, false);
    let config = config_with(tmp.path(), "mixed", &[("[optimizer]", "beta1 = 0.8")]);
    let message = Digits::train(&config, &data, tmp.path().join("run")).fails();
    assert!(
        message.contains(
            "mixed.toml: [optimizer] beta1: only used with name = \"adam\", but name is \"sgd\""
        ),
        "{message}"
    );
}

/// `reproduce --quick` runs the whole suite on real MNIST and writes the report: a row per
/// experiment, the convolutional chapters' included (on 1,000 training images), a chart per
/// group, and the quick-mode warning. The claims that hold after two
/// epochs already (SGD slowest, N(0, 0.01²) does not learn) are checked too.
fn reproduce_quick_runs_the_suite_and_writes_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("reproduce");
    let stdout = Digits::new("reproduce")
        .args(["--quick", "--quiet"])
        .data_dir(mnist())
        .out(&out)
        .succeeds();
    assert!(stdout.contains("Wrote "), "{stdout}");
    let report = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    assert!(report.contains("**Quick mode:**"), "{report}");
    for group in digits::books::suite::SUITE {
        assert!(
            out.join(format!("{}.png", group.chart)).is_file(),
            "{} chart",
            group.chart
        );
        for experiment in group.experiments {
            let row = report
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` | ", experiment.name)))
                .unwrap_or_else(|| panic!("no row for {}: {report}", experiment.name));
            assert!(row.ends_with(" s |"), "{row}");
            let run = out.join(experiment.name);
            for seed in experiment.seeds {
                assert!(run.join(format!("seed-{seed}/metrics.csv")).is_file());
            }
            assert!(
                experiment.seeds.is_empty() || row.contains(" runs voting | "),
                "{row}"
            );
            assert!(!experiment.seeds.is_empty() || run.join("metrics.csv").is_file());
        }
    }
    let row = |name: &str| {
        report
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` | ")))
            .unwrap()
            .to_string()
    };
    assert!(
        row("network3-expanded").contains("test at the best validation"),
        "{report}"
    );
    assert!(row("ch6-optimizer-sgd").contains("| holds |"), "{report}");
    assert!(row("ch6-init-std001").contains("| holds |"), "{report}");
}

/// `reproduce --only network3-fc --epochs 1`: the convolutional chapter runs when named, the
/// report gives Nielsen's figure beside ours read his way, and says the row ran 1 of 60 epochs;
/// again with `--keep`, the finished run is read back, not trained again.
fn a_shortened_reproduce_row_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("reproduce");
    Digits::new("reproduce")
        .args(["--only", "network3-fc", "--epochs", "1", "--quiet"])
        .data_dir(mnist())
        .out(&out)
        .succeeds();
    let report = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    assert!(
        report.contains("Made by `digits reproduce --epochs 1 --only network3-fc`"),
        "{report}"
    );
    assert!(report.contains("**Shortened rows:**"), "{report}");
    let row = report
        .lines()
        .find(|l| l.starts_with("| `network3-fc` | "))
        .unwrap();
    assert!(
        row.contains("| 97.80% test at the best validation | ")
            && row.contains("(epoch 1, 1 of 60 epochs)"),
        "{row}"
    );
    assert!(report.contains("| `network3-fc` | 1 of 60 |"), "{report}");
    // Nothing else ran: no other run folder.
    let runs: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_dir())
        .collect();
    assert_eq!(runs.len(), 1);

    // --keep reads the finished run back instead of training it again: the same row.
    let metrics = std::fs::read(out.join("network3-fc/metrics.csv")).unwrap();
    let stdout = Digits::new("reproduce")
        .args([
            "--only",
            "network3-fc",
            "--epochs",
            "1",
            "--keep",
            "--quiet",
        ])
        .data_dir(mnist())
        .out(&out)
        .succeeds();
    assert!(stdout.contains("(kept: resuming "), "{stdout}");
    let again = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    let kept = again
        .lines()
        .find(|l| l.starts_with("| `network3-fc` | "))
        .unwrap();
    let without_time = |row: &str| row.rsplitn(3, '|').nth(2).unwrap().to_string();
    assert_eq!(without_time(kept), without_time(row));
    assert_eq!(
        std::fs::read(out.join("network3-fc/metrics.csv")).unwrap(),
        metrics
    );
    assert!(!out.join("network3-fc.previous-1").exists());
}
