//! Sampling loops against diffusers: a DDIM (eta = 0) trajectory from a fixed x_T, step by step,
//! on the GPU and on the CPU executor; and GPU vs CPU agreement for the stochastic samplers
//! with the seeded noise.

mod common;

use common::{assert_close, fixture, gpu, read_npy};
use diffusion_playground::model::Checkpoint;
use diffusion_playground::sampler::{cpu_sample, GpuSampler};
use diffusion_playground::scheduler::{DdpmVariance, Sampler, Schedule, SchedulerConfig};
use diffusion_playground::unet::GpuWeights;

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

    let gpu = gpu();
    let weights = GpuWeights::upload(&gpu, unet).unwrap();
    let sampler = GpuSampler::new(&gpu, &weights, unet, batch).unwrap();
    sampler.set_sample(&gpu, &x_t.data).unwrap();
    let (_, cpu_steps) = cpu_sample(unet, &plan, &x_t.data, 0, batch).unwrap();
    for (i, cpu_step) in cpu_steps.iter().enumerate() {
        sampler.step(&gpu, unet, &plan, i, 0).unwrap();
        let got_x = pollster::block_on(sampler.read_sample(&gpu)).unwrap();
        let got_x0 = pollster::block_on(sampler.read_x0(&gpu)).unwrap();
        let want_x = &xs.data[i * len..(i + 1) * len];
        let want_x0 = &x0s.data[i * len..(i + 1) * len];
        let max_ref = want_x
            .iter()
            .chain(want_x0)
            .fold(0f32, |m, v| m.max(v.abs()));
        assert_close(
            &format!("{dir} gpu x_t after step {i}"),
            &got_x,
            want_x,
            tol(max_ref),
            0.0,
        );
        assert_close(
            &format!("{dir} gpu x0 at step {i}"),
            &got_x0,
            want_x0,
            tol(max_ref),
            0.0,
        );
        assert_close(
            &format!("{dir} cpu x_t after step {i}"),
            &cpu_step.0,
            want_x,
            tol(max_ref),
            0.0,
        );
        assert_close(
            &format!("{dir} cpu x0 at step {i}"),
            &cpu_step.1,
            want_x0,
            tol(max_ref),
            0.0,
        );
    }
    let fin = read_npy(&format!("{dir}/final.npy"));
    let got = pollster::block_on(sampler.read_sample(&gpu)).unwrap();
    let max_ref = fin.data.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert_close(&format!("{dir} final"), &got, &fin.data, tol(max_ref), 0.0);
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
fn stochastic_samplers_agree_between_gpu_and_cpu() {
    let ckpt = tiny();
    let unet = &ckpt.unet;
    let schedule = Schedule::new(&SchedulerConfig::default()).unwrap();
    let gpu = gpu();
    let weights = GpuWeights::upload(&gpu, unet).unwrap();
    let batch = 2;
    let sampler = GpuSampler::new(&gpu, &weights, unet, batch).unwrap();
    let per = sampler.len() / batch;
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
        sampler.start(&gpu, seed).unwrap();
        let x_t = pollster::block_on(sampler.read_sample(&gpu)).unwrap();
        assert_eq!(
            x_t,
            diffusion_playground::rng::initial_noise(seed, batch, per),
            "x_T is the seeded noise for {s:?}"
        );
        for i in 0..plan.timesteps.len() {
            sampler.step(&gpu, unet, &plan, i, seed).unwrap();
        }
        let got = pollster::block_on(sampler.read_sample(&gpu)).unwrap();
        let (want, _) = cpu_sample(unet, &plan, &x_t, seed, batch).unwrap();
        assert_close(
            &format!("{s:?} final sample, gpu vs cpu"),
            &got,
            &want,
            1e-3,
            1e-4,
        );
        assert!(got.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn same_seed_same_start_and_rgba_grid() {
    let ckpt = tiny();
    let unet = &ckpt.unet;
    let gpu = gpu();
    let weights = GpuWeights::upload(&gpu, unet).unwrap();
    let four = GpuSampler::new(&gpu, &weights, unet, 4).unwrap();
    let one = GpuSampler::new(&gpu, &weights, unet, 1).unwrap();
    four.start(&gpu, 3).unwrap();
    one.start(&gpu, 3).unwrap();
    let a = pollster::block_on(four.read_sample(&gpu)).unwrap();
    let b = pollster::block_on(one.read_sample(&gpu)).unwrap();
    assert_eq!(
        &a[..b.len()],
        &b[..],
        "image 0 of a batch of 4 is the batch-1 image"
    );
    let rgba =
        pollster::block_on(four.read_rgba(&gpu, diffusion_playground::sampler::View::Sample))
            .unwrap();
    let (w, h) = four.grid_size();
    assert_eq!((w, h), (32, 32), "4 images of 16x16 make a 2x2 grid");
    assert_eq!(rgba.len(), w * h * 4);
    assert!(rgba.chunks(4).all(|p| p[3] == 255), "a full grid is opaque");
}

#[test]
fn batch_of_64_runs_and_matches_batch_of_1() {
    let ckpt = tiny();
    let unet = &ckpt.unet;
    let gpu = gpu();
    let weights = GpuWeights::upload(&gpu, unet).unwrap();
    let schedule = Schedule::new(&SchedulerConfig::default()).unwrap();
    let plan = schedule.plan(Sampler::Ddim { eta: 1.0 }, 2).unwrap();
    let mut finals = Vec::new();
    for batch in [64, 1] {
        let sampler = GpuSampler::new(&gpu, &weights, unet, batch).unwrap();
        sampler.start(&gpu, 5).unwrap();
        for i in 0..2 {
            sampler.step(&gpu, unet, &plan, i, 5).unwrap();
        }
        finals.push(pollster::block_on(sampler.read_sample(&gpu)).unwrap());
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
