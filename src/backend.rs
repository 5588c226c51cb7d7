//! Where tensors live. Every choice of backend and device is made here, so that a new backend
//! is a change to this file only.

use burn::tensor::Device;

/// The device the run trains on, with autodiff turned on, and its plain counterpart for
/// evaluation.
#[derive(Debug, Clone)]
pub struct Devices {
    /// Autodiff wrapped around the compute device: the model and the training split live here.
    pub train: Device,
    /// The same compute device without autodiff: validation and test.
    pub eval: Device,
    /// A name for the log and the run folder.
    pub name: &'static str,
}

impl Devices {
    /// The CPU through Burn's own pure-Rust backend, flex (SIMD kernels, rayon threads).
    pub fn cpu() -> Self {
        let eval = Device::flex();
        Self {
            train: eval.clone().autodiff(),
            eval,
            name: "flex (CPU)",
        }
    }
}
