// The entry point of every per-item kernel (`kernel!(per_item "name", WG)`, src/gpu/kernel.rs),
// appended after the kernel's own text: one invocation per output item over the host's folded
// grid (`Launch::per_item`). The kernel defines `fn items() -> u32` (how many items there are)
// and `fn item(i: u32)` (computes item i); nothing past `items()` runs.

@compute @workgroup_size(WG)
fn main(grid: Groups, @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(grid, lid);
    if (i < items()) {
        item(i);
    }
}
