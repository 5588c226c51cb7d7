//! Bad input through the real binary: each gives a one-line error naming the problem, a
//! non-zero exit and no panic, and leaves no run folder behind.

use crate::common::*;

pub fn tests() -> Vec<Test> {
    vec![
        test!(missing_data_folder),
        test!(data_folder_missing_a_file),
        test!(truncated_data_file),
        test!(wrong_magic_number),
        test!(images_and_labels_disagree),
        test!(missing_config_file),
        test!(unknown_key_in_config),
        test!(sizes_that_do_not_fit_the_data),
        test!(flags_are_validated_like_the_file),
        test!(a_finished_run_is_not_overwritten),
        test!(divergence_stops_with_a_message),
        test!(toml_syntax_error_names_file_line_and_column),
        test!(wrong_type_names_the_key_and_the_expected_type),
        test!(unknown_activation_cost_or_initializer_lists_the_allowed_values),
        test!(empty_data_folder_lists_all_four_files),
        test!(label_out_of_range_and_wrong_image_size),
        test!(eval_with_a_model_of_another_shape_names_the_mismatch),
    ]
}

/// A synthetic data folder, a config for it, and a run folder path inside a temp dir.
fn setup() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synthetic_mnist(&data, 300, 100, false);
    let config = synthetic_config(tmp.path());
    let out = tmp.path().join("run");
    (tmp, data, config, out)
}

fn missing_data_folder() {
    let (tmp, _, config, out) = setup();
    let stderr = Digits::train(&config, tmp.path().join("nope"), &out).fails();
    assert!(stderr.contains("nope does not exist"), "{stderr}");
    assert!(stderr.contains("--data-dir"), "{stderr}");
    assert!(!out.exists());
}

fn data_folder_missing_a_file() {
    let (_tmp, data, config, out) = setup();
    std::fs::remove_file(data.join("t10k-labels-idx1-ubyte")).unwrap();
    let stderr = Digits::train(&config, &data, &out).fails();
    assert!(
        stderr.contains("is missing t10k-labels-idx1-ubyte"),
        "{stderr}"
    );
}

fn truncated_data_file() {
    let (_tmp, data, config, out) = setup();
    let path = data.join("train-images-idx3-ubyte");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let stderr = Digits::train(&config, &data, &out).fails();
    assert!(
        stderr.contains("train-images-idx3-ubyte: truncated"),
        "{stderr}"
    );
    assert!(!out.exists());
}

fn wrong_magic_number() {
    let (_tmp, data, config, out) = setup();
    std::fs::copy(
        data.join("t10k-labels-idx1-ubyte"),
        data.join("t10k-images-idx3-ubyte"),
    )
    .unwrap();
    let stderr = Digits::train(&config, &data, &out).fails();
    assert!(
        stderr.contains("t10k-images-idx3-ubyte: wrong magic number"),
        "{stderr}"
    );
}

fn images_and_labels_disagree() {
    let (_tmp, data, config, out) = setup();
    write_labels(&data.join("train-labels-idx1-ubyte"), &[1; 299], false);
    let stderr = Digits::train(&config, &data, &out).fails();
    assert!(stderr.contains("300 images, but"), "{stderr}");
    assert!(stderr.contains("holds 299 labels"), "{stderr}");
}

fn missing_config_file() {
    let (tmp, data, _, out) = setup();
    let stderr = Digits::train(tmp.path().join("absent.toml"), &data, &out).fails();
    assert!(
        stderr.contains("absent.toml: cannot read config"),
        "{stderr}"
    );
}

fn unknown_key_in_config() {
    let (_tmp, data, config, out) = setup();
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("seed = 1", "seed = 1\nsed = 2");
    std::fs::write(&config, text).unwrap();
    let stderr = Digits::train(&config, &data, &out).fails();
    assert!(stderr.contains("synthetic.toml:"), "{stderr}");
    assert!(stderr.contains("unknown field `sed`"), "{stderr}");
}

fn sizes_that_do_not_fit_the_data() {
    let (_tmp, data, config, out) = setup();
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("[784, 50, 10]", "[784, 50, 12]");
    std::fs::write(&config, text).unwrap();
    let stderr = Digits::train(&config, &data, &out).fails();
    assert!(stderr.contains("10 classes, got 12"), "{stderr}");
}

fn flags_are_validated_like_the_file() {
    let (_tmp, data, config, out) = setup();
    for (flag, value, expected) in [
        ("--batch-size", "0", "[training] batch_size"),
        ("--batch-size", "1000", "[training] batch_size"),
        ("--epochs", "0", "[training] epochs"),
        ("--lr", "-1", "[optimizer] lr"),
        ("--lr", "nan", "[optimizer] lr"),
    ] {
        let stderr = Digits::train(&config, &data, &out)
            .args([flag, value])
            .fails();
        assert!(stderr.contains(expected), "{flag} {value}: {stderr}");
    }
}

fn a_finished_run_is_not_overwritten() {
    let (_tmp, data, config, out) = setup();
    Digits::train(&config, &data, &out).succeeds();
    let before = std::fs::read(out.join("metrics.csv")).unwrap();
    let stderr = Digits::train(&config, &data, &out).fails();
    assert!(stderr.contains("already holds a run"), "{stderr}");
    assert_eq!(std::fs::read(out.join("metrics.csv")).unwrap(), before);

    Digits::train(&config, &data, &out)
        .arg("--force")
        .succeeds();
    let aside = out.with_extension("previous-1");
    assert_eq!(std::fs::read(aside.join("metrics.csv")).unwrap(), before);
}

fn divergence_stops_with_a_message() {
    let (_tmp, data, config, out) = setup();
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("lr = 0.1", "lr = 1e30");
    std::fs::write(&config, text).unwrap();
    let stderr = Digits::train(&config, &data, &out).fails();
    assert!(stderr.contains("diverged at epoch 1"), "{stderr}");
    assert!(stderr.contains("smaller learning rate"), "{stderr}");
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert!(
        !csv.to_lowercase().contains("nan"),
        "a NaN row was written: {csv}"
    );
    assert_eq!(metrics_without_seconds(&out).len(), 0, "{csv}");
}

fn toml_syntax_error_names_file_line_and_column() {
    let (_tmp, data, config, out) = setup();
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("lr = 0.1", "lr = = 0.1");
    std::fs::write(&config, text).unwrap();
    let stderr = Digits::train(&config, &data, &out).fails();
    let line = std::fs::read_to_string(&config)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("lr = ="))
        .unwrap()
        + 1;
    assert!(
        stderr.contains(&format!("synthetic.toml:{line}:")),
        "{stderr}"
    );
}

fn wrong_type_names_the_key_and_the_expected_type() {
    let (_tmp, data, config, out) = setup();
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("epochs = 10", "epochs = \"ten\"");
    std::fs::write(&config, text).unwrap();
    let stderr = Digits::train(&config, &data, &out).fails();
    assert!(stderr.contains("training.epochs"), "{stderr}");
    assert!(stderr.contains("expected usize"), "{stderr}");
}

fn unknown_activation_cost_or_initializer_lists_the_allowed_values() {
    for (from, to, expected) in [
        (
            "activation = \"relu\"",
            "activation = \"tanh\"",
            "`sigmoid` or `relu`",
        ),
        (
            "cost = \"cross_entropy\"",
            "cost = \"hinge\"",
            "`quadratic`, `cross_entropy`, `sigmoid_cross_entropy`",
        ),
        (
            "init = \"normal\"",
            "init = \"zeros\"",
            "`standard_normal`, `scaled_normal`, `normal`, `he`, `xavier`",
        ),
    ] {
        let (_tmp, data, config, out) = setup();
        let text = std::fs::read_to_string(&config).unwrap().replace(from, to);
        std::fs::write(&config, text).unwrap();
        let stderr = Digits::train(&config, &data, &out).fails();
        assert!(stderr.contains(expected), "{to}: {stderr}");
    }
}

fn empty_data_folder_lists_all_four_files() {
    let (tmp, _, config, out) = setup();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let stderr = Digits::train(&config, &empty, &out).fails();
    assert!(
        stderr.contains("is missing train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte"),
        "{stderr}"
    );
    assert!(stderr.contains("--data-dir"), "{stderr}");
}

fn label_out_of_range_and_wrong_image_size() {
    let (_tmp, data, config, out) = setup();
    let mut labels = vec![1u8; 100];
    labels[7] = 10;
    write_labels(&data.join("t10k-labels-idx1-ubyte"), &labels, false);
    let stderr = Digits::train(&config, &data, &out).fails();
    assert!(
        stderr.contains("t10k-labels-idx1-ubyte: label 10 of item 7"),
        "{stderr}"
    );

    let (_tmp, data, config, out) = setup();
    let mut bytes = vec![0, 0, 8, 3];
    for v in [2u32, 32, 32] {
        bytes.extend(v.to_be_bytes());
    }
    bytes.extend(vec![0u8; 2 * 32 * 32]);
    std::fs::write(data.join("t10k-images-idx3-ubyte"), bytes).unwrap();
    let stderr = Digits::train(&config, &data, &out).fails();
    assert!(
        stderr.contains("t10k-images-idx3-ubyte: images are 32×32, expected 28×28"),
        "{stderr}"
    );
}

fn eval_with_a_model_of_another_shape_names_the_mismatch() {
    let (tmp, data, config, out) = setup();
    Digits::train(&config, &data, &out).succeeds();
    let wider = tmp.path().join("wider.toml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("[784, 50, 10]", "[784, 64, 10]");
    std::fs::write(&wider, text).unwrap();
    let other = tmp.path().join("other");
    Digits::train(&wider, &data, &other).succeeds();
    std::fs::copy(other.join("model.bpk"), out.join("model.bpk")).unwrap();
    let stderr = Digits::new("eval").arg(&out).fails();
    assert!(
        stderr.contains("does not fit a [784, 50, 10] network"),
        "{stderr}"
    );
}
