//! Every WGSL kernel against its plain-loop CPU reference, on awkward shapes: sizes that are
//! not multiples of the workgroup or of 4, 1x1 maps, odd channel counts, stride 2 with
//! asymmetric padding, many heads and long token sequences.

mod common;

use common::{assert_close, data, gpu};
use diffusion_playground::gpu::Gpu;
use diffusion_playground::ops::*;
use diffusion_playground::scheduler::StepCoeffs;

const ATOL: f32 = 2e-5;
const RTOL: f32 = 1e-4;

fn read(gpu: &Gpu, b: &wgpu::Buffer, len: usize) -> Vec<f32> {
    pollster::block_on(gpu.read_f32(b, len)).expect("read back")
}

fn conv_case(
    gpu: &Gpu,
    shape: [usize; 4],
    cout: usize,
    k: usize,
    stride: usize,
    pad: [usize; 4],
    time: bool,
) {
    let mut op = Conv2d::new(shape, cout, k, stride, pad).unwrap();
    let n = shape[0];
    let temb_stride = cout + 5;
    if time {
        op = op.with_time_bias(TimeBias {
            stride: temb_stride,
            offset: 3,
        });
    }
    let x = data(1, op.input_len(), 1.0);
    let w = data(2, op.weight_len(), 0.5);
    let b = data(3, cout, 0.5);
    let t = data(4, n * temb_stride, 1.0);
    let out_len: usize = op.output_shape().iter().product();
    let mut want = vec![0.0; out_len];
    op.cpu(&x, &w, &b, time.then_some(&t[..]), &mut want);

    let xb = gpu.upload("x", &x).unwrap();
    let wb = gpu.upload("w", &op.pack_weight(&w)).unwrap();
    let bb = gpu.upload("b", &op.pack_bias(&b)).unwrap();
    let tb = gpu.upload("t", &t).unwrap();
    let ob = gpu.storage("out", out_len).unwrap();
    let d = op.encode(gpu, &xb, &wb, &bb, &tb, &ob).unwrap();
    gpu.run(&[&d]);
    let got = read(gpu, &ob, out_len);
    assert_close(
        &format!("conv2d {shape:?} cout {cout} k {k} s {stride} pad {pad:?} time {time}"),
        &got,
        &want,
        ATOL,
        RTOL,
    );
}

#[test]
fn conv2d_matches_cpu() {
    let gpu = gpu();
    conv_case(&gpu, [1, 1, 1, 1], 1, 1, 1, [0; 4], false);
    conv_case(&gpu, [2, 3, 5, 7], 5, 3, 1, [1; 4], true);
    conv_case(&gpu, [3, 7, 9, 6], 6, 3, 1, [1; 4], false);
    conv_case(&gpu, [2, 4, 8, 8], 7, 3, 2, [0, 1, 0, 1], false); // diffusers' padding-0 downsample
    conv_case(&gpu, [2, 4, 7, 9], 4, 3, 2, [1; 4], true); // padding-1 downsample on odd sizes
    conv_case(&gpu, [2, 6, 4, 5], 9, 1, 1, [0; 4], false); // 1x1 shortcut
    conv_case(&gpu, [1, 33, 16, 16], 66, 3, 1, [1; 4], true);
    conv_case(&gpu, [5, 3, 2, 2], 3, 3, 1, [1; 4], false);
    // The 1x1 path with an odd width and a time bias; then the general loop: a padded 1x1 and
    // a 5x5 kernel.
    conv_case(&gpu, [3, 5, 3, 7], 6, 1, 1, [0; 4], true);
    conv_case(&gpu, [1, 2, 3, 3], 3, 1, 1, [1; 4], false);
    conv_case(&gpu, [1, 2, 6, 7], 3, 5, 1, [2; 4], false);
}

#[test]
fn group_norm_matches_cpu() {
    let gpu = gpu();
    for &(n, c, hw, groups, silu) in &[
        (1, 1, 1, 1, false),
        (2, 6, 7, 3, true),
        (3, 32, 17 * 3, 8, true),
        (2, 12, 1, 4, false),
        (1, 64, 33 * 33, 32, false),
    ] {
        let op = GroupNorm::new(n, c, hw, groups, 1e-6, silu).unwrap();
        // An offset and a large scale catch single-pass variance shortcuts.
        let x: Vec<f32> = data(5, op.len(), 3.0).iter().map(|v| v + 2.0).collect();
        let g = data(6, c, 1.0);
        let b = data(7, c, 1.0);
        let mut want = vec![0.0; op.len()];
        op.cpu(&x, &g, &b, &mut want);
        let out = gpu.storage("out", op.len()).unwrap();
        let (xb, gb, bb) = (
            gpu.upload("x", &x).unwrap(),
            gpu.upload("g", &g).unwrap(),
            gpu.upload("b", &b).unwrap(),
        );
        let d = op.encode(&gpu, &xb, &gb, &bb, &out).unwrap();
        gpu.run(&[&d]);
        assert_close(
            &format!("group_norm {n}x{c}x{hw} g{groups} silu {silu}"),
            &read(&gpu, &out, op.len()),
            &want,
            1e-4,
            1e-4,
        );
    }
    assert!(GroupNorm::new(1, 6, 4, 4, 1e-5, false).is_err());
}

#[test]
fn linear_matches_cpu() {
    let gpu = gpu();
    for &(m, k, n, si, so) in &[
        (1, 1, 1, false, false),
        (3, 17, 9, true, false),
        (2, 64, 256, false, true),
        (7, 130, 5, true, true),
    ] {
        let op = Linear::new(m, k, n, si, so).unwrap();
        let x = data(8, m * k, 2.0);
        let w = data(9, n * k, 0.3);
        let b = data(10, n, 0.3);
        let mut want = vec![0.0; m * n];
        op.cpu(&x, &w, &b, &mut want);
        let out = gpu.storage("out", m * n).unwrap();
        let (xb, wb, bb) = (
            gpu.upload("x", &x).unwrap(),
            gpu.upload("w", &w).unwrap(),
            gpu.upload("b", &b).unwrap(),
        );
        let d = op.encode(&gpu, &xb, &wb, &bb, &out).unwrap();
        gpu.run(&[&d]);
        assert_close(
            &format!("linear {m}x{k}x{n}"),
            &read(&gpu, &out, m * n),
            &want,
            ATOL,
            RTOL,
        );
    }
}

#[test]
fn attention_matches_cpu() {
    let gpu = gpu();
    // (n, c, tokens, heads): one token, odd heads, tokens beyond one 1024 chunk, wide heads.
    for &(n, c, t, heads) in &[
        (1, 1, 1, 1),
        (2, 6, 5, 3),
        (1, 8, 1500, 2),
        (2, 96, 16, 1),
        (1, 500, 4, 1),
        (3, 16, 64, 4),
    ] {
        let op = Attention::new(n, c, t, heads).unwrap();
        let qkv = data(11, n * 3 * c * t, 1.5);
        let mut want = vec![0.0; n * c * t];
        op.cpu(&qkv, &mut want);
        let out = gpu.storage("out", n * c * t).unwrap();
        let qb = gpu.upload("qkv", &qkv).unwrap();
        let d = op.encode(&gpu, &qb, &out).unwrap();
        gpu.run(&[&d]);
        assert_close(
            &format!("attention n{n} c{c} t{t} heads{heads}"),
            &read(&gpu, &out, n * c * t),
            &want,
            1e-5,
            1e-4,
        );
    }
    assert!(
        Attention::new(1, 10, 4, 3).is_err(),
        "10 channels do not split into 3 heads"
    );
}

#[test]
fn elementwise_ops_match_cpu() {
    let gpu = gpu();
    for &len in &[1usize, 255, 257, 1000] {
        let a = data(12, len, 1.0);
        let b = data(13, len, 1.0);
        for op in [
            Add::residual(len, 1.0 / 1.5).unwrap(),
            Add::affine(len, 2.0, -1.0).unwrap(),
        ] {
            let mut want = vec![0.0; len];
            op.cpu(&a, Some(&b), &mut want);
            let out = gpu.storage("out", len).unwrap();
            let (ab, bb) = (gpu.upload("a", &a).unwrap(), gpu.upload("b", &b).unwrap());
            let d = op.encode(&gpu, &ab, &bb, &out).unwrap();
            gpu.run(&[&d]);
            assert_close(
                &format!("add {op:?}"),
                &read(&gpu, &out, len),
                &want,
                1e-6,
                1e-6,
            );
        }
    }
    let up = Upsample2x::new(5, 3, 7).unwrap();
    let x = data(14, 5 * 3 * 7, 1.0);
    let mut want = vec![0.0; up.output_len()];
    up.cpu(&x, &mut want);
    let (xb, out) = (
        gpu.upload("x", &x).unwrap(),
        gpu.storage("out", up.output_len()).unwrap(),
    );
    gpu.run(&[&up.encode(&gpu, &xb, &out).unwrap()]);
    assert_eq!(
        read(&gpu, &out, up.output_len()),
        want,
        "upsample is a copy and must be exact"
    );

    let cat = Concat::new(3, 5, 2, 9).unwrap();
    let (a, b) = (data(15, 3 * 5 * 9, 1.0), data(16, 3 * 2 * 9, 1.0));
    let mut want = vec![0.0; cat.output_len()];
    cat.cpu(&a, &b, &mut want);
    let (ab, bb, out) = (
        gpu.upload("a", &a).unwrap(),
        gpu.upload("b", &b).unwrap(),
        gpu.storage("out", cat.output_len()).unwrap(),
    );
    gpu.run(&[&cat.encode(&gpu, &ab, &bb, &out).unwrap()]);
    assert_eq!(
        read(&gpu, &out, cat.output_len()),
        want,
        "concat is a copy and must be exact"
    );
}

#[test]
fn scheduler_step_matches_cpu() {
    let gpu = gpu();
    let len = 1234;
    let coeffs = StepCoeffs {
        x0_from_sample: 1.3,
        x0_from_model: -0.7,
        clip: 1.0,
        clip_range: 1.0,
        eps_from_sample: 0.2,
        eps_from_model: 0.9,
        prev_from_x0: 0.5,
        prev_from_sample: 0.4,
        prev_from_eps: -0.3,
        prev_from_noise: 0.1,
        timestep: 10.0,
        _pad: 0.0,
    };
    let (s, m, z) = (data(17, len, 2.0), data(18, len, 2.0), data(19, len, 1.0));
    let (mut prev, mut x0) = (vec![0.0; len], vec![0.0; len]);
    coeffs.apply(&s, &m, &z, &mut prev, &mut x0);
    let op = SchedulerStep::new(len).unwrap();
    let (sb, mb, zb, xb) = (
        gpu.upload("s", &s).unwrap(),
        gpu.upload("m", &m).unwrap(),
        gpu.upload("z", &z).unwrap(),
        gpu.storage("x0", len).unwrap(),
    );
    gpu.run(&[&op.encode(&gpu, coeffs, &sb, &mb, &zb, &xb).unwrap()]);
    assert_close(
        "scheduler_step x_prev",
        &read(&gpu, &sb, len),
        &prev,
        1e-6,
        1e-6,
    );
    assert_close("scheduler_step x0", &read(&gpu, &xb, len), &x0, 1e-6, 1e-6);
}

#[test]
fn to_rgba8_matches_cpu() {
    let gpu = gpu();
    for shape in [[1, 1, 3, 5], [5, 3, 4, 6], [2, 2, 2, 2], [16, 3, 8, 8]] {
        let op = ToRgba8::new(shape).unwrap();
        let x = data(20, shape.iter().product(), 1.3);
        let mut want = vec![0u32; op.output_len()];
        op.cpu(&x, &mut want);
        let (xb, out) = (
            gpu.upload("x", &x).unwrap(),
            gpu.storage("out", op.output_len()).unwrap(),
        );
        gpu.run(&[&op.encode(&gpu, &xb, &out).unwrap()]);
        let got = pollster::block_on(gpu.read_u32(&out, op.output_len())).unwrap();
        assert_eq!(got, want, "to_rgba8 {shape:?}");
    }
}
