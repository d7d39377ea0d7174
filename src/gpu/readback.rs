//! Reading buffers back to the CPU: a `MAP_READ | COPY_DST` staging buffer, one copy, and a
//! future that resolves when the map completes (std channels do not work on wasm).

use super::{Gpu, GpuError};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

type Slot = Arc<Mutex<(Option<Result<(), wgpu::BufferAsyncError>>, Option<Waker>)>>;

/// Resolves when `map_async`'s callback has run.
struct MapDone(Slot);

impl Future for MapDone {
    type Output = Result<(), wgpu::BufferAsyncError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match slot.0.take() {
            Some(result) => Poll::Ready(result),
            None => {
                slot.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Gpu {
    /// Copies the first `len` f32 values of `buffer` back to the CPU.
    pub async fn read_f32(&self, buffer: &wgpu::Buffer, len: usize) -> Result<Vec<f32>, GpuError> {
        let bytes = self.read_bytes(buffer, len as u64 * 4).await?;
        Ok(bytemuck::cast_slice(&bytes).to_vec())
    }

    /// Copies the first `len` u32 values of `buffer` back to the CPU.
    pub async fn read_u32(&self, buffer: &wgpu::Buffer, len: usize) -> Result<Vec<u32>, GpuError> {
        let bytes = self.read_bytes(buffer, len as u64 * 4).await?;
        Ok(bytemuck::cast_slice(&bytes).to_vec())
    }

    async fn read_bytes(&self, buffer: &wgpu::Buffer, size: u64) -> Result<Vec<u8>, GpuError> {
        if size == 0 {
            return Ok(Vec::new());
        }
        let staging = self.buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("readback"),
            });
        encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, size);
        self.queue.submit([encoder.finish()]);

        if let Err(e) = self.map_read(&staging).await {
            return Err(self.classify_map_failure(e).await);
        }
        self.check()?;
        let data = staging
            .get_mapped_range(..)
            .map_err(|e| GpuError::Readback(e.to_string()))?
            .to_vec();
        staging.unmap();
        Ok(data)
    }

    /// Maps `buffer` for reading and waits for it (natively by polling the device).
    async fn map_read(&self, buffer: &wgpu::Buffer) -> Result<(), GpuError> {
        let slot: Slot = Arc::new(Mutex::new((None, None)));
        let sink = slot.clone();
        buffer.map_async(wgpu::MapMode::Read, .., move |result| {
            let mut s = sink.lock().unwrap_or_else(|p| p.into_inner());
            s.0 = Some(result);
            if let Some(w) = s.1.take() {
                w.wake();
            }
        });
        // Natively nothing happens until the device is polled; on the web this is a no-op.
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        MapDone(slot)
            .await
            .map_err(|e| GpuError::Readback(e.to_string()))
    }

    /// A failed mapping is a lost device when the device says so, or when it cannot map even
    /// a fresh buffer: in a browser the mapping fails before the `lost` promise settles, so
    /// the probe answers without waiting on a timer.
    async fn classify_map_failure(&self, failure: GpuError) -> GpuError {
        if let Some(reason) = self.lost_reason() {
            return GpuError::DeviceLost(reason);
        }
        let probe = self.buffer(&wgpu::BufferDescriptor {
            label: Some("device liveness probe"),
            size: 4,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let alive = self.map_read(&probe).await.is_ok();
        if !alive {
            // The probe on a lost device may leave a validation error behind: it is not news.
            let _ = self.error.lock().map(|mut e| e.take());
        }
        match (self.lost_reason(), alive) {
            (Some(reason), _) => GpuError::DeviceLost(reason),
            (None, false) => GpuError::DeviceLost(format!(
                "{failure}, and the device no longer maps a new buffer either"
            )),
            (None, true) => failure,
        }
    }
}
