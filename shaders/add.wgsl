// Elementwise out = (a + b) * scale + shift, with b optional (has_b = 0 reads no b).
// Used for residual connections (scale = 1 / output_scale_factor) and centring the input
// (2x - 1).
//
// a:   (len) f32
// b:   (len) f32 — absent when has_b == 0 (a placeholder is bound)
// out: (len) f32
// Dispatch: one invocation per element (per_item.wgsl).

struct Params {
    len: u32, has_b: u32, scale: f32, shift: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn items() -> u32 {
    return p.len;
}

fn item(i: u32) {
    var v = a[i];
    if (p.has_b != 0u) {
        v = v + b[i];
    }
    out[i] = v * p.scale + p.shift;
}
