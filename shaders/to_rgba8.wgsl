// Converts a batch of images in [-1, 1] to one RGBA8 grid for display, as diffusers' pipelines
// do: round(clamp(x / 2 + 0.5, 0, 1) * 255). One channel is shown as grey; with 3 or more
// channels the first three are RGB; with 2 the blue channel is 0. Empty grid cells are
// transparent.
//
// x:   (N, C, H, W) f32
// out: (rows*H, cols*W) u32 — little-endian R, G, B, A bytes (ImageData order)
// Dispatch: one invocation per output element (per_item.wgsl).

struct Params {
    n: u32, c: u32, h: u32, w: u32,
    cols: u32, rows: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

fn byte(v: f32) -> u32 {
    return u32(round(clamp(v * 0.5 + 0.5, 0.0, 1.0) * 255.0));
}

fn items() -> u32 {
    return p.cols * p.w * p.rows * p.h;
}

fn item(i: u32) {
    let gw = p.cols * p.w;
    let gx = i % gw;
    let gy = i / gw;
    let img = (gy / p.h) * p.cols + gx / p.w;
    if (img >= p.n) {
        out[i] = 0u;
        return;
    }
    let plane = p.h * p.w;
    let pix = (gy % p.h) * p.w + gx % p.w;
    let base = img * p.c * plane + pix;
    let r = byte(x[base]);
    var g = r;
    var bl = r;
    if (p.c >= 2u) {
        g = byte(x[base + plane]);
        bl = 0u;
    }
    if (p.c >= 3u) {
        bl = byte(x[base + 2u * plane]);
    }
    out[i] = r | (g << 8u) | (bl << 16u) | (255u << 24u);
}
