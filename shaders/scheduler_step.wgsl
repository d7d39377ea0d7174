// One diffusion step (DDPM, DDIM, inverse DDIM or DPM-Solver++(2M)), in place:
//   x0_raw = x0_from_sample*x + x0_from_model*m          (predicted x_0)
//   eps    = eps_from_sample*x + eps_from_model*m        (predicted noise, from unclipped values)
//   x0     = clip ? clamp(x0_raw, -r, r) : x0_raw
//   x     <- prev_from_x0*x0 + prev_from_sample*x + prev_from_eps*eps + prev_from_noise*noise
//            + prev_from_prev_x0*x0_old          (x0_old: x0[i] before this step: the solver's history)
// The host computes the coefficients per step (src/scheduler), so one kernel serves every
// sampler, variance and prediction type.
//
// sample: (len) f32, read_write — x_t in, x_{t-1} out
// model:  (len) f32             — the UNet output
// noise:  (len) f32             — this step's Gaussian noise
// x0:     (len) f32, read_write — in: the previous step's x_0; out: this step's (clipped) x_0
// Dispatch: one invocation per output element (per_item.wgsl).

struct Coeffs {
    x0_from_sample: f32, x0_from_model: f32, clip: f32, clip_range: f32,
    eps_from_sample: f32, eps_from_model: f32, prev_from_x0: f32, prev_from_sample: f32,
    prev_from_eps: f32, prev_from_noise: f32, timestep: f32, prev_from_prev_x0: f32,
    len: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Coeffs;
@group(0) @binding(1) var<storage, read_write> sample: array<f32>;
@group(0) @binding(2) var<storage, read> model: array<f32>;
@group(0) @binding(3) var<storage, read> noise: array<f32>;
@group(0) @binding(4) var<storage, read_write> x0: array<f32>;

fn items() -> u32 {
    return p.len;
}

fn item(i: u32) {
    let s = sample[i];
    let m = model[i];
    let raw = p.x0_from_sample * s + p.x0_from_model * m;
    let eps = p.eps_from_sample * s + p.eps_from_model * m;
    var x = raw;
    if (p.clip != 0.0) {
        x = clamp(raw, -p.clip_range, p.clip_range);
    }
    let x0_old = x0[i];
    x0[i] = x;
    sample[i] = p.prev_from_x0 * x + p.prev_from_sample * s + p.prev_from_eps * eps
        + p.prev_from_noise * noise[i] + p.prev_from_prev_x0 * x0_old;
}
