//! `digits runs` on a folder holding a finished, an interrupted and a locked run.

use std::path::Path;

use serde_json::Value;

use crate::common::*;

pub fn tests() -> Vec<Test> {
    vec![test!(runs_lists_finished_interrupted_and_training_runs)]
}

/// Trains the synthetic config in `dir/name` until its first epoch is on disk, then kills it:
/// an interrupted run, 1 of 10 epochs done.
fn interrupted_run(dir: &Path, name: &str) {
    let data = dir.join("data");
    kill_after_first_epoch(Digits::train(synthetic_config(dir), &data, dir.join(name)));
}

/// A finished run (1 of 1 epochs), an interrupted one (killed after epoch 1 of 10) and one
/// whose folder is locked, as a training process holds it: `runs` tells them apart, in its
/// table and its JSON, sorts by a column, and draws their curves with `--plot`.
fn runs_lists_finished_interrupted_and_training_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("artifacts");
    let (finished, _) = train_synthetic(tmp.path(), "artifacts/finished", &["--epochs", "1"]);
    interrupted_run(tmp.path(), "artifacts/interrupted");
    let (training, _) =
        train_synthetic(tmp.path(), "artifacts/deeper/training", &["--epochs", "2"]);
    let lock = std::fs::File::open(training.join(".lock")).unwrap();
    lock.try_lock().unwrap();

    let table = Digits::new("runs").arg(&root).succeeds();
    let line = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in\n{table}"))
            .to_string()
    };
    note!("{table}");
    assert!(table.starts_with("run "), "{table}");
    assert!(line("finished ").contains(" 1/1 "), "{table}");
    assert!(line("finished ").ends_with("finished"), "{table}");
    assert!(line("interrupted ").contains(" 1/10 "), "{table}");
    assert!(line("interrupted ").ends_with("interrupted"), "{table}");
    assert!(line("deeper/training ").contains(" 2/2 "), "{table}");
    assert!(
        line("deeper/training ").ends_with("training now"),
        "{table}"
    );
    // The data folder holds no run.
    assert_eq!(table.lines().count(), 4, "{table}");

    let json = Digits::new("runs")
        .arg(&root)
        .args(["--json", "--sort", "status"])
        .succeeds();
    let runs: Vec<Value> = serde_json::from_str(&json).unwrap();
    let statuses: Vec<&str> = runs.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["training", "interrupted", "finished"], "{json}");
    let metrics = std::fs::read_to_string(finished.join("metrics.csv")).unwrap();
    let row: Vec<&str> = metrics.lines().nth(1).unwrap().split(',').collect();
    let done = &runs[2];
    assert_eq!(done["name"], "finished");
    assert_eq!(done["network"], "[784, 50, 10]");
    assert_eq!(done["best_epoch"], 1);
    assert_eq!(
        done["best_validation"].as_f64().unwrap(),
        row[2].parse::<f64>().unwrap()
    );
    assert_eq!(
        done["test"].as_f64().unwrap(),
        row[3].parse::<f64>().unwrap()
    );

    let by_epochs = Digits::new("runs")
        .arg(&root)
        .args(["--sort", "epochs"])
        .succeeds();
    assert!(
        by_epochs
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("deeper/training"),
        "{by_epochs}"
    );

    let picture = tmp.path().join("curves.png");
    let said = Digits::new("runs")
        .arg("--plot")
        .arg(&picture)
        .arg(&finished)
        .arg(&training)
        .succeeds();
    assert!(said.contains("Wrote"), "{said}");
    let drawn = image::open(&picture).unwrap();
    assert!(drawn.width() > 100 && drawn.height() > 100);

    let error = Digits::new("runs").args(["--plot", "x.png"]).fails();
    assert_eq!(
        error.trim(),
        "error: runs --plot x.png needs the run folders to draw: runs --plot OUT.png RUN..."
    );
    let error = Digits::new("runs").arg(tmp.path().join("nowhere")).fails();
    assert!(
        error
            .trim()
            .ends_with("nowhere: no such folder (runs looks for run folders below it)"),
        "{error}"
    );
    drop(lock);
}
