//! Compiled kernels (one per WGSL file, cached by name) and dispatches: a kernel with its bound
//! buffers and workgroup count, created once at load and recorded into every forward pass.
//!
//! Binding convention of every shader in `shaders/`: `@binding(0)` is the op's uniform
//! parameters, `@binding(1..)` its storage buffers in the order the op documents.

use super::{Gpu, GpuError};
use std::sync::Arc;

/// A compiled compute pipeline and its bind-group layout.
pub struct Kernel {
    pub name: &'static str,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

/// One dispatch of a kernel over bound buffers; recorded as often as needed.
pub struct Dispatch {
    kernel: Arc<Kernel>,
    bind_group: wgpu::BindGroup,
    /// The uniform buffer with this dispatch's parameters; rewritten for per-step values.
    pub params: wgpu::Buffer,
    workgroups: [u32; 3],
}

/// Most workgroups a dispatch may have along one dimension (WebGPU's default limit).
pub const MAX_GROUPS_PER_DIM: u32 = 65535;

/// Splits `groups` workgroups over x and y so neither exceeds the per-dimension limit.
/// Kernels rebuild the flat index as `wg.x + wg.y * num_workgroups.x`.
pub fn grid(groups: u32) -> [u32; 3] {
    if groups <= MAX_GROUPS_PER_DIM {
        [groups.max(1), 1, 1]
    } else {
        let y = groups.div_ceil(MAX_GROUPS_PER_DIM);
        [groups.div_ceil(y), y, 1]
    }
}

impl Gpu {
    /// The compiled kernel for `source`, compiled on first use and cached by `name`.
    pub fn kernel(&self, name: &'static str, source: &'static str) -> Arc<Kernel> {
        let mut cache = self.kernels.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(name)
            .or_insert_with(|| {
                let module = self
                    .device
                    .create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(name),
                        source: wgpu::ShaderSource::Wgsl(source.into()),
                    });
                let pipeline =
                    self.device
                        .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                            label: Some(name),
                            layout: None,
                            module: &module,
                            entry_point: Some("main"),
                            compilation_options: Default::default(),
                            cache: None,
                        });
                let layout = pipeline.get_bind_group_layout(0);
                Arc::new(Kernel {
                    name,
                    pipeline,
                    layout,
                })
            })
            .clone()
    }

    /// A dispatch of `kernel` with `params` as its uniform and `buffers` bound from binding 1 on.
    pub fn dispatch<P: bytemuck::Pod>(
        &self,
        kernel: Arc<Kernel>,
        params: &P,
        buffers: &[&wgpu::Buffer],
        workgroups: [u32; 3],
    ) -> Result<Dispatch, GpuError> {
        let uniform = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(kernel.name),
            size: std::mem::size_of::<P>().max(16) as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.queue
            .write_buffer(&uniform, 0, bytemuck::bytes_of(params));
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: uniform.as_entire_binding(),
        }];
        for (i, b) in buffers.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: b.as_entire_binding(),
            });
        }
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel.name),
            layout: &kernel.layout,
            entries: &entries,
        });
        self.check()?;
        Ok(Dispatch {
            kernel,
            bind_group,
            params: uniform,
            workgroups,
        })
    }
}

impl Dispatch {
    /// Records this dispatch into a compute pass.
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.kernel.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        let [x, y, z] = self.workgroups;
        pass.dispatch_workgroups(x, y, z);
    }

    /// Name of the kernel, for profiles and error messages.
    pub fn name(&self) -> &'static str {
        self.kernel.name
    }
}
