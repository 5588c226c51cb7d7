//! The network used elsewhere: ONNX Runtime runs the ONNX export (MLPs and convolutional
//! networks), the safetensors library (numpy) and PyTorch read the safetensors export (MLPs),
//! each agreeing with digits over the 10,000 test images; weights come back in through
//! `digits import`; and the README's snippets run.
//!
//! The Python side is `tests/interop/check.py`. It runs under `DIGITS_INTEROP_PYTHON`, a Python
//! with `tests/interop/requirements.txt` (.ci/run makes that venv once, outside the clone), or
//! else `python3` when it has those packages; PyTorch's checks run under `DIGITS_TORCH_PYTHON`
//! (or the interop Python, when it has torch). Elsewhere those tests are ignored, saying why.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use crate::common::*;
use digits::data::MnistFiles;
use digits::model::inference;
use digits::train::trained::Trained;

pub fn tests() -> Vec<Test> {
    vec![
        test!(nielsen_exports_agree_with_digits, MNIST, INTEROP_PYTHON),
        test!(
            two_layer_net_exports_agree_with_digits,
            MNIST,
            INTEROP_PYTHON
        ),
        test!(
            batch_norm_and_dropout_export_agree_with_digits,
            MNIST,
            INTEROP_PYTHON
        ),
        test!(
            a_conv_nets_onnx_export_agrees_with_digits,
            MNIST,
            INTEROP_PYTHON
        ),
        test!(pytorch_reads_the_safetensors_exports, MNIST, TORCH_PYTHON),
        test!(export_then_import_predicts_identically, MNIST),
        test!(
            a_network_trained_in_numpy_imports_and_evaluates,
            MNIST,
            INTEROP_PYTHON
        ),
        test!(import_errors_name_the_file_and_tensor),
        test!(a_conv_run_loads_into_pytorch, MNIST, TORCH_PYTHON),
        test!(
            pytorchs_example_network_imports_with_pytorchs_count,
            MNIST,
            TORCH_PYTHON
        ),
        test!(a_state_dict_is_read_by_position_or_refused),
        test!(an_input_normalisation_folds_into_the_first_layer, MNIST),
        test!(readme_snippets_run, MNIST, INTEROP_PYTHON),
        test!(readme_pytorch_snippet_runs, MNIST, TORCH_PYTHON),
    ]
}

/// A TwoLayerNet trained for one epoch by a few lines of numpy (`tests/interop/train_numpy.py`,
/// in the interop Python), saved to `weights` in PyTorch's layout.
fn train_in_numpy(weights: &Path) {
    let output = Command::new(interop_python())
        .arg("tests/interop/train_numpy.py")
        .arg("--mnist")
        .arg(mnist())
        .arg("--out")
        .arg(weights)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("python runs");
    succeeded(&output);
}

/// digits' probabilities for the 10,000 test images, as float32 little-endian bytes.
fn reference_probabilities(run: &Path, file: &Path) {
    let device = burn::tensor::Device::flex();
    let trained = Trained::load(run, &device).unwrap();
    let test = MnistFiles::open(Some(mnist())).unwrap().test_split(&device);
    let rows = inference::probabilities(&trained.model, trained.config.output(), test.images);
    let bytes: Vec<u8> = rows
        .iter()
        .flatten()
        .flat_map(|p| p.to_le_bytes())
        .collect();
    std::fs::write(file, bytes).unwrap();
}

/// A config and the `train` flags the export checks train it with.
type Exported<'a> = (&'a str, &'a [&'a str]);

/// network.py's network: sigmoid outputs, probabilities as activations over their sum.
const NIELSEN: Exported = ("configs/nielsen.toml", &["--epochs", "1"]);
/// TwoLayerNet: ReLU and logits, probabilities as their softmax.
const TWO_LAYER_NET: Exported = ("configs/two-layer-net.toml", &["--epochs", "1"]);
/// Batch norm with its running statistics, trained far enough to learn (1,000 images), so that
/// the probabilities are not uniform.
const BATCH_NORM: Exported = ("configs/ch6-batchnorm-on.toml", &[]);
/// Dropout, which inference leaves out (300 images, 40 epochs).
const DROPOUT: Exported = ("configs/ch6-overfit-dropout.toml", &["--epochs", "40"]);

/// The readers check.py compares with digits.
#[derive(PartialEq)]
enum Readers {
    /// ONNX Runtime on the ONNX export, and numpy on the safetensors one, in the interop Python.
    OnnxAndNumpy,
    /// ONNX Runtime alone, in the interop Python: check.py's numpy and PyTorch forward passes
    /// read fully connected layers only.
    Onnx,
    /// PyTorch (and numpy) on the safetensors export, in the PyTorch Python.
    PyTorch,
}

/// Trains `config` (with `flags`) on MNIST, exports it, and has check.py compare `readers`
/// with digits; its report.
fn exports_agree((config, flags): Exported, readers: Readers) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    Digits::train(config, mnist(), &run).args(flags).succeeds();
    let export = |format: &str| {
        let file = tmp.path().join(format!("model.{format}"));
        Digits::new("export")
            .arg(&run)
            .args(["--format", format, "--output"])
            .arg(&file)
            .succeeds();
        file
    };
    let reference = tmp.path().join("reference.f32");
    reference_probabilities(&run, &reference);
    let trained = Trained::load(&run, &burn::tensor::Device::flex()).unwrap();
    let activation = format!("{:?}", trained.config.model.activation).to_lowercase();
    let output = format!("{:?}", trained.config.output()).to_lowercase();
    let mut check = Command::new(match readers {
        Readers::OnnxAndNumpy | Readers::Onnx => interop_python(),
        Readers::PyTorch => torch_python(),
    });
    check
        .arg("tests/interop/check.py")
        .arg("--mnist")
        .arg(mnist())
        .arg("--reference")
        .arg(&reference)
        .args(["--activation", &activation, "--output", &output]);
    if readers != Readers::Onnx {
        check.arg("--safetensors").arg(export("safetensors"));
    }
    if readers != Readers::PyTorch {
        check.arg("--onnx").arg(export("onnx"));
    }
    let report = succeeded(
        &check
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap(),
    );
    note!("{config}: {report}");
    let classes: Vec<String> = trained.classes().iter().map(|c| format!("{c:?}")).collect();
    let classes = format!("\"classes\": [{}]", classes.join(", "));
    let expected: &[&str] = match readers {
        Readers::OnnxAndNumpy => &[
            "\"check\": \"onnx\"",
            &classes,
            "\"check\": \"safetensors\"",
        ],
        Readers::Onnx => &["\"check\": \"onnx\"", &classes],
        Readers::PyTorch => &["\"check\": \"torch\", \"max"],
    };
    for check in expected {
        assert!(report.contains(check), "{config}: {report}");
    }
    report
}

fn nielsen_exports_agree_with_digits() {
    exports_agree(NIELSEN, Readers::OnnxAndNumpy);
}

fn two_layer_net_exports_agree_with_digits() {
    exports_agree(TWO_LAYER_NET, Readers::OnnxAndNumpy);
}

fn batch_norm_and_dropout_export_agree_with_digits() {
    exports_agree(BATCH_NORM, Readers::OnnxAndNumpy);
    exports_agree(DROPOUT, Readers::OnnxAndNumpy);
}

/// A small conv net (`small_conv_config`, its second layer padded by 1 so that `pads` is
/// checked) with dropout after a conv layer, the hidden layer and the scores, trained for 3
/// epochs on 10,000 images at a rate of 0.01 (the helper's 0.05 leaves it at chance here):
/// ONNX Runtime reads `pixels` as `[N, 1, 28, 28]` and agrees with digits.
fn a_conv_nets_onnx_export_agrees_with_digits() {
    let tmp = tempfile::tempdir().unwrap();
    let path = small_conv_config(tmp.path());
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (from, to) in [
        ("sizes = [150,", "sizes = [216,"),
        (
            "maps = 6\nkernel = 3\n",
            "maps = 6\nkernel = 3\npadding = 1\n",
        ),
    ] {
        assert!(text.contains(from), "small_conv_config lacks `{from}`");
        text = text.replace(from, to);
    }
    std::fs::write(&path, text + "train_limit = 10000\n").unwrap();
    let config = path.to_str().unwrap();
    let report = exports_agree((config, &["--lr", "0.01"]), Readers::Onnx);
    assert!(
        report.contains("\"input\": [\"pixels\", [\"N\", 1, 28, 28]]"),
        "{report}"
    );
}

/// The same safetensors exports through PyTorch's `torch.nn.Linear` and `BatchNorm1d`.
fn pytorch_reads_the_safetensors_exports() {
    for exported in [NIELSEN, TWO_LAYER_NET, BATCH_NORM, DROPOUT] {
        exports_agree(exported, Readers::PyTorch);
    }
}

/// Probabilities of the 10,000 test images under a run's model, bit for bit.
fn test_probabilities(run: &Path) -> Vec<u32> {
    let device = burn::tensor::Device::flex();
    let trained = Trained::load(run, &device).unwrap();
    let test = MnistFiles::open(Some(mnist())).unwrap().test_split(&device);
    inference::probabilities(&trained.model, trained.config.output(), test.images)
        .iter()
        .flatten()
        .map(|p| p.to_bits())
        .collect()
}

/// `digits import` of `weights` with `config` into `out`.
fn import(weights: &Path, config: &Path, out: &Path) -> Digits {
    Digits::new("import")
        .arg("--weights")
        .arg(weights)
        .config(config)
        .out(out)
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
fn export_then_import_predicts_identically() {
    for config in ["configs/smoke.toml", "configs/ch6-batchnorm-on.toml"] {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        Digits::train(config, mnist(), &run)
            .args(["--epochs", "1"])
            .succeeds();
        let exported = tmp.path().join("model.safetensors");
        Digits::new("export")
            .arg(&run)
            .arg("--output")
            .arg(&exported)
            .succeeds();
        let original = test_probabilities(&run);

        let ours = tmp.path().join("ours");
        let stdout = import(&exported, &run.join("config.toml"), &ours).succeeds();
        assert!(stdout.contains("digits' layout"), "{stdout}");
        assert!(test_probabilities(&ours) == original, "{config}");

        let torch_file = tmp.path().join("torch.safetensors");
        write_safetensors(&torch_file, &read_safetensors(&exported, true));
        let theirs = tmp.path().join("theirs");
        let stdout = import(&torch_file, &run.join("config.toml"), &theirs).succeeds();
        assert!(stdout.contains("PyTorch's layout"), "{stdout}");
        assert!(test_probabilities(&theirs) == original, "{config}");

        let eval = |run: &Path| Digits::new("eval").arg(run).data_dir(mnist()).succeeds();
        let (eval, before) = (eval(&theirs), eval(&run));
        assert_eq!(
            eval.lines().nth(1),
            before.lines().nth(1),
            "the same test accuracy"
        );
    }
}

/// A TwoLayerNet trained by a few lines of numpy, saved in PyTorch's layout, imports and
/// evaluates through `digits eval` at the accuracy numpy gave it.
fn a_network_trained_in_numpy_imports_and_evaluates() {
    let tmp = tempfile::tempdir().unwrap();
    let weights = tmp.path().join("theirs.safetensors");
    train_in_numpy(&weights);
    let run = tmp.path().join("imported");
    let config = Path::new("configs/two-layer-net.toml");
    let stdout = import(&weights, config, &run).succeeds();
    assert!(stdout.contains("PyTorch's layout"), "{stdout}");
    let eval = Digits::new("eval").arg(&run).data_dir(mnist()).succeeds();
    let line = eval.lines().nth(1).unwrap();
    let percent: f64 = line
        .rsplit_once('(')
        .and_then(|(_, p)| p.strip_suffix("%)"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    note!("numpy-trained TwoLayerNet through digits eval: {line}");
    assert!(percent > 90.0, "{line}");
}

/// Each bad file is a one-line error naming the tensor and both shapes, and leaves no folder.
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
        let stderr = import(&file, config, &out).fails();
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(stderr.contains(file.to_str().unwrap()), "{name}: {stderr}");
        assert!(!out.exists(), "{name}");
    }
    let junk = tmp.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a safetensors file").unwrap();
    let stderr = import(&junk, config, &out).fails();
    assert!(stderr.contains("not a safetensors file"), "{stderr}");

    // A good file into a folder that exists is refused, and the folder is left alone.
    let file = tmp.path().join("good.safetensors");
    write_safetensors(&file, &[good(0), good(1)].concat());
    std::fs::create_dir(&out).unwrap();
    let stderr = import(&file, config, &out).fails();
    assert!(stderr.contains("already exists"), "{stderr}");
    std::fs::remove_dir(&out).unwrap();
    import(&file, config, &out).succeeds();
    assert!(out.join("model.bpk").is_file() && out.join("config.toml").is_file());
}

/// A conv run exported in PyTorch's layout loads, strictly, into a PyTorch module whose
/// `Conv2d` and `Linear` layers carry the file's names, and reads the 10,000 test images as
/// digits does.
fn a_conv_run_loads_into_pytorch() {
    let tmp = tempfile::tempdir().unwrap();
    let run = trained_small_convnet(tmp.path());
    let file = tmp.path().join("conv.safetensors");
    let said = Digits::new("export")
        .arg(&run)
        .args(["--format", "safetensors", "--layout", "pytorch", "--output"])
        .arg(&file)
        .succeeds();
    assert!(said.contains("(safetensors in PyTorch's layout)"), "{said}");
    let reference = tmp.path().join("reference.f32");
    reference_probabilities(&run, &reference);
    let output = Command::new(torch_python())
        .arg("tests/interop/check_torch_conv.py")
        .arg("--mnist")
        .arg(mnist())
        .arg("--reference")
        .arg(&reference)
        .arg("--safetensors")
        .arg(&file)
        .args(["--pool", "2", "--activation", "relu", "--output", "logits"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let report = succeeded(&output);
    note!("conv run in PyTorch: {report}");
    assert!(report.contains("\"same_predictions\": true"), "{report}");
}

/// PyTorch's examples/mnist `Net`, trained in PyTorch on 3,000 images and saved as its
/// `state_dict`, converted to safetensors, comes in by position with its normalisation folded
/// in: `digits eval` counts exactly the test images PyTorch read right, and `serve` reads a
/// digit with it.
fn pytorchs_example_network_imports_with_pytorchs_count() {
    let tmp = tempfile::tempdir().unwrap();
    let output = Command::new(torch_python())
        .arg("tests/interop/train_torch_net.py")
        .arg("--mnist")
        .arg(mnist())
        .arg("--out")
        .arg(tmp.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_str(&succeeded(&output)).unwrap();
    let correct = report["correct"].as_u64().unwrap();
    let run = tmp.path().join("net");
    let said = import(
        &tmp.path().join("mnist_cnn.safetensors"),
        Path::new("configs/pytorch-mnist.toml"),
        &run,
    )
    .args([
        "--layout",
        "pytorch",
        "--input-mean",
        "0.1307",
        "--input-std",
        "0.3081",
    ])
    .succeeds();
    assert!(
        said.contains(
            "Read by position: conv1.weight → conv.0.conv.weight, conv2.weight → conv.1.conv.weight, fc1.weight → layers.0.weight, fc2.weight → layers.1.weight"
        ),
        "{said}"
    );
    let eval = Digits::new("eval").arg(&run).succeeds();
    note!(
        "PyTorch's Net: PyTorch reads {correct} of 10,000 test images right; digits: {}",
        eval.lines().next().unwrap_or("")
    );
    assert!(
        eval.contains(&format!("Test accuracy: {correct} / 10000")),
        "PyTorch counts {correct}:\n{eval}"
    );
    // Every prediction, not only the count.
    let device = burn::tensor::Device::flex();
    let trained = Trained::load(&run, &device).unwrap();
    let test = MnistFiles::open(Some(mnist())).unwrap().test_split(&device);
    let ours: Vec<i64> = inference::predict(&trained.model, test.images)
        .into_data()
        .iter::<i64>()
        .collect();
    let theirs: Vec<i64> = serde_json::from_value(report["predictions"].clone()).unwrap();
    let differ = ours.iter().zip(&theirs).filter(|(a, b)| a != b).count();
    assert_eq!(differ, 0, "{differ} test images read differently");

    let (label, image) = &test_digits(mnist(), 1)[0];
    let png = tmp.path().join("digit.png");
    image.save(&png).unwrap();
    let predicted = Digits::new("predict").model(&run).arg(&png).succeeds();
    let server = crate::serve::Server::start(&[&run], None);
    let bytes = std::fs::read(&png).unwrap();
    let (status, reading) =
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(crate::serve::post_image(
                &reqwest::Client::new(),
                &server.url,
                "",
                "image/png",
                bytes,
            ));
    assert_eq!(status, 200, "{reading}");
    assert_eq!(reading["class"], label.to_string(), "{reading}");
    assert!(predicted.contains(&format!(": {label} (")), "{predicted}");
    assert_eq!(reading["layers"][2]["name"], "max-pool 2×2");
    assert_eq!(
        reading["layers"][2]["shape"],
        serde_json::json!([64, 12, 12])
    );
}

/// The sections a config for `import` needs beside `[model]`.
const TRAINING: &str =
    "[optimizer]\nname = \"sgd\"\nlr = 0.1\n[training]\nepochs = 1\nbatch_size = 10\n";

/// A file named as PyTorch names a `state_dict` is read by the numbers in its names: `conv2`
/// before `conv10`. Names that leave the order open, a layer too many, and a wrong shape are
/// each one line naming the tensors.
fn a_state_dict_is_read_by_position_or_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("conv.toml");
    std::fs::write(
        &config,
        format!(
            "[model]\nsizes = [12, 5, 10]\nactivation = \"relu\"\n\
         [[model.conv]]\nmaps = 2\nkernel = 5\npool = 4\n\
         [[model.conv]]\nmaps = 3\nkernel = 3\npool = 2\n\
         [loss]\ncost = \"cross_entropy\"\n{TRAINING}"
        ),
    )
    .unwrap();
    let tensor = |name: &str, shape: &[usize], seed: usize| {
        let n: usize = shape.iter().product();
        let values = (0..n)
            .map(|i| ((i * 7 + seed * 13) % 17) as f32 / 17.0 - 0.5)
            .collect();
        (name.to_string(), shape.to_vec(), values)
    };
    let net = |first: &str, second: &str| -> Tensors {
        vec![
            tensor(&format!("{first}.weight"), &[2, 1, 5, 5], 1),
            tensor(&format!("{first}.bias"), &[2], 2),
            tensor(&format!("{second}.weight"), &[3, 2, 3, 3], 3),
            tensor(&format!("{second}.bias"), &[3], 4),
            tensor("fc10.weight", &[10, 5], 5),
            tensor("fc10.bias", &[10], 6),
            tensor("fc2.weight", &[5, 12], 7),
            tensor("fc2.bias", &[5], 8),
        ]
    };
    // conv2 before conv10, fc2 before fc10, whatever the alphabet says.
    let file = tmp.path().join("good.safetensors");
    write_safetensors(&file, &net("conv2", "conv10"));
    let run = tmp.path().join("run");
    let said = import(&file, &config, &run).succeeds();
    assert!(
        said.contains("Read by position: conv2.weight → conv.0.conv.weight, conv10.weight → conv.1.conv.weight, fc2.weight → layers.0.weight, fc10.weight → layers.1.weight"),
        "{said}"
    );
    assert!(said.contains("PyTorch's layout"), "{said}");
    let trained = Trained::load(&run, &burn::tensor::Device::flex()).unwrap();
    let first: Vec<f32> = trained.model.conv()[0]
        .conv
        .weight
        .val()
        .into_data()
        .try_to_vec()
        .unwrap();
    assert_eq!(first, net("a", "b")[0].2);

    let cases: Vec<(&str, Tensors, String)> = vec![
        (
            "ambiguous",
            net("conv_a", "conv_b"),
            "the names `conv_a` and `conv_b` do not say which layer comes first; number them (conv1, conv2) or use digits' names (docs/interop.md)".into(),
        ),
        (
            "a layer too many",
            [net("conv1", "conv2"), vec![tensor("conv3.weight", &[3, 3, 3, 3], 9), tensor("conv3.bias", &[3], 9)]].concat(),
            "3 convolutional layers (conv1, conv2, conv3), but the config's network (conv 2 5×5 pool 4, conv 3 3×3 pool 2, [12, 5, 10]) has 2".into(),
        ),
        (
            "wrong shape",
            [net("conv1", "conv2")[..2].to_vec(), vec![tensor("conv2.weight", &[3, 2, 5, 5], 3), tensor("conv2.bias", &[3], 4)], net("conv1", "conv2")[4..].to_vec()].concat(),
            "tensor `conv2.weight` (digits' `conv.1.conv.weight`) is [3, 2, 5, 5], but a conv 2 5×5 pool 4, conv 3 3×3 pool 2, [12, 5, 10] network needs [3, 2, 3, 3] (PyTorch's layout)".into(),
        ),
    ];
    for (name, tensors, expected) in cases {
        let file = tmp.path().join(format!("{name}.safetensors"));
        write_safetensors(&file, &tensors);
        let out = tmp.path().join("refused");
        let stderr = import(&file, &config, &out).fails();
        assert_eq!(
            stderr.trim_end(),
            format!("error: {}: {expected}", file.display()),
            "{name}"
        );
        assert!(!out.exists(), "{name}");
    }
}

/// `--input-mean` and `--input-std` fold `(x − mean) / std` into the first layer: the imported
/// net on pixels gives what the original gives on normalised pixels, for a conv net and an MLP.
/// A padded first convolution cannot take it exactly, and is refused.
fn an_input_normalisation_folds_into_the_first_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let conv = trained_small_convnet(tmp.path());
    let mlp = trained_nielsen(tmp.path());
    let device = burn::tensor::Device::flex();
    let test = MnistFiles::open(Some(mnist())).unwrap().test_split(&device);
    let images = test.images.slice(0..500);
    let (mean, std) = (0.1307, 0.3081);
    for run in [&conv, &mlp] {
        let file = tmp.path().join("weights.safetensors");
        Digits::new("export")
            .arg(run)
            .args(["--format", "safetensors", "--output"])
            .arg(&file)
            .succeeds();
        let out = run.with_extension("folded");
        let said = import(&file, &run.join("config.toml"), &out)
            .args(["--input-mean", "0.1307", "--input-std", "0.3081"])
            .succeeds();
        assert!(
            said.contains(
                "Folded the inputs' normalisation, (x - 0.1307) / 0.3081, into the first layer"
            ),
            "{said}"
        );
        let original = Trained::load(run, &device).unwrap().model;
        let folded = Trained::load(&out, &device).unwrap().model;
        let expected: Vec<f32> = original
            .forward((images.clone() - mean) / std)
            .into_data()
            .try_to_vec()
            .unwrap();
        let got: Vec<f32> = folded
            .forward(images.clone())
            .into_data()
            .try_to_vec()
            .unwrap();
        let worst = expected
            .iter()
            .zip(&got)
            .map(|(a, b)| (a - b).abs() / a.abs().max(1.0))
            .fold(0.0, f32::max);
        note!(
            "{}: largest relative difference after folding {worst:e}",
            run.display()
        );
        assert!(worst < 1e-4, "{}: {worst}", run.display());
    }
    let padded = tmp.path().join("padded.toml");
    std::fs::write(
        &padded,
        format!("[model]\nsizes = [392, 10]\n[[model.conv]]\nmaps = 2\nkernel = 3\npadding = 1\npool = 2\n{TRAINING}"),
    )
    .unwrap();
    let weights = tmp.path().join("padded.safetensors");
    write_safetensors(
        &weights,
        &[
            ("conv.0.conv.weight".into(), vec![2, 1, 3, 3], vec![0.1; 18]),
            ("conv.0.conv.bias".into(), vec![2], vec![0.0; 2]),
            ("layers.0.weight".into(), vec![392, 10], vec![0.0; 3920]),
            ("layers.0.bias".into(), vec![10], vec![0.0; 10]),
        ],
    );
    let stderr = import(&weights, &padded, &tmp.path().join("p"))
        .args(["--input-mean", "0.5", "--input-std", "0.5"])
        .fails();
    assert_eq!(
        stderr.trim_end(),
        format!(
            "error: {}: the first convolution pads its input, so a normalisation cannot be folded into it exactly; import without --input-mean and --input-std",
            padded.display()
        )
    );
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

/// A README snippet: its language and its code.
type Snippet = (String, String);

/// Whether a snippet needs PyTorch: its own, and the import of PyTorch's example network.
fn needs_torch((_, code): &Snippet) -> bool {
    code.contains("import torch") || code.contains("mnist_cnn")
}

/// A folder holding what the snippets name: a trained `artifacts/nielsen` (smoke.toml), an
/// `artifacts/simple-convnet` (configs/simple-convnet.toml, one epoch on 10,000 images), and
/// `configs/`.
fn readme_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("artifacts/nielsen");
    Digits::train("configs/smoke.toml", mnist(), &run).succeeds();
    // simple-convnet.toml ends with its [data] section.
    let short = dir.path().join("simple-convnet.toml");
    let config = std::fs::read_to_string("configs/simple-convnet.toml").unwrap();
    std::fs::write(&short, config + "train_limit = 10000\n").unwrap();
    let conv = dir.path().join("artifacts/simple-convnet");
    Digits::train(&short, mnist(), &conv)
        .args(["--epochs", "1"])
        .succeeds();
    let configs = dir.path().join("configs");
    std::fs::create_dir(&configs).unwrap();
    for config in ["two-layer-net.toml", "pytorch-mnist.toml"] {
        std::fs::copy(Path::new("configs").join(config), configs.join(config)).unwrap();
    }
    dir
}

/// Runs a snippet in `dir`: each `digits` line of a `sh` block through the binary, a `python`
/// block under `python`, which must print what the snippet says it prints.
fn run_snippet(dir: &Path, (language, code): &Snippet, python: &Path) {
    match language.as_str() {
        "sh" => {
            for line in code.lines().filter(|l| l.starts_with("digits ")) {
                let line = line.split(" #").next().unwrap();
                let words: Vec<&str> = line.split_whitespace().skip(1).collect();
                let stdout = Digits::new(words[0])
                    .args(&words[1..])
                    .current_dir(dir)
                    .succeeds();
                note!("$ {line}\n{stdout}");
            }
        }
        "python" => {
            let output = Command::new(python)
                .args(["-c", code])
                .current_dir(dir)
                .output()
                .unwrap();
            let stdout = succeeded(&output);
            note!("{stdout}");
            // MNIST's first test image is a 7, which the trained networks read.
            let expected = if code.contains("onnxruntime") {
                "digit 7 "
            } else if code.contains("save_file") {
                "saved conv1.weight, conv1.bias, conv2.weight, conv2.bias, fc1.weight"
            } else {
                "probabilities [["
            };
            assert!(stdout.starts_with(expected), "{stdout}");
        }
        other => panic!("a snippet in {other}"),
    }
}

/// Each snippet of "Using the network elsewhere" but PyTorch's runs as written, in a folder
/// holding what they name: a trained artifacts/nielsen, MNIST's test images (gzipped), and a
/// numpy-trained theirs.safetensors for the import.
fn readme_snippets_run() {
    let tmp = readme_folder();
    let dir = tmp.path();
    let images = mnist_file(mnist(), "t10k-images-idx3-ubyte").unwrap();
    let mut bytes = Vec::new();
    digits::data::idx::open(&images)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    let gzipped = std::fs::File::create(dir.join("t10k-images-idx3-ubyte.gz")).unwrap();
    let mut encoder = flate2::write::GzEncoder::new(gzipped, Default::default());
    encoder.write_all(&bytes).unwrap();
    encoder.finish().unwrap();
    train_in_numpy(&dir.join("theirs.safetensors"));

    let snippets = readme_snippets();
    assert_eq!(snippets.len(), 9, "{snippets:?}");
    for snippet in snippets.iter().filter(|s| !needs_torch(s)) {
        run_snippet(dir, snippet, interop_python());
    }
    for file in [
        "nielsen.onnx",
        "simple-convnet.onnx",
        "artifacts/theirs/model.bpk",
    ] {
        assert!(dir.join(file).is_file(), "{file}");
    }
}

/// PyTorch's snippets run as written: on the safetensors files the export snippets write, and
/// on PyTorch's example network, trained briefly in PyTorch and saved as main.py saves it, which
/// the import snippet brings in.
fn readme_pytorch_snippet_runs() {
    let tmp = readme_folder();
    let dir = tmp.path();
    let output = Command::new(torch_python())
        .arg("tests/interop/train_torch_net.py")
        .arg("--mnist")
        .arg(mnist())
        .arg("--out")
        .arg(dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    succeeded(&output);
    std::fs::remove_file(dir.join("mnist_cnn.safetensors")).unwrap(); // the snippet makes it
    let snippets = readme_snippets();
    let exports = snippets
        .iter()
        .filter(|(language, code)| language == "sh" && code.contains("digits export"));
    for snippet in exports.chain(snippets.iter().filter(|s| needs_torch(s))) {
        run_snippet(dir, snippet, torch_python());
    }
    assert!(dir.join("artifacts/pytorch-mnist/model.bpk").is_file());
}
