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
