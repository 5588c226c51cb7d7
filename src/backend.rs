//! Where tensors live. Backends are compiled in by cargo features and chosen at run time by
//! `[training] backend` or `--backend`; every choice of backend and device is made here, so
//! that the model, data and training code never change per backend.

use std::fmt;

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// A backend a run can ask for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum BackendName {
    /// A GPU backend when one is compiled in and a device answers, otherwise the fastest CPU
    /// backend compiled in (flex, then ndarray, then LibTorch).
    #[default]
    Auto,
    /// burn-ndarray on the CPU.
    Ndarray,
    /// Burn's own pure-Rust CPU backend.
    Flex,
    /// A GPU through wgpu (Vulkan, Metal, DX12).
    Wgpu,
    /// An NVIDIA GPU through CUDA.
    Cuda,
    /// LibTorch, on the CPU.
    Tch,
}

impl BackendName {
    /// Every concrete backend, in the order `auto` tries them.
    pub const CONCRETE: [BackendName; 5] = [
        BackendName::Cuda,
        BackendName::Wgpu,
        BackendName::Flex,
        BackendName::Ndarray,
        BackendName::Tch,
    ];

    /// Whether this build can run it.
    pub fn compiled(self) -> bool {
        match self {
            BackendName::Auto => true,
            BackendName::Ndarray => cfg!(feature = "ndarray"),
            BackendName::Flex => cfg!(feature = "flex"),
            BackendName::Wgpu => cfg!(feature = "wgpu"),
            BackendName::Cuda => cfg!(feature = "cuda"),
            BackendName::Tch => cfg!(feature = "tch"),
        }
    }

    /// The backends this build can run, by name.
    pub fn compiled_names() -> Vec<String> {
        Self::CONCRETE
            .iter()
            .filter(|b| b.compiled())
            .map(|b| b.to_string())
            .collect()
    }

    /// The compute device of this backend; `None` when it is not compiled in.
    #[allow(deprecated)] // burn 0.22 deprecates the ndarray and LibTorch devices, still supported
    fn device(self) -> Option<Device> {
        match self {
            #[cfg(feature = "ndarray")]
            BackendName::Ndarray => Some(Device::ndarray()),
            #[cfg(feature = "flex")]
            BackendName::Flex => Some(Device::flex()),
            #[cfg(feature = "wgpu")]
            BackendName::Wgpu => Some(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[cfg(feature = "cuda")]
            BackendName::Cuda => Some(Device::cuda(0)),
            #[cfg(feature = "tch")]
            BackendName::Tch => Some(Device::libtorch()),
            _ => None,
        }
    }
}

impl fmt::Display for BackendName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            BackendName::Auto => "auto",
            BackendName::Ndarray => "ndarray",
            BackendName::Flex => "flex",
            BackendName::Wgpu => "wgpu",
            BackendName::Cuda => "cuda",
            BackendName::Tch => "tch",
        };
        f.write_str(name)
    }
}

/// The backend asked for cannot run here.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// It is not compiled into this build.
    #[error(
        "backend `{name}` is not compiled in (this build has: {}); add it with `cargo build --release --features {name}`",
        BackendName::compiled_names().join(", ")
    )]
    NotCompiled {
        /// The backend asked for.
        name: BackendName,
    },
    /// It is compiled in but no device answered.
    #[error("backend `{name}` found no usable device: {reason}")]
    NoDevice {
        /// The backend asked for.
        name: BackendName,
        /// What the backend said.
        reason: String,
    },
    /// `auto` found nothing at all (a build without any backend feature).
    #[error(
        "no backend is compiled in; build with `--features flex` (or ndarray, wgpu, cuda, tch)"
    )]
    NoneCompiled,
}

/// The device a run trains on, with autodiff turned on, and its plain counterpart for
/// evaluation.
#[derive(Debug, Clone)]
pub struct Devices {
    /// Autodiff wrapped around the compute device: the model and the training split live here.
    pub train: Device,
    /// The same compute device without autodiff: validation and test.
    pub eval: Device,
    /// The backend in use (never `auto`).
    pub backend: BackendName,
}

impl Devices {
    /// The devices of backend `name`; `auto` picks one as [`BackendName::Auto`] says.
    pub fn select(name: BackendName) -> Result<Self, BackendError> {
        if name != BackendName::Auto {
            if !name.compiled() {
                return Err(BackendError::NotCompiled { name });
            }
            return Self::open(name);
        }
        BackendName::CONCRETE
            .iter()
            .filter(|b| b.compiled())
            .find_map(|&b| Self::open(b).ok())
            .ok_or(BackendError::NoneCompiled)
    }

    /// Opens a compiled backend's device and checks that it computes.
    fn open(name: BackendName) -> Result<Self, BackendError> {
        let device = name.device().ok_or(BackendError::NotCompiled { name })?;
        let probe = device.clone();
        crate::panics::quietly(move || Tensor::<1>::ones([1], &probe).into_scalar::<f32>())
            .map_err(|reason| BackendError::NoDevice { name, reason })?;
        Ok(Self {
            train: device.clone().autodiff(),
            eval: device,
            backend: name,
        })
    }

    /// The backend and device, for the log and the run folder.
    pub fn describe(&self) -> String {
        format!("{} ({:?})", self.backend, self.eval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_picks_a_compiled_backend_that_computes() {
        let devices = Devices::select(BackendName::Auto).unwrap();
        assert!(devices.backend.compiled());
        assert_ne!(devices.backend, BackendName::Auto);
        #[cfg(all(feature = "flex", not(feature = "wgpu"), not(feature = "cuda")))]
        assert_eq!(devices.backend, BackendName::Flex);
    }

    #[test]
    fn a_backend_not_compiled_in_says_how_to_add_it() {
        let Some(missing) = BackendName::CONCRETE.into_iter().find(|b| !b.compiled()) else {
            return; // every backend is compiled in: nothing to refuse
        };
        let message = Devices::select(missing).unwrap_err().to_string();
        assert!(
            message.contains(&format!("`{missing}` is not compiled in")),
            "{message}"
        );
        assert!(
            message.contains(&format!("--features {missing}")),
            "{message}"
        );
        for name in BackendName::compiled_names() {
            assert!(message.contains(&name), "{message}");
        }
    }
}
