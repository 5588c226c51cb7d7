//! A trained run written in other formats: safetensors, for numpy and PyTorch, and ONNX, for
//! the tools people deploy with.

use std::path::Path;

use anyhow::Context;
use burn::store::{ModuleSnapshot, SafetensorsStore};

use crate::files::write_atomically;
use crate::interop::onnx::{Provenance, to_onnx};
use crate::train::Trained;

/// Writes the weights as safetensors through burn-store, atomically. Tensor names are
/// `layers.{i}.weight` (`[n_in, n_out]`) and `layers.{i}.bias` (`[n_out]`), f32.
///
/// The header carries one metadata entry: burn-store's default three sit in a hash map, whose
/// order changes from run to run, and equal weights must give equal files.
pub fn safetensors(trained: &Trained, output: &Path) -> anyhow::Result<()> {
    let mut store = SafetensorsStore::from_bytes(None)
        .clear_metadata()
        .metadata(
            "producer",
            concat!("digits ", env!("CARGO_PKG_VERSION"), " (burn)"),
        );
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
