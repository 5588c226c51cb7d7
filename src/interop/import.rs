//! Weights trained elsewhere become a run folder (`digits import`), so that `eval`, `predict`,
//! `errors` and `serve` work on them as on any run.
//!
//! The file is safetensors, float32. Tensors named as digits names them (docs/interop.md's
//! table) are read by name: `conv.{i}.conv.weight` and `bias`, `layers.{i}.weight` and `bias`,
//! and for batch norm `norms.{i}.gamma`, `beta`, `running_mean` and `running_var`. A file with
//! none of those names, such as a PyTorch `state_dict` (`conv1.weight`, `fc1.weight`, ...), is
//! read by position: see [`by_position`].
//!
//! Weights come in either layout: digits' `[n_in, n_out]`, or PyTorch's `nn.Linear`
//! `[n_out, n_in]` (with `norms.{i}.weight` and `bias` for `nn.BatchNorm1d`), which
//! burn-store's `PyTorchToBurnAdapter` turns around while loading; filters are
//! `[maps, channels, kernel, kernel]` in both. The layout is read off the shapes unless
//! `--layout` names it.
//!
//! An input normalisation the weights were trained with, `(x − mean) / std` as PyTorch's
//! `transforms.Normalize` applies it, is folded into the first layer (see [`fold_normalisation`]),
//! so that the imported run reads digits' pixels in [0, 1] as the original read normalised ones,
//! and `eval`, `predict`, `serve` and the ONNX export need nothing more.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use burn::store::{ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use burn::tensor::Device;
use safetensors::{Dtype, SafeTensors};

use crate::files::write_atomically;
use crate::interop::Layout;
use crate::model::{Network, NetworkConfig};
use crate::train::RunConfig;
use crate::train::checkpoint::{CONFIG_FILE, MODEL_FILE};

/// What `import` did.
#[derive(Debug)]
pub struct Imported {
    /// The layout the weights were read in.
    pub layout: Layout,
    /// Whether it was read off the shapes (else `--layout` named it).
    pub detected: bool,
    /// For a file read by position, each of its weights' names and digits' name for it, in
    /// digits' order; empty for a file read by name.
    pub by_position: Vec<(String, String)>,
}

/// The normalisation the weights' inputs had: `(x − mean) / std`, `x` in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalisation {
    /// Subtracted from every pixel: 0.1307 in PyTorch's MNIST example.
    pub mean: f64,
    /// What the difference is divided by: 0.3081 there.
    pub std: f64,
}

/// Writes a run folder `out` holding `config` (the file at `config_path`) and the weights of
/// `weights`, with `normalisation` folded in. The folder appears whole or not at all; an
/// existing one is refused.
pub fn import(
    weights: &Path,
    config_path: &Path,
    out: &Path,
    layout: Option<Layout>,
    normalisation: Option<Normalisation>,
) -> anyhow::Result<Imported> {
    let config = RunConfig::load(config_path)?;
    if out.exists() {
        bail!(
            "{} already exists; choose another folder with --out",
            out.display()
        );
    }
    let bytes =
        std::fs::read(weights).with_context(|| format!("cannot read {}", weights.display()))?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: not a safetensors file: {e}", weights.display()))?;
    let file_shapes: BTreeMap<String, (Dtype, Vec<usize>)> = file
        .iter()
        .map(|(name, view)| (name.to_string(), (view.dtype(), view.shape().to_vec())))
        .collect();
    // digits' name of each tensor the file names otherwise.
    let renamed = if file_shapes.keys().any(|name| is_digits_name(name)) {
        BTreeMap::new()
    } else {
        by_position(&file_shapes, &config, weights)?
    };
    let digits_name = |name: &str| renamed.get(name).cloned().unwrap_or(name.to_string());
    let shapes: BTreeMap<String, (Dtype, Vec<usize>)> = file_shapes
        .into_iter()
        .map(|(name, shape)| (digits_name(&name), shape))
        .collect();
    // A tensor as the file names it, and as digits does where that differs.
    let shown = |name: &str| match renamed.iter().find(|(_, ours)| *ours == name) {
        Some((theirs, _)) => format!("`{theirs}` (digits' `{name}`)"),
        None => format!("`{name}`"),
    };
    let (layout, detected) = match layout {
        Some(layout) => (layout, false),
        None => (detect_layout(&shapes, &config.model.sizes, weights)?, true),
    };
    check_tensors(&shapes, &config, layout, detected, weights, &shown)?;

    let bytes = if renamed.is_empty() {
        bytes
    } else {
        let views = file.iter().map(|(name, view)| (digits_name(name), view));
        safetensors::serialize(views, None)
            .map_err(|e| anyhow::anyhow!("{}: cannot rename its tensors: {e}", weights.display()))?
    };
    let device = Device::flex();
    let mut model = NetworkConfig::new(config.model.clone(), config.output()).init(0, &device);
    let mut store = SafetensorsStore::from_bytes(Some(bytes));
    if layout == Layout::Pytorch {
        store = store.with_from_adapter(PyTorchToBurnAdapter);
    }
    let result = model
        .load_from(&mut store)
        .map_err(|e| anyhow::anyhow!("{}: {e}", weights.display()))?;
    if let Some(error) = result.errors.first() {
        bail!("{}: {error}", weights.display());
    }
    if let Some((missing, _)) = result.missing.first() {
        bail!("{}: no tensor `{missing}`", weights.display());
    }
    if let Some(normalisation) = normalisation {
        model = fold_normalisation(&model, &config, normalisation)
            .map_err(|why| anyhow::anyhow!("{}: {why}", config_path.display()))?;
    }

    // Written beside `out` and renamed into place, so a failure leaves nothing half-made.
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix(".import-")
        .tempdir_in(parent)
        .with_context(|| format!("cannot write in {}", parent.display()))?;
    write_atomically(
        &scratch.path().join(CONFIG_FILE),
        config.to_toml().as_bytes(),
    )?;
    model.save(&scratch.path().join(MODEL_FILE))?;
    std::fs::rename(scratch.keep(), out)
        .with_context(|| format!("cannot create {}", out.display()))?;
    let mut by_position: Vec<(String, String)> = renamed
        .into_iter()
        .filter(|(theirs, _)| theirs.ends_with(".weight"))
        .collect();
    by_position.sort_by_key(|(_, ours)| (!ours.starts_with("conv."), ours.clone()));
    Ok(Imported {
        layout,
        detected,
        by_position,
    })
}

/// The layout whose shapes every layer's weight has; an error when neither or both fit.
fn detect_layout(
    shapes: &BTreeMap<String, (Dtype, Vec<usize>)>,
    sizes: &[usize],
    file: &Path,
) -> anyhow::Result<Layout> {
    let fits = |layout: Layout| {
        sizes.windows(2).enumerate().all(|(i, pair)| {
            shapes
                .get(&format!("layers.{i}.weight"))
                .is_some_and(|(_, shape)| *shape == weight_shape(layout, pair[0], pair[1]))
        })
    };
    match (fits(Layout::Digits), fits(Layout::Pytorch)) {
        (true, false) => Ok(Layout::Digits),
        (false, true) => Ok(Layout::Pytorch),
        (true, true) => bail!(
            "{}: every weight is square, so the shapes do not tell the layout: pass --layout digits or --layout pytorch",
            file.display()
        ),
        (false, false) => Ok(Layout::Digits), // check_tensors names the tensor that fits neither
    }
}

/// `[n_in, n_out]` or `[n_out, n_in]`.
fn weight_shape(layout: Layout, n_in: usize, n_out: usize) -> Vec<usize> {
    match layout {
        Layout::Digits => vec![n_in, n_out],
        Layout::Pytorch => vec![n_out, n_in],
    }
}

/// Every tensor the config's network needs is present, float32 and of the right shape, and
/// nothing else is there; the error names the first tensor that is not so, and both shapes.
fn check_tensors(
    shapes: &BTreeMap<String, (Dtype, Vec<usize>)>,
    config: &RunConfig,
    layout: Layout,
    detected: bool,
    file: &Path,
    shown: &dyn Fn(&str) -> String,
) -> anyhow::Result<()> {
    let sizes = &config.model.sizes;
    let network = config.model.describe_layers();
    let mut expected: Vec<(String, Vec<usize>)> = Vec::new();
    let mut channels = 1;
    for (i, layer) in config.model.conv.iter().enumerate() {
        let (maps, k) = (layer.maps, layer.kernel);
        expected.push((format!("conv.{i}.conv.weight"), vec![maps, channels, k, k]));
        expected.push((format!("conv.{i}.conv.bias"), vec![maps]));
        channels = maps;
    }
    for (i, pair) in sizes.windows(2).enumerate() {
        let shape = weight_shape(layout, pair[0], pair[1]);
        expected.push((format!("layers.{i}.weight"), shape));
        expected.push((format!("layers.{i}.bias"), vec![pair[1]]));
    }
    if config.model.batch_norm {
        let [scale, shift] = match layout {
            Layout::Digits => ["gamma", "beta"],
            Layout::Pytorch => ["weight", "bias"],
        };
        for (i, &n) in sizes[1..sizes.len() - 1].iter().enumerate() {
            for name in [scale, shift, "running_mean", "running_var"] {
                expected.push((format!("norms.{i}.{name}"), vec![n]));
            }
        }
    }
    let file = file.display();
    let layout_name = match layout {
        Layout::Digits => "digits' layout",
        Layout::Pytorch => "PyTorch's layout",
    };
    for (name, shape) in &expected {
        let Some((dtype, found)) = shapes.get(name) else {
            bail!(
                "{file}: no tensor `{name}`, which a {network} network needs ({shape:?} in {layout_name})"
            );
        };
        let shown = shown(name);
        if found != shape {
            // A weight whose layout was read off the shapes may have been meant in the other.
            let other = match (detected, &shape[..]) {
                (true, [a, b]) => format!(" or [{b}, {a}] (the other layout)"),
                _ => String::new(),
            };
            bail!(
                "{file}: tensor {shown} is {found:?}, but a {network} network needs {shape:?} ({layout_name}){other}"
            );
        }
        if *dtype != Dtype::F32 {
            bail!("{file}: tensor {shown} is {dtype:?}; digits reads float32");
        }
    }
    // PyTorch's BatchNorm1d counts its batches; nothing here uses that.
    let unknown = shapes.keys().find(|name| {
        !name.ends_with(".num_batches_tracked") && expected.iter().all(|(e, _)| e != *name)
    });
    if let Some(name) = unknown {
        bail!(
            "{file}: tensor {} is not part of a {network} network{}",
            shown(name),
            if config.model.batch_norm {
                ""
            } else {
                " without batch norm"
            }
        );
    }
    Ok(())
}

/// Whether `name` is one digits gives a tensor: under `conv.`, `layers.` or `norms.`.
fn is_digits_name(name: &str) -> bool {
    ["conv.", "layers.", "norms."]
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

/// What a layer of a file read by position is, from its weight's rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// A 4-D weight `[maps, channels, k, k]`: `nn.Conv2d`.
    Conv,
    /// A 2-D weight: `nn.Linear`.
    Linear,
    /// A 1-D weight with running statistics: `nn.BatchNorm1d`.
    Norm,
}

/// digits' names for a file whose tensors are named otherwise (a PyTorch `state_dict`): the map
/// from each of its names to digits'.
///
/// The rule: a tensor `P.S` belongs to layer `P` (`conv1.weight` to `conv1`). A layer whose
/// weight is 4-D is a convolution, 2-D a fully connected layer, 1-D with `running_mean` a batch
/// norm. Within each kind the layers are ordered by the numbers in their names (`conv2` before
/// `conv10`; `features.0` before `features.3`) and take the config's layers of that kind in the
/// config's order. Two layers of one kind whose names carry the same numbers, or none, leave the
/// order open, and the file is refused as ambiguous.
fn by_position(
    shapes: &BTreeMap<String, (Dtype, Vec<usize>)>,
    config: &RunConfig,
    file: &Path,
) -> anyhow::Result<BTreeMap<String, String>> {
    let file = file.display();
    let mut layers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for name in shapes.keys() {
        let Some((layer, _)) = name.rsplit_once('.') else {
            bail!(
                "{file}: tensor `{name}` is not named LAYER.weight or LAYER.bias, so it belongs to no layer"
            );
        };
        layers.entry(layer).or_default().push(name);
    }
    let mut kinds: BTreeMap<Kind, Vec<(Vec<u64>, &str)>> = BTreeMap::new();
    for (&layer, names) in &layers {
        let weight = format!("{layer}.weight");
        let Some((_, shape)) = shapes.get(&weight) else {
            bail!("{file}: layer `{layer}` has no `{weight}`");
        };
        let kind = match shape.len() {
            4 => Kind::Conv,
            2 => Kind::Linear,
            1 if names.iter().any(|n| n.ends_with(".running_mean")) => Kind::Norm,
            _ => bail!(
                "{file}: tensor `{weight}` is {shape:?}: neither a convolution's [maps, channels, k, k], a fully connected layer's [n_out, n_in] nor a batch norm's"
            ),
        };
        let numbers = layer
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|digits| digits.parse().ok())
            .collect();
        kinds.entry(kind).or_default().push((numbers, layer));
    }
    let wanted = [
        (Kind::Conv, config.model.conv.len(), "convolutional layers"),
        (
            Kind::Linear,
            config.model.sizes.len() - 1,
            "fully connected layers",
        ),
        (
            Kind::Norm,
            if config.model.batch_norm {
                config.model.sizes.len() - 2
            } else {
                0
            },
            "batch norms",
        ),
    ];
    let network = config.model.describe_layers();
    let mut renamed = BTreeMap::new();
    for (kind, count, what) in wanted {
        let mut found = kinds.remove(&kind).unwrap_or_default();
        found.sort();
        if let Some(pair) = found.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            bail!(
                "{file}: the names `{}` and `{}` do not say which layer comes first; number them (conv1, conv2) or use digits' names (docs/interop.md)",
                pair[0].1,
                pair[1].1
            );
        }
        if found.len() != count {
            let names: Vec<&str> = found.iter().map(|(_, layer)| *layer).collect();
            bail!(
                "{file}: {} {what} ({}), but the config's network ({network}) has {count}",
                found.len(),
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            );
        }
        for (i, (_, layer)) in found.iter().enumerate() {
            let ours = match kind {
                Kind::Conv => format!("conv.{i}.conv"),
                Kind::Linear => format!("layers.{i}"),
                Kind::Norm => format!("norms.{i}"),
            };
            for name in &layers[layer] {
                let suffix = &name[layer.len()..];
                renamed.insert(name.to_string(), format!("{ours}{suffix}"));
            }
        }
    }
    Ok(renamed)
}

/// `model` reading pixels `x` in [0, 1] as it read `(x − mean) / std`: the first layer's
/// weights divided by `std`, and `mean / std` times their sum taken from its biases. For a
/// convolution this is exact only without padding (the zeros around the image would stand for
/// `mean`), so a padded one is refused.
fn fold_normalisation(
    model: &Network,
    config: &RunConfig,
    Normalisation { mean, std }: Normalisation,
) -> anyhow::Result<Network> {
    anyhow::ensure!(
        std > 0.0 && std.is_finite() && mean.is_finite(),
        "--input-std must be a positive number and --input-mean a number, not {std} and {mean}"
    );
    let (mean, std) = (mean as f32, std as f32);
    if let Some(first) = model.conv().first() {
        if config.model.conv[0].padding > 0 {
            bail!(
                "the first convolution pads its input, so a normalisation cannot be folded into it exactly; import without --input-mean and --input-std"
            );
        }
        let mut conv = model.conv().to_vec();
        let weight = first.conv.weight.val();
        // [maps, 1, k, k] summed over all but the maps: [maps]
        let sums = weight
            .clone()
            .sum_dim(3)
            .sum_dim(2)
            .sum_dim(1)
            .flatten::<1>(0, 3);
        let bias = first
            .conv
            .bias
            .as_ref()
            .expect("digits' filters have biases");
        conv[0].conv.weight = first.conv.weight.clone().map(|w| w / std);
        conv[0].conv.bias = Some(bias.clone().map(|b| b - sums * (mean / std)));
        return Ok(model.with_conv(conv));
    }
    let mut layers = model.layers().to_vec();
    let first = &layers[0];
    // [784, n_out] summed over the inputs: [n_out]
    let sums = first.weight.val().sum_dim(0).flatten::<1>(0, 1);
    let bias = first
        .bias
        .as_ref()
        .expect("digits' layers have biases")
        .clone();
    layers[0].weight = first.weight.clone().map(|w| w / std);
    layers[0].bias = Some(bias.map(|b| b - sums * (mean / std)));
    Ok(model.with_layers(layers))
}
