//! Our side of the tables: the forward pass and a full sampling step on the native wgpu device
//! (and the time per op kind, each kind's dispatches run alone), and the same two on the CPU
//! executor.

use super::options::{ModelSpec, Options, PLAN_STEPS, SEED};
use super::report::{fmt_ms, median, Row, Share};
use super::BoxResult;
use diffusion_playground::exec::cpu::{CpuExecutor, CpuNet, Kernels};
use diffusion_playground::exec::gpu::{GpuExecutor, GpuWeights};
use diffusion_playground::exec::Executor;
use diffusion_playground::gpu::{Dispatch, Gpu};
use diffusion_playground::model::UNet;
use diffusion_playground::scheduler::{DdpmVariance, Sampler, Schedule, SchedulerConfig};
use std::rc::Rc;
use std::time::Instant;

pub fn measure_ours(
    gpu: &Rc<Gpu>,
    unet: &UNet,
    weights: &GpuWeights,
    spec: &ModelSpec,
    batch: usize,
    options: &Options,
) -> BoxResult<(Row, Option<Vec<Share>>)> {
    let exec = GpuExecutor::new(gpu.clone(), weights, unet, batch)?;
    let plan = Schedule::new(&SchedulerConfig::default())?.plan(
        Sampler::Ddpm {
            variance: DdpmVariance::FixedSmall,
        },
        PLAN_STEPS,
    )?;
    let net = &exec.net;
    let gflop = 2.0 * net.graph.macs() as f64 / 1e9;
    let dispatches: Vec<&Dispatch> = net.dispatches().map(|(_, d)| d).collect();
    let t = plan.timesteps[0] as f32;
    let forward = || -> BoxResult<()> {
        net.prepare(gpu, unet, t);
        gpu.run(&dispatches);
        exec.finish()?;
        Ok(())
    };

    eprintln!("{} batch {batch}: warm-up ...", spec.name);
    exec.start(SEED)?;
    exec.step(unet, &plan, 0, SEED)?;
    exec.finish()?;
    exec.start(SEED)?;
    exec.finish()?;

    let forward_ms = options.policy.measure(|_| forward())?;
    let median_forward = median(&forward_ms);
    eprintln!(
        "{} batch {batch}: forward {} ms ({} runs), {:.2} GFLOP/s",
        spec.name,
        fmt_ms(median_forward),
        forward_ms.len(),
        gflop / median_forward * 1e3
    );
    // Consecutive steps of a real run, from x_T.
    let step_ms = options.policy.measure(|i| {
        exec.step(unet, &plan, i, SEED)?;
        exec.finish()?;
        Ok(())
    })?;
    eprintln!(
        "{} batch {batch}: sampling step {} ms ({} runs)",
        spec.name,
        fmt_ms(median(&step_ms)),
        step_ms.len()
    );

    let shares = if options.shares && batch == options.batches[0] {
        Some(op_shares(gpu, &exec, unet, t)?)
    } else {
        None
    };
    Ok((
        Row {
            model: spec.name,
            params: unet.parameter_count(),
            batch,
            gflop,
            forward_ms,
            step_ms,
            torch_ms: None,
        },
        shares,
    ))
}

/// The CPU executor (`exec::cpu`, one thread): `CpuNet::forward` on a net built once (params
/// packed, tensors allocated), and `CpuExecutor::step` (forward + DDPM update with fresh step
/// noise) on consecutive steps of a 1000-step DDPM run from x_T. One warm-up forward and one
/// warm-up step first.
pub fn measure_cpu(
    unet: &UNet,
    spec: &ModelSpec,
    batch: usize,
    options: &Options,
) -> BoxResult<Row> {
    let plan = Schedule::new(&SchedulerConfig::default())?.plan(
        Sampler::Ddpm {
            variance: DdpmVariance::FixedSmall,
        },
        PLAN_STEPS,
    )?;
    let exec = CpuExecutor::new(unet, batch)?;
    let x_t = diffusion_playground::rng::initial_noise(SEED, batch, exec.sample_len() / batch);
    let mut net = CpuNet::new(unet, exec.graph().clone(), Kernels::Fast)?;
    let gflop = 2.0 * net.graph().macs() as f64 / 1e9;
    let t = plan.timesteps[0] as f32;

    eprintln!(
        "{} batch {batch}: CPU warm-up ({}) ...",
        spec.name,
        exec.describe()
    );
    net.forward(unet, &x_t, t)?;
    let forward_ms = options
        .policy
        .measure(|_| Ok(net.forward(unet, &x_t, t)?))?;
    let median_forward = median(&forward_ms);
    eprintln!(
        "{} batch {batch}: CPU forward {} ms ({} runs), {:.2} GFLOP/s",
        spec.name,
        fmt_ms(median_forward),
        forward_ms.len(),
        gflop / median_forward * 1e3
    );
    drop(net);

    exec.set_sample(&x_t)?;
    exec.step(unet, &plan, 0, SEED)?;
    exec.set_sample(&x_t)?;
    let step_ms = options
        .policy
        .measure(|i| Ok(exec.step(unet, &plan, i, SEED)?))?;
    eprintln!(
        "{} batch {batch}: CPU sampling step {} ms ({} runs)",
        spec.name,
        fmt_ms(median(&step_ms)),
        step_ms.len()
    );
    Ok(Row {
        model: spec.name,
        params: unet.parameter_count(),
        batch,
        gflop,
        forward_ms,
        step_ms,
        torch_ms: None,
    })
}

/// Runs each op kind's dispatches alone (one submit per kind, in graph order) and times it.
/// The data they read is whatever the buffers hold, which does not change the work done.
fn op_shares(gpu: &Gpu, exec: &GpuExecutor, unet: &UNet, t: f32) -> BoxResult<Vec<Share>> {
    let mut kinds: Vec<(String, Vec<&Dispatch>, u64)> = Vec::new();
    for (op, d) in exec.net.dispatches() {
        let kind = op.profile_kind();
        match kinds.iter_mut().find(|(k, _, _)| *k == kind) {
            Some((_, list, macs)) => {
                list.push(d);
                *macs += op.macs();
            }
            None => kinds.push((kind, vec![d], op.macs())),
        }
    }
    exec.net.prepare(gpu, unet, t);
    let mut shares = Vec::new();
    for (kind, list, macs) in kinds {
        let t0 = Instant::now();
        gpu.run(&list);
        exec.finish()?;
        shares.push(Share {
            kind,
            dispatches: list.len(),
            gflop: (macs > 0).then(|| 2.0 * macs as f64 / 1e9),
            ms: t0.elapsed().as_secs_f64() * 1e3,
        });
    }
    shares.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    Ok(shares)
}
