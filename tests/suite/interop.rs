//! The network used elsewhere: ONNX Runtime runs the ONNX export, the safetensors library
//! (numpy) and PyTorch read the safetensors export, each agreeing with digits over the 10,000
//! test images; weights come back in through `digits import`; and the README's snippets run.
//!
//! The Python side is `tests/interop/check.py`. It runs under `DIGITS_INTEROP_PYTHON`, a Python
//! with `tests/interop/requirements.txt` (.ci/run makes that venv once, outside the clone), or
//! else `python3` when it has those packages; elsewhere the checks say "skipped".

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use digits::data::MnistFiles;
use digits::model::inference;
use digits::train::trained::Trained;

/// The variable naming the Python that has onnxruntime, numpy and safetensors.
const PYTHON_ENV: &str = "DIGITS_INTEROP_PYTHON";

/// A Python with the interop packages, or `None` with the reason printed. Under CI, where
/// .ci/run provides it, a missing one is a failure.
fn interop_python() -> Option<PathBuf> {
    let candidate = std::env::var_os(PYTHON_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| "python3".into());
    let has = |module: &str| {
        Command::new(&candidate)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let missing: Vec<&str> = ["numpy", "onnxruntime", "safetensors"]
        .into_iter()
        .filter(|m| !has(m))
        .collect();
    if missing.is_empty() {
        return Some(candidate);
    }
    let reason = format!(
        "{} lacks {} (pip install -r tests/interop/requirements.txt, or set {PYTHON_ENV})",
        candidate.display(),
        missing.join(", ")
    );
    assert!(std::env::var_os("CI").is_none(), "under CI: {reason}");
    eprintln!("skipped: {reason}");
    None
}

/// A Python with PyTorch and safetensors: `DIGITS_TORCH_PYTHON`, else the interop Python when
/// it has them; `None` with the reason printed (PyTorch's wheel is gigabytes: never under CI).
fn torch_python(interop: &Path) -> Option<PathBuf> {
    let candidate = std::env::var_os("DIGITS_TORCH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| interop.to_path_buf());
    let has_torch = Command::new(&candidate)
        .args(["-c", "import torch, safetensors, numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_torch {
        return Some(candidate);
    }
    eprintln!(
        "skipped: the PyTorch check: {} lacks torch, safetensors or numpy (set DIGITS_TORCH_PYTHON to a Python that has them)",
        candidate.display()
    );
    None
}

/// Runs a Python program and returns its stdout, failing the test with its output otherwise.
fn python(python: &Path, args: &[&str]) -> String {
    let output = Command::new(python)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("python runs");
    succeeded(&output)
}

/// digits' probabilities for the 10,000 test images, as float32 little-endian bytes.
fn reference_probabilities(run: &Path, mnist: &Path, file: &Path) {
    let device = burn::tensor::Device::flex();
    let trained = Trained::load(run, &device).unwrap();
    let test = MnistFiles::open(Some(mnist)).unwrap().test_split(&device);
    let rows = inference::probabilities(&trained.model, trained.config.output(), test.images);
    let bytes: Vec<u8> = rows
        .iter()
        .flatten()
        .flat_map(|p| p.to_le_bytes())
        .collect();
    std::fs::write(file, bytes).unwrap();
}

/// Trains `config` (with `flags`), exports it both ways, and has check.py compare every client
/// with digits; returns check.py's JSON.
fn exports_agree(interpreter: &Path, mnist: &Path, config: &str, flags: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    succeeded(&train_run(Path::new(config), mnist, &run, flags));
    let onnx = tmp.path().join("model.onnx");
    let safetensors = tmp.path().join("model.safetensors");
    let run_arg = run.to_str().unwrap();
    for (format, file) in [("onnx", &onnx), ("safetensors", &safetensors)] {
        let args = ["export", run_arg, "--format", format, "--output"];
        succeeded(&digits(&[&args[..], &[file.to_str().unwrap()]].concat()));
    }
    let reference = tmp.path().join("reference.f32");
    reference_probabilities(&run, mnist, &reference);
    let trained = Trained::load(&run, &burn::tensor::Device::flex()).unwrap();
    let activation = format!("{:?}", trained.config.model.activation).to_lowercase();
    let output = format!("{:?}", trained.config.output()).to_lowercase();
    let check = [
        "tests/interop/check.py",
        "--mnist",
        mnist.to_str().unwrap(),
        "--reference",
        reference.to_str().unwrap(),
        "--activation",
        &activation,
        "--output",
        &output,
        "--safetensors",
        safetensors.to_str().unwrap(),
    ];
    let onnx_args = ["--onnx", onnx.to_str().unwrap()];
    let report = python(interpreter, &[&check[..], &onnx_args].concat());
    eprintln!("{config}: {report}");
    assert!(report.contains("\"check\": \"onnx\""), "{report}");
    assert!(report.contains("\"check\": \"safetensors\""), "{report}");
    // The same safetensors through PyTorch, in the Python that has it.
    if let Some(torch) = torch_python(interpreter) {
        let torch_report = python(&torch, &check);
        eprintln!("{config} (PyTorch): {torch_report}");
        assert!(
            torch_report.contains("\"check\": \"torch\", \"max"),
            "{torch_report}"
        );
    }
    report
}

/// network.py's network: sigmoid outputs, probabilities as activations over their sum.
#[test]
fn nielsen_exports_agree_with_digits() {
    let (Some(mnist), Some(python)) = (real_mnist(), interop_python()) else {
        return;
    };
    exports_agree(&python, &mnist, "configs/nielsen.toml", &["--epochs", "1"]);
}

/// TwoLayerNet: ReLU and logits, probabilities as their softmax.
#[test]
fn two_layer_net_exports_agree_with_digits() {
    let (Some(mnist), Some(python)) = (real_mnist(), interop_python()) else {
        return;
    };
    exports_agree(
        &python,
        &mnist,
        "configs/two-layer-net.toml",
        &["--epochs", "1"],
    );
}

/// Batch norm with its running statistics, and dropout, which inference leaves out.
#[test]
fn batch_norm_and_dropout_export_agree_with_digits() {
    let (Some(mnist), Some(python)) = (real_mnist(), interop_python()) else {
        return;
    };
    // Trained far enough to learn (1,000 and 300 images), so the probabilities are not uniform.
    exports_agree(&python, &mnist, "configs/ch6-batchnorm-on.toml", &[]);
    exports_agree(
        &python,
        &mnist,
        "configs/ch6-overfit-dropout.toml",
        &["--epochs", "40"],
    );
}

/// Probabilities of the 10,000 test images under a run's model, bit for bit.
fn test_probabilities(run: &Path, mnist: &Path) -> Vec<u32> {
    let device = burn::tensor::Device::flex();
    let trained = Trained::load(run, &device).unwrap();
    let test = MnistFiles::open(Some(mnist)).unwrap().test_split(&device);
    inference::probabilities(&trained.model, trained.config.output(), test.images)
        .iter()
        .flatten()
        .map(|p| p.to_bits())
        .collect()
}

/// `digits import` of `weights` with `config` into `out`; returns what it printed.
fn import(weights: &Path, config: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "import",
        "--weights",
        weights.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    digits(&args)
}

/// Named float32 tensors: (name, shape, values).
type Tensors = Vec<(String, Vec<usize>, Vec<f32>)>;

/// Writes `tensors` as a float32 safetensors file.
fn write_safetensors(path: &Path, tensors: &[(String, Vec<usize>, Vec<f32>)]) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), data)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                    .unwrap();
            (name.clone(), view)
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

/// The tensors of a safetensors file, 2-D ones transposed when `transpose` (PyTorch's layout),
/// batch norm's gamma and beta renamed weight and bias.
fn read_safetensors(path: &Path, transpose: bool) -> Tensors {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    file.iter()
        .map(|(name, view)| {
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            let shape = view.shape().to_vec();
            if !transpose {
                return (name.to_string(), shape, values);
            }
            let name = name.replace(".gamma", ".weight").replace(".beta", ".bias");
            match shape[..] {
                [rows, cols] => {
                    let t = (0..rows * cols)
                        .map(|k| values[(k % rows) * cols + k / rows])
                        .collect();
                    (name, vec![cols, rows], t)
                }
                _ => (name, shape, values),
            }
        })
        .collect()
}

/// Export and import give back the same network: every probability identical, in digits'
/// layout and in PyTorch's (read off the shapes, and said), with and without batch norm.
#[test]
fn export_then_import_predicts_identically() {
    let Some(mnist) = real_mnist() else { return };
    for config in ["configs/smoke.toml", "configs/ch6-batchnorm-on.toml"] {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        succeeded(&train_run(
            Path::new(config),
            &mnist,
            &run,
            &["--epochs", "1"],
        ));
        let exported = tmp.path().join("model.safetensors");
        let args = ["export", run.to_str().unwrap(), "--output"];
        succeeded(&digits(
            &[&args[..], &[exported.to_str().unwrap()]].concat(),
        ));
        let original = test_probabilities(&run, &mnist);

        let ours = tmp.path().join("ours");
        let stdout = succeeded(&import(&exported, &run.join("config.toml"), &ours, &[]));
        assert!(stdout.contains("digits' layout"), "{stdout}");
        assert!(test_probabilities(&ours, &mnist) == original, "{config}");

        let torch_file = tmp.path().join("torch.safetensors");
        write_safetensors(&torch_file, &read_safetensors(&exported, true));
        let theirs = tmp.path().join("theirs");
        let stdout = succeeded(&import(&torch_file, &run.join("config.toml"), &theirs, &[]));
        assert!(stdout.contains("PyTorch's layout"), "{stdout}");
        assert!(test_probabilities(&theirs, &mnist) == original, "{config}");

        let args = ["eval", theirs.to_str().unwrap(), "--data-dir"];
        let eval = succeeded(&digits(&[&args[..], &[mnist.to_str().unwrap()]].concat()));
        let args = ["eval", run.to_str().unwrap(), "--data-dir"];
        let before = succeeded(&digits(&[&args[..], &[mnist.to_str().unwrap()]].concat()));
        assert_eq!(
            eval.lines().nth(1),
            before.lines().nth(1),
            "the same test accuracy"
        );
    }
}

/// A TwoLayerNet trained by a few lines of numpy, saved in PyTorch's layout, imports and
/// evaluates through `digits eval` at the accuracy numpy gave it.
#[test]
fn a_network_trained_in_numpy_imports_and_evaluates() {
    let (Some(mnist), Some(python_bin)) = (real_mnist(), interop_python()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let weights = tmp.path().join("theirs.safetensors");
    let (mnist_arg, weights_arg) = (mnist.to_str().unwrap(), weights.to_str().unwrap());
    let args = ["tests/interop/train_numpy.py", "--mnist", mnist_arg];
    python(&python_bin, &[&args[..], &["--out", weights_arg]].concat());
    let run = tmp.path().join("imported");
    let config = Path::new("configs/two-layer-net.toml");
    let stdout = succeeded(&import(&weights, config, &run, &[]));
    assert!(stdout.contains("PyTorch's layout"), "{stdout}");
    let eval = succeeded(&digits(&[
        "eval",
        run.to_str().unwrap(),
        "--data-dir",
        mnist_arg,
    ]));
    let line = eval.lines().nth(1).unwrap();
    let percent: f64 = line
        .rsplit_once('(')
        .and_then(|(_, p)| p.strip_suffix("%)"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    eprintln!("numpy-trained TwoLayerNet through digits eval: {line}");
    assert!(percent > 90.0, "{line}");
}

/// Each bad file is a one-line error naming the tensor and both shapes, and leaves no folder.
#[test]
fn import_errors_name_the_file_and_tensor() {
    let tmp = tempfile::tempdir().unwrap();
    let config = Path::new("configs/smoke.toml"); // [784, 30, 10]
    let good = |i: usize| -> Tensors {
        let (n_in, n_out) = [(784, 30), (30, 10)][i];
        vec![
            (
                format!("layers.{i}.weight"),
                vec![n_in, n_out],
                vec![0.0; n_in * n_out],
            ),
            (format!("layers.{i}.bias"), vec![n_out], vec![0.0; n_out]),
        ]
    };
    let out = tmp.path().join("run");
    let cases: Vec<(&str, Tensors, &str)> = vec![
        (
            "wrong-shape",
            [
                good(0),
                vec![("layers.1.weight".into(), vec![30, 9], vec![0.0; 270])],
            ]
            .concat()
            .into_iter()
            .chain([("layers.1.bias".into(), vec![10], vec![0.0; 10])])
            .collect(),
            "tensor `layers.1.weight` is [30, 9], but a [784, 30, 10] network needs [30, 10]",
        ),
        (
            "missing",
            good(0),
            "no tensor `layers.1.weight`, which a [784, 30, 10] network needs",
        ),
        (
            "extra",
            [
                good(0),
                good(1),
                vec![("head.weight".into(), vec![2], vec![0.0; 2])],
            ]
            .concat(),
            "tensor `head.weight` is not part of a [784, 30, 10] network",
        ),
    ];
    for (name, tensors, expected) in cases {
        let file = tmp.path().join(format!("{name}.safetensors"));
        write_safetensors(&file, &tensors);
        let stderr = clean_error(&import(&file, config, &out, &[]));
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(stderr.contains(file.to_str().unwrap()), "{name}: {stderr}");
        assert!(!out.exists(), "{name}");
    }
    let junk = tmp.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a safetensors file").unwrap();
    let stderr = clean_error(&import(&junk, config, &out, &[]));
    assert!(stderr.contains("not a safetensors file"), "{stderr}");

    // A good file into a folder that exists is refused, and the folder is left alone.
    let file = tmp.path().join("good.safetensors");
    write_safetensors(&file, &[good(0), good(1)].concat());
    std::fs::create_dir(&out).unwrap();
    let stderr = clean_error(&import(&file, config, &out, &[]));
    assert!(stderr.contains("already exists"), "{stderr}");
    std::fs::remove_dir(&out).unwrap();
    succeeded(&import(&file, config, &out, &[]));
    assert!(out.join("model.bpk").is_file() && out.join("config.toml").is_file());
}

/// The fenced code blocks of the README's "Using the network elsewhere": (language, code).
fn readme_snippets() -> Vec<(String, String)> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/interop.md"))
            .unwrap();
    let start = readme
        .find("\n## Using the network elsewhere")
        .expect("the README has the section");
    let section = &readme[start + 1..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let mut blocks = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if let Some(language) = line.strip_prefix("```") {
            let code: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            blocks.push((language.to_string(), code.join("\n")));
        }
    }
    blocks
}

/// Each snippet of "Using the network elsewhere" runs as written, in a folder holding what it
/// names: a trained artifacts/nielsen, MNIST's test images, and a numpy-trained
/// theirs.safetensors for the import.
#[test]
fn readme_snippets_run() {
    let (Some(mnist), Some(python_bin)) = (real_mnist(), interop_python()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let run = dir.join("artifacts/nielsen");
    succeeded(&train_run(
        Path::new("configs/smoke.toml"),
        &mnist,
        &run,
        &[],
    ));
    std::fs::copy(
        mnist.join("t10k-images-idx3-ubyte.gz"),
        dir.join("t10k-images-idx3-ubyte.gz"),
    )
    .unwrap();
    std::fs::create_dir(dir.join("configs")).unwrap();
    std::fs::copy(
        "configs/two-layer-net.toml",
        dir.join("configs/two-layer-net.toml"),
    )
    .unwrap();
    let (mnist_arg, theirs) = (mnist.to_str().unwrap(), dir.join("theirs.safetensors"));
    let args = [
        "tests/interop/train_numpy.py",
        "--mnist",
        mnist_arg,
        "--out",
    ];
    python(
        &python_bin,
        &[&args[..], &[theirs.to_str().unwrap()]].concat(),
    );

    let snippets = readme_snippets();
    assert_eq!(snippets.len(), 4, "{snippets:?}");
    for (language, code) in snippets {
        match language.as_str() {
            "sh" => {
                for line in code.lines().filter(|l| l.starts_with("digits ")) {
                    let line = line.split(" #").next().unwrap();
                    let words: Vec<&str> = line.split_whitespace().skip(1).collect();
                    let output = Command::new(env!("CARGO_BIN_EXE_digits"))
                        .args(&words)
                        .current_dir(dir)
                        .output()
                        .unwrap();
                    eprintln!("$ {line}\n{}", succeeded(&output));
                }
            }
            "python" => {
                let python = if code.contains("import torch") {
                    match torch_python(&python_bin) {
                        Some(torch) => torch,
                        None => continue,
                    }
                } else {
                    python_bin.clone()
                };
                let output = Command::new(&python)
                    .args(["-c", &code])
                    .current_dir(dir)
                    .output()
                    .unwrap();
                let stdout = succeeded(&output);
                eprintln!("{stdout}");
                // MNIST's first test image is a 7, which the trained network reads.
                let expected = if code.contains("onnxruntime") {
                    "digit 7 "
                } else {
                    "probabilities [["
                };
                assert!(stdout.starts_with(expected), "{stdout}");
            }
            other => panic!("a snippet in {other}"),
        }
    }
    assert!(dir.join("nielsen.onnx").is_file() && dir.join("artifacts/theirs/model.bpk").is_file());
}
