//! End-to-end training through the real binary: on real MNIST, and on small synthetic IDX
//! folders.

use crate::common::*;
use std::path::Path;

pub fn tests() -> Vec<Test> {
    vec![
        test!(smoke_config_learns_real_mnist_and_repeats_exactly, MNIST),
        test!(a_run_that_does_not_learn_says_so, MNIST),
        test!(cross_entropy_config_learns_real_mnist, MNIST),
        test!(any_idx_folder_trains_gzipped_or_not),
        test!(burn_dataset_cache_is_used_when_seeded),
    ]
}

/// Two epochs of network.py's network (batch 10) on real MNIST clear 90% on the test set.
/// (Measured: 92.37% after the second epoch.)
fn smoke_config_learns_real_mnist_and_repeats_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = [tmp.path().join("first"), tmp.path().join("second")];
    for run in &runs {
        let stdout = Digits::train("configs/smoke.toml", mnist(), run).succeeds();
        assert!(stdout.contains("Epoch 2: test "), "{stdout}");
        assert!(!stdout.contains("Warning"), "{stdout}");
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("Best test accuracy: ")),
            "{stdout}"
        );
        for file in ["config.toml", "metrics.csv", "model.bpk"] {
            assert!(run.join(file).is_file(), "{file} missing");
        }
    }
    let accuracies = test_accuracies(&runs[0]);
    assert_eq!(accuracies.len(), 2);
    assert!(
        accuracies[1] >= 0.90,
        "test accuracy {accuracies:?} below 90%"
    );
    assert_eq!(
        metrics_without_seconds(&runs[0]),
        metrics_without_seconds(&runs[1]),
        "the same config and seed gave different metrics"
    );
    assert_eq!(
        std::fs::read(runs[0].join("model.bpk")).unwrap(),
        std::fs::read(runs[1].join("model.bpk")).unwrap(),
        "the same config and seed gave different weights"
    );
    // A run that learns is never warned.
    assert!(!runs[0].join("warnings.log").exists());
}

/// TwoLayerNet at learning rate 1000: the loss explodes to about 5·10⁸ in the first epoch and the
/// accuracy sits at chance. The run ends without an error, but says both, once each, naming the
/// epoch and the learning rate, and keeps the lines in warnings.log.
fn a_run_that_does_not_learn_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let stdout = Digits::train("configs/two-layer-net.toml", mnist(), &run)
        .args(["--lr", "1000", "--epochs", "3"])
        .succeeds();
    let warnings: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("Warning: "))
        .collect();
    assert_eq!(warnings.len(), 2, "{stdout}");
    assert!(
        warnings[0].starts_with("Warning: epoch 1: the training loss (")
            && warnings[0].ends_with("the learning rate (1000) is likely too high"),
        "{stdout}"
    );
    assert!(
        warnings[1].starts_with("Warning: epoch 2: validation accuracy has stayed at chance level"),
        "{stdout}"
    );
    let log = std::fs::read_to_string(run.join("warnings.log")).unwrap();
    let logged: Vec<String> = warnings
        .iter()
        .map(|w| w.replace("Warning: ", ""))
        .collect();
    assert_eq!(log.lines().collect::<Vec<_>>(), logged);
}

/// One epoch of TwoLayerNet (ReLU, cross-entropy, batch 100) on real MNIST clears 90%.
/// (Measured: about 92%.)
fn cross_entropy_config_learns_real_mnist() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    Digits::train("configs/two-layer-net.toml", mnist(), &run)
        .args(["--epochs", "1"])
        .succeeds();
    let accuracies = test_accuracies(&run);
    assert!(
        accuracies[0] >= 0.90,
        "test accuracy {accuracies:?} below 90%"
    );
}

/// `digits train` of the synthetic config into `run`, beside which the config is written.
fn train_synthetic_config(run: &Path) -> Digits {
    Digits::new("train")
        .config(synthetic_config(run.parent().unwrap()))
        .out(run)
}

/// Any folder of 28×28 IDX files with 10 classes trains, gzipped or not.
fn any_idx_folder_trains_gzipped_or_not() {
    for gzip in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        synthetic_mnist(&data, 600, 200, gzip);
        let run = tmp.path().join("run");
        train_synthetic_config(&run).data_dir(&data).succeeds();
        let accuracies = test_accuracies(&run);
        assert_eq!(accuracies.len(), 10);
        // One bright bar per class: easy, but only if training works.
        assert!(accuracies[9] >= 0.9, "{accuracies:?}");
    }
}

/// Without --data-dir, a complete burn-dataset cache is read through `MnistDataset`.
fn burn_dataset_cache_is_used_when_seeded() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let flat = tmp.path().join("flat");
    synthetic_mnist(&flat, 600, 200, false);
    for (split, files) in [
        (
            "train",
            ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"],
        ),
        ("test", ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]),
    ] {
        let dir = cache.join("burn-dataset/mnist").join(split);
        std::fs::create_dir_all(&dir).unwrap();
        for file in files {
            std::fs::copy(flat.join(file), dir.join(file)).unwrap();
        }
    }
    let run = tmp.path().join("run");
    let stdout = train_synthetic_config(&run)
        .env("XDG_CACHE_HOME", &cache)
        .succeeds();
    assert!(stdout.contains("Data: burn-dataset cache"), "{stdout}");
    assert!(test_accuracies(&run)[9] >= 0.9);
}
