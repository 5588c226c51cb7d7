//! Where a conv net's training step spends its time, and what other formulations of the same
//! layers, all inside Burn's autodiff, make of it.
//!
//! ```sh
//! cargo run --release --example conv_step -- [--steps N] [--only TEXT]
//! ```
//!
//! For network3-conv2.toml at batch 10 and 100 and simple-convnet.toml at batch 100 and 10,
//! on flex, it times a training step on a fixed random batch (cross-entropy on the config's
//! network and optimizer) split into its forward pass, its backward pass and the optimizer's
//! update, each the median over `--steps`, and gives the step as seconds per 50,000 examples
//! (an epoch of the training split). Each formulation computes the same numbers:
//!
//! - `burn`: Burn's `Conv2d` and `MaxPool2d` for every layer;
//! - `im2col`: every convolution as `unfold4d` and one matmul, filters `[1, maps, c·k²]` ×
//!   columns `[b, c·k², L]`, so that autodiff differentiates a matmul;
//! - `im2col-first`: im2col for the first layer only, whose input (the images) needs no
//!   gradient, so that the unfold's backward never runs; `Conv2d` after it. This is what
//!   digits' `ConvLayer` does (`LayerInput`);
//! - `reshape-pool`: `Conv2d`, and the pooling as a reshape to `[b, c, h/p, p, w/p, p]` and two
//!   `max_dim`s;
//! - `im2col+reshape-pool`: both;
//! - `nhwc`: the maps kept as `[b, h, w, c]` throughout, each convolution as k² shifted
//!   slices concatenated on the channel axis and one matmul, each pooling as a reshape and two
//!   `max_dim`s, and one `permute` back to channel, row, column order before the fully
//!   connected layers.
//!
//! Before timing, each formulation's outputs and gradients are compared with `burn`'s on the
//! same weights and batch: the largest difference relative to the largest value.

use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::activation::{log_softmax, relu, sigmoid};
use burn::tensor::{Device, Distribution, Int, Tensor};
use digits::model::conv::LayerInput;
use digits::model::{Activation, Network, NetworkConfig};
use digits::train::RunConfig;

/// How the conv layers are computed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Formulation {
    /// Burn's `Conv2d` and `MaxPool2d` for every layer.
    Burn,
    /// Every convolution as `unfold4d` and one matmul.
    Im2col,
    /// im2col for the first layer only (digits' `ConvLayer`), `Conv2d` after it.
    Im2colFirst,
    /// `Conv2d`, and the pooling as a reshape and two `max_dim`s.
    ReshapePool,
    /// im2col on every layer and the reshape pooling.
    Im2colReshapePool,
    /// Maps kept as `[b, h, w, c]` throughout: each convolution as k² shifted slices
    /// concatenated on the channel axis and one matmul, the pooling as a reshape and two
    /// `max_dim`s; one `permute` to NCHW before the fully connected layers.
    Nhwc,
}

impl Formulation {
    const ALL: [Formulation; 6] = [
        Formulation::Burn,
        Formulation::Im2col,
        Formulation::Im2colFirst,
        Formulation::ReshapePool,
        Formulation::Im2colReshapePool,
        Formulation::Nhwc,
    ];

    fn name(&self) -> &'static str {
        match self {
            Formulation::Burn => "burn",
            Formulation::Im2col => "im2col",
            Formulation::Im2colFirst => "im2col-first",
            Formulation::ReshapePool => "reshape-pool",
            Formulation::Im2colReshapePool => "im2col+reshape-pool",
            Formulation::Nhwc => "nhwc",
        }
    }

    /// How many conv layers, from the input, are im2col and a matmul (the rest `Conv2d`).
    fn im2col(&self) -> usize {
        match self {
            Formulation::Im2col | Formulation::Im2colReshapePool => usize::MAX,
            Formulation::Im2colFirst => 1,
            _ => 0,
        }
    }

    fn reshape_pool(&self) -> bool {
        matches!(
            self,
            Formulation::ReshapePool | Formulation::Im2colReshapePool
        )
    }
}

#[derive(Debug, clap::Parser)]
struct Args {
    /// Steps timed per formulation (after 3 to warm up); the report gives their median.
    #[arg(long, default_value_t = 30)]
    steps: usize,
    /// Only the rows whose "config batch formulation" contains this text.
    #[arg(long, value_name = "TEXT")]
    only: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args = <Args as clap::Parser>::parse();
    let device = Device::flex().autodiff();
    println!(
        "{:<28} {:>5} {:<20} {:>10} {:>11} {:>12} {:>10} {:>14} {:>12}",
        "config",
        "batch",
        "formulation",
        "forward ms",
        "backward ms",
        "optimizer ms",
        "step ms",
        "s/50k examples",
        "max rel diff"
    );
    for (config, batch) in [
        ("configs/network3-conv2.toml", 10),
        ("configs/network3-conv2.toml", 100),
        ("configs/simple-convnet.toml", 100),
        ("configs/simple-convnet.toml", 10),
    ] {
        let run = RunConfig::load(config.as_ref())?;
        let model = NetworkConfig::new(run.model.clone(), run.output()).init(1, &device);
        let images = Tensor::<2>::random([batch, 784], Distribution::Default, &device);
        let labels = Tensor::<1, Int>::random([batch], Distribution::Uniform(0.0, 10.0), &device);
        let reference = gradients(&model, &images, &labels, Formulation::ALL[0], &run);
        for formulation in Formulation::ALL {
            let name = formulation.name();
            if args
                .only
                .as_ref()
                .is_some_and(|o| !format!("{config} {batch} {name}").contains(o.as_str()))
            {
                continue;
            }
            let difference = largest_difference(
                &reference,
                &gradients(&model, &images, &labels, formulation, &run),
            );
            let mut optim = run.optimizer.init();
            let mut model = model.clone();
            let (mut forward, mut backward, mut update) = (vec![], vec![], vec![]);
            for step in 0..args.steps + 3 {
                let started = Instant::now();
                let loss = loss(&model, &images, &labels, formulation, &run);
                let _ = loss.clone().into_data(); // flex computes eagerly; this only waits
                let forwarded = Instant::now();
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                let backwarded = Instant::now();
                model = optim.step(run.optimizer.lr, model, grads);
                let _ = model.layers()[0]
                    .weight
                    .val()
                    .slice([0..1, 0..1])
                    .into_data();
                let updated = Instant::now();
                if step >= 3 {
                    forward.push((forwarded - started).as_secs_f64());
                    backward.push((backwarded - forwarded).as_secs_f64());
                    update.push((updated - backwarded).as_secs_f64());
                }
            }
            let (f, b, u) = (median(forward), median(backward), median(update));
            let step = f + b + u;
            println!(
                "{config:<28} {batch:>5} {name:<20} {:>10.3} {:>11.3} {:>12.3} {:>10.3} {:>14.1} {difference:>12.1e}",
                f * 1e3,
                b * 1e3,
                u * 1e3,
                step * 1e3,
                step * 50_000.0 / batch as f64,
            );
        }
    }
    Ok(())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The mean cross-entropy of `model`'s logits, computed with `formulation`'s conv layers.
fn loss(
    model: &Network,
    images: &Tensor<2>,
    labels: &Tensor<1, Int>,
    formulation: Formulation,
    run: &RunConfig,
) -> Tensor<1> {
    let logits = forward(model, images.clone(), formulation, run.model.activation);
    let picked = log_softmax(logits, 1).gather(1, labels.clone().unsqueeze_dim(1));
    picked.mean().neg()
}

fn activate(x: Tensor<4>, activation: Activation) -> Tensor<4> {
    match activation {
        Activation::Sigmoid => sigmoid(x),
        Activation::Relu => relu(x),
    }
}

/// The network's forward pass with `formulation`'s conv layers (no dropout, no batch norm:
/// the configs measured have neither).
fn forward(
    model: &Network,
    images: Tensor<2>,
    formulation: Formulation,
    activation: Activation,
) -> Tensor<2> {
    let batch = images.dims()[0];
    let x = if formulation == Formulation::Nhwc {
        nhwc_conv_layers(model, images.reshape([batch, 28, 28, 1]), activation)
    } else {
        let mut x = images.reshape([batch, 1, 28, 28]);
        for (i, layer) in model.conv().iter().enumerate() {
            // The library's two ways to convolve: an unfold and a matmul, or `Conv2d`.
            let z = if i < formulation.im2col() {
                layer.convolve(x, LayerInput::Images)
            } else {
                layer.convolve(x, LayerInput::Maps)
            };
            let pool = layer.pool.as_ref().expect("the configs measured pool");
            let z = if formulation.reshape_pool() {
                reshape_pool(z, pool.kernel_size[0])
            } else {
                pool.forward(z)
            };
            x = activate(z, activation);
        }
        x
    };
    let mut h = x.flatten(1, 3);
    let (last, hidden) = model.layers().split_last().expect("a layer");
    for layer in hidden {
        h = match activation {
            Activation::Sigmoid => sigmoid(layer.forward(h)),
            Activation::Relu => relu(layer.forward(h)),
        };
    }
    last.forward(h)
}

/// The conv layers on `[b, h, w, c]` maps (unpadded, stride 1, as the configs measured are),
/// returning their output as `[b, c, h, w]`, the order the fully connected layers read.
fn nhwc_conv_layers(model: &Network, images: Tensor<4>, activation: Activation) -> Tensor<4> {
    let mut x = images;
    for layer in model.conv() {
        let [batch, height, width, channels] = x.dims();
        let [maps, _, k, _] = layer.conv.weight.dims();
        let (rows, columns) = (height - k + 1, width - k + 1);
        // Window offset (i, j) outermost, channel innermost, as the filters are permuted.
        let windows: Vec<Tensor<4>> = (0..k)
            .flat_map(|i| (0..k).map(move |j| (i, j)))
            .map(|(i, j)| {
                x.clone()
                    .slice([0..batch, i..i + rows, j..j + columns, 0..channels])
            })
            .collect();
        let patches = Tensor::cat(windows, 3).reshape([batch * rows * columns, k * k * channels]);
        let filters = layer
            .conv
            .weight
            .val()
            .permute([2, 3, 1, 0])
            .reshape([k * k * channels, maps]);
        let bias = layer.conv.bias.as_ref().expect("a bias").val();
        let z =
            (patches.matmul(filters) + bias.unsqueeze_dim(0)).reshape([batch, rows, columns, maps]);
        let p = layer
            .pool
            .as_ref()
            .expect("the configs measured pool")
            .kernel_size[0];
        let (rows, columns) = (rows / p, columns / p);
        let z = z
            .slice([0..batch, 0..rows * p, 0..columns * p, 0..maps])
            .reshape([batch, rows, p, columns, p * maps])
            .max_dim(2)
            .reshape([batch, rows, columns, p, maps])
            .max_dim(3)
            .reshape([batch, rows, columns, maps]);
        x = activate(z, activation);
    }
    x.permute([0, 3, 1, 2])
}

/// Max-pooling with a `p`×`p` window moving by `p`, as a reshape and two `max_dim`s.
fn reshape_pool(x: Tensor<4>, p: usize) -> Tensor<4> {
    let [batch, channels, height, width] = x.dims();
    let (rows, columns) = (height / p, width / p);
    let x = if height % p == 0 && width % p == 0 {
        x
    } else {
        x.slice([0..batch, 0..channels, 0..rows * p, 0..columns * p])
    };
    x.reshape([batch, channels, rows, p, columns, p])
        .max_dim(5)
        .max_dim(3)
        .reshape([batch, channels, rows, columns])
}

/// The loss and every parameter's gradient, flattened, in the model's order.
fn gradients(
    model: &Network,
    images: &Tensor<2>,
    labels: &Tensor<1, Int>,
    formulation: Formulation,
    run: &RunConfig,
) -> Vec<Vec<f32>> {
    let loss = loss(model, images, labels, formulation, run);
    let mut values = vec![loss.clone().into_data().try_to_vec::<f32>().expect("f32")];
    let grads = GradientsParams::from_grads(loss.backward(), model);
    struct Collect<'a> {
        grads: &'a GradientsParams,
        values: &'a mut Vec<Vec<f32>>,
    }
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let id: ParamId = param.id;
            if let Some(grad) = self.grads.get::<D>(id) {
                self.values
                    .push(grad.into_data().try_to_vec::<f32>().expect("f32"));
            }
        }
    }
    model.visit(&mut Collect {
        grads: &grads,
        values: &mut values,
    });
    values
}

/// The largest difference between two lists of tensors, relative to the largest value of each.
fn largest_difference(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(a, b)| {
            let scale = a.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
            let worst = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            worst / scale
        })
        .fold(0.0, f32::max)
}
