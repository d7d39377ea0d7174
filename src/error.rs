//! The crate's error: one enum over the layers' own errors, each kept whole (so `source()`
//! walks the chain), and the [`ErrorKind`] a caller switches on — the page gets it as the JS
//! error's `name` (`src/web.rs`), the CLI as its message.

use crate::gpu::GpuError;
use crate::model::ModelError;
use crate::scheduler::SchedulerError;

/// Anything the engine's public entry points (executors, web API, CLI) can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error(transparent)]
    Input(#[from] InputError),
}

/// A caller's mistake: arguments the engine cannot work with. Messages say what is accepted.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{what} has {found} values but {expected} are needed ({shape})")]
    Length {
        what: &'static str,
        found: usize,
        expected: usize,
        /// The shape the values are for, e.g. "batch 2 of 3x32x32".
        shape: String,
    },
    #[error("step {index} is outside this run of {steps} steps: use 0..{steps}")]
    Step { index: usize, steps: usize },
    #[error("no run has been started: call start() before step()")]
    NotStarted,
    #[error("unknown {what} {found:?}: use {accepted}")]
    Unknown {
        what: &'static str,
        found: String,
        accepted: &'static str,
    },
    #[error("timestep {0} is not a finite number")]
    Timestep(f32),
    #[error("cannot draw {shape} as an image grid: {why}")]
    Grid { shape: String, why: String },
    #[error("a session can start at image {first} of a batch only on the CPU backend (this engine runs on {backend}); leave `first` out")]
    PartOfBatch { first: usize, backend: &'static str },
    #[error("no step has run since the run started: call step() before reading a step's parts")]
    NoStep,
    #[error("image {index} is outside this batch of {batch}: use 0..{batch}")]
    Image { index: usize, batch: usize },
    #[error("{what} is {found}: use {accepted}")]
    OutOfRange {
        what: &'static str,
        found: String,
        accepted: String,
    },
}

/// What kind of failure an [`Error`] is, for callers that react differently to each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller's arguments (batch size, steps, eta, lengths, names): fix the call.
    BadInput,
    /// The checkpoint's files are damaged, inconsistent or use unsupported features.
    BadCheckpoint,
    /// No WebGPU/Vulkan adapter or device could be had.
    NoWebGpu,
    /// The GPU device was lost (driver reset, tab in background too long, destroyed).
    DeviceLost,
    /// A buffer or dispatch is larger than the device allows, or memory ran out.
    OutOfMemory,
    /// Anything else (a bug, or a GPU error the engine did not expect).
    Internal,
}

impl ErrorKind {
    /// The stable name the web API gives the JS error (`err.name`).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::BadInput => "BadInput",
            ErrorKind::BadCheckpoint => "BadCheckpoint",
            ErrorKind::NoWebGpu => "NoWebGPU",
            ErrorKind::DeviceLost => "DeviceLost",
            ErrorKind::OutOfMemory => "OutOfMemory",
            ErrorKind::Internal => "Internal",
        }
    }
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Input(_) | Error::Model(ModelError::Batch(_)) => ErrorKind::BadInput,
            Error::Model(ModelError::TooLarge { .. }) => ErrorKind::OutOfMemory,
            Error::Model(_) => ErrorKind::BadCheckpoint,
            Error::Scheduler(e) => match e {
                SchedulerError::InvalidStepCount { .. }
                | SchedulerError::InvalidEta { .. }
                | SchedulerError::ClippingNotFor { .. }
                | SchedulerError::TimestepOutOfRange { .. } => ErrorKind::BadInput,
                _ => ErrorKind::BadCheckpoint,
            },
            Error::Gpu(e) => match e {
                GpuError::NoAdapter(_) | GpuError::NoDevice { .. } => ErrorKind::NoWebGpu,
                GpuError::DeviceLost(_) => ErrorKind::DeviceLost,
                GpuError::BufferTooLarge { .. }
                | GpuError::DispatchTooLarge { .. }
                | GpuError::OutOfMemory(_) => ErrorKind::OutOfMemory,
                GpuError::Validation(_) | GpuError::Readback(_) => ErrorKind::Internal,
            },
        }
    }
}
