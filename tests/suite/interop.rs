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

/// Whether a snippet is PyTorch's.
fn needs_torch((_, code): &Snippet) -> bool {
    code.contains("import torch")
}

/// A folder holding a trained `artifacts/nielsen` (smoke.toml), as the snippets name it.
fn readme_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("artifacts/nielsen");
    Digits::train("configs/smoke.toml", mnist(), &run).succeeds();
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
    std::fs::create_dir(dir.join("configs")).unwrap();
    std::fs::copy(
        "configs/two-layer-net.toml",
        dir.join("configs/two-layer-net.toml"),
    )
    .unwrap();
    train_in_numpy(&dir.join("theirs.safetensors"));

    let snippets = readme_snippets();
    assert_eq!(snippets.len(), 4, "{snippets:?}");
    for snippet in snippets.iter().filter(|s| !needs_torch(s)) {
        run_snippet(dir, snippet, interop_python());
    }
    assert!(dir.join("nielsen.onnx").is_file() && dir.join("artifacts/theirs/model.bpk").is_file());
}

/// PyTorch's snippet runs as written, on the safetensors file the export snippet writes.
fn readme_pytorch_snippet_runs() {
    let tmp = readme_folder();
    let snippets = readme_snippets();
    let export = snippets
        .iter()
        .find(|(language, code)| language == "sh" && code.contains("digits export"))
        .expect("the export snippet");
    let torch = snippets
        .iter()
        .find(|s| needs_torch(s))
        .expect("PyTorch's snippet");
    run_snippet(tmp.path(), export, torch_python());
    run_snippet(tmp.path(), torch, torch_python());
}
