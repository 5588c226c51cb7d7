//! Where tensors live. Backends are compiled in by cargo features and chosen at run time by
//! `[training] backend` or `--backend`; every choice of backend and device is made here, so
//! that the model, data and training code never change per backend.

#[cfg(feature = "remote")]
pub mod remote;
#[cfg(feature = "wgpu")]
pub mod wgpu;

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
    /// A device served by `digits device-server` on another machine, through Burn's remote
    /// backend (`--remote ws://HOST:PORT`). Never chosen by `auto`.
    Remote,
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
            BackendName::Remote => cfg!(feature = "remote"),
        }
    }

    /// The backends this build can run, by name.
    pub fn compiled_names() -> Vec<String> {
        Self::CONCRETE
            .iter()
            .chain(&[BackendName::Remote])
            .filter(|b| b.compiled())
            .map(|b| b.to_string())
            .collect()
    }

    /// The compute device of this backend (`remote` needs the server's address), with a line
    /// about the choice when there is something to say; `Err` says why there is none.
    #[allow(deprecated)] // burn 0.22 deprecates the ndarray and LibTorch devices, still supported
    fn device(self, auto: bool, remote: Option<&str>) -> Result<(Device, Option<String>), String> {
        let _ = (auto, remote); // each is used by one backend's feature only
        match self {
            #[cfg(feature = "ndarray")]
            BackendName::Ndarray => Ok((Device::ndarray(), None)),
            #[cfg(feature = "flex")]
            BackendName::Flex => Ok((Device::flex(), None)),
            #[cfg(feature = "wgpu")]
            BackendName::Wgpu => {
                let opened = wgpu::open(auto)?;
                let note = opened.adapter.is_software().then(|| {
                    format!(
                        "wgpu is on {}: fine for checking results, far slower than flex",
                        opened.adapter
                    )
                });
                Ok((opened.device.clone(), note))
            }
            #[cfg(feature = "cuda")]
            BackendName::Cuda => Ok((Device::cuda(0), None)),
            #[cfg(feature = "tch")]
            BackendName::Tch => Ok((Device::libtorch(), None)),
            #[cfg(feature = "remote")]
            BackendName::Remote => {
                let url = remote.ok_or("it needs the server's address: --remote ws://HOST:PORT, as `digits device-server` printed it")?;
                Ok((
                    remote::connect(url)?,
                    Some(format!("computing on the device served at {url}")),
                ))
            }
            _ => unreachable!("only compiled backends are opened"),
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
            BackendName::Remote => "remote",
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
    #[error("backend `{name}`: {reason}")]
    NoDevice {
        /// The backend asked for.
        name: BackendName,
        /// What the backend said.
        reason: String,
    },
    /// `--remote` was given with a backend other than `remote`.
    #[error("--remote names a device server, for --backend remote, not `{name}`")]
    RemoteAddressUnused {
        /// The backend asked for.
        name: BackendName,
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
    /// Autodiff wrapped around the compute device: the model lives here.
    pub train: Device,
    /// The same compute device without autodiff: the data, validation and test.
    pub eval: Device,
    /// The backend in use (never `auto`).
    pub backend: BackendName,
    /// What was said about the choice: a software GPU in use, or passed over by `auto` and why.
    pub notes: Vec<String>,
}

impl Devices {
    /// The devices of backend `name`; `auto` picks one as [`BackendName::Auto`] says. `remote`
    /// is the address of a `digits device-server`, for `remote` (which `auto` becomes when an
    /// address is given).
    pub fn select(name: BackendName, remote: Option<&str>) -> Result<Self, BackendError> {
        let name = match (name, remote) {
            (BackendName::Auto, Some(_)) => BackendName::Remote,
            (BackendName::Remote | BackendName::Auto, _) => name,
            (other, Some(_)) => return Err(BackendError::RemoteAddressUnused { name: other }),
            (other, None) => other,
        };
        if name != BackendName::Auto {
            if !name.compiled() {
                return Err(BackendError::NotCompiled { name });
            }
            return Self::open(name, false, remote);
        }
        let mut passed_over = Vec::new();
        for candidate in BackendName::CONCRETE.into_iter().filter(|b| b.compiled()) {
            match Self::open(candidate, true, None) {
                Ok(mut devices) => {
                    devices.notes.splice(0..0, passed_over);
                    return Ok(devices);
                }
                Err(BackendError::NoDevice { name, reason }) => {
                    passed_over.push(format!("auto: {name} {reason}"));
                }
                Err(other) => return Err(other),
            }
        }
        Err(BackendError::NoneCompiled)
    }

    /// Opens a compiled backend's device and checks that it computes.
    fn open(name: BackendName, auto: bool, remote: Option<&str>) -> Result<Self, BackendError> {
        let no_device = |reason| BackendError::NoDevice { name, reason };
        let (device, note) = name.device(auto, remote).map_err(no_device)?;
        let probe = device.clone();
        crate::panics::quietly(move || Tensor::<1>::ones([1], &probe).into_scalar::<f32>())
            .map_err(no_device)?;
        Ok(Self {
            train: device.clone().autodiff(),
            eval: device,
            backend: name,
            notes: note.into_iter().collect(),
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
        let devices = Devices::select(BackendName::Auto, None).unwrap();
        assert!(devices.backend.compiled());
        assert_ne!(devices.backend, BackendName::Auto);
        #[cfg(all(feature = "flex", not(feature = "wgpu"), not(feature = "cuda")))]
        assert_eq!(devices.backend, BackendName::Flex);
        // auto never settles on a software GPU.
        assert!(
            devices.notes.iter().all(|n| !n.contains("is on")),
            "{:?}",
            devices.notes
        );
    }

    #[test]
    fn a_backend_not_compiled_in_says_how_to_add_it() {
        let Some(missing) = BackendName::CONCRETE.into_iter().find(|b| !b.compiled()) else {
            return; // every backend is compiled in: nothing to refuse
        };
        let message = Devices::select(missing, None).unwrap_err().to_string();
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
