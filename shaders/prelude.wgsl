// Prepended to every kernel in this folder when it is compiled (`Gpu::kernel`, src/gpu/kernel.rs),
// after `const WG: u32 = <the kernel's workgroup size>u;`. Holds what every kernel shares, so no
// kernel derives its own invocation index.
//
// Dispatch convention: the host folds a dispatch of G workgroups over x and y whenever G is above
// the 65,535-per-dimension limit (`gpu::kernel::grid`); z, when used, is a separate axis (e.g. the
// output-channel block of conv2d). Kernels take `(grid: Groups, @builtin(local_invocation_index)
// lid: u32)` as their entry point's arguments and use `group_index` (one workgroup per item) or
// `flat_index` (one invocation per item). `Groups` holds only workgroup-uniform builtins, so a
// branch on `group_index(grid)` keeps control flow uniform for `workgroupBarrier` (browsers check).

struct Groups {
    @builtin(workgroup_id) id: vec3<u32>,
    @builtin(num_workgroups) count: vec3<u32>,
}

// The workgroup's index among the dispatch's x/y-folded groups.
fn group_index(g: Groups) -> u32 {
    return g.id.x + g.id.y * g.count.x;
}

// The invocation's index over the whole folded dispatch (WG invocations per group).
fn flat_index(g: Groups, lid: u32) -> u32 {
    return group_index(g) * WG + lid;
}

// x * sigmoid(x); the CPU references use the same formula (ops::silu).
fn silu(v: f32) -> f32 {
    return v / (1.0 + exp(-v));
}
