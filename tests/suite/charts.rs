//! Pictures through the real binary: learning curves after every epoch, `plot` overlaying runs,
//! and `errors` drawing the misclassified test digits.

use crate::common::*;
use std::path::{Path, PathBuf};

pub fn tests() -> Vec<Test> {
    vec![
        test!(every_run_draws_its_curves),
        test!(plot_overlays_runs_labelled_by_name),
        test!(errors_draws_the_misclassified_digits),
    ]
}

fn run(tmp: &Path, name: &str, epochs: &str, lr: &str) -> PathBuf {
    train_synthetic(tmp, name, &["--epochs", epochs, "--lr", lr]).0
}

fn every_run_draws_its_curves() {
    let tmp = tempfile::tempdir().unwrap();
    let run = run(tmp.path(), "first-run", "2", "0.1");
    let png = image::open(run.join("curves.png")).unwrap();
    assert_eq!((png.width(), png.height()), (1100, 450));
    let svg = std::fs::read_to_string(run.join("curves.svg")).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
    assert!(svg.contains("first-run") && svg.contains("Training loss"));
}

fn plot_overlays_runs_labelled_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (
        run(tmp.path(), "alpha", "2", "0.1"),
        run(tmp.path(), "beta", "3", "0.1"),
    );
    let plot = |output: &Path| {
        Digits::new("plot")
            .args([&a, &b])
            .arg("--output")
            .arg(output)
            .succeeds()
    };
    let svg = tmp.path().join("both.svg");
    plot(&svg);
    let svg = std::fs::read_to_string(svg).unwrap();
    assert!(svg.contains("alpha") && svg.contains("beta"));

    let png = tmp.path().join("both.png");
    plot(&png);
    assert_eq!(image::open(png).unwrap().width(), 1100);

    let stderr = Digits::new("plot").arg(tmp.path().join("data")).fails();
    assert!(stderr.contains("no complete epoch to plot"), "{stderr}");
}

fn errors_draws_the_misclassified_digits() {
    let tmp = tempfile::tempdir().unwrap();
    // A learning rate too small to learn much leaves plenty of mistakes.
    let run = run(tmp.path(), "weak", "1", "0.001");
    let accuracy = test_accuracies(&run)[0];
    let wrong = (200.0 * (1.0 - accuracy)).round() as usize;
    assert!(wrong > 0, "the test needs a model that makes mistakes");
    let png = tmp.path().join("errors.png");
    let stdout = Digits::new("errors")
        .arg(&run)
        .arg("--output")
        .arg(&png)
        .succeeds();
    assert!(
        stdout.contains(&format!("with {} misclassified", wrong.min(100))),
        "{stdout}"
    );
    let grid = image::open(&png).unwrap();
    assert_eq!(grid.width(), 10 * (28 * 3 + 8));
    assert_eq!(
        grid.height(),
        wrong.min(100).div_ceil(10) as u32 * (28 * 3 + 22 + 8)
    );
}
