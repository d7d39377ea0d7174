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
        let bytes = self.read_bytes(buffer, (len * 4) as u64).await?;
        Ok(bytemuck::cast_slice(&bytes).to_vec())
    }

    /// Copies the first `len` u32 values of `buffer` back to the CPU.
    pub async fn read_u32(&self, buffer: &wgpu::Buffer, len: usize) -> Result<Vec<u32>, GpuError> {
        let bytes = self.read_bytes(buffer, (len * 4) as u64).await?;
        Ok(bytemuck::cast_slice(&bytes).to_vec())
    }

    async fn read_bytes(&self, buffer: &wgpu::Buffer, size: u64) -> Result<Vec<u8>, GpuError> {
        if size == 0 {
            return Ok(Vec::new());
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
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

        let slot: Slot = Arc::new(Mutex::new((None, None)));
        let sink = slot.clone();
        staging.map_async(wgpu::MapMode::Read, .., move |result| {
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
        if let Err(e) = MapDone(slot).await {
            // A lost device fails every mapping; say that rather than "mapping failed". In a
            // browser the mapping can fail a microtask before the device's `lost` promise
            // settles (both follow from the same `destroy()` or reset), so let it settle first.
            #[cfg(target_arch = "wasm32")]
            for _ in 0..4 {
                let _ = wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(
                    &wasm_bindgen::JsValue::NULL,
                ))
                .await;
            }
            return Err(match self.lost_reason() {
                Some(reason) => GpuError::DeviceLost(reason),
                None => GpuError::Readback(e.to_string()),
            });
        }
        self.check()?;
        let data = staging
            .get_mapped_range(..)
            .map_err(|e| GpuError::Readback(e.to_string()))?
            .to_vec();
        staging.unmap();
        Ok(data)
    }
}
