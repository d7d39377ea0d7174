//! Sampling loops against diffusers: a DDIM (eta = 0) trajectory from a fixed x_T, step by step,
//! on every executor (GPU and CPU reference, through the one `Executor` trait); and GPU vs CPU
//! agreement for the stochastic samplers with the seeded noise.

mod common;

use common::{assert_close, fixture, gpu, read_npy};
use diffusion_playground::exec::cpu::CpuExecutor;
use diffusion_playground::exec::gpu::{GpuExecutor, GpuWeights};
use diffusion_playground::exec::reference;
use diffusion_playground::exec::{Executor, View};
use diffusion_playground::gpu::Gpu;
use diffusion_playground::model::{Checkpoint, UNet};
use diffusion_playground::sampler;
use diffusion_playground::scheduler::{DdpmVariance, Plan, Sampler, Schedule, SchedulerConfig};
use std::rc::Rc;

fn gpu_executor(gpu: &Rc<Gpu>, unet: &UNet, batch: usize) -> GpuExecutor {
    // Dropped weights free their GPU buffers, which the executor's dispatches bind: a test's
    // executor keeps them for the rest of the process.
    let weights: &'static GpuWeights = Box::leak(Box::new(GpuWeights::upload(gpu, unet).unwrap()));
    GpuExecutor::new(gpu.clone(), weights, unet, batch).unwrap()
}

fn read(exec: &dyn Executor, view: View) -> Vec<f32> {
    pollster::block_on(exec.read(view)).unwrap()
}

fn run(
    exec: &dyn Executor,
    unet: &UNet,
    plan: &Plan,
    x_t: &[f32],
    seed: u64,
) -> sampler::Trajectory {
    pollster::block_on(sampler::run(exec, unet, plan, x_t, seed, true))
        .unwrap()
        .1
}

fn tiny() -> Checkpoint {
    Checkpoint::from_dir(&fixture("models/tiny")).unwrap()
}

fn trajectory_schedule(dir: &str) -> Schedule {
    let text = std::fs::read_to_string(fixture(&format!("{dir}/scheduler_config.json"))).unwrap();
    Schedule::new(&SchedulerConfig::from_json_str(&text).unwrap()).unwrap()
}

/// Tolerance for a trajectory whose values reach `max_ref` (the unclipped random-model run
/// reaches |x| ~ 240, amplifying float rounding by the 1/sqrt(alpha_bar) of early steps).
fn tol(max_ref: f32) -> f32 {
    1e-3 + 1e-4 * max_ref
}

fn check_trajectory(dir: &str) {
    let ckpt = tiny();
    let unet = &ckpt.unet;
    let schedule = trajectory_schedule(dir);
    let plan = schedule.plan(Sampler::Ddim { eta: 0.0 }, 10).unwrap();
    let want_t: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture(&format!("{dir}/timesteps.json"))).unwrap(),
    )
    .unwrap();
    let want_t: Vec<u32> = want_t["timesteps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    assert_eq!(plan.timesteps, want_t, "{dir}: timesteps");

    let x_t = read_npy(&format!("{dir}/x_T.npy"));
    let xs = read_npy(&format!("{dir}/x_t_steps.npy"));
    let x0s = read_npy(&format!("{dir}/x0_steps.npy"));
    let batch = x_t.shape[0];
    let len = x_t.data.len();

    let gpu = Rc::new(gpu());
    let executors: [Box<dyn Executor>; 3] = [
        Box::new(gpu_executor(&gpu, unet, batch)),
        Box::new(CpuExecutor::new(unet, batch).unwrap()),
        Box::new(reference::executor(unet, batch).unwrap()),
    ];
    for exec in &executors {
        let who = exec.describe();
        let steps = run(exec.as_ref(), unet, &plan, &x_t.data, 0);
        assert_eq!(steps.len(), plan.timesteps.len());
        for (i, (got_x, got_x0)) in steps.iter().enumerate() {
            let want_x = &xs.data[i * len..(i + 1) * len];
            let want_x0 = &x0s.data[i * len..(i + 1) * len];
            let max_ref = want_x
                .iter()
                .chain(want_x0)
                .fold(0f32, |m, v| m.max(v.abs()));
            let tol = tol(max_ref);
            assert_close(
                &format!("{dir} {who} x_t after step {i}"),
                got_x,
                want_x,
                tol,
                0.0,
            );
            assert_close(
                &format!("{dir} {who} x0 at step {i}"),
                got_x0,
                want_x0,
                tol,
                0.0,
            );
        }
        let fin = read_npy(&format!("{dir}/final.npy"));
        let got = read(exec.as_ref(), View::Sample);
        let max_ref = fin.data.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert_close(
            &format!("{dir} {who} final"),
            &got,
            &fin.data,
            tol(max_ref),
            0.0,
        );
    }
}

#[test]
fn ddim_trajectory_matches_diffusers() {
    check_trajectory("ddim_trajectory");
}

#[test]
fn ddim_clipped_trajectory_matches_diffusers_to_1e3() {
    // With clip_sample the values stay within ~1.6, so the plain 1e-3 bound applies.
    let fin = read_npy("ddim_trajectory_clip/final.npy");
    assert!(tol(fin.data.iter().fold(0f32, |m, v| m.max(v.abs()))) <= 1.2e-3);
    check_trajectory("ddim_trajectory_clip");
}

#[test]
fn stochastic_samplers_agree_between_executors() {
    let ckpt = tiny();
    let unet = &ckpt.unet;
    let schedule = Schedule::new(&SchedulerConfig::default()).unwrap();
    let gpu = Rc::new(gpu());
    let batch = 2;
    let gpu_sampler = gpu_executor(&gpu, unet, batch);
    let cpu_sampler = CpuExecutor::new(unet, batch).unwrap();
    let reference = reference::executor(unet, batch).unwrap();
    for sampler in [&gpu_sampler as &dyn Executor, &cpu_sampler] {
        let per = sampler.sample_len() / batch;
        let who = sampler.describe();
        for s in [
            Sampler::Ddpm {
                variance: DdpmVariance::FixedSmall,
            },
            Sampler::Ddpm {
                variance: DdpmVariance::FixedLarge,
            },
            Sampler::Ddim { eta: 0.5 },
        ] {
            let plan = schedule.plan(s, 4).unwrap();
            let seed = 11;
            sampler.start(seed).unwrap();
            let x_t = read(sampler, View::Sample);
            assert_eq!(
                x_t,
                diffusion_playground::rng::initial_noise(seed, batch, per),
                "x_T is the seeded noise for {s:?}"
            );
            for i in 0..plan.timesteps.len() {
                sampler.step(unet, &plan, i, seed).unwrap();
            }
            let got = read(sampler, View::Sample);
            let (want, _) =
                pollster::block_on(sampler::run(&reference, unet, &plan, &x_t, seed, false))
                    .unwrap();
            assert_close(
                &format!("{s:?} final sample, {who} vs the reference"),
                &got,
                &want,
                1e-3,
                1e-4,
            );
            assert!(got.iter().all(|v| v.is_finite()));
        }
    }
}

#[test]
fn same_seed_same_start_and_rgba_grid() {
    let ckpt = tiny();
    let unet = &ckpt.unet;
    let gpu = Rc::new(gpu());
    let four = gpu_executor(&gpu, unet, 4);
    let one = gpu_executor(&gpu, unet, 1);
    four.start(3).unwrap();
    one.start(3).unwrap();
    let a = read(&four, View::Sample);
    let b = read(&one, View::Sample);
    assert_eq!(
        &a[..b.len()],
        &b[..],
        "image 0 of a batch of 4 is the batch-1 image"
    );
    let rgba = pollster::block_on(four.read_rgba(View::Sample)).unwrap();
    let (w, h) = four.grid_size();
    assert_eq!((w, h), (32, 32), "4 images of 16x16 make a 2x2 grid");
    assert_eq!(rgba.len(), w * h * 4);
    assert!(rgba.chunks(4).all(|p| p[3] == 255), "a full grid is opaque");
    // The CPU reference converts to the same bytes.
    let reference = reference::executor(unet, 4).unwrap();
    reference.start(3).unwrap();
    let cpu_rgba = pollster::block_on(reference.read_rgba(View::Sample)).unwrap();
    assert_eq!(rgba, cpu_rgba, "GPU and CPU RGBA grids of x_T");
}

#[test]
fn batch_of_64_runs_and_matches_batch_of_1() {
    let ckpt = tiny();
    let unet = &ckpt.unet;
    let gpu = Rc::new(gpu());
    let schedule = Schedule::new(&SchedulerConfig::default()).unwrap();
    let plan = schedule.plan(Sampler::Ddim { eta: 1.0 }, 2).unwrap();
    let mut finals = Vec::new();
    for batch in [64, 1] {
        let sampler = gpu_executor(&gpu, unet, batch);
        sampler.start(5).unwrap();
        for i in 0..2 {
            sampler.step(unet, &plan, i, 5).unwrap();
        }
        finals.push(read(&sampler, View::Sample));
    }
    let one = &finals[1];
    assert_close(
        "image 0 of batch 64 vs batch 1",
        &finals[0][..one.len()],
        one,
        1e-5,
        1e-5,
    );
    assert!(finals[0].iter().all(|v| v.is_finite()));
}

/// A batch split over CPU sessions (`part_of_batch`, as the page's workers split it) samples
/// the same images as one session of the whole batch: each part draws its images' own x_T and
/// step noise.
#[test]
fn cpu_batch_parts_equal_the_whole_batch() {
    let ckpt = tiny();
    let unet = &ckpt.unet;
    let schedule = Schedule::new(&SchedulerConfig::default()).unwrap();
    let plan = schedule
        .plan(
            Sampler::Ddpm {
                variance: DdpmVariance::FixedSmall,
            },
            5,
        )
        .unwrap();
    let seed = 5;
    let sample = |exec: &CpuExecutor| {
        exec.start(seed).unwrap();
        for i in 0..plan.timesteps.len() {
            exec.step(unet, &plan, i, seed).unwrap();
        }
        (read(exec, View::Sample), read(exec, View::PredictedX0))
    };
    let whole = sample(&CpuExecutor::new(unet, 5).unwrap());
    let mut joined = (Vec::new(), Vec::new());
    // Uneven parts, as 5 images over 3 workers: 2 + 2 + 1.
    for (first, count) in [(0, 2), (2, 2), (4, 1)] {
        let part = CpuExecutor::new(unet, count).unwrap().part_of_batch(first);
        let (x, x0) = sample(&part);
        joined.0.extend(x);
        joined.1.extend(x0);
    }
    assert_close("x_0 from the parts", &joined.0, &whole.0, 1e-5, 1e-5);
    assert_close("x̂_0 from the parts", &joined.1, &whole.1, 1e-5, 1e-5);
    let first_alone = CpuExecutor::new(unet, 1).unwrap();
    assert_ne!(
        sample(&first_alone).0,
        joined.0[joined.0.len() - joined.0.len() / 5..],
        "image 4 of the batch must not get image 0's noise"
    );
}
