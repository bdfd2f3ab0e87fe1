//! Adapter discovery and device setup: the only place that talks to `wgpu::Instance`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::{AdapterInfo, GpuError};

/// Backends vigil asks wgpu for (`WGPU_BACKEND` can narrow them). When only hardware will do
/// (`Backend::Auto`), GL is left out: on Linux it is almost always llvmpipe, and initialising
/// EGL costs about 0.4 s (and prints warnings) on every `vigil hash` run.
fn instance(hardware_only: bool) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    if std::env::var_os("WGPU_BACKEND").is_none() {
        desc.backends = if hardware_only {
            wgpu::Backends::PRIMARY
        } else {
            wgpu::Backends::PRIMARY | wgpu::Backends::GL
        };
    }
    wgpu::Instance::new(desc)
}

/// Software rasterisers that some backends report as something other than `DeviceType::Cpu`
/// (llvmpipe through GL reports `Other`).
fn is_software_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "llvmpipe",
        "lavapipe",
        "softpipe",
        "swiftshader",
        "warp",
        "microsoft basic render",
    ]
    .iter()
    .any(|s| n.contains(s))
}

fn summarize(adapter: &wgpu::Adapter) -> AdapterInfo {
    let info = adapter.get_info();
    let limits = adapter.limits();
    let hardware = info.device_type != wgpu::DeviceType::Cpu && !is_software_name(&info.name);
    AdapterInfo {
        name: info.name.clone(),
        device_type: format!("{:?}", info.device_type),
        backend: format!("{:?}", info.backend),
        driver: format!("{} {}", info.driver, info.driver_info)
            .trim()
            .to_owned(),
        hardware,
        compute: adapter
            .get_downlevel_capabilities()
            .flags
            .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS),
        max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
        max_buffer_size: limits.max_buffer_size,
        max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
        max_storage_buffers_per_shader_stage: limits.max_storage_buffers_per_shader_stage,
    }
}

/// Preference order: discrete, integrated, virtual, other, CPU; native APIs before GL.
fn rank(a: &AdapterInfo) -> (u8, u8) {
    let ty = match a.device_type.as_str() {
        "DiscreteGpu" => 0,
        "IntegratedGpu" => 1,
        "VirtualGpu" => 2,
        "Other" => 3,
        _ => 4,
    };
    let sw = u8::from(!a.hardware);
    (sw * 10 + ty, u8::from(a.backend == "Gl"))
}

/// Silences file descriptor 2 while alive. Mesa's Vulkan and EGL window-system layers print
/// "XDG_RUNTIME_DIR is invalid or not set" on every instance creation when that variable is
/// unset (CI, services, cron); vigil draws no windows, so for that case only, stderr is muted
/// while adapters are enumerated. Failures still reach the caller as errors.
struct QuietStderr(Option<libc::c_int>);

impl QuietStderr {
    fn new() -> Self {
        if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
            return Self(None);
        }
        // SAFETY: dup/open/dup2/close on plain descriptors; the saved descriptor is restored
        // and closed in Drop, and nothing else owns descriptor 2's replacement.
        unsafe {
            let saved = libc::dup(2);
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if saved < 0 || null < 0 {
                for fd in [saved, null] {
                    if fd >= 0 {
                        libc::close(fd);
                    }
                }
                return Self(None);
            }
            libc::dup2(null, 2);
            libc::close(null);
            Self(Some(saved))
        }
    }
}

impl Drop for QuietStderr {
    fn drop(&mut self) {
        if let Some(saved) = self.0 {
            // SAFETY: `saved` is the descriptor duplicated in `new`, still open.
            unsafe {
                libc::dup2(saved, 2);
                libc::close(saved);
            }
        }
    }
}

/// Every adapter wgpu finds, best first (native backends only when `hardware_only`).
pub(crate) fn enumerate(hardware_only: bool) -> Vec<(wgpu::Adapter, AdapterInfo)> {
    let _quiet = QuietStderr::new();
    let instance = instance(hardware_only);
    let mut all: Vec<(wgpu::Adapter, AdapterInfo)> =
        pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
            .into_iter()
            .map(|a| {
                let s = summarize(&a);
                (a, s)
            })
            .collect();
    all.sort_by_key(|(_, s)| rank(s));
    all
}

/// An open device with its error and loss flags.
pub(crate) struct DeviceState {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: AdapterInfo,
    pub limits: wgpu::Limits,
    /// Set by the device-lost callback (or the test seam).
    pub lost: Arc<AtomicBool>,
    /// The last uncaptured wgpu error, taken after each batch.
    pub error: Arc<Mutex<Option<String>>>,
}

/// Open the best adapter: hardware only when `hardware_only`, else any (lavapipe included).
/// `optional` features are requested where the adapter has them (see `device.features()`);
/// hashing itself needs none.
pub(crate) fn open(hardware_only: bool, optional: wgpu::Features) -> Result<DeviceState, GpuError> {
    let candidates: Vec<_> = enumerate(hardware_only)
        .into_iter()
        .filter(|(_, s)| s.compute && (!hardware_only || s.hardware))
        .collect();
    if candidates.is_empty() {
        return Err(if hardware_only {
            GpuError::NoHardwareAdapter
        } else {
            GpuError::NoAdapter
        });
    }
    let mut last = None;
    for (adapter, info) in candidates {
        let limits = adapter.limits();
        let desc = wgpu::DeviceDescriptor {
            label: Some("vigil"),
            required_features: adapter.features() & optional,
            required_limits: limits.clone(),
            ..Default::default()
        };
        match pollster::block_on(adapter.request_device(&desc)) {
            Ok((device, queue)) => {
                let lost = Arc::new(AtomicBool::new(false));
                let error = Arc::new(Mutex::new(None));
                let l = lost.clone();
                device.set_device_lost_callback(move |_, _| l.store(true, Ordering::SeqCst));
                let e = error.clone();
                // wgpu's default handler panics; record the error instead and fail the batch.
                device.on_uncaptured_error(Arc::new(move |err: wgpu::Error| {
                    let mut slot = e.lock().unwrap_or_else(|p| p.into_inner());
                    slot.get_or_insert_with(|| err.to_string());
                }));
                return Ok(DeviceState {
                    device,
                    queue,
                    info,
                    limits,
                    lost,
                    error,
                });
            }
            Err(e) => last = Some(format!("{}: {e}", info.name)),
        }
    }
    Err(GpuError::Device(last.unwrap_or_default()))
}
