//! Compiled kernels (one per WGSL file of `shaders/`, cached by name) and dispatches: a kernel
//! with its bound buffers and workgroup count, created once at load and recorded into every
//! forward pass.
//!
//! Every kernel is compiled as `const WG: u32 = <workgroup size>u;` + `shaders/prelude.wgsl` +
//! its own file, so the workgroup size lives in one place ([`KernelSource::workgroup`]) and the
//! invocation index is derived by the prelude's `flat_index` / `group_index` alone.
//!
//! Binding convention of every shader: `@binding(0)` is the op's uniform parameters,
//! `@binding(1..)` its storage buffers in the order the op documents (for graph ops: inputs,
//! then parameters, then the output).

use super::{Gpu, GpuError};
use std::sync::Arc;

const PRELUDE: &str = include_str!("../../shaders/prelude.wgsl");
const PER_ITEM: &str = include_str!("../../shaders/per_item.wgsl");

/// Most workgroups a dispatch may have along one dimension (WebGPU's default limit).
pub const MAX_GROUPS_PER_DIM: u32 = 65535;

/// A WGSL kernel of `shaders/`: its file name and workgroup size. Made by [`crate::kernel!`].
#[derive(Debug)]
pub struct KernelSource {
    pub name: &'static str,
    pub wgsl: &'static str,
    /// Invocations per workgroup; the shader sees it as `WG` and declares `@workgroup_size(WG)`.
    pub workgroup: u32,
    /// The kernel defines `items()` and `item(i)`, and `shaders/per_item.wgsl` is its entry
    /// point; otherwise it declares its own `main`.
    pub per_item: bool,
}

impl KernelSource {
    /// The text that is compiled: the workgroup constant, the prelude, the kernel (and the
    /// per-item entry point).
    pub fn full_source(&self) -> String {
        let entry = if self.per_item { PER_ITEM } else { "" };
        format!(
            "const WG: u32 = {}u;\n{PRELUDE}\n{}\n{entry}",
            self.workgroup, self.wgsl
        )
    }
}

/// `kernel!("attention", 64)`: the kernel `shaders/attention.wgsl`, with its own `main`, at 64
/// invocations per workgroup; `kernel!(per_item "add", 256)`: a per-item kernel (see
/// `shaders/per_item.wgsl`).
#[macro_export]
macro_rules! kernel {
    ($name:literal, $workgroup:expr) => {
        $crate::kernel!(@source $name, $workgroup, false)
    };
    (per_item $name:literal, $workgroup:expr) => {
        $crate::kernel!(@source $name, $workgroup, true)
    };
    (@source $name:literal, $workgroup:expr, $per_item:expr) => {
        $crate::gpu::KernelSource {
            name: $name,
            wgsl: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/", $name, ".wgsl")),
            workgroup: $workgroup,
            per_item: $per_item,
        }
    };
}

/// What one dispatch needs besides its buffers: the kernel, its uniform and how many workgroups.
pub struct Launch {
    pub kernel: &'static KernelSource,
    pub uniform: Vec<u8>,
    /// Workgroups on the folded x/y axis (the prelude's `group_index`).
    pub groups: u64,
    /// Size of the separate z axis (1 when unused).
    pub layers: u32,
}

impl Launch {
    /// One invocation per item (`flat_index`), `kernel.workgroup` items per group.
    pub fn per_item<P: bytemuck::Pod>(
        kernel: &'static KernelSource,
        uniform: &P,
        items: usize,
    ) -> Launch {
        Self::per_group(
            kernel,
            uniform,
            (items as u64).div_ceil(kernel.workgroup as u64),
        )
    }

    /// One workgroup per item (`group_index`).
    pub fn per_group<P: bytemuck::Pod>(
        kernel: &'static KernelSource,
        uniform: &P,
        groups: impl TryInto<u64>,
    ) -> Launch {
        Launch {
            kernel,
            uniform: bytemuck::bytes_of(uniform).to_vec(),
            groups: groups.try_into().unwrap_or(u64::MAX),
            layers: 1,
        }
    }

    /// The same launch repeated over `layers` along z (`grid.id.z` in the kernel).
    pub fn with_layers(mut self, layers: usize) -> Launch {
        self.layers = u32::try_from(layers).unwrap_or(u32::MAX);
        self
    }

    /// The workgroup counts, folded by [`grid`].
    pub fn workgroups(&self) -> Result<[u32; 3], GpuError> {
        let [x, y, _] = grid(self.groups).ok_or_else(|| self.too_large())?;
        if self.layers > MAX_GROUPS_PER_DIM {
            return Err(self.too_large());
        }
        Ok([x, y, self.layers.max(1)])
    }

    fn too_large(&self) -> GpuError {
        GpuError::DispatchTooLarge {
            kernel: self.kernel.name,
            groups: self.groups.saturating_mul(self.layers as u64),
        }
    }
}

/// Splits `groups` workgroups over x and y so neither exceeds the per-dimension limit; the
/// prelude's `group_index` rebuilds the flat index as `wg.x + wg.y * num_workgroups.x` (the
/// few groups past `groups` return early in every kernel). `None` beyond 65,535².
pub fn grid(groups: u64) -> Option<[u32; 3]> {
    let max = MAX_GROUPS_PER_DIM as u64;
    if groups <= max {
        return Some([groups.max(1) as u32, 1, 1]);
    }
    let y = groups.div_ceil(max);
    (y <= max).then(|| [groups.div_ceil(y) as u32, y as u32, 1])
}

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
    pub params: super::GpuBuffer,
    workgroups: [u32; 3],
}

impl Gpu {
    /// The compiled kernel for `source`, compiled on first use and cached by name.
    pub fn kernel(&self, source: &'static KernelSource) -> Arc<Kernel> {
        let mut cache = self.kernels.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(source.name)
            .or_insert_with(|| {
                let module = self
                    .device
                    .create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(source.name),
                        source: wgpu::ShaderSource::Wgsl(source.full_source().into()),
                    });
                let pipeline =
                    self.device
                        .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                            label: Some(source.name),
                            layout: None,
                            module: &module,
                            entry_point: Some("main"),
                            compilation_options: Default::default(),
                            cache: None,
                        });
                let layout = pipeline.get_bind_group_layout(0);
                Arc::new(Kernel {
                    name: source.name,
                    pipeline,
                    layout,
                })
            })
            .clone()
    }

    /// A dispatch of `launch` with `buffers` bound from binding 1 on.
    pub fn dispatch(
        &self,
        launch: Launch,
        buffers: &[&wgpu::Buffer],
    ) -> Result<Dispatch, GpuError> {
        let workgroups = launch.workgroups()?;
        let kernel = self.kernel(launch.kernel);
        let uniform = self.buffer(&wgpu::BufferDescriptor {
            label: Some(kernel.name),
            size: (launch.uniform.len().max(16) as u64).next_multiple_of(16),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.queue.write_buffer(&uniform, 0, &launch.uniform);
        let entries: Vec<wgpu::BindGroupEntry> = std::iter::once(&*uniform)
            .chain(buffers.iter().copied())
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
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
