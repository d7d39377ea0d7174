// Multi-head self-attention over the spatial tokens of a feature map, softmax(q k^T * scale) v,
// computed with an online (chunked) softmax so any number of tokens fits in workgroup memory.
// One workgroup per (sample, head, block of 4 query tokens): the 4 queries travel together as
// the lanes of a vec4, so every key and value read from memory serves four queries.
//
// qkv: (N, 3C, T) f32 — q, k, v stacked on channels (the fused 1x1 projection's output);
//                       head h uses channels [h*D, (h+1)*D) of each, T = H*W tokens
// out: (N, C, T) f32   — heads merged back on channels
// Dispatch: one workgroup per (sample, head, block of 4 queries) (group_index).
// Limits: head_dim D <= 512.

struct Params {
    n: u32, c: u32, t: u32, heads: u32,
    head_dim: u32, scale: f32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const CHUNK: u32 = 256u;
const MAX_R: u32 = (512u + WG - 1u) / WG; // max head_dim / WG, rounded up

var<workgroup> prob: array<vec4<f32>, 256>;
var<workgroup> qs: array<vec4<f32>, 512>;
var<workgroup> red: array<vec4<f32>, WG>;

fn reduce(lid: u32, v: vec4<f32>, is_max: bool) -> vec4<f32> {
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

@compute @workgroup_size(WG)
fn main(grid: Groups, @builtin(local_invocation_index) lid: u32) {
    let blocks = (p.t + 3u) / 4u;
    let item = group_index(grid);
    if (item >= p.n * p.heads * blocks) {
        return;
    }
    let i0 = (item % blocks) * 4u;
    let h = (item / blocks) % p.heads;
    let b = item / (blocks * p.heads);
    let d = p.head_dim;
    let qbase = (b * 3u * p.c + h * d) * p.t;
    let kbase = qbase + p.c * p.t;
    let vbase = kbase + p.c * p.t;
    // Queries past the end repeat the last one; their results are not written.
    let last = p.t - 1u;
    let qi = vec4<u32>(min(i0, last), min(i0 + 1u, last), min(i0 + 2u, last), min(i0 + 3u, last));

    for (var e = lid; e < d; e = e + WG) {
        let row = qbase + e * p.t;
        qs[e] = vec4<f32>(qkv[row + qi.x], qkv[row + qi.y], qkv[row + qi.z], qkv[row + qi.w]);
    }
    workgroupBarrier();

    var acc: array<vec4<f32>, MAX_R>;
    for (var r = 0u; r < MAX_R; r = r + 1u) {
        acc[r] = vec4<f32>(0.0);
    }
    var m = vec4<f32>(-3.0e38);
    var l = vec4<f32>(0.0);
    for (var c0 = 0u; c0 < p.t; c0 = c0 + CHUNK) {
        let cl = min(CHUNK, p.t - c0);
        var local_max = vec4<f32>(-3.0e38);
        for (var j = lid; j < cl; j = j + WG) {
            var s = vec4<f32>(0.0);
            let kcol = kbase + c0 + j;
            for (var e = 0u; e < d; e = e + 1u) {
                s = s + qs[e] * qkv[kcol + e * p.t];
            }
            s = s * p.scale;
            prob[j] = s;
            local_max = max(local_max, s);
        }
        let new_m = max(m, reduce(lid, local_max, true));
        let corr = exp(m - new_m);
        var local_sum = vec4<f32>(0.0);
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

    for (var r = 0u; r < MAX_R; r = r + 1u) {
        let e = lid + r * WG;
        if (e < d) {
            let row = (b * p.c + h * d + e) * p.t;
            let o = acc[r] / l;
            out[row + qi.x] = o.x;
            if (i0 + 1u < p.t) {
                out[row + i0 + 1u] = o.y;
            }
            if (i0 + 2u < p.t) {
                out[row + i0 + 2u] = o.z;
            }
            if (i0 + 3u < p.t) {
                out[row + i0 + 3u] = o.w;
            }
        }
    }
}
