//! Every failure the engine's entry points report has a kind (`diffusion_playground::ErrorKind`),
//! which the web API turns into the JS error's `name` and the page switches on. These tests
//! cause each kind for real and check the kind and that the message says what to do.

mod common;

use common::{fixture, gpu};
use diffusion_playground::exec::gpu::{GpuExecutor, GpuWeights};
use diffusion_playground::exec::reference;
use diffusion_playground::exec::{Executor, View};
use diffusion_playground::gpu::GpuError;
use diffusion_playground::model::Checkpoint;
use diffusion_playground::scheduler::{Sampler, Schedule, SchedulerConfig};
use diffusion_playground::{Error, ErrorKind};
use std::rc::Rc;

fn kind(e: impl Into<Error>) -> (ErrorKind, String) {
    let e = e.into();
    (e.kind(), e.to_string())
}

#[test]
fn caller_mistakes_are_bad_input() {
    let ckpt = Checkpoint::from_dir(&fixture("models/tiny")).unwrap();
    let unet = &ckpt.unet;
    let schedule = Schedule::new(&SchedulerConfig::default()).unwrap();
    let plan = schedule.plan(Sampler::Ddim { eta: 0.0 }, 2).unwrap();
    let cases: Vec<(&str, Error)> = vec![
        ("batch 0", unet.graph(0).unwrap_err().into()),
        ("batch 1025", unet.graph(1025).unwrap_err().into()),
        (
            "0 steps",
            schedule
                .plan(Sampler::Ddim { eta: 0.0 }, 0)
                .unwrap_err()
                .into(),
        ),
        (
            "eta NaN",
            schedule
                .plan(Sampler::Ddim { eta: f32::NAN }, 5)
                .unwrap_err()
                .into(),
        ),
        ("unknown view", View::parse("noise").unwrap_err().into()),
    ];
    let exec = reference::executor(unet, 1).unwrap();
    let wrong_len = exec.set_sample(&[0.0; 5]).unwrap_err();
    let past_the_end = exec.step(unet, &plan, 2, 0).unwrap_err();
    for (what, e) in cases.into_iter().chain([
        ("x_T of the wrong length", wrong_len),
        ("step past the plan", past_the_end),
    ]) {
        let (k, msg) = kind(e);
        assert_eq!(k, ErrorKind::BadInput, "{what}: {msg}");
        assert_eq!(k.name(), "BadInput");
        assert!(msg.len() > 25, "{what}: message too short to act on: {msg}");
    }
}

#[test]
fn gpu_failures_have_their_kinds() {
    let gpu = Rc::new(gpu());
    // A buffer larger than the device allows: OutOfMemory, with the limit in the message.
    let huge = gpu.storage("huge", usize::MAX / 8).unwrap_err();
    assert!(matches!(huge, GpuError::BufferTooLarge { .. }), "{huge:?}");
    let (k, msg) = kind(huge);
    assert_eq!(
        (k, k.name()),
        (ErrorKind::OutOfMemory, "OutOfMemory"),
        "{msg}"
    );
    assert!(msg.contains("smaller batch"), "{msg}");

    // The same executor calls as on the page, with a wrong-length x_T: BadInput, not a GPU error.
    let ckpt = Checkpoint::from_dir(&fixture("models/tiny")).unwrap();
    let weights = GpuWeights::upload(&gpu, &ckpt.unet).unwrap();
    let exec = GpuExecutor::new(gpu.clone(), &weights, &ckpt.unet, 2).unwrap();
    let (k, msg) = kind(exec.set_sample(&[0.0; 3]).unwrap_err());
    assert_eq!(k, ErrorKind::BadInput, "{msg}");
    assert!(msg.contains("batch 2 of 3x16x16"), "{msg}");

    // The remaining kinds, by the GPU errors that carry them.
    for (e, want) in [
        (GpuError::NoAdapter("none".into()), ErrorKind::NoWebGpu),
        (
            GpuError::DeviceLost("destroyed".into()),
            ErrorKind::DeviceLost,
        ),
        (GpuError::OutOfMemory("oom".into()), ErrorKind::OutOfMemory),
        (GpuError::Validation("bug".into()), ErrorKind::Internal),
    ] {
        assert_eq!(Error::from(e).kind(), want);
    }
    let names: Vec<&str> = [
        ErrorKind::BadInput,
        ErrorKind::BadCheckpoint,
        ErrorKind::NoWebGpu,
        ErrorKind::DeviceLost,
        ErrorKind::OutOfMemory,
        ErrorKind::Internal,
    ]
    .map(ErrorKind::name)
    .to_vec();
    assert_eq!(
        names,
        [
            "BadInput",
            "BadCheckpoint",
            "NoWebGPU",
            "DeviceLost",
            "OutOfMemory",
            "Internal"
        ],
        "the names the page (www/) switches on"
    );
}

/// The adapter `common::gpu()` would use, with its storage bindings lowered to `limit` bytes,
/// as a smaller GPU (or a browser's default limits) would have them.
fn gpu_with_binding_limit(limit: u64) -> diffusion_playground::gpu::Gpu {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(wgpu::util::initialize_adapter_from_env_or_default(
        &instance, None,
    ))
    .expect("GPU tests need an adapter: apt-get install -y mesa-vulkan-drivers libvulkan1");
    let mut limits = adapter.limits();
    limits.max_storage_buffer_binding_size = limit;
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("lowered limits"),
        required_limits: limits,
        ..Default::default()
    }))
    .expect("a device with lowered limits");
    diffusion_playground::gpu::Gpu::from_device(device, queue, adapter.get_info())
}

#[test]
fn a_session_the_device_cannot_hold_is_refused_as_out_of_memory() {
    // 256 KiB per binding: the tiny model's weights and a batch-1 run fit, a batch of 64 (its
    // first feature map alone is 64 x 16 x 16 x 16 floats = 1 MiB) does not.
    const LIMIT: u64 = 256 << 10;
    let gpu = Rc::new(gpu_with_binding_limit(LIMIT));
    assert_eq!(gpu.max_buffer_bytes(), LIMIT);
    let ckpt = Checkpoint::from_dir(&fixture("models/tiny")).unwrap();
    let unet = &ckpt.unet;
    let weights = GpuWeights::upload(&gpu, unet).unwrap();
    let refused = GpuExecutor::new(gpu.clone(), &weights, unet, 64)
        .err()
        .expect("a batch of 64 under a 256 KiB binding limit was accepted");
    let (k, msg) = kind(refused);
    assert_eq!(
        (k, k.name()),
        (ErrorKind::OutOfMemory, "OutOfMemory"),
        "{msg}"
    );
    assert!(
        msg.contains(&LIMIT.to_string()),
        "the limit is not named: {msg}"
    );
    assert!(msg.contains("smaller batch"), "{msg}");
    // The device is still usable: a batch that fits samples as ever.
    let schedule = Schedule::new(&SchedulerConfig::default()).unwrap();
    let plan = schedule.plan(Sampler::Ddim { eta: 0.0 }, 2).unwrap();
    let exec = GpuExecutor::new(gpu.clone(), &weights, unet, 1).unwrap();
    exec.start(3).unwrap();
    for i in 0..2 {
        exec.step(unet, &plan, i, 3).unwrap();
    }
    let x = pollster::block_on(exec.read(View::Sample)).unwrap();
    assert_eq!(x.len(), 3 * 16 * 16);
    assert!(x.iter().all(|v| v.is_finite()));
    gpu.check().unwrap();
}
