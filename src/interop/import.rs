//! Weights trained elsewhere become a run folder (`digits import`), so that `eval`, `predict`
//! and `errors` work on them as on any run.
//!
//! The file is safetensors, float32, with digits' names (docs/interop.md's table): `layers.{i}.weight`
//! and `layers.{i}.bias`, and for batch norm `norms.{i}.gamma`, `beta`, `running_mean` and
//! `running_var`. Weights come in either layout: digits' `[n_in, n_out]`, or PyTorch's
//! `nn.Linear` `[n_out, n_in]` (with `norms.{i}.weight` and `bias` for `nn.BatchNorm1d`), which
//! burn-store's `PyTorchToBurnAdapter` turns around while loading. The layout is read off the
//! shapes unless `--layout` names it.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use burn::store::{ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use burn::tensor::Device;
use safetensors::{Dtype, SafeTensors};

use crate::files::write_atomically;
use crate::model::NetworkConfig;
use crate::train::RunConfig;
use crate::train::checkpoint::{CONFIG_FILE, MODEL_FILE};

/// How a file lays out a layer's weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// digits' own: `[n_in, n_out]`, the layer computing `x · W + b`.
    Digits,
    /// PyTorch's `nn.Linear`: `[n_out, n_in]`, computing `x · Wᵀ + b`.
    Pytorch,
}

/// What `import` did.
#[derive(Debug)]
pub struct Imported {
    /// The layout the weights were read in.
    pub layout: Layout,
    /// Whether it was read off the shapes (else `--layout` named it).
    pub detected: bool,
}

/// Writes a run folder `out` holding `config` (the file at `config_path`) and the weights of
/// `weights`. The folder appears whole or not at all; an existing one is refused.
pub fn import(
    weights: &Path,
    config_path: &Path,
    out: &Path,
    layout: Option<Layout>,
) -> anyhow::Result<Imported> {
    let config = RunConfig::load(config_path)?;
    config
        .model
        .require_mlp("import")
        .map_err(|why| anyhow::anyhow!("{}: {why}", config_path.display()))?;
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
    let shapes: BTreeMap<String, (Dtype, Vec<usize>)> = file
        .iter()
        .map(|(name, view)| (name.to_string(), (view.dtype(), view.shape().to_vec())))
        .collect();
    let (layout, detected) = match layout {
        Some(layout) => (layout, false),
        None => (detect_layout(&shapes, &config.model.sizes, weights)?, true),
    };
    check_tensors(&shapes, &config, layout, detected, weights)?;

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
    Ok(Imported { layout, detected })
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
) -> anyhow::Result<()> {
    let sizes = &config.model.sizes;
    let mut expected: Vec<(String, Vec<usize>)> = Vec::new();
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
                "{file}: no tensor `{name}`, which a {sizes:?} network needs ({shape:?} in {layout_name})"
            );
        };
        if found != shape {
            // A weight whose layout was read off the shapes may have been meant in the other.
            let other = match (detected, &shape[..]) {
                (true, [a, b]) => format!(" or [{b}, {a}] (the other layout)"),
                _ => String::new(),
            };
            bail!(
                "{file}: tensor `{name}` is {found:?}, but a {sizes:?} network needs {shape:?} ({layout_name}){other}"
            );
        }
        if *dtype != Dtype::F32 {
            bail!("{file}: tensor `{name}` is {dtype:?}; digits reads float32");
        }
    }
    // PyTorch's BatchNorm1d counts its batches; nothing here uses that.
    let unknown = shapes.keys().find(|name| {
        !name.ends_with(".num_batches_tracked") && expected.iter().all(|(e, _)| e != *name)
    });
    if let Some(name) = unknown {
        bail!(
            "{file}: tensor `{name}` is not part of a {sizes:?} network{}",
            if config.model.batch_norm {
                ""
            } else {
                " without batch norm"
            }
        );
    }
    Ok(())
}
