//! Runs voting, as network3's ensemble: `eval`, `errors` and `predict` given several runs.
//! The vote's rule itself (and its tie rule) is tested on hand-made outputs in
//! `src/model/vote.rs`.

use crate::common::*;
use crate::images::{cached, folder_config, strokes};
use std::path::PathBuf;

pub fn tests() -> Vec<Test> {
    vec![
        test!(three_runs_vote_in_eval_errors_and_predict, MNIST),
        test!(runs_that_read_other_classes_are_refused),
    ]
}

/// The "N / 10000 (x%)" count of a line that ends so.
fn count(line: &str) -> usize {
    let (_, after) = line.rsplit_once(": ").unwrap();
    after.split(" / ").next().unwrap().parse().unwrap()
}

/// Three one-epoch runs of smoke.toml (seeds 1, 2, 3): `eval` shows each one's accuracy and
/// the vote's, which beats their mean; `errors` draws the vote's mistakes; `predict` with three
/// `--model`s gives the vote and its count on each line.
fn three_runs_vote_in_eval_errors_and_predict() {
    let tmp = tempfile::tempdir().unwrap();
    let runs: Vec<PathBuf> = (1..=3)
        .map(|seed| {
            let run = tmp.path().join(format!("seed-{seed}"));
            Digits::train("configs/smoke.toml", mnist(), &run)
                .args(["--epochs", "1", "--seed", &seed.to_string()])
                .succeeds();
            run
        })
        .collect();

    let one = Digits::new("eval").arg(&runs[0]).succeeds();
    assert!(one.starts_with("Model: "), "{one}");
    let own = count(one.lines().nth(1).unwrap());

    let eval = Digits::new("eval").args(&runs).succeeds();
    let lines: Vec<&str> = eval.lines().collect();
    assert!(lines[0].starts_with("Models: 3, voting"), "{eval}");
    let members: Vec<usize> = lines[1..4].iter().map(|l| count(l)).collect();
    assert_eq!(members[0], own, "a member's accuracy is its own eval's");
    assert!(lines[4].starts_with("Test accuracy: "), "{eval}");
    let voted = count(&lines[4].replace("Test accuracy", "vote"));
    let mean = members.iter().sum::<usize>() as f64 / 3.0;
    note!("ensemble of three smoke runs: members {members:?}, vote {voted}");
    assert!(
        voted as f64 > mean,
        "the vote ({voted}) does not beat the members' mean ({mean})"
    );

    errors_drawn(&runs, &tmp.path().join("errors.png"), 10_000 - voted);

    let (_, files) = test_digit_files(tmp.path(), 5);
    let mut predict = Digits::new("predict");
    for run in &runs {
        predict = predict.arg("--model").arg(run);
    }
    let stdout = predict.args(&files).succeeds();
    assert_eq!(stdout.lines().count(), 5, "{stdout}");
    for line in stdout.lines() {
        assert!(line.contains(" of 3 votes, "), "{line}");
    }
}

/// An MNIST run and a run on a folder of three classes cannot vote together: the error names
/// both and their classes.
fn runs_that_read_other_classes_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("strokes");
    strokes(&folder, 10);
    let cache = tmp.path().join("cache");
    let config = folder_config(tmp.path(), "strokes", &folder, "[784, 10, 3]", false);
    let strokes_run = tmp.path().join("strokes-run");
    cached("train", &cache)
        .config(&config)
        .out(&strokes_run)
        .args(["--epochs", "1"])
        .succeeds();
    let (digits_run, _) = train_synthetic(tmp.path(), "digits", &["--epochs", "1"]);
    let error = cached("eval", &cache)
        .arg(&digits_run)
        .arg(&strokes_run)
        .fails();
    let expected = format!(
        "{} reads the classes [\"bar\", \"pole\", \"slash\"], but {} reads [\"0\", ",
        strokes_run.join("model.bpk").display(),
        digits_run.join("model.bpk").display()
    );
    assert!(error.contains(&expected), "{error}");
}
