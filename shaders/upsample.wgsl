// Nearest-neighbour 2x upsampling (torch's F.interpolate(scale_factor=2, mode="nearest")).
//
// x:   (NC, H, W) f32
// out: (NC, 2H, 2W) f32
// Dispatch: ceil(NC * 4HW / 256) workgroups (folded into x/y by the host when above 65535).

struct Params {
    nc: u32, h: u32, w: u32, _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.x + wid.y * nwg.x) * 256u + lid;
    let w2 = 2u * p.w;
    let h2 = 2u * p.h;
    if (i >= p.nc * h2 * w2) {
        return;
    }
    let ox = i % w2;
    let oy = (i / w2) % h2;
    let plane = i / (w2 * h2);
    out[i] = x[(plane * p.h + oy / 2u) * p.w + ox / 2u];
}
