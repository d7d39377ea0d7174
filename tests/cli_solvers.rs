//! The issue-15 commands through the CLI: `dp sample --sampler dpmpp2m` and `dp invert` (with
//! each `--clip`) against diffusers loops (tests/fixtures/gen_solver_fixtures.py) on the default
//! model, whose outputs are O(1), to 1e-3 absolute, and on the tiny random-weight fixture;
//! `dp inpaint` (known pixels kept, hole filled, both executors agree); `dp interpolate` (its
//! ends are the plain DDIM samples of the two seeds); the four commands on every other fixture
//! checkpoint; and their bad inputs.

use diffusion_playground::npy;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(path: &str) -> String {
    root()
        .join("tests/fixtures")
        .join(path)
        .display()
        .to_string()
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("dp-solvers-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, file: &str) -> String {
        self.0.join(file).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dp"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("failed to start dp")
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "dp failed ({:?})\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn fails(out: &Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "dp panicked\n{stderr}");
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains("hint: "), "no hint\n{stderr}");
    assert!(stderr.contains(needle), "no `{needle}` in\n{stderr}");
}

fn read(path: &str) -> npy::Array {
    npy::read(&std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

fn max_abs(a: &[f32]) -> f32 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, |m, d| if d.is_nan() { f32::NAN } else { m.max(d) })
}

const TINY: &str = "models/tiny";

fn dpm_run(backend: &str) -> (npy::Array, String) {
    let tmp = TempDir::new("dpm");
    let out = tmp.path("final.npy");
    let stdout = ok(&dp(&[
        "sample",
        "--model",
        &fixture(TINY),
        "--scheduler-config",
        &fixture("solvers/dpmpp2m/scheduler_config.json"),
        "--sampler",
        "dpmpp2m",
        "--steps",
        "8",
        "--init-noise",
        &fixture("solvers/dpmpp2m/x_T.npy"),
        "--backend",
        backend,
        "--save-npy",
        &out,
    ]));
    (read(&out), stdout)
}

#[test]
fn dpm_solver_sampling_matches_diffusers_on_both_executors() {
    let want = read(&fixture("solvers/dpmpp2m/final.npy"));
    // |x| reaches ~510 on this random-weight model (the final x_0 of an untrained net), where
    // 1e-3 absolute would ask for 2e-6 relative, about f32 GEMM reordering noise (measured
    // 2.4e-4 on the GPU, 4.6e-4 on the CPU: inside, but by no margin another machine's
    // summation order is sure to keep); here the bar is 1e-3 plus 1e-5 of that scale. The 1e-3 absolute bar of the issue is held on the
    // default model, whose outputs are O(1): `default_model_trajectories_match_diffusers`.
    let tol = 1e-5 * max_abs(&want.data) + 1e-3;
    for backend in ["gpu", "cpu"] {
        let (got, stdout) = dpm_run(backend);
        assert_eq!(got.shape, want.shape);
        let d = max_diff(&got.data, &want.data);
        eprintln!(
            "dpmpp2m {backend}: max |diff| {d:e} (scale {})",
            max_abs(&want.data)
        );
        assert!(d <= tol, "dpmpp2m on {backend}: max |diff| {d} > {tol}");
        assert!(stdout.contains("network evaluations 8"), "{stdout}");
        assert!(stdout.contains("DPM-Solver++(2M)"), "{stdout}");
    }
}

#[test]
fn ddim_inversion_matches_diffusers_and_reconstructs() {
    let want = read(&fixture("solvers/ddim_inverse/final.npy"));
    let tmp = TempDir::new("invert");
    for backend in ["gpu", "cpu"] {
        let (out, back) = (tmp.path("xT.npy"), tmp.path("back.npy"));
        let stdout = ok(&dp(&[
            "invert",
            "--model",
            &fixture(TINY),
            "--scheduler-config",
            &fixture("solvers/ddim_inverse/scheduler_config.json"),
            "--input",
            &fixture("solvers/ddim_inverse/x0.npy"),
            "--steps",
            "10",
            "--backend",
            backend,
            "--out",
            &out,
            "--reconstruct",
            &back,
        ]));
        let got = read(&out);
        assert_eq!(got.shape, want.shape);
        let d = max_diff(&got.data, &want.data);
        eprintln!("invert {backend}: max |diff| {d:e}");
        assert!(d <= 1e-3, "dp invert on {backend}: max |diff| {d}");
        assert!(stdout.contains("network evaluations 10"), "{stdout}");
        assert!(
            stdout.contains("reconstruction (DDIM eta 0, 10 steps): mean abs error"),
            "{stdout}"
        );
        assert_eq!(read(&back).shape, want.shape);
    }
    // A wrong shape is refused with what would fit.
    fails(
        &dp(&[
            "invert",
            "--model",
            &fixture(TINY),
            "--input",
            &fixture("solvers/dpmpp2m/x_T.npy").replace("dpmpp2m/x_T", "ddim_inverse/x_t_steps"),
            "--out",
            &tmp.path("bad.npy"),
        ]),
        2,
        "(B, 3, 16, 16)",
    );
}

const EMOJI32: &str = "models/emoji32";

/// The default model's trajectory fixtures, after checking they were made from the weights in
/// models/emoji32 (tests/fixtures/emoji32/meta.json holds the sha256 train/export.py saw).
fn emoji32_fixture(file: &str) -> String {
    let meta = |path: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(fixture(path)).unwrap()).unwrap()
    };
    let (ours, model) = (meta("solvers/emoji32/meta.json"), meta("emoji32/meta.json"));
    assert_eq!(
        ours["weights_sha256"], model["weights_sha256"],
        "tests/fixtures/solvers/emoji32 was made from other weights than models/emoji32's: \
         regenerate it with `train/.venv/bin/python tests/fixtures/gen_solver_fixtures.py emoji32`"
    );
    fixture(&format!("solvers/emoji32/{file}"))
}

/// Absolute 1e-3 on O(1) tensors, the bar for trajectories through the CLI.
const TRAJECTORY_ATOL: f32 = 1e-3;

fn assert_within(what: &str, got: &npy::Array, want: &npy::Array) {
    assert_eq!(got.shape, want.shape, "{what}: shape");
    let d = max_diff(&got.data, &want.data);
    eprintln!(
        "{what}: max |diff| {d:e} (max |want| {:.3})",
        max_abs(&want.data)
    );
    assert!(
        d <= TRAJECTORY_ATOL,
        "{what}: max |diff| {d} > {TRAJECTORY_ATOL}"
    );
}

#[test]
fn default_model_trajectories_match_diffusers() {
    let tmp = TempDir::new("emoji32");
    let config = emoji32_fixture("scheduler_config.json");
    for backend in ["gpu", "cpu"] {
        let out = tmp.path(&format!("dpm-{backend}.npy"));
        let stdout = ok(&dp(&[
            "sample",
            "--model",
            EMOJI32,
            "--scheduler-config",
            &config,
            "--sampler",
            "dpmpp2m",
            "--steps",
            "10",
            "--init-noise",
            &emoji32_fixture("dpmpp2m_x_T.npy"),
            "--backend",
            backend,
            "--save-npy",
            &out,
        ]));
        assert!(stdout.contains("network evaluations 10"), "{stdout}");
        assert_within(
            &format!("emoji32 dpmpp2m 10 steps on {backend}"),
            &read(&out),
            &read(&emoji32_fixture("dpmpp2m_final.npy")),
        );
    }
    // Inversion and its reconstruction, with the config's clip_sample (true), forced on, and
    // off (diffusers' from_config(cfg, clip_sample=False)).
    // llvmpipe takes minutes for the 20 evaluations of a run of this model on a busy machine,
    // so the GPU runs the checkpoint's setting only: the clamp is the step kernel's, which
    // tests/cli.rs runs on the GPU with each `dp sample --clip`.
    for (clip, want, backends) in [
        ("checkpoint", "clip", &["gpu", "cpu"][..]),
        ("clip", "clip", &["cpu"][..]),
        ("off", "noclip", &["cpu"][..]),
    ] {
        for &backend in backends {
            let (out, back) = (
                tmp.path(&format!("xT-{clip}-{backend}.npy")),
                tmp.path(&format!("back-{clip}-{backend}.npy")),
            );
            let stdout = ok(&dp(&[
                "invert",
                "--model",
                EMOJI32,
                "--scheduler-config",
                &config,
                "--input",
                &emoji32_fixture("x0.npy"),
                "--steps",
                "10",
                "--clip",
                clip,
                "--backend",
                backend,
                "--out",
                &out,
                "--reconstruct",
                &back,
            ]));
            assert!(stdout.contains(&format!("clip {clip}")), "{stdout}");
            assert_within(
                &format!("emoji32 invert --clip {clip} on {backend}"),
                &read(&out),
                &read(&emoji32_fixture(&format!("invert_{want}.npy"))),
            );
            assert_within(
                &format!("emoji32 invert --clip {clip} --reconstruct on {backend}"),
                &read(&back),
                &read(&emoji32_fixture(&format!("back_{want}.npy"))),
            );
        }
    }
}

#[test]
fn invert_clip_off_differs_from_the_clipping_checkpoint() {
    // The tiny model's config has clip_sample true, so its diffusers fixture is the clipped
    // loop: `--clip checkpoint` and `clip` reproduce it, `off` must move away from it.
    let want = read(&fixture("solvers/ddim_inverse/final.npy"));
    let tmp = TempDir::new("invert-clip");
    let run = |clip: &str| {
        let out = tmp.path(&format!("xT-{clip}.npy"));
        ok(&dp(&[
            "invert",
            "--model",
            &fixture(TINY),
            "--scheduler-config",
            &fixture("solvers/ddim_inverse/scheduler_config.json"),
            "--input",
            &fixture("solvers/ddim_inverse/x0.npy"),
            "--steps",
            "10",
            "--clip",
            clip,
            "--backend",
            "cpu",
            "--out",
            &out,
        ]));
        read(&out)
    };
    for clip in ["checkpoint", "clip"] {
        let d = max_diff(&run(clip).data, &want.data);
        assert!(d <= 1e-3, "--clip {clip}: max |diff| {d}");
    }
    let d = max_diff(&run("off").data, &want.data);
    assert!(
        d > 1e-2,
        "--clip off matches the clipped loop (max |diff| {d})"
    );
    // DDIMInverseScheduler has no use_clipped_model_output.
    fails(
        &dp(&[
            "invert",
            "--model",
            &fixture(TINY),
            "--input",
            &fixture("solvers/ddim_inverse/x0.npy"),
            "--clip",
            "recompute",
            "--out",
            &tmp.path("x.npy"),
        ]),
        2,
        "`--clip` is `recompute`, which is not one of checkpoint, off, clip",
    );
}

/// A (1, 1, 16, 16) mask that keeps the left half.
fn left_half_mask(tmp: &TempDir) -> (String, Vec<f32>) {
    let mut mask = vec![0.0f32; 16 * 16];
    for y in 0..16 {
        for x in 0..8 {
            mask[y * 16 + x] = 1.0;
        }
    }
    let path = tmp.path("mask.npy");
    std::fs::write(&path, npy::write(&[1, 1, 16, 16], &mask)).unwrap();
    (path, mask)
}

fn inpaint(tmp: &TempDir, mask: &str, sampler: &str, resample: &str, backend: &str) -> npy::Array {
    let out = tmp.path(&format!("{sampler}-{resample}-{backend}.npy"));
    let stdout = ok(&dp(&[
        "inpaint",
        "--model",
        &fixture(TINY),
        "--input",
        &fixture("solvers/ddim_inverse/x0.npy"),
        "--mask",
        mask,
        "--sampler",
        sampler,
        "--steps",
        "5",
        "--seed",
        "3",
        "--resample",
        resample,
        "--backend",
        backend,
        "--save-npy",
        &out,
    ]));
    let r: usize = resample.parse().unwrap();
    let evaluations = format!("network evaluations {}", 4 * r + 1);
    assert!(stdout.contains(&evaluations), "{stdout}");
    read(&out)
}

#[test]
fn inpainting_keeps_the_known_pixels_and_fills_the_hole() {
    let tmp = TempDir::new("inpaint");
    let (mask_path, mask) = left_half_mask(&tmp);
    let x0 = read(&fixture("solvers/ddim_inverse/x0.npy"));
    for (sampler, resample) in [("ddpm", "1"), ("ddpm", "3"), ("ddim", "2")] {
        let gpu = inpaint(&tmp, &mask_path, sampler, resample, "gpu");
        let cpu = inpaint(&tmp, &mask_path, sampler, resample, "cpu");
        let (mut known, mut hole) = (0.0f32, 0.0f64);
        let mut holes = 0;
        for (i, (&g, &x)) in gpu.data.iter().zip(&x0.data).enumerate() {
            if mask[i % 256] == 1.0 {
                known = known.max((g - x).abs());
            } else {
                hole += f64::from((g - x).abs());
                holes += 1;
            }
        }
        // The last step lands on alpha-bar 1 (DDPM, and DDIM with set_alpha_to_one, the
        // default of this DDPM config), where the known pixels' draw is x_0 itself: exact.
        assert!(
            known <= 1e-6,
            "{sampler} R={resample}: known pixels moved by {known}"
        );
        let hole = hole / holes as f64;
        assert!(
            hole > 0.1,
            "{sampler} R={resample}: the hole stayed x0 (mean |diff| {hole})"
        );
        let d = max_diff(&gpu.data, &cpu.data);
        let tol = 1e-4 * max_abs(&cpu.data) + 1e-3;
        eprintln!("inpaint {sampler} R={resample}: gpu vs cpu {d:e}, hole mean |x - x0| {hole:.3}");
        assert!(
            d <= tol,
            "{sampler} R={resample}: GPU and CPU differ by {d}"
        );
    }
    fails(
        &dp(&[
            "inpaint",
            "--model",
            &fixture(TINY),
            "--input",
            &fixture("solvers/ddim_inverse/x0.npy"),
            "--mask",
            &fixture("solvers/ddim_inverse/x0.npy"),
            "--out",
            &tmp.path("x.png"),
        ]),
        2,
        "(1, 1, 16, 16)",
    );
}

#[test]
fn interpolation_ends_are_the_two_seeds_ddim_samples() {
    let tmp = TempDir::new("interp");
    let (strip, frames) = (tmp.path("strip.png"), tmp.path("frames.npy"));
    let stdout = ok(&dp(&[
        "interpolate",
        "--model",
        &fixture(TINY),
        "--seeds",
        "3,4",
        "--frames",
        "3",
        "--steps",
        "4",
        "--backend",
        "cpu",
        "--out",
        &strip,
        "--save-npy",
        &frames,
    ]));
    assert!(stdout.contains("network evaluations 12"), "{stdout}");
    assert!(std::fs::metadata(&strip).unwrap().len() > 0);
    let frames = read(&frames);
    assert_eq!(frames.shape, vec![3, 3, 16, 16]);
    let per = 3 * 16 * 16;
    for (seed, frame) in [("3", 0), ("4", 2)] {
        let out = tmp.path(&format!("seed{seed}.npy"));
        ok(&dp(&[
            "sample",
            "--model",
            &fixture(TINY),
            "--sampler",
            "ddim",
            "--eta",
            "0",
            "--steps",
            "4",
            "--seed",
            seed,
            "--backend",
            "cpu",
            "--save-npy",
            &out,
        ]));
        let want = read(&out);
        let got = &frames.data[frame * per..(frame + 1) * per];
        // The same x_T on the same kernels; only the batch size (3 vs 1) differs.
        let d = max_diff(got, &want.data);
        assert!(d <= 1e-4, "frame {frame} vs seed {seed}: max |diff| {d}");
    }
    let mid = &frames.data[per..2 * per];
    assert!(
        max_diff(mid, &frames.data[..per]) > 1e-2,
        "the middle frame is an end"
    );
}

#[test]
fn new_commands_refuse_bad_inputs_naming_what_is_wrong() {
    let tmp = TempDir::new("bad");
    let x0 = fixture("solvers/ddim_inverse/x0.npy");
    let tiny = fixture(TINY);
    let out = tmp.path("out.png");
    let interpolate = |extra: &[&str]| {
        let mut args: Vec<&str> = vec!["interpolate", "--model", &tiny, "--out", &out];
        args.extend_from_slice(extra);
        dp(&args)
    };
    for (extra, needle) in [
        (
            &["--seeds", "x"][..],
            "`--seeds` expects two whole numbers A,B, got `x`",
        ),
        (
            &["--seeds", "3"][..],
            "`--seeds` expects two whole numbers A,B, got `3`",
        ),
        (
            &["--seeds", "3,-1"][..],
            "`--seeds` expects two whole numbers A,B, got `3,-1`",
        ),
        (
            &["--seeds", "3,4", "--frames", "1"][..],
            "`--frames` is 1, but it must be 2 to 64",
        ),
        (
            &["--seeds", "3,4", "--frames", "65"][..],
            "`--frames` is 65, but it must be 2 to 64",
        ),
        (
            &["--seeds", "3,4", "--steps", "0"][..],
            "num_inference_steps is 0",
        ),
    ] {
        fails(&interpolate(extra), 2, needle);
    }

    let mask_of = |name: &str, value: f32| {
        let path = tmp.path(name);
        let mut m = vec![1.0f32; 16 * 16];
        m[17] = value;
        std::fs::write(&path, npy::write(&[1, 1, 16, 16], &m)).unwrap();
        path
    };
    let (mask, mask_two, mask_nan, mask_negative) = (
        mask_of("ones.npy", 1.0),
        mask_of("two.npy", 2.0),
        mask_of("nan.npy", f32::NAN),
        mask_of("negative.npy", -0.5),
    );
    let none: &[&str] = &[];
    let inpaint = |mask: &str, extra: &[&str]| {
        let mut args: Vec<&str> = vec![
            "inpaint",
            "--model",
            &tiny,
            "--input",
            &x0,
            "--mask",
            mask,
            "--steps",
            "2",
            "--backend",
            "cpu",
            "--out",
            &out,
        ];
        args.extend_from_slice(extra);
        dp(&args)
    };
    for (mask, extra, needle) in [
        (
            &mask,
            &["--resample", "0"][..],
            "inpainting's resample count is 0: use 1 (no resampling) to 100",
        ),
        (
            &mask,
            &["--resample", "101"][..],
            "inpainting's resample count is 101",
        ),
        (
            &mask,
            &["--sampler", "dpmpp2m"][..],
            "`--sampler` is `dpmpp2m`, which is not one of ddim, ddpm",
        ),
        (
            &mask,
            &["--sampler", "ddpm", "--eta", "0.5"][..],
            "`--eta` only applies to DDIM, but --sampler is ddpm",
        ),
        (&mask, &["--eta", "2"][..], "eta"),
        (&mask_two, none, "a mask value is 2: use numbers in [0, 1]"),
        (
            &mask_nan,
            none,
            "a mask value is NaN: use numbers in [0, 1]",
        ),
        (&mask_negative, none, "a mask value is -0.5"),
    ] {
        fails(&inpaint(mask, extra), 2, needle);
    }
    // A mask of another image size or with channels: the shape that would fit is named.
    let wrong = tmp.path("wrong.npy");
    std::fs::write(&wrong, npy::write(&[1, 3, 16, 16], &vec![1.0; 3 * 256])).unwrap();
    fails(
        &inpaint(&wrong, &[]),
        2,
        "has shape (1, 3, 16, 16), but it must be (1, 1, 16, 16) or (2, 1, 16, 16)",
    );

    // Inversion: a non-finite pixel and a wrong image size are refused before any work.
    let nan_input = tmp.path("nan-x0.npy");
    let mut data = read(&x0).data;
    data[5] = f32::NAN;
    std::fs::write(&nan_input, npy::write(&[2, 3, 16, 16], &data)).unwrap();
    let small = tmp.path("small.npy");
    std::fs::write(&small, npy::write(&[1, 3, 8, 8], &[0.0; 3 * 64])).unwrap();
    let xt = tmp.path("xT.npy");
    let invert = |input: &str, extra: &[&str]| {
        let mut args: Vec<&str> = vec![
            "invert",
            "--model",
            &tiny,
            "--input",
            input,
            "--backend",
            "cpu",
            "--out",
            &xt,
        ];
        args.extend_from_slice(extra);
        dp(&args)
    };
    fails(
        &invert(&nan_input, &[]),
        2,
        "holds a non-finite value (NaN)",
    );
    fails(
        &invert(&small, &[]),
        2,
        "has shape (1, 3, 8, 8), but this model works on (B, 3, 16, 16)",
    );
    fails(
        &invert(&x0, &["--steps", "0"]),
        2,
        "num_inference_steps is 0",
    );
    fails(
        &invert(&x0, &["--steps", "1001"]),
        2,
        "num_inference_steps is 1001, but it must be between 1 and num_train_timesteps = 1000",
    );
}

/// Every other fixture checkpoint (and other prediction types through `--scheduler-config`):
/// (model folder, channels, side, prediction_type to force).
const OTHER_CHECKPOINTS: &[(&str, usize, usize, Option<&str>)] = &[
    // Four levels, attention in the mid block, freq_shift 1.
    ("models/cifar_topology", 3, 16, None),
    // One channel, 12x12, several heads, center_input_sample.
    ("models/multihead_gray", 1, 12, None),
    // A pipeline folder (unet/ + scheduler/) with a DDIMScheduler config.
    ("models/nested_layout", 3, 8, None),
    // BF16 weights and no scheduler_config.json (DDPMScheduler's defaults).
    ("models/tiny_bf16", 3, 16, None),
    ("models/multihead_gray", 1, 12, Some("v_prediction")),
    ("models/cifar_topology", 3, 16, Some("sample")),
];

#[test]
fn the_four_commands_run_on_every_fixture_checkpoint() {
    let tmp = TempDir::new("smoke");
    let started = std::time::Instant::now();
    for (n, &(model, c, side, prediction)) in OTHER_CHECKPOINTS.iter().enumerate() {
        let dir = fixture(model);
        let label = format!("{model} ({})", prediction.unwrap_or("its own config"));
        let file = |name: &str| tmp.path(&format!("{n}-{name}"));
        let mut common: Vec<String> = vec!["--model".into(), dir.clone()];
        if let Some(prediction) = prediction {
            let own = std::path::Path::new(&dir).join("scheduler_config.json");
            let mut config: serde_json::Value = std::fs::read_to_string(&own)
                .map(|t| serde_json::from_str(&t).unwrap())
                .unwrap_or_else(|_| serde_json::json!({}));
            config["prediction_type"] = prediction.into();
            let path = file("scheduler_config.json");
            std::fs::write(&path, config.to_string()).unwrap();
            common.extend(["--scheduler-config".into(), path]);
        }
        common.extend(["--backend".into(), "cpu".into()]);
        let run = |args: &[&str]| {
            let mut all: Vec<&str> = args.to_vec();
            all.extend(common.iter().map(String::as_str));
            ok(&dp(&all))
        };
        let check = |what: &str, path: &str, shape: [usize; 4]| {
            let a = read(path);
            assert_eq!(a.shape, shape, "{label} {what}: shape");
            assert!(
                a.data.iter().all(|v| v.is_finite()),
                "{label} {what}: non-finite values"
            );
            a
        };
        let shape = [2, c, side, side];

        let sampled = file("dpm.npy");
        run(&[
            "sample",
            "--sampler",
            "dpmpp2m",
            "--steps",
            "3",
            "--batch",
            "2",
            "--save-npy",
            &sampled,
        ]);
        check("dp sample --sampler dpmpp2m", &sampled, shape);

        // An x0 in [-1, 1] with some structure.
        let x0: Vec<f32> = (0..2 * c * side * side)
            .map(|i| ((i as f32) * 0.37).sin() * 0.9)
            .collect();
        let x0_path = file("x0.npy");
        std::fs::write(&x0_path, npy::write(&shape, &x0)).unwrap();
        let (x_t, back) = (file("xT.npy"), file("back.npy"));
        let invert = [
            "invert",
            "--input",
            &x0_path,
            "--steps",
            "3",
            "--out",
            &x_t,
            "--reconstruct",
            &back,
        ];
        if prediction == Some("sample") {
            // Inversion's first step starts at alpha-bar 1 (set_alpha_to_one), where a sample
            // prediction's noise estimate (x - x0) / sqrt(1 - alpha-bar) divides by 0:
            // diffusers' DDIMInverseScheduler returns inf there; dp refuses the plan.
            let mut all: Vec<&str> = invert.to_vec();
            all.extend(common.iter().map(String::as_str));
            let out = dp(&all);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{label}: {stderr}");
            assert!(
                stderr.contains("step 0 (timestep 0) has a non-finite `eps_from_sample`"),
                "{label}: {stderr}"
            );
        } else {
            run(&invert);
            check("dp invert", &x_t, shape);
            check("dp invert --reconstruct", &back, shape);
        }

        let frames = file("frames.npy");
        let strip = file("strip.png");
        run(&[
            "interpolate",
            "--seeds",
            "1,2",
            "--frames",
            "3",
            "--steps",
            "2",
            "--out",
            &strip,
            "--save-npy",
            &frames,
        ]);
        check("dp interpolate", &frames, [3, c, side, side]);
        assert!(std::fs::metadata(&strip).unwrap().len() > 0);

        let mut mask = vec![0.0f32; side * side];
        for (i, m) in mask.iter_mut().enumerate() {
            if i % side < side / 2 {
                *m = 1.0;
            }
        }
        let mask_path = file("mask.npy");
        std::fs::write(&mask_path, npy::write(&[1, 1, side, side], &mask)).unwrap();
        let filled = file("filled.npy");
        let stdout = run(&[
            "inpaint",
            "--input",
            &x0_path,
            "--mask",
            &mask_path,
            "--sampler",
            "ddpm",
            "--steps",
            "3",
            "--resample",
            "2",
            "--seed",
            "5",
            "--save-npy",
            &filled,
        ]);
        assert!(
            stdout.contains("network evaluations 5"),
            "{label}: {stdout}"
        );
        let filled = check("dp inpaint", &filled, shape);
        let plane = side * side;
        let (mut known, mut hole) = (0.0f32, 0.0f32);
        for (i, (&got, &want)) in filled.data.iter().zip(&x0).enumerate() {
            if mask[i % plane] == 1.0 {
                known = known.max((got - want).abs());
            } else {
                hole = hole.max((got - want).abs());
            }
        }
        // DDPM's last step lands on alpha-bar 1, where the known pixels' draw is x_0 itself.
        assert!(
            known <= 1e-6,
            "{label}: inpainting moved a known pixel by {known}"
        );
        assert!(hole > 1e-2, "{label}: inpainting left the hole at x0");
    }
    eprintln!(
        "{} checkpoints x 4 commands in {:.1} s",
        OTHER_CHECKPOINTS.len(),
        started.elapsed().as_secs_f64()
    );
}
