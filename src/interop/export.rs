//! A trained run written in other formats: safetensors, for numpy and PyTorch, and ONNX, for
//! the tools people deploy with.

use std::path::Path;

use anyhow::Context;
use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, SafetensorsStore};

use crate::files::write_atomically;
use crate::interop::Layout;
use crate::interop::onnx::{Provenance, to_onnx};
use crate::train::Trained;

/// Writes the weights as safetensors through burn-store, atomically, in `layout`. Tensor names
/// are digits' (docs/interop.md): `conv.{i}.conv.weight` (`[maps, channels, k, k]`) and
/// `conv.{i}.conv.bias`, `layers.{i}.weight` (`[n_in, n_out]`, or PyTorch's `[n_out, n_in]`)
/// and `layers.{i}.bias` (`[n_out]`), f32: a PyTorch module with `conv` and `layers` lists of
/// `Conv2d` and `Linear` under those names loads the PyTorch layout with `load_state_dict`.
///
/// The header carries one metadata entry: burn-store's default three sit in a hash map, whose
/// order changes from run to run, and equal weights must give equal files.
pub fn safetensors(trained: &Trained, output: &Path, layout: Layout) -> anyhow::Result<()> {
    let mut store = SafetensorsStore::from_bytes(None)
        .clear_metadata()
        .metadata(
            "producer",
            concat!("digits ", env!("CARGO_PKG_VERSION"), " (burn)"),
        );
    if layout == Layout::Pytorch {
        store = store.with_to_adapter(BurnToPyTorchAdapter);
    }
    trained
        .model
        .save_into(&mut store)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("cannot serialise the model as safetensors")?;
    let bytes = store
        .get_bytes()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("cannot serialise the model as safetensors")?;
    write_atomically(output, &bytes)
}

/// Writes the network, an MLP or a convolutional one, as an ONNX model (see
/// [`crate::interop::onnx`]), atomically, with the config, the test accuracy, the class names
/// and digits' version in its metadata.
pub fn onnx(trained: &Trained, output: &Path) -> anyhow::Result<()> {
    let bytes = to_onnx(
        &trained.model,
        &trained.config,
        &Provenance {
            config_toml: &trained.config.to_toml(),
            test_accuracy: trained.recorded_test_accuracy(),
            classes: &trained.classes(),
        },
    );
    write_atomically(output, &bytes)
}
