//! The benchmark's command line: which models, batch sizes and timing policy.

use super::BoxResult;
use std::time::{Duration, Instant};

pub const USAGE: &str = "\
usage: cargo bench --bench unet [-- [OPTIONS] [MODEL...]]

MODEL            run only these models (tiny, emoji32, cifar); default: all
--backend B      gpu (the WGSL kernels on wgpu), cpu (the CPU executor, one thread, next to
                 PyTorch on one thread) or both (default)
--quick          batch 1 only, 1 timed iteration, no op-kind shares (about a minute)
--batches LIST   comma-separated batch sizes (default 1,16)
--max-iters N    timed iterations per measurement at most (default 3)
--budget-s S     stop timing a measurement after S seconds (default 10); always >= 1 iteration
--no-torch       skip the PyTorch column
--torch-threads N  torch.set_num_threads for the PyTorch column of the gpu table (default 2;
                 the cpu table's PyTorch column always uses 1 thread, as the CPU executor does)
--no-shares      skip the per-op-kind time shares (costs about one forward per model at batch 1)
-h, --help       this text";

/// A benchmarked model: its config file (relative to the repository root) and the parameter
/// count diffusers 0.42.1 reports for it
/// (`sum(p.numel() for p in UNet2DModel.from_config(cfg).parameters())`).
pub struct ModelSpec {
    pub name: &'static str,
    pub file: &'static str,
    pub diffusers_params: usize,
}

pub const MODELS: &[ModelSpec] = &[
    ModelSpec {
        name: "tiny",
        file: "benches/configs/tiny.json",
        diffusers_params: 1_113_955,
    },
    // The shipped default model's architecture (random weights like the others).
    ModelSpec {
        name: "emoji32",
        file: "models/emoji32/config.json",
        diffusers_params: 2_736_099,
    },
    ModelSpec {
        name: "cifar",
        file: "benches/configs/ddpm-cifar10-32.json",
        diffusers_params: 35_746_307,
    },
];

/// Which of our executors to time.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Gpu,
    Cpu,
    Both,
}

impl Backend {
    pub fn gpu(self) -> bool {
        self != Backend::Cpu
    }

    pub fn cpu(self) -> bool {
        self != Backend::Gpu
    }
}

pub const SEED: u64 = 0;
/// Sampling plan of the step measurement: DDPM with noise (the costlier kind of step).
pub const PLAN_STEPS: usize = 1000;

/// How long to time one measurement: up to `max_iters` runs, stopping early once `budget`
/// has passed, but always at least one run.
#[derive(Clone, Copy)]
pub struct Policy {
    pub max_iters: usize,
    pub budget: Duration,
}

impl Policy {
    pub fn measure(&self, mut once: impl FnMut(usize) -> BoxResult<()>) -> BoxResult<Vec<f64>> {
        let start = Instant::now();
        let mut times = Vec::new();
        loop {
            let t0 = Instant::now();
            once(times.len())?;
            times.push(t0.elapsed().as_secs_f64() * 1e3);
            if times.len() >= self.max_iters || start.elapsed() >= self.budget {
                return Ok(times);
            }
        }
    }
}

pub struct Options {
    pub models: Vec<&'static ModelSpec>,
    pub backend: Backend,
    pub batches: Vec<usize>,
    pub policy: Policy,
    pub torch: bool,
    pub torch_threads: usize,
    pub shares: bool,
    pub command: String,
}

pub fn parse_options() -> BoxResult<Options> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut quick, mut torch, mut shares) = (false, true, true);
    let (mut batches, mut max_iters, mut budget_s) = (None, None, None);
    let mut torch_threads = 2;
    let mut backend = Backend::Both;
    let mut models = Vec::new();
    let mut shown = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value\n\n{USAGE}"))
        };
        match arg.as_str() {
            // cargo passes `--bench` to every bench binary.
            "--bench" => continue,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--quick" => quick = true,
            "--no-torch" => torch = false,
            "--no-shares" => shares = false,
            "--batches" => {
                let v = value(arg)?;
                let list = v
                    .split(',')
                    .map(|b| b.trim().parse::<usize>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("--batches {v}: {e}"))?;
                if list.is_empty() || list.contains(&0) {
                    return Err(format!("--batches {v}: give sizes of at least 1").into());
                }
                shown.push(format!("--batches {v}"));
                batches = Some(list);
                continue;
            }
            "--max-iters" => {
                let v = value(arg)?;
                let n: usize = v.parse().map_err(|e| format!("--max-iters {v}: {e}"))?;
                shown.push(format!("--max-iters {v}"));
                max_iters = Some(n.max(1));
                continue;
            }
            "--backend" => {
                let v = value(arg)?;
                backend = match v.as_str() {
                    "gpu" => Backend::Gpu,
                    "cpu" => Backend::Cpu,
                    "both" => Backend::Both,
                    _ => return Err(format!("--backend {v}: choose gpu, cpu or both").into()),
                };
                shown.push(format!("--backend {v}"));
                continue;
            }
            "--torch-threads" => {
                let v = value(arg)?;
                let n: usize = v.parse().map_err(|e| format!("--torch-threads {v}: {e}"))?;
                shown.push(format!("--torch-threads {v}"));
                torch_threads = n.max(1);
                continue;
            }
            "--budget-s" => {
                let v = value(arg)?;
                let s: f64 = v.parse().map_err(|e| format!("--budget-s {v}: {e}"))?;
                if !(s >= 0.0 && s.is_finite()) {
                    return Err(format!("--budget-s {v}: give a number of seconds").into());
                }
                shown.push(format!("--budget-s {v}"));
                budget_s = Some(s);
                continue;
            }
            name if !name.starts_with('-') => {
                let spec = MODELS.iter().find(|m| m.name == name).ok_or_else(|| {
                    let names: Vec<_> = MODELS.iter().map(|m| m.name).collect();
                    format!("unknown model `{name}`: choose from {}", names.join(", "))
                })?;
                models.push(spec);
            }
            other => return Err(format!("unknown option `{other}`\n\n{USAGE}").into()),
        }
        shown.push(arg.clone());
    }
    if models.is_empty() {
        models = MODELS.iter().collect();
    }
    let command = if shown.is_empty() {
        "cargo bench --bench unet".to_string()
    } else {
        format!("cargo bench --bench unet -- {}", shown.join(" "))
    };
    Ok(Options {
        models,
        backend,
        batches: batches.unwrap_or(if quick { vec![1] } else { vec![1, 16] }),
        policy: Policy {
            max_iters: max_iters.unwrap_or(if quick { 1 } else { 3 }),
            budget: Duration::from_secs_f64(budget_s.unwrap_or(if quick { 2.0 } else { 10.0 })),
        },
        torch,
        torch_threads,
        shares: shares && !quick,
        command,
    })
}
