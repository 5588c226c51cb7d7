//! Choosing a GPU for the wgpu backend.
//!
//! Burn's default wgpu device takes the adapter wgpu ranks first: a software GPU (Mesa's
//! lavapipe, llvmpipe, WARP) when it is the only one, and a panic ("No adapter found") when there
//! is none. Here the adapters are listed first, so that `auto` passes over a software GPU and
//! says so, `--backend wgpu` says when it is on one, and a machine without any gets one line
//! saying what to install.

use std::sync::OnceLock;

use burn::tensor::wgpu::{WgpuBackend, wgpu};
use burn::tensor::{Device, DeviceKind};

/// What to install when wgpu lists no adapter at all.
const NO_ADAPTER: &str = "wgpu found no GPU adapter (no Vulkan, Metal or DirectX 12 driver \
     answered); install your GPU's Vulkan driver, or Mesa's software one for a correctness check \
     (Debian and Ubuntu: `apt-get install mesa-vulkan-drivers`), or use --backend flex";

/// An adapter as wgpu lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Adapter {
    /// What the driver calls it, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub name: String,
    /// Discrete, integrated, virtual, CPU or other.
    pub kind: wgpu::DeviceType,
    /// The graphics API it was found on.
    pub api: wgpu::Backend,
    /// Its position among the adapters of the same kind on the same API: Burn's `DeviceKind`
    /// counts that way.
    position: usize,
}

impl Adapter {
    /// A CPU adapter: a GPU emulated in software, correct but far slower than flex.
    pub fn is_software(&self) -> bool {
        self.kind == wgpu::DeviceType::Cpu
    }

    /// Burn's name for it, or `None` for an adapter of kind "other", which Burn cannot select.
    fn device_kind(&self) -> Option<DeviceKind> {
        match self.kind {
            wgpu::DeviceType::DiscreteGpu => Some(DeviceKind::DiscreteGpu(self.position)),
            wgpu::DeviceType::IntegratedGpu => Some(DeviceKind::IntegratedGpu(self.position)),
            wgpu::DeviceType::VirtualGpu => Some(DeviceKind::VirtualGpu(self.position)),
            wgpu::DeviceType::Cpu if self.position == 0 => Some(DeviceKind::Cpu),
            _ => None,
        }
    }

    /// Its rank for choosing: discrete GPUs first, software last (as wgpu ranks them).
    fn rank(&self) -> u8 {
        match self.kind {
            wgpu::DeviceType::DiscreteGpu => 0,
            wgpu::DeviceType::IntegratedGpu => 1,
            wgpu::DeviceType::VirtualGpu => 2,
            wgpu::DeviceType::Other => 3,
            wgpu::DeviceType::Cpu => 4,
        }
    }

    fn graphics_api(&self) -> WgpuBackend {
        match self.api {
            wgpu::Backend::Metal => WgpuBackend::Metal,
            wgpu::Backend::Dx12 => WgpuBackend::Dx12,
            _ => WgpuBackend::Vulkan,
        }
    }
}

impl std::fmt::Display for Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            wgpu::DeviceType::DiscreteGpu => "a discrete GPU",
            wgpu::DeviceType::IntegratedGpu => "an integrated GPU",
            wgpu::DeviceType::VirtualGpu => "a virtual GPU",
            wgpu::DeviceType::Cpu => "a CPU adapter (a GPU emulated in software)",
            wgpu::DeviceType::Other => "an adapter of unknown type",
        };
        write!(f, "{}, {kind} on {:?}", self.name, self.api)
    }
}

/// The adapters wgpu finds on the graphics APIs Burn computes with (Vulkan, Metal, DirectX 12),
/// listed once per process: the Vulkan loader can crash when instances come and go on several
/// threads at once. A missing driver or loader is no error: its adapters are simply absent.
pub fn adapters() -> &'static [Adapter] {
    static ADAPTERS: OnceLock<Vec<Adapter>> = OnceLock::new();
    ADAPTERS.get_or_init(list_adapters)
}

fn list_adapters() -> Vec<Adapter> {
    let backends = wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12;
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let mut adapters: Vec<Adapter> = Vec::new();
    for info in ready(instance.enumerate_adapters(backends))
        .iter()
        .map(|a| a.get_info())
    {
        let position = adapters
            .iter()
            .filter(|a| a.kind == info.device_type && a.api == info.backend)
            .count();
        adapters.push(Adapter {
            name: info.name,
            kind: info.device_type,
            api: info.backend,
            position,
        });
    }
    adapters
}

/// The wgpu device, opened once per process (Burn registers a device once), with what was
/// said about the choice.
pub struct Opened {
    /// The device.
    pub device: Device,
    /// The adapter behind it.
    pub adapter: Adapter,
}

/// Opens the best adapter: a hardware GPU when there is one, else (unless `hardware_only`) a
/// software one. The error says which adapters were passed over and why, or what to install.
pub fn open(hardware_only: bool) -> Result<&'static Opened, String> {
    static OPENED: OnceLock<Result<Opened, String>> = OnceLock::new();
    let adapters = adapters();
    let mut candidates: Vec<&Adapter> = adapters
        .iter()
        .filter(|a| a.device_kind().is_some())
        .collect();
    candidates.sort_by_key(|a| a.rank());
    let Some(best) = candidates.first() else {
        return Err(NO_ADAPTER.into());
    };
    if hardware_only && best.is_software() {
        return Err(format!(
            "passed over {best}: far slower than the CPU backends; --backend wgpu uses it anyway"
        ));
    }
    OPENED
        .get_or_init(|| {
            let kind = best.device_kind().expect("candidates have a kind");
            let (device, _setup) = Device::wgpu_options()
                .device_kind(kind)
                .graphics_api(best.graphics_api())
                .init_with_setup()
                .map_err(|e| format!("cannot open {best}: {e}"))?;
            Ok(Opened {
                device,
                adapter: (*best).clone(),
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The output of a future that is complete when first polled, as wgpu's adapter list is on
/// native platforms; waits for one that is not.
fn ready<T>(future: impl Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut context) {
            return value;
        }
        std::thread::yield_now();
    }
}
