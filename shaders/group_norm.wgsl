// Group normalisation (biased variance, as torch) with an optional fused SiLU.
// One workgroup per (sample, group); two passes over the group for a stable variance.
//
// x:     (N, C, HW) f32
// gamma: (C) f32
// beta:  (C) f32
// out:   (N, C, HW) f32
// Dispatch: one workgroup per (sample, group) (group_index).

struct Params {
    n: u32, c: u32, hw: u32, groups: u32,
    eps: f32, silu: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

var<workgroup> red: array<f32, WG>;

fn reduce_sum(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (lid < s) {
            red[lid] = red[lid] + red[lid + s];
        }
        workgroupBarrier();
    }
    let total = red[0];
    workgroupBarrier();
    return total;
}

@compute @workgroup_size(WG)
fn main(grid: Groups, @builtin(local_invocation_index) lid: u32) {
    let item = group_index(grid);
    if (item >= p.n * p.groups) {
        return;
    }
    let b = item / p.groups;
    let g = item % p.groups;
    let cpg = p.c / p.groups;
    let len = cpg * p.hw;
    let base = (b * p.c + g * cpg) * p.hw;

    var s = 0.0;
    for (var i = lid; i < len; i = i + WG) {
        s = s + x[base + i];
    }
    let mean = reduce_sum(lid, s) / f32(len);
    var q = 0.0;
    for (var i = lid; i < len; i = i + WG) {
        let d = x[base + i] - mean;
        q = q + d * d;
    }
    let inv_std = inverseSqrt(reduce_sum(lid, q) / f32(len) + p.eps);

    for (var i = lid; i < len; i = i + WG) {
        let ch = g * cpg + i / p.hw;
        var y = (x[base + i] - mean) * inv_std * gamma[ch] + beta[ch];
        if (p.silu != 0u) {
            y = silu(y);
        }
        out[base + i] = y;
    }
}
