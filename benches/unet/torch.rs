//! The PyTorch column: runs `benches/torch_unet.py` on the same config and checks that both
//! sides build the same model (parameters, FLOPs).

use super::options::{ModelSpec, Options, SEED};
use super::report::{fmt_ms, median};
use super::BoxResult;
use diffusion_playground::model::UNet;
use std::path::Path;

pub struct TorchModel {
    pub params: usize,
    pub gflop_per_sample: f64,
    pub versions: String,
    pub threads: u64,
    pub forward_ms: Vec<(usize, Vec<f64>)>,
}

pub fn run_torch(
    python: &Path,
    root: &Path,
    config: &Path,
    options: &Options,
    threads: usize,
) -> BoxResult<TorchModel> {
    let batches: Vec<String> = options.batches.iter().map(usize::to_string).collect();
    let output = std::process::Command::new(python)
        .arg(root.join("benches/torch_unet.py"))
        .arg("--config")
        .arg(config)
        .args(["--batches", &batches.join(",")])
        .args(["--max-iters", &options.policy.max_iters.to_string()])
        .args([
            "--budget-s",
            &options.policy.budget.as_secs_f64().to_string(),
        ])
        .args(["--threads", &threads.to_string()])
        .args(["--seed", &SEED.to_string()])
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        return Err(format!(
            "{} exited with {}: {}",
            python.display(),
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        )
        .into());
    }
    let mut model = None;
    let mut forward_ms = Vec::new();
    for line in stdout.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let num = |key: &str| {
            v[key]
                .as_f64()
                .ok_or_else(|| format!("torch_unet.py printed no number `{key}` in {line}"))
        };
        match v["kind"].as_str() {
            Some("model") => {
                model = Some(TorchModel {
                    params: num("params")? as usize,
                    gflop_per_sample: num("gflop_per_sample")?,
                    versions: format!(
                        "torch {}, diffusers {}",
                        v["torch"].as_str().unwrap_or("?"),
                        v["diffusers"].as_str().unwrap_or("?")
                    ),
                    threads: num("threads")? as u64,
                    forward_ms: Vec::new(),
                })
            }
            Some("forward") => {
                let times = v["times_ms"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|x| x.as_f64()).collect::<Vec<_>>())
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| format!("torch_unet.py printed no times in {line}"))?;
                let batch = num("batch")? as usize;
                eprintln!(
                    "PyTorch ({threads} thread(s)) batch {batch}: forward {} ms ({} runs)",
                    fmt_ms(median(&times)),
                    times.len()
                );
                forward_ms.push((batch, times));
            }
            _ => {}
        }
    }
    let mut model = model.ok_or("torch_unet.py printed no model line")?;
    if model.threads != threads as u64 {
        return Err(format!(
            "torch_unet.py runs on {} threads, not the {threads} asked for",
            model.threads
        )
        .into());
    }
    model.forward_ms = forward_ms;
    Ok(model)
}

/// The same config must give the same model on both sides.
pub fn check_torch(
    spec: &ModelSpec,
    unet: &UNet,
    torch: &TorchModel,
    notes: &mut Vec<String>,
) -> BoxResult<()> {
    if torch.params != unet.parameter_count() {
        return Err(format!(
            "{}: PyTorch builds {} parameters from the config but UNet::parameter_count() is {}",
            spec.name,
            torch.params,
            unet.parameter_count()
        )
        .into());
    }
    let ours = 2.0 * unet.graph(1)?.macs() as f64 / 1e9;
    let rel = (ours - torch.gflop_per_sample).abs() / torch.gflop_per_sample;
    notes.push(format!(
        "{}: GFLOP per sample {:.4} here (2 x Graph::macs), {:.4} by torch's FlopCounterMode{}",
        spec.name,
        ours,
        torch.gflop_per_sample,
        if rel > 0.01 {
            " — they differ by more than 1%"
        } else {
            ""
        }
    ));
    Ok(())
}
