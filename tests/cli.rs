//! The `dp` binary end to end: results against the diffusers fixtures, the pictures it writes,
//! and its errors (a message naming the problem, a non-zero exit code, never a panic).

use diffusion_playground::npy;
use diffusion_playground::ops::ToRgba8;
use std::path::{Path, PathBuf};
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

/// A fresh folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("dp-cli-{}-{n}-{name}", std::process::id()));
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

fn dp_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dp"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("failed to start dp")
}

fn dp(args: &[&str]) -> Output {
    dp_in(&root(), args)
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts success and returns stdout.
fn ok(out: &Output) -> String {
    let (stdout, stderr) = text(out);
    assert!(
        out.status.success(),
        "dp failed ({:?})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    stdout
}

/// Asserts a clean failure with exit code `code` whose `error:` message mentions every needle.
fn fails(out: &Output, code: i32, needles: &[&str]) {
    let (stdout, stderr) = text(out);
    let all = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(!all.contains("panicked"), "dp panicked\n{all}");
    assert_eq!(out.status.code(), Some(code), "wrong exit code\n{all}");
    let message: String = stderr
        .lines()
        .filter(|l| l.starts_with("error: ") || l.starts_with("hint: "))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(message.contains("error: "), "no `error:` line\n{all}");
    assert!(message.contains("hint: "), "no `hint:` line\n{all}");
    for needle in needles {
        assert!(
            message.to_lowercase().contains(&needle.to_lowercase()),
            "the message does not mention `{needle}`\n{all}"
        );
    }
}

fn read_npy(path: &str) -> npy::Array {
    npy::read(&std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

fn max_abs(a: &[f32]) -> f32 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// |got - want| <= tol everywhere, with the shapes equal.
fn assert_close(what: &str, got: &npy::Array, want: &npy::Array, tol: f32) {
    assert_eq!(got.shape, want.shape, "{what}: shape");
    let worst = got
        .data
        .iter()
        .zip(&want.data)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0f32, |m, d| if d.is_nan() { f32::NAN } else { m.max(d) });
    assert!(worst <= tol, "{what}: max |diff| {worst} > tolerance {tol}");
}

fn png_rgba(path: &str) -> (u32, u32, Vec<u8>) {
    let file = std::io::BufReader::new(
        std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}")),
    );
    let mut reader = png::Decoder::new(file).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "{path}");
    assert_eq!(info.color_type, png::ColorType::Rgba, "{path}");
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

fn fixture_timestep(model: &str) -> String {
    let text = std::fs::read_to_string(fixture(&format!("models/{model}/timestep.json"))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["timestep"].as_i64().unwrap().to_string()
}

fn forward_matches_expected(extra: &[&str]) {
    let tmp = TempDir::new("forward");
    let out = tmp.path("eps.npy");
    let model = fixture("models/cifar_topology");
    let input = fixture("models/cifar_topology/input.npy");
    let t = fixture_timestep("cifar_topology");
    let mut args = vec![
        "forward",
        "--model",
        &model,
        "--input",
        &input,
        "--timestep",
        &t,
        "--out",
        &out,
    ];
    args.extend_from_slice(extra);
    let stdout = ok(&dp(&args));
    assert!(stdout.contains("ms"), "no timing in\n{stdout}");
    let want = read_npy(&fixture("models/cifar_topology/expected.npy"));
    assert_close("forward", &read_npy(&out), &want, 1e-3);
}

#[test]
fn forward_on_the_gpu_matches_diffusers() {
    forward_matches_expected(&[]);
}

#[test]
fn forward_on_the_cpu_matches_diffusers() {
    forward_matches_expected(&["--cpu"]);
}

/// DDIM eta 0 from the fixture's x_T with the fixture's scheduler config; returns (got, want).
fn ddim_run(trajectory: &str, backend: &str) -> (npy::Array, npy::Array) {
    ddim_run_with(trajectory, backend, &[])
}

fn ddim_run_with(trajectory: &str, backend: &str, extra: &[&str]) -> (npy::Array, npy::Array) {
    let tmp = TempDir::new("ddim");
    let out = tmp.path("final.npy");
    let model = fixture("models/tiny");
    let config = fixture(&format!("{trajectory}/scheduler_config.json"));
    let x_t = fixture(&format!("{trajectory}/x_T.npy"));
    let mut args = vec![
        "sample",
        "--model",
        &model,
        "--scheduler-config",
        &config,
        "--sampler",
        "ddim",
        "--eta",
        "0",
        "--steps",
        "10",
        "--init-noise",
        &x_t,
        "--backend",
        backend,
        "--save-npy",
        &out,
    ];
    args.extend_from_slice(extra);
    let stdout = ok(&dp(&args));
    assert!(
        stdout.contains("step 10/10"),
        "no per-step timing in\n{stdout}"
    );
    assert!(stdout.contains("ms/step"), "no summary in\n{stdout}");
    (
        read_npy(&out),
        read_npy(&fixture(&format!("{trajectory}/final.npy"))),
    )
}

#[test]
fn ddim_sampling_matches_diffusers_unclipped() {
    let (got, want) = ddim_run("ddim_trajectory", "gpu");
    // |x| reaches ~240 here and eps errors are amplified by 1/sqrt(abar): relative tolerance.
    let tol = 1e-4 * max_abs(&want.data) + 1e-3;
    assert_close("ddim_trajectory final", &got, &want, tol);
}

#[test]
fn ddim_sampling_matches_diffusers_clipped() {
    let (got, want) = ddim_run("ddim_trajectory_clip", "gpu");
    assert_close("ddim_trajectory_clip final", &got, &want, 1e-3);
}

#[test]
fn ddim_with_use_clipped_model_output_matches_diffusers() {
    // `--clip recompute`: diffusers' DDIMScheduler.step(..., use_clipped_model_output=True).
    for backend in ["gpu", "cpu"] {
        let (got, want) = ddim_run_with(
            "ddim_trajectory_clip_recompute",
            backend,
            &["--clip", "recompute"],
        );
        assert_close(
            &format!("ddim_trajectory_clip_recompute final ({backend})"),
            &got,
            &want,
            1e-3,
        );
    }
    // Without it the same x_T and config give diffusers' default step, a different image.
    let (plain, recompute) = ddim_run_with("ddim_trajectory_clip_recompute", "cpu", &[]);
    let differs = plain
        .data
        .iter()
        .zip(&recompute.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(differs > 1e-2, "recompute changed nothing ({differs})");
    // Off overrides the config's clip_sample: the unclipped trajectory's image.
    let (off, _) = ddim_run_with("ddim_trajectory_clip", "cpu", &["--clip", "off"]);
    let (_, unclipped) = ddim_run_with("ddim_trajectory", "cpu", &[]);
    assert_close(
        "--clip off vs clip_sample: false",
        &off,
        &unclipped,
        1e-4 * max_abs(&unclipped.data) + 1e-3,
    );
    fails(
        &dp(&[
            "sample",
            "--sampler",
            "dpmpp2m",
            "--clip",
            "recompute",
            "--save-npy",
            "x.npy",
        ]),
        2,
        &["does not apply"],
    );
}

#[test]
fn the_cpu_backend_matches_diffusers_and_the_gpu() {
    let (got, want) = ddim_run("ddim_trajectory_clip", "cpu");
    assert_close(
        "ddim_trajectory_clip final (--backend cpu)",
        &got,
        &want,
        1e-3,
    );
    // A stochastic sampler: every backend draws the same seeded noise.
    let tmp = TempDir::new("backends");
    let mut finals = Vec::new();
    for (backend, device) in [
        ("gpu", "GPU:"),
        ("cpu", "CPU ("),
        ("reference", "CPU reference"),
    ] {
        let out = tmp.path(&format!("{backend}.npy"));
        let stdout = ok(&dp(&[
            "sample",
            "--model",
            &fixture("models/tiny"),
            "--sampler",
            "ddpm",
            "--steps",
            "3",
            "--seed",
            "5",
            "--batch",
            "2",
            "--backend",
            backend,
            "--save-npy",
            &out,
        ]));
        assert!(
            stdout.contains(device),
            "--backend {backend} does not say where it ran:\n{stdout}"
        );
        finals.push(read_npy(&out));
    }
    for (other, name) in finals[1..].iter().zip(["cpu", "reference"]) {
        assert_close(
            &format!("DDPM 3 steps, --backend gpu vs {name}"),
            &finals[0],
            other,
            1e-3,
        );
    }
    fails(
        &dp(&[
            "sample",
            "--model",
            &fixture("models/tiny"),
            "--backend",
            "tpu",
            "--out",
            "x.png",
        ]),
        2,
        &["--backend", "gpu", "cpu", "reference"],
    );
}

#[test]
fn sample_writes_a_grid_and_a_trajectory_strip() {
    let tmp = TempDir::new("png");
    let (grid, strip, x) = (
        tmp.path("grid.png"),
        tmp.path("strip.png"),
        tmp.path("x.npy"),
    );
    let model = fixture("models/tiny");
    let stdout = ok(&dp(&[
        "sample",
        "--model",
        &model,
        "--steps",
        "12",
        "--batch",
        "5",
        "--seed",
        "3",
        "--out",
        &grid,
        "--trajectory",
        &strip,
        "--save-npy",
        &x,
    ]));
    assert!(stdout.contains("step 12/12"), "{stdout}");

    // 5 images of 16x16: 3 columns x 2 rows, upscaled 4x to 64 px per image.
    let (w, h, pixels) = png_rgba(&grid);
    assert_eq!((w, h), (3 * 64, 2 * 64));
    // The grid is the saved final x through diffusers' float -> u8 mapping.
    let x = read_npy(&x);
    assert_eq!(x.shape, vec![5, 3, 16, 16]);
    let layout = ToRgba8::new([5, 3, 16, 16]).unwrap();
    let mut want = vec![0u32; layout.output_len()];
    layout.cpu(&x.data, &mut want);
    for y in 0..h as usize {
        for x in 0..w as usize {
            let got = &pixels[(y * w as usize + x) * 4..][..4];
            let want = want[(y / 4) * layout.width() + x / 4].to_le_bytes();
            assert_eq!(got, want, "grid pixel ({x}, {y})");
        }
    }

    // 12 steps -> 10 columns; two rows; 64 px cells with 2 px gaps.
    let (w, h, _) = png_rgba(&strip);
    assert_eq!((w, h), (10 * 64 + 9 * 2, 2 * 64 + 2));
}

#[test]
fn sample_with_ddpm_and_one_step_works() {
    let tmp = TempDir::new("ddpm");
    let grid = tmp.path("g.png");
    let strip = tmp.path("s.png");
    let model = fixture("models/multihead_gray");
    let stdout = ok(&dp(&[
        "sample",
        "--model",
        &model,
        "--sampler",
        "ddpm",
        "--variance",
        "fixed_large",
        "--steps",
        "1",
        "--out",
        &grid,
        "--trajectory",
        &strip,
    ]));
    assert!(stdout.contains("DDPM (fixed_large)"), "{stdout}");
    // One 12x12 grey image, upscaled 6x to 72 px.
    assert_eq!(png_rgba(&grid).0, 72);
    let (w, h, _) = png_rgba(&strip);
    assert_eq!((w, h), (72, 2 * 72 + 2));
}

#[test]
fn cell_px_sets_the_size_of_each_image() {
    let tmp = TempDir::new("cellpx");
    let (grid, strip) = (tmp.path("g.png"), tmp.path("s.png"));
    let model = fixture("models/tiny");
    let sample = |cell: &str| {
        ok(&dp(&[
            "sample",
            "--model",
            &model,
            "--steps",
            "2",
            "--batch",
            "2",
            "--cell-px",
            cell,
            "--out",
            &grid,
            "--trajectory",
            &strip,
        ]))
    };
    // 16x16 images: 256 px is 16x; 40 px rounds up to 3x (48 px); 1 px keeps them as they are.
    for (cell, px) in [("256", 256), ("40", 48), ("1", 16)] {
        sample(cell);
        assert_eq!(png_rgba(&grid).0, 2 * px, "--cell-px {cell}: grid width");
        assert_eq!(
            png_rgba(&strip).1,
            2 * px + 2,
            "--cell-px {cell}: strip height"
        );
    }
}

#[test]
fn info_describes_a_checkpoint() {
    let model = fixture("models/tiny");
    let stdout = ok(&dp(&["info", "--model", &model]));
    for needle in [
        "177,091",
        "F32",
        "(3, 16, 16)",
        "DDPMScheduler",
        "clip_sample true",
    ] {
        assert!(stdout.contains(needle), "`{needle}` missing from\n{stdout}");
    }
    let model = fixture("models/tiny_f16");
    let stdout = ok(&dp(&["info", "--model", &model]));
    assert!(stdout.contains("F16"), "{stdout}");
    assert!(stdout.contains("DDPMScheduler defaults"), "{stdout}");
}

#[test]
fn help_is_printed() {
    for args in [
        &["--help"][..],
        &["help"],
        &["help", "sample"],
        &["sample", "--help"],
        &["forward", "-h"],
    ] {
        let stdout = ok(&dp(args));
        assert!(stdout.contains("Usage"), "{args:?}: {stdout}");
    }
    let stdout = ok(&dp(&["sample", "--help"]));
    for flag in [
        "--scheduler-config",
        "--init-noise",
        "--trajectory",
        "--save-npy",
        "--variance",
    ] {
        assert!(stdout.contains(flag), "{flag} not in sample --help");
    }
}

#[test]
fn missing_model_folder_is_named() {
    let tmp = TempDir::new("missing");
    let missing = tmp.path("no-such-model");
    fails(
        &dp(&["sample", "--model", &missing, "--out", &tmp.path("g.png")]),
        1,
        &["no-such-model", "--model"],
    );
    fails(
        &dp(&["info", "--model", &missing]),
        1,
        &["no-such-model", "does not exist"],
    );
    // Without --model the default is used, and the message says so.
    fails(&dp_in(&tmp.0, &["info"]), 1, &["models/emoji32", "--model"]);
}

#[test]
fn pickled_weights_are_refused_with_a_safetensors_hint() {
    let tmp = TempDir::new("bin-only");
    std::fs::copy(
        fixture("models/tiny/config.json"),
        tmp.0.join("config.json"),
    )
    .unwrap();
    std::fs::write(tmp.0.join("diffusion_pytorch_model.bin"), b"").unwrap();
    let dir = tmp.0.display().to_string();
    fails(
        &dp(&["sample", "--model", &dir, "--out", &tmp.path("g.png")]),
        1,
        &["safetensors", ".bin"],
    );
    fails(&dp(&["info", "--model", &dir]), 1, &["safetensors"]);
}

#[test]
fn bad_numbers_are_refused() {
    let tmp = TempDir::new("numbers");
    let model = fixture("models/tiny");
    let out = tmp.path("g.png");
    let sample = |extra: &[&str]| {
        let mut args = vec!["sample", "--model", &model, "--out", &out];
        args.extend_from_slice(extra);
        dp(&args)
    };
    fails(&sample(&["--steps", "0"]), 2, &["--steps"]);
    fails(&sample(&["--steps", "1001"]), 2, &["1001", "1000"]);
    fails(&sample(&["--steps", "ten"]), 2, &["--steps", "ten"]);
    fails(&sample(&["--eta", "2"]), 2, &["--eta", "[0, 1]"]);
    fails(&sample(&["--eta", "nan"]), 2, &["--eta"]);
    fails(&sample(&["--seed", "-1"]), 2, &["--seed"]);
    fails(&sample(&["--batch", "0"]), 2, &["--batch"]);
    fails(&sample(&["--cell-px", "0"]), 2, &["--cell-px", "1 to 4096"]);
    fails(&sample(&["--cell-px", "big"]), 2, &["--cell-px", "big"]);
    fails(&sample(&["--sampler", "euler"]), 2, &["--sampler", "euler"]);
    fails(
        &sample(&["--sampler", "ddpm", "--eta", "0.5"]),
        2,
        &["--eta", "ddpm"],
    );
    assert!(
        !Path::new(&out).exists(),
        "a refused command wrote its output"
    );
}

#[test]
fn bad_command_lines_are_refused() {
    let model = fixture("models/tiny");
    fails(&dp(&[]), 2, &["command"]);
    fails(&dp(&["sampel"]), 2, &["sampel", "dp sample"]);
    fails(
        &dp(&["sample", "--model", &model, "--bogus", "1"]),
        2,
        &["--bogus"],
    );
    fails(
        &dp(&["sample", "--model", &model, "--stpes", "5"]),
        2,
        &["--stpes", "--steps"],
    );
    fails(
        &dp(&["sample", "--model", &model, "--out"]),
        2,
        &["--out", "value"],
    );
    fails(&dp(&["sample", "--model", &model]), 2, &["--out"]);
    fails(
        &dp(&[
            "sample", "--model", &model, "--steps", "5", "--steps", "6", "--out", "x.png",
        ]),
        2,
        &["--steps"],
    );
    fails(
        &dp(&[
            "forward",
            "--model",
            &model,
            "--timestep",
            "1",
            "--out",
            "x.npy",
        ]),
        2,
        &["--input"],
    );
    fails(&dp(&["info", "stray"]), 2, &["stray"]);
}

#[test]
fn init_noise_of_the_wrong_shape_is_refused() {
    let tmp = TempDir::new("init-noise");
    let model = fixture("models/tiny");
    let out = tmp.path("g.png");
    let small = tmp.path("small.npy");
    std::fs::write(&small, npy::write(&[1, 3, 8, 8], &[0.0; 3 * 64])).unwrap();
    let flat = tmp.path("flat.npy");
    std::fs::write(&flat, npy::write(&[768], &[0.0; 768])).unwrap();
    let not_npy = fixture("models/tiny/config.json");
    let sample = |noise: &str, extra: &[&str]| {
        let mut args = vec![
            "sample",
            "--model",
            &model,
            "--out",
            &out,
            "--init-noise",
            noise,
        ];
        args.extend_from_slice(extra);
        dp(&args)
    };
    fails(&sample(&small, &[]), 2, &["(1, 3, 8, 8)", "(B, 3, 16, 16)"]);
    fails(&sample(&flat, &[]), 2, &["(768,)"]);
    fails(&sample(&not_npy, &[]), 1, &["config.json", ".npy"]);
    fails(
        &sample(&fixture("ddim_trajectory/x_T.npy"), &["--batch", "3"]),
        2,
        &["--batch", "2"],
    );
    // forward takes any size the downsamplings divide, but not 6x6 (tiny halves twice).
    let odd = tmp.path("odd.npy");
    std::fs::write(&odd, npy::write(&[1, 3, 6, 6], &[0.0; 3 * 36])).unwrap();
    fails(
        &dp(&[
            "forward",
            "--model",
            &model,
            "--input",
            &odd,
            "--timestep",
            "1",
            "--out",
            &tmp.path("e.npy"),
        ]),
        2,
        &["6x6", "divisible"],
    );
}

/// Copies the tiny fixture into `tmp/name` and edits one of its JSON files.
fn tiny_with(
    tmp: &TempDir,
    name: &str,
    file: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> String {
    let dir = tmp.0.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for f in [
        "config.json",
        "diffusion_pytorch_model.safetensors",
        "scheduler_config.json",
    ] {
        std::fs::copy(Path::new(&fixture("models/tiny")).join(f), dir.join(f)).unwrap();
    }
    let path = dir.join(file);
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&path, v.to_string()).unwrap();
    dir.display().to_string()
}

/// Issue 16's hostile command lines and folders: each is a clean failure (no panic, non-zero
/// status) whose message says what is wrong.
#[test]
fn hostile_inputs_fail_cleanly() {
    use serde_json::json;
    let tmp = TempDir::new("hostile");
    let model = fixture("models/tiny");
    let out = tmp.path("g.png");
    let sample = |model: &str, extra: &[&str]| {
        let mut args = vec!["sample", "--model", model, "--steps", "2", "--out", &out];
        args.extend_from_slice(extra);
        dp(&args)
    };
    fails(
        &sample(&model, &["--batch", "1025"]),
        2,
        &["--batch", "1025", "1 to 1024"],
    );

    let forward = |input: &str, t: &str| {
        dp(&[
            "forward",
            "--model",
            &model,
            "--input",
            input,
            "--timestep",
            t,
            "--out",
            &tmp.path("e.npy"),
        ])
    };
    let x = tmp.path("x.npy");
    std::fs::write(&x, npy::write(&[1, 3, 16, 16], &[0.0; 768])).unwrap();
    for t in ["nan", "inf", "-inf"] {
        fails(&forward(&x, t), 2, &["--timestep", "not a finite number"]);
    }
    for t in ["-1", "1000", "1e9"] {
        fails(&forward(&x, t), 2, &["--timestep", "0 <= t < 1000"]);
    }
    // Wrong input shapes.
    let shapes: [&[usize]; 4] = [
        &[3, 16, 16],
        &[1, 4, 16, 16],
        &[0, 3, 16, 16],
        &[1, 3, 16, 16, 1],
    ];
    for shape in shapes {
        let f = tmp.path("shape.npy");
        let len = shape.iter().product::<usize>();
        std::fs::write(&f, npy::write(shape, &vec![0.0; len])).unwrap();
        fails(&forward(&f, "10"), 2, &["--input", "(N, 3, H, W)"]);
    }
    // Malformed .npy files.
    let good = npy::write(&[1, 3, 16, 16], &[0.0; 768]);
    let mut past_end = good.clone();
    past_end[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
    let mut fortran = good.clone();
    let at = fortran.windows(5).position(|w| w == b"False").unwrap();
    fortran[at..at + 5].copy_from_slice(b"True ");
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("magic.npy", b"PK\x03\x04 not numpy".to_vec(), "bad magic"),
        ("cut.npy", good[..9].to_vec(), "bad magic"),
        ("past_end.npy", past_end, "header length"),
        ("fortran.npy", fortran, "fortran"),
        ("short.npy", good[..good.len() - 4].to_vec(), "truncated"),
    ];
    for (name, bytes, needle) in cases {
        let f = tmp.path(name);
        std::fs::write(&f, bytes).unwrap();
        fails(
            &forward(&f, "10"),
            1,
            &["--input", "not a usable .npy", needle],
        );
    }

    // Folders whose config or scheduler config is out of range.
    let levels = |n: usize, c: u64| {
        move |v: &mut serde_json::Value| {
            v["block_out_channels"] = json!(vec![c; n]);
            v["down_block_types"] = json!(vec!["DownBlock2D"; n]);
            v["up_block_types"] = json!(vec!["UpBlock2D"; n]);
        }
    };
    let folders: Vec<(String, Vec<&str>)> = vec![
        (
            tiny_with(&tmp, "big", "config.json", levels(3, 1 << 62)),
            vec!["block_out_channels[0]", "1 to 4096"],
        ),
        (
            tiny_with(&tmp, "deep", "config.json", levels(65, 8)),
            vec!["65 levels", "1 to 8"],
        ),
        (
            tiny_with(&tmp, "wide", "config.json", |v| {
                v["sample_size"] = json!(1u64 << 31)
            }),
            vec!["sample_size", "2147483648"],
        ),
        (
            tiny_with(&tmp, "wraps", "config.json", |v| {
                v["sample_size"] = json!(46340)
            }),
            vec!["sample_size", "46340"],
        ),
        (
            tiny_with(&tmp, "groups", "config.json", |v| {
                v["norm_num_groups"] = json!(0)
            }),
            vec!["norm_num_groups"],
        ),
        (
            tiny_with(&tmp, "heads", "config.json", |v| {
                v["attention_head_dim"] = json!(0)
            }),
            vec!["attention_head_dim"],
        ),
        (
            tiny_with(&tmp, "tiny_beta", "scheduler_config.json", |v| {
                v["beta_start"] = json!(1e-12)
            }),
            vec!["alphas_cumprod[0]", "beta_start"],
        ),
        (
            tiny_with(&tmp, "long", "scheduler_config.json", |v| {
                v["beta_end"] = json!(0.999);
                v["num_train_timesteps"] = json!(4000);
            }),
            vec!["alphas_cumprod[", "underflows"],
        ),
        (
            tiny_with(&tmp, "huge_t", "scheduler_config.json", |v| {
                v["num_train_timesteps"] = json!(1u64 << 25)
            }),
            vec!["num_train_timesteps"],
        ),
    ];
    for (dir, needles) in folders {
        fails(&sample(&dir, &[]), 1, &needles);
        fails(&dp(&["info", "--model", &dir]), 1, &needles[..1]);
    }
    assert!(
        !Path::new(&out).exists(),
        "a refused command wrote its output"
    );
}
