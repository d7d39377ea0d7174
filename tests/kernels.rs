//! Every WGSL kernel against its plain-loop CPU reference, on awkward shapes: sizes that are
//! not multiples of the workgroup or of 4, 1x1 maps, odd channel counts, stride 2 with
//! asymmetric padding, many heads and long token sequences.

mod common;

use common::{assert_close, data, gpu};
use diffusion_playground::cpu::winograd::Tile;
use diffusion_playground::exec::gpu::dispatch_op;
use diffusion_playground::gpu::Gpu;
use diffusion_playground::ops::*;
use diffusion_playground::scheduler::StepCoeffs;

const ATOL: f32 = 2e-5;
const RTOL: f32 = 1e-4;

fn read(gpu: &Gpu, b: &wgpu::Buffer, len: usize) -> Vec<f32> {
    pollster::block_on(gpu.read_f32(b, len)).expect("read back")
}

/// The CPU kernels' tolerance for a convolution: F(4x4, 3x3) Winograd's transforms (constants
/// up to 8 and 1/24) round more than a direct sum, by a few 1e-5 on these operands.
const WINOGRAD_F4_TOL: (f32, f32) = (1e-4, 1e-4);

/// Runs `op` through the `Op` trait on the GPU (params packed as the executor packs them) and
/// on its CPU reference, with the given operands, and compares.
fn check(
    gpu: &Gpu,
    what: &str,
    op: &dyn Op,
    inputs: &[Vec<f32>],
    params: &[Vec<f32>],
    tol: (f32, f32),
) {
    check_tols(gpu, what, op, inputs, params, tol, tol)
}

/// [`check`] with the CPU kernels held to `cpu_tol`.
fn check_tols(
    gpu: &Gpu,
    what: &str,
    op: &dyn Op,
    inputs: &[Vec<f32>],
    params: &[Vec<f32>],
    tol: (f32, f32),
    cpu_tol: (f32, f32),
) {
    let sig = op.signature();
    let lens: Vec<usize> = inputs.iter().map(Vec::len).collect();
    assert_eq!(lens, sig.inputs, "{what}: input lengths");
    let mut want = vec![0.0; sig.output];
    let ins: Vec<&[f32]> = inputs.iter().map(Vec::as_slice).collect();
    let ps: Vec<&[f32]> = params.iter().map(Vec::as_slice).collect();
    op.reference(&ins, &ps, &mut want);

    let ib: Vec<_> = inputs
        .iter()
        .map(|v| gpu.upload("in", v).unwrap())
        .collect();
    let pb: Vec<_> = params
        .iter()
        .enumerate()
        .map(|(i, v)| gpu.upload("param", &op.pack_param(i, v)).unwrap())
        .collect();
    let out = gpu.storage("out", sig.output).unwrap();
    let d = dispatch_op(
        gpu,
        op,
        &ib.iter().map(|b| &**b).collect::<Vec<_>>(),
        &pb.iter().map(|b| &**b).collect::<Vec<_>>(),
        &out,
    )
    .unwrap();
    gpu.run(&[&d]);
    assert_close(what, &read(gpu, &out, sig.output), &want, tol.0, tol.1);
    check_cpu(what, op, &ins, params, &want, cpu_tol);
}

/// The op's fast CPU path (`Op::cpu`, params packed by `pack_cpu_param`) against `want`, the
/// reference's output. The output starts as NaN so a value the path forgets to write fails.
fn check_cpu(
    what: &str,
    op: &dyn Op,
    ins: &[&[f32]],
    params: &[Vec<f32>],
    want: &[f32],
    tol: (f32, f32),
) {
    let packed: Vec<Vec<f32>> = params
        .iter()
        .enumerate()
        .map(|(i, v)| op.pack_cpu_param(i, v))
        .collect();
    let ps: Vec<&[f32]> = packed.iter().map(Vec::as_slice).collect();
    let mut scratch = vec![f32::NAN; op.cpu_scratch()];
    let mut got = vec![f32::NAN; want.len()];
    op.cpu(ins, &ps, &mut got, &mut scratch);
    assert_close(&format!("{what} (CPU kernels)"), &got, want, tol.0, tol.1);
}

/// Seeded operands of the lengths the op's signature states, in [-scale, scale).
fn operands(op: &dyn Op, seed: u64, scale: f32) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let sig = op.signature();
    let draw = |lens: &[usize], base: u64| -> Vec<Vec<f32>> {
        lens.iter()
            .enumerate()
            .map(|(i, &len)| data(seed * 10 + base + i as u64, len, scale))
            .collect()
    };
    (draw(&sig.inputs, 0), draw(&sig.params, 5))
}

/// `check` on seeded operands.
fn check_random(gpu: &Gpu, what: &str, op: &dyn Op, seed: u64, scale: f32, tol: (f32, f32)) {
    let (inputs, params) = operands(op, seed, scale);
    check(gpu, what, op, &inputs, &params, tol);
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
    let tb = time.then_some(TimeBias {
        stride: cout + 5,
        offset: 3,
    });
    let op = Conv2d::new(shape, cout, k, stride, pad, tb).unwrap();
    let tile = Tile::of(&op);
    let what = format!(
        "conv2d {shape:?} cout {cout} k {k} s {stride} pad {pad:?} time {time} (CPU: {tile:?})"
    );
    let cpu_tol = if tile == Some(Tile::F4) {
        WINOGRAD_F4_TOL
    } else {
        (ATOL, RTOL)
    };
    let (inputs, params) = operands(&op, 1, 0.7);
    check_tols(gpu, &what, &op, &inputs, &params, (ATOL, RTOL), cpu_tol);
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
    // The CPU's Winograd paths (3x3 "same" on even sizes; a chunk is 1024 output pixels).
    // F(4x4, 3x3) where an image has at least 16 4x4 tiles: one 32x32 image per chunk over
    // three chunks, a non-square image two to a chunk, Cin above the GEMM's K block and Cout
    // not a multiple of the register tile.
    conv_case(&gpu, [3, 9, 32, 32], 6, 3, 1, [1; 4], false);
    conv_case(&gpu, [2, 6, 16, 20], 5, 3, 1, [1; 4], true);
    conv_case(&gpu, [1, 300, 16, 16], 5, 3, 1, [1; 4], false);
    // F(2x2, 3x3) otherwise: several chunks of 8x8 images (16 and 2), sides not multiples of
    // 4, too few 4x4 tiles (8 of 16x8), and the smallest image.
    conv_case(&gpu, [18, 5, 8, 8], 7, 3, 1, [1; 4], true);
    conv_case(&gpu, [1, 300, 4, 6], 5, 3, 1, [1; 4], false);
    conv_case(&gpu, [2, 6, 16, 8], 5, 3, 1, [1; 4], false);
    conv_case(&gpu, [3, 4, 2, 2], 3, 3, 1, [1; 4], true);
}

/// Which Winograd algorithm the CPU runs a 3x3 convolution with: F(4x4, 3x3) where an image has
/// at least 16 4x4 tiles (emoji32's 32x32 and 16x16 levels), else F(2x2, 3x3), whatever the
/// batch; strided convolutions are not Winograd's.
#[test]
fn winograd_tile_choice() {
    let tile = |shape: [usize; 4], stride: usize| {
        Tile::of(&Conv2d::new(shape, 8, 3, stride, [1; 4], None).unwrap())
    };
    assert_eq!(tile([1, 32, 32, 32], 1), Some(Tile::F4));
    assert_eq!(tile([1, 64, 16, 16], 1), Some(Tile::F4));
    assert_eq!(tile([1, 128, 8, 8], 1), Some(Tile::F2));
    assert_eq!(tile([16, 128, 8, 8], 1), Some(Tile::F2));
    assert_eq!(tile([16, 3, 6, 6], 1), Some(Tile::F2));
    assert_eq!(tile([1, 8, 16, 16], 2), None);
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
        let params = vec![data(6, c, 1.0), data(7, c, 1.0)];
        let what = format!("group_norm {n}x{c}x{hw} g{groups} silu {silu}");
        check(&gpu, &what, &op, &[x], &params, (1e-4, 1e-4));
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
        check_random(
            &gpu,
            &format!("linear {m}x{k}x{n}"),
            &op,
            8,
            0.5,
            (ATOL, RTOL),
        );
    }
}

#[test]
fn a_grid_of_more_than_65535_workgroups_covers_every_output() {
    // 2,100 x 2,100 outputs at 64 per workgroup are 68,907 workgroups: more than one dimension
    // of a dispatch holds, so the host folds them over x and y and the kernel must unfold them
    // (the prelude's flat_index). Before the prelude, linear.wgsl read only the x coordinate
    // and left every output past the first row of groups unwritten.
    let gpu = gpu();
    let op = Linear::new(2100, 1, 2100, false, false).unwrap();
    let groups = op.launch().workgroups().unwrap();
    assert!(groups[1] > 1, "the grid must be folded: {groups:?}");
    check_random(
        &gpu,
        "linear 2100x1x2100 (folded grid)",
        &op,
        9,
        1.0,
        (ATOL, RTOL),
    );
    // The same for a one-invocation-per-element kernel and a one-group-per-item kernel.
    let add = Add::residual(65_536 * 256 + 3, 0.5).unwrap();
    assert!(add.launch().workgroups().unwrap()[1] > 1);
    check_random(&gpu, "add (folded grid)", &add, 10, 1.0, (1e-6, 1e-6));
    let norm = GroupNorm::new(65_540, 2, 3, 1, 1e-5, false).unwrap();
    assert!(norm.launch().workgroups().unwrap()[1] > 1);
    check_random(
        &gpu,
        "group_norm (folded grid)",
        &norm,
        11,
        1.0,
        (1e-4, 1e-4),
    );
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
        let what = format!("attention n{n} c{c} t{t} heads{heads}");
        check_random(&gpu, &what, &op, 11, 1.5, (1e-5, 1e-4));
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
        for op in [
            Add::residual(len, 1.0 / 1.5).unwrap(),
            Add::affine(len, 2.0, -1.0).unwrap(),
        ] {
            check_random(&gpu, &format!("add {op:?}"), &op, 12, 1.0, (1e-6, 1e-6));
        }
    }
    // Copies must be exact.
    let up = Upsample2x::new(5, 3, 7).unwrap();
    check_random(&gpu, "upsample", &up, 14, 1.0, (0.0, 0.0));
    let cat = Concat::new(3, 5, 2, 9).unwrap();
    check_random(&gpu, "concat", &cat, 15, 1.0, (0.0, 0.0));
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
        prev_from_prev_x0: -0.6,
    };
    let (s, m, z) = (data(17, len, 2.0), data(18, len, 2.0), data(19, len, 1.0));
    // The x0 buffer comes in holding the previous step's x_0 (a multistep solver's history).
    let x0_before = data(21, len, 1.5);
    let (mut prev, mut x0) = (vec![0.0; len], x0_before.clone());
    coeffs.apply(&s, &m, &z, &mut prev, &mut x0);
    let op = SchedulerStep::new(len).unwrap();
    let (sb, mb, zb, xb) = (
        gpu.upload("s", &s).unwrap(),
        gpu.upload("m", &m).unwrap(),
        gpu.upload("z", &z).unwrap(),
        gpu.upload("x0", &x0_before).unwrap(),
    );
    gpu.run(&[&gpu
        .dispatch(op.launch(coeffs), &[&sb, &mb, &zb, &xb])
        .unwrap()]);
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
        gpu.run(&[&gpu.dispatch(op.launch(), &[&xb, &out]).unwrap()]);
        let got = pollster::block_on(gpu.read_u32(&out, op.output_len())).unwrap();
        assert_eq!(got, want, "to_rgba8 {shape:?}");
    }
}
