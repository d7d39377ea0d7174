//! The WebGPU device: acquiring it (natively through wgpu's Vulkan/Metal/DX12 backends, in the
//! browser through WebGPU), the compiled-kernel cache, buffer creation and read-back.
//!
//! Everything else talks to the GPU through [`Gpu`], so tests can pass in their own device.

mod buffer;
mod kernel;
mod readback;

pub use buffer::{live as live_buffers, GpuBuffer, LiveBuffers};

pub use kernel::{grid, Dispatch, Kernel, KernelSource, Launch, MAX_GROUPS_PER_DIM};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

static LIVE_DEVICES: AtomicU64 = AtomicU64::new(0);

/// How many [`Gpu`]s (each its own device) are alive in this process or wasm instance: the wasm
/// API reports it (`debugCounters().gpuDevices`), so that freeing an engine is seen to destroy
/// its device.
pub fn live_devices() -> u64 {
    LIVE_DEVICES.load(Ordering::Relaxed)
}

/// Errors of the GPU layer. Each message says what the reader can do about it.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error(
        "no WebGPU/Vulkan adapter was found ({0}). Natively, install a Vulkan driver \
         (on Debian: `apt-get install mesa-vulkan-drivers libvulkan1` for the software driver); \
         in a browser, use one with WebGPU enabled (Chrome/Edge 113+, Safari 26+, Firefox 141+)"
    )]
    NoAdapter(String),
    #[error("the GPU adapter `{adapter}` refused to create a device: {reason}")]
    NoDevice { adapter: String, reason: String },
    #[error(
        "a buffer of {wanted} bytes is needed for `{what}` but this device allows at most {limit} \
         bytes per buffer: use a smaller batch or model"
    )]
    BufferTooLarge {
        what: String,
        wanted: u64,
        limit: u64,
    },
    #[error(
        "`{kernel}` would need {groups} workgroups, more than one dispatch can have: use a \
         smaller batch or model"
    )]
    DispatchTooLarge { kernel: &'static str, groups: u64 },
    #[error("the GPU ran out of memory ({0}): use a smaller batch or model, or close other tabs")]
    OutOfMemory(String),
    #[error("the GPU reported an error: {0}")]
    Validation(String),
    #[error("the GPU device was lost ({0}); reload the page or restart the program")]
    DeviceLost(String),
    #[error("reading a result back from the GPU failed: {0}")]
    Readback(String),
}

/// A device and queue plus the caches every op shares.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    /// Name, backend and device type of the adapter, for logs and benchmark tables.
    pub adapter: wgpu::AdapterInfo,
    kernels: Mutex<HashMap<&'static str, Arc<Kernel>>>,
    /// The first error the device reported since the last [`Gpu::check`], if any.
    error: Arc<Mutex<Option<GpuError>>>,
    lost: Arc<Mutex<Option<String>>>,
    /// Bound where a kernel's optional input is absent (see [`Gpu::placeholder`]).
    placeholder: std::sync::OnceLock<GpuBuffer>,
}

/// A dropped `Gpu` destroys its device: every buffer and pipeline on it is freed at once (on
/// the web nothing else frees them before garbage collection). Each `Gpu` opens its own device.
impl Drop for Gpu {
    fn drop(&mut self) {
        LIVE_DEVICES.fetch_sub(1, Ordering::Relaxed);
        self.device.destroy();
    }
}

impl Gpu {
    /// Requests the default high-performance adapter and a device with its full limits.
    /// Natively, `WGPU_BACKEND` (e.g. `vulkan`) and `WGPU_ADAPTER_NAME` select the adapter.
    pub async fn new() -> Result<Gpu, GpuError> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        #[cfg(not(target_arch = "wasm32"))]
        let adapter = match wgpu::util::initialize_adapter_from_env(&instance, None).await {
            Ok(adapter) => Ok(adapter),
            Err(_) => {
                instance
                    .request_adapter(&wgpu::RequestAdapterOptions {
                        power_preference: wgpu::PowerPreference::HighPerformance,
                        ..Default::default()
                    })
                    .await
            }
        };
        #[cfg(target_arch = "wasm32")]
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await;
        let adapter = adapter.map_err(|e| GpuError::NoAdapter(e.to_string()))?;
        Self::from_adapter(adapter).await
    }

    /// Opens a device on a given adapter (for tests and tools that choose their own adapter).
    pub async fn from_adapter(adapter: wgpu::Adapter) -> Result<Gpu, GpuError> {
        let info = adapter.get_info();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("diffusion-playground"),
                required_features: wgpu::Features::empty(),
                required_limits: adapter.limits(),
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::NoDevice {
                adapter: info.name.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self::from_device(device, queue, info))
    }

    /// Wraps a device someone else opened; the `Gpu` owns it from then on (destroys it when
    /// dropped).
    pub fn from_device(
        device: wgpu::Device,
        queue: wgpu::Queue,
        adapter: wgpu::AdapterInfo,
    ) -> Gpu {
        let error = Arc::new(Mutex::new(None::<GpuError>));
        let sink = error.clone();
        // Without a handler wgpu panics on a validation error; keep it and report it instead.
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(match e {
                    wgpu::Error::OutOfMemory { .. } => GpuError::OutOfMemory(e.to_string()),
                    _ => GpuError::Validation(e.to_string()),
                });
            }
        }));
        let lost = Arc::new(Mutex::new(None::<String>));
        let lost_sink = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            let mut slot = lost_sink.lock().unwrap_or_else(|p| p.into_inner());
            *slot = Some(format!("{reason:?}: {message}"));
        });
        LIVE_DEVICES.fetch_add(1, Ordering::Relaxed);
        Gpu {
            device,
            queue,
            adapter,
            kernels: Mutex::new(HashMap::new()),
            error,
            lost,
            placeholder: std::sync::OnceLock::new(),
        }
    }

    /// A one-line description of the adapter, e.g. `llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu)`.
    pub fn describe(&self) -> String {
        // Browsers may leave the name empty (SwiftShader does); fall back to vendor/driver.
        let a = &self.adapter;
        let name = [&a.name, &a.driver, &a.driver_info]
            .into_iter()
            .find(|s| !s.is_empty())
            .cloned()
            .unwrap_or_else(|| "unnamed adapter".to_string());
        format!("{name} ({:?}, {:?})", a.backend, a.device_type)
    }

    /// Returns the first error the device reported (or its loss) since the last call.
    pub fn check(&self) -> Result<(), GpuError> {
        if let Some(reason) = self.lost.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Err(GpuError::DeviceLost(reason));
        }
        match self.error.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Why the device was lost, if it was (does not consume pending validation errors).
    pub fn lost_reason(&self) -> Option<String> {
        self.lost.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Largest storage buffer this device binds, in bytes.
    pub fn max_buffer_bytes(&self) -> u64 {
        let limits = self.device.limits();
        limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size)
    }

    /// A storage buffer holding `data` (weights, inputs).
    pub fn upload(&self, what: &str, data: &[f32]) -> Result<GpuBuffer, GpuError> {
        let buffer = self.storage(what, data.len())?;
        self.queue
            .write_buffer(&buffer, 0, bytemuck::cast_slice(data));
        Ok(buffer)
    }

    /// A zeroed storage buffer of `len` f32 values that can be copied from and to.
    pub fn storage(&self, what: &str, len: usize) -> Result<GpuBuffer, GpuError> {
        // WebGPU rejects zero-sized bindings; a 1-element buffer stands in for an empty tensor.
        let bytes = (len.max(1) as u64).saturating_mul(4);
        if bytes > self.max_buffer_bytes() {
            return Err(GpuError::BufferTooLarge {
                what: what.to_string(),
                wanted: bytes,
                limit: self.max_buffer_bytes(),
            });
        }
        Ok(self.buffer(&wgpu::BufferDescriptor {
            label: Some(what),
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        }))
    }

    /// A buffer of this device that is destroyed when dropped (and counted while alive).
    pub fn buffer(&self, desc: &wgpu::BufferDescriptor<'_>) -> GpuBuffer {
        GpuBuffer::new(&self.device, desc)
    }

    /// A one-value buffer bound in place of an absent optional input (WebGPU has no empty
    /// bindings); kernels never read it.
    pub fn placeholder(&self) -> &wgpu::Buffer {
        self.placeholder.get_or_init(|| {
            self.buffer(&wgpu::BufferDescriptor {
                label: Some("absent optional input"),
                size: 16,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            })
        })
    }

    /// Submits a copy of the first `len` f32 values of `from` into `to` (queue order: after
    /// what was submitted before, before what is submitted after).
    pub fn copy(&self, from: &wgpu::Buffer, to: &wgpu::Buffer, len: usize) {
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("copy"),
            });
        encoder.copy_buffer_to_buffer(from, 0, to, 0, len as u64 * 4);
        self.queue.submit([encoder.finish()]);
    }

    /// Records `dispatches` into one compute pass of one encoder and submits it.
    pub fn run(&self, dispatches: &[&Dispatch]) {
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("run") });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("run"),
                timestamp_writes: None,
            });
            for d in dispatches {
                d.record(&mut pass);
            }
        }
        self.queue.submit([encoder.finish()]);
    }
}
