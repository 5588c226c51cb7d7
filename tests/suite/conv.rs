//! Convolutional networks (`[[model.conv]]`) through the real binary: the books' SimpleConvNet
//! learns, its run has what an MLP run has (the network's table, charts, `eval`, `predict`,
//! `errors`), goes out as safetensors and comes back with `import`, and fine-tunes onto an
//! image folder. The shapes' arithmetic and its errors are unit-tested in `src/model/config.rs`,
//! exact resume with dropout in `resume.rs`, gradcheck in `gradcheck.rs`, `serve` in `serve.rs`,
//! the ONNX export and the PyTorch layout in `interop.rs`.

use crate::common::*;
use crate::images::{cached, strokes};
use std::path::{Path, PathBuf};

pub fn tests() -> Vec<Test> {
    vec![
        test!(
            simple_convnet_learns_and_its_run_works_as_an_mlps_does,
            MNIST
        ),
        test!(a_conv_run_fine_tunes_onto_an_image_folder, MNIST),
        test!(impossible_stacks_are_refused_before_training),
        test!(the_first_layers_unfolding_trains_as_conv2d_does, MNIST),
    ]
}

/// DLFS's SimpleConvNet, as configs/simple-convnet.toml has it, for 2 of its 20 epochs on the
/// 50,000 training images: 97.83% here (an MLP of the same size with Adam is near 95%).
fn simple_convnet_learns_and_its_run_works_as_an_mlps_does() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("simple-convnet");
    let out = Digits::train("configs/simple-convnet.toml", mnist(), &run)
        .args(["--epochs", "2"])
        .succeeds();
    for line in [
        "  layer              output    parameters",
        "  conv 30 5×5, relu  30×24×24         780",
        "  max-pool 2×2       30×12×12           0",
        "  flatten            4320               0",
        "  fc 100, relu       100          432,100",
        "  total                           433,890",
    ] {
        assert!(out.contains(line), "no `{line}` in\n{out}");
    }
    let accuracy = *test_accuracies(&run).last().unwrap();
    note!("simple-convnet, 2 epochs: test accuracy {accuracy:.4}");
    assert!(accuracy > 0.97, "{accuracy}");
    assert!(run.join("curves.png").is_file());

    let eval = Digits::new("eval").arg(&run).succeeds();
    let correct = (accuracy * 10_000.0).round() as usize;
    assert!(
        eval.contains(&format!("{correct} / 10000")),
        "{correct}: {eval}"
    );
    errors_drawn(
        std::slice::from_ref(&run),
        &tmp.path().join("errors.png"),
        10_000 - correct,
    );

    let (labels, files) = test_digit_files(tmp.path(), 20);
    let predict = Digits::new("predict").model(&run).args(&files).succeeds();
    let right = predict
        .lines()
        .zip(&labels)
        .filter(|(line, label)| line.contains(&format!(": {label} (")))
        .count();
    assert!(right >= 19, "{right} of 20 right:\n{predict}");

    // Its weights go out and come back in by name, reading every test image as before.
    let weights = tmp.path().join("weights.safetensors");
    Digits::new("export")
        .arg(&run)
        .args(["--format", "safetensors", "--output"])
        .arg(&weights)
        .succeeds();
    let imported = tmp.path().join("imported");
    Digits::new("import")
        .arg("--weights")
        .arg(&weights)
        .args(["--config", "configs/simple-convnet.toml", "--out"])
        .arg(&imported)
        .succeeds();
    let again = Digits::new("eval").arg(&imported).succeeds();
    assert!(
        again.contains(&format!("{correct} / 10000")),
        "{correct}: {again}"
    );
}

/// A small conv net trained on MNIST, fine-tuned onto three classes of strokes in an image
/// folder: the convolutions and the hidden layer are kept, the last layer drawn afresh, and
/// `predict` names a stroke's class. A different convolution cannot be kept.
fn a_conv_run_fine_tunes_onto_an_image_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let network = |maps: usize, classes: usize| {
        format!(
            "[model]\nsizes = [{}, 30, {classes}]\nactivation = \"relu\"\ninit = \"he\"\n\
             [[model.conv]]\nmaps = {maps}\nkernel = 5\npool = 2\n\
             [loss]\ncost = \"cross_entropy\"\n\
             [optimizer]\nname = \"sgd\"\nlr = 0.05\nmomentum = 0.9\n\
             [training]\nepochs = 2\nbatch_size = 20\nseed = 1\n",
            maps * 144
        )
    };
    let write = |name: &str, text: String| {
        let path = tmp.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let mnist_config = write(
        "mnist.toml",
        network(8, 10) + "[data]\ntrain_limit = 3000\n",
    );
    let source = tmp.path().join("mnist-run");
    Digits::train(&mnist_config, mnist(), &source).succeeds();

    let folder = tmp.path().join("strokes");
    strokes(&folder, 40);
    let folder_data = format!(
        "[data]\nformat = \"images\"\ndir = \"{}\"\nvalidation_fraction = 0.25\ntest_fraction = 0.25\n",
        folder.display()
    );
    let config = write("strokes.toml", network(8, 3) + &folder_data);
    let tuned = tmp.path().join("tuned");
    let out = cached("train", &cache)
        .config(&config)
        .out(&tuned)
        .arg("--init-from")
        .arg(&source)
        .succeeds();
    assert!(
        out.contains(
            "its convolutional and hidden layers are kept; its last layer has 10 outputs and this run 3 classes, so that layer is drawn afresh"
        ),
        "{out}"
    );
    let accuracy = *test_accuracies(&tuned).last().unwrap();
    note!("strokes, fine-tuned conv net: test accuracy {accuracy:.3}");
    assert!(accuracy > 0.8, "{accuracy}");
    let stroke = folder.join("pole").join("003.png");
    let predict = cached("predict", &cache)
        .model(&tuned)
        .arg(&stroke)
        .succeeds();
    assert!(predict.contains(": pole ("), "{predict}");

    let other = write("other.toml", network(6, 3) + &folder_data);
    let error = cached("train", &cache)
        .config(&other)
        .out(tmp.path().join("other"))
        .arg("--init-from")
        .arg(&source)
        .fails();
    assert!(
        error.contains(
            "its network is conv 8 5×5 pool 2, [1152, 30, 10], this run's conv 6 5×5 pool 2, [864, 30, 3]; all but the last size must match"
        ),
        "{error}"
    );
}

/// A filter larger than its input, sizes that do not start at the flattened maps and a
/// misspelt key: each a one-line error naming the file, the layer and the key, before any
/// training.
fn impossible_stacks_are_refused_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synthetic_mnist(&data, 300, 100, false);
    let config = |name: &str, model: &str| -> PathBuf {
        let path = tmp.path().join(format!("{name}.toml"));
        let text = format!(
            "[model]\n{model}\n[loss]\ncost = \"cross_entropy\"\n[optimizer]\nname = \"sgd\"\n\
             lr = 0.1\n[training]\nepochs = 1\nbatch_size = 10\nseed = 1\n\
             [data]\nvalidation_size = 100\n"
        );
        std::fs::write(&path, text).unwrap();
        path
    };
    let refused = |path: &Path| {
        let run = tmp.path().join("run");
        let error = Digits::train(path, &data, &run).fails();
        assert!(!run.exists(), "{error}");
        error.trim_end().to_string()
    };

    let large = config(
        "large",
        "sizes = [2880, 10]\n[[model.conv]]\nmaps = 20\nkernel = 5\npool = 2\n\
         [[model.conv]]\nmaps = 40\nkernel = 13",
    );
    assert_eq!(
        refused(&large),
        format!(
            "error: {}: [[model.conv]] 2 kernel: a 13×13 filter is larger than its 12×12 input; \
             the layers give input: 1×28×28; conv 20 5×5, sigmoid: 20×24×24; max-pool 2×2: 20×12×12",
            large.display()
        )
    );

    let sizes = config(
        "sizes",
        "sizes = [784, 100, 10]\n[[model.conv]]\nmaps = 20\nkernel = 5\nstride = 2\npadding = 1",
    );
    assert_eq!(
        refused(&sizes),
        format!(
            "error: {}: [model] sizes: the first size must be the convolutional layers' output \
             flattened, 3380, got 784; the layers give input: 1×28×28; \
             conv 20 5×5 stride 2 pad 1, sigmoid: 20×13×13; flatten: 3380",
            sizes.display()
        )
    );

    let misspelt = config(
        "misspelt",
        "sizes = [2880, 10]\n[[model.conv]]\nmaps = 20\nkernal = 5",
    );
    let error = refused(&misspelt);
    assert!(
        error.starts_with(&format!(
            "error: {}:5:1: key `model.conv[0].kernal`: unknown field `kernal`, expected one of",
            misspelt.display()
        )),
        "{error}"
    );
    assert_eq!(error.lines().count(), 1, "{error}");
}

/// The first conv layer convolves as an unfold and a matmul (`LayerInput::Images`), the same
/// numbers as Burn's `Conv2d` to float rounding (unit-tested in `src/model/conv.rs`). Trained
/// both ways from the same weights, one epoch of SimpleConvNet on 10,000 images in the same
/// order reads the test set within 0.1 points.
fn the_first_layers_unfolding_trains_as_conv2d_does() {
    use burn::module::Module;
    use burn::nn::activation::Activation;
    use burn::optim::GradientsParams;
    use burn::tensor::activation::{log_softmax, relu};
    use burn::tensor::{Device, Tensor};
    use digits::model::conv::LayerInput;
    use digits::model::{Network, NetworkConfig};

    fn logits(model: &Network, images: Tensor<2>, first: LayerInput) -> Tensor<2> {
        let batch = images.dims()[0];
        let mut x = images.reshape([batch, 1, 28, 28]);
        for (i, layer) in model.conv().iter().enumerate() {
            let from = if i == 0 { first } else { LayerInput::Maps };
            x = layer.forward(x, from, &Activation::Relu(burn::nn::Relu));
        }
        let (last, hidden) = model.layers().split_last().unwrap();
        let h = hidden
            .iter()
            .fold(x.flatten(1, 3), |h, layer| relu(layer.forward(h)));
        last.forward(h)
    }

    let config = digits::train::RunConfig::load("configs/simple-convnet.toml".as_ref()).unwrap();
    let device = Device::flex().autodiff();
    let files = digits::data::MnistFiles::open(Some(mnist())).unwrap();
    let train = files.first_training_examples(10_000, &device);
    let test = files.test_split(&Device::flex());
    let start = NetworkConfig::new(config.model.clone(), config.output()).init(1, &device);
    let accuracies: Vec<f64> = [LayerInput::Images, LayerInput::Maps]
        .into_iter()
        .map(|first| {
            let (mut model, mut optim) = (start.clone(), config.optimizer.init());
            for begin in (0..10_000).step_by(100) {
                let images = train.images.clone().slice(begin..begin + 100);
                let labels = train.labels.clone().slice(begin..begin + 100);
                let picked = log_softmax(logits(&model, images, first), 1)
                    .gather(1, labels.unsqueeze_dim(1));
                let loss = picked.mean().neg();
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = optim.step(config.optimizer.lr, model, grads);
            }
            let predicted = logits(&model.valid(), test.images.clone(), first).argmax(1);
            let right = predicted
                .squeeze_dim::<1>(1)
                .equal(test.labels.clone())
                .int()
                .sum()
                .into_scalar::<i64>();
            right as f64 / 100.0
        })
        .collect();
    note!(
        "SimpleConvNet, 1 epoch of 10,000 images: {:.2}% unfolding the first layer, {:.2}% with Conv2d",
        accuracies[0],
        accuracies[1]
    );
    assert!(
        (accuracies[0] - accuracies[1]).abs() <= 0.1,
        "{accuracies:?}"
    );
}
