// Elementwise out = (a + b) * scale + shift, with b optional (has_b = 0 reads no b).
// Used for residual connections (scale = 1 / output_scale_factor) and centring the input
// (2x - 1).
//
// a:   (len) f32
// b:   (len) f32 — ignored when has_b == 0 (bind any buffer)
// out: (len) f32
// Dispatch: ceil(len / 256) workgroups (folded into x/y by the host when above 65535).

struct Params {
    len: u32, has_b: u32, scale: f32, shift: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.x + wid.y * nwg.x) * 256u + lid;
    if (i >= p.len) {
        return;
    }
    var v = a[i];
    if (p.has_b != 0u) {
        v = v + b[i];
    }
    out[i] = v * p.scale + p.shift;
}
