// Multi-head self-attention over the spatial tokens of a feature map, softmax(q k^T * scale) v,
// computed with an online (chunked) softmax so any number of tokens fits in workgroup memory.
// One workgroup per (sample, head, query token).
//
// qkv: (N, 3C, T) f32 — q, k, v stacked on channels (the fused 1x1 projection's output);
//                       head h uses channels [h*D, (h+1)*D) of each, T = H*W tokens
// out: (N, C, T) f32   — heads merged back on channels
// Dispatch: N * heads * T workgroups (folded into x/y by the host when above 65535).
// Limits: head_dim D <= 512.

struct Params {
    n: u32, c: u32, t: u32, heads: u32,
    head_dim: u32, scale: f32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = 64u;
const CHUNK: u32 = 1024u;
const MAX_R: u32 = 8u; // head_dim / WG, rounded up

var<workgroup> prob: array<f32, 1024>;
var<workgroup> qs: array<f32, 512>;
var<workgroup> red: array<f32, 64>;

fn reduce(lid: u32, v: f32, is_max: bool) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (lid < s) {
            if (is_max) {
                red[lid] = max(red[lid], red[lid + s]);
            } else {
                red[lid] = red[lid] + red[lid + s];
            }
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(64, 1, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let item = wid.x + wid.y * nwg.x;
    if (item >= p.n * p.heads * p.t) {
        return;
    }
    let i = item % p.t;
    let h = (item / p.t) % p.heads;
    let b = item / (p.t * p.heads);
    let d = p.head_dim;
    let qbase = (b * 3u * p.c + h * d) * p.t;
    let kbase = qbase + p.c * p.t;
    let vbase = kbase + p.c * p.t;

    for (var e = lid; e < d; e = e + WG) {
        qs[e] = qkv[qbase + e * p.t + i];
    }
    workgroupBarrier();

    var acc: array<f32, 8>;
    for (var r = 0u; r < MAX_R; r = r + 1u) {
        acc[r] = 0.0;
    }
    var m = -3.0e38;
    var l = 0.0;
    for (var c0 = 0u; c0 < p.t; c0 = c0 + CHUNK) {
        let cl = min(CHUNK, p.t - c0);
        var local_max = -3.0e38;
        for (var j = lid; j < cl; j = j + WG) {
            var s = 0.0;
            for (var e = 0u; e < d; e = e + 1u) {
                s = s + qs[e] * qkv[kbase + e * p.t + c0 + j];
            }
            s = s * p.scale;
            prob[j] = s;
            local_max = max(local_max, s);
        }
        let new_m = max(m, reduce(lid, local_max, true));
        let corr = exp(m - new_m);
        var local_sum = 0.0;
        for (var j = lid; j < cl; j = j + WG) {
            let e = exp(prob[j] - new_m);
            prob[j] = e;
            local_sum = local_sum + e;
        }
        l = l * corr + reduce(lid, local_sum, false);
        for (var r = 0u; r < MAX_R; r = r + 1u) {
            let e = lid + r * WG;
            if (e < d) {
                var a = acc[r] * corr;
                let vrow = vbase + e * p.t + c0;
                for (var j = 0u; j < cl; j = j + 1u) {
                    a = a + prob[j] * qkv[vrow + j];
                }
                acc[r] = a;
            }
        }
        m = new_m;
        workgroupBarrier();
    }

    let obase = (b * p.c + h * d) * p.t + i;
    for (var r = 0u; r < MAX_R; r = r + 1u) {
        let e = lid + r * WG;
        if (e < d) {
            out[obase + e * p.t] = acc[r] / l;
        }
    }
}
