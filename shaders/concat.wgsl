// Channel concatenation of a skip connection: out = cat([a, b], dim=1), a first (as diffusers'
// up blocks do with [hidden, skip]).
//
// a:   (N, Ca, HW) f32
// b:   (N, Cb, HW) f32
// out: (N, Ca + Cb, HW) f32
// Dispatch: one invocation per output element (per_item.wgsl).

struct Params {
    n: u32, ca: u32, cb: u32, hw: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn items() -> u32 {
    return (p.ca + p.cb) * p.n * p.hw;
}

fn item(i: u32) {
    let c = p.ca + p.cb;
    let pos = i % p.hw;
    let ch = (i / p.hw) % c;
    let s = i / (p.hw * c);
    if (ch < p.ca) {
        out[i] = a[(s * p.ca + ch) * p.hw + pos];
    } else {
        out[i] = b[(s * p.cb + ch - p.ca) * p.hw + pos];
    }
}
