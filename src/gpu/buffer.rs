//! GPU buffers that give their memory back when dropped, and counters of the ones alive.
//!
//! On the web, dropping a `wgpu::Buffer` only drops a JS handle: the memory stays until the
//! garbage collector runs, which may be never on a page that is mostly idle. [`GpuBuffer`]
//! calls `destroy()` when dropped (WebGPU keeps a buffer until the work already submitted with
//! it has finished), so a freed session or engine frees its memory at once. [`live`] counts the
//! buffers made through it and not yet dropped: the wasm API reports it (`debugCounters`) and
//! the page's soak test checks it stays flat.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};

static LIVE_BUFFERS: AtomicU64 = AtomicU64::new(0);
static LIVE_BYTES: AtomicU64 = AtomicU64::new(0);

/// A buffer that is destroyed when dropped. Derefs to the `wgpu::Buffer` for binding and copies.
#[derive(Debug)]
pub struct GpuBuffer {
    buffer: wgpu::Buffer,
}

impl GpuBuffer {
    pub(crate) fn new(device: &wgpu::Device, desc: &wgpu::BufferDescriptor<'_>) -> GpuBuffer {
        let buffer = device.create_buffer(desc);
        LIVE_BUFFERS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(desc.size, Ordering::Relaxed);
        GpuBuffer { buffer }
    }
}

impl Deref for GpuBuffer {
    type Target = wgpu::Buffer;
    fn deref(&self) -> &wgpu::Buffer {
        &self.buffer
    }
}

impl Drop for GpuBuffer {
    fn drop(&mut self) {
        self.buffer.destroy();
        LIVE_BUFFERS.fetch_sub(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(self.buffer.size(), Ordering::Relaxed);
    }
}

/// How many [`GpuBuffer`]s are alive in this process (or wasm instance), and their bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveBuffers {
    pub buffers: u64,
    pub bytes: u64,
}

/// The buffers alive now, on every device.
pub fn live() -> LiveBuffers {
    LiveBuffers {
        buffers: LIVE_BUFFERS.load(Ordering::Relaxed),
        bytes: LIVE_BYTES.load(Ordering::Relaxed),
    }
}
