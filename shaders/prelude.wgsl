// Prepended to every kernel in this folder when it is compiled (`Gpu::kernel`, src/gpu/kernel.rs),
// after `const WG: u32 = <the kernel's workgroup size>u;`. Holds what every kernel shares, so no
// kernel derives its own invocation index.
//
// Dispatch convention: the host folds a dispatch of G workgroups over x and y whenever G is above
// the 65,535-per-dimension limit (`gpu::kernel::grid`); z, when used, is a separate axis (e.g. the
// output-channel block of conv2d). Kernels take `inv: Invocation` as their entry point argument
// and use `group_index` (one workgroup per item) or `flat_index` (one invocation per item).

struct Invocation {
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
}

// The workgroup's index among the dispatch's x/y-folded groups.
fn group_index(inv: Invocation) -> u32 {
    return inv.wid.x + inv.wid.y * inv.nwg.x;
}

// The invocation's index over the whole folded dispatch (WG invocations per group).
fn flat_index(inv: Invocation) -> u32 {
    return group_index(inv) * WG + inv.lid;
}

// x * sigmoid(x); the CPU references use the same formula (ops::silu).
fn silu(v: f32) -> f32 {
    return v / (1.0 + exp(-v));
}
