// Fully connected layer, y = W act(x) + b, with optional SiLU on the input and on the output.
// Used for the time-embedding MLP and the resnets' time projections (small M).
//
// x:    (M, K) f32
// w:    (N, K) f32   — torch's Linear layout (out_features, in_features)
// bias: (N) f32
// out:  (M, N) f32
// Dispatch: one invocation per output element (per_item.wgsl).

struct Params {
    m: u32, k: u32, n: u32, silu_in: u32,
    silu_out: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn items() -> u32 {
    return p.m * p.n;
}

fn item(i: u32) {
    let row = i / p.n;
    let col = i % p.n;
    var acc = bias[col];
    for (var j = 0u; j < p.k; j = j + 1u) {
        var v = x[row * p.k + j];
        if (p.silu_in != 0u) {
            v = silu(v);
        }
        acc = acc + v * w[col * p.k + j];
    }
    if (p.silu_out != 0u) {
        acc = silu(acc);
    }
    out[i] = acc;
}
