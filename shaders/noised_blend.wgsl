// Inpainting's blend (RePaint), in place:
//   w  = use_mask * mask[i]
//   x <- w * (known_scale*known + known_noise*noise) + (1 - w) * (x_scale*x + x_noise*noise)
// With use_mask = 1, x_scale = 1, x_noise = 0 it replaces the known pixels (mask 1) by a draw
// from q(x_t | x_0) = sqrt(abar) x_0 + sqrt(1 - abar) noise; with use_mask = 0 it is RePaint's
// "undo" of a step, x_t = sqrt(abar_t / abar_prev) x_prev + sqrt(1 - abar_t / abar_prev) noise.
//
// x:     (len) f32, read_write — the sample
// known: (len) f32             — x_0, the image whose masked pixels are kept
// mask:  (len) f32             — 1 = keep the known pixel, 0 = fill (fractions blend)
// noise: (len) f32             — standard Gaussian noise for this blend
// Dispatch: one invocation per element (per_item.wgsl).

struct Params {
    known_scale: f32, known_noise: f32, x_scale: f32, x_noise: f32,
    use_mask: f32, len: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> known: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read> noise: array<f32>;

fn items() -> u32 {
    return p.len;
}

fn item(i: u32) {
    let z = noise[i];
    let w = p.use_mask * mask[i];
    x[i] = w * (p.known_scale * known[i] + p.known_noise * z)
        + (1.0 - w) * (p.x_scale * x[i] + p.x_noise * z);
}
