// Nearest-neighbour 2x upsampling (torch's F.interpolate(scale_factor=2, mode="nearest")).
//
// x:   (NC, H, W) f32
// out: (NC, 2H, 2W) f32
// Dispatch: one invocation per output element (per_item.wgsl).

struct Params {
    nc: u32, h: u32, w: u32, _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn items() -> u32 {
    return 4u * p.nc * p.h * p.w;
}

fn item(i: u32) {
    let w2 = 2u * p.w;
    let h2 = 2u * p.h;
    let ox = i % w2;
    let oy = (i / w2) % h2;
    let plane = i / (w2 * h2);
    out[i] = x[(plane * p.h + oy / 2u) * p.w + ox / 2u];
}
