//! `cargo bench --bench unet [-- OPTIONS]`: UNet2DModel forward passes and full sampling steps
//! on the native wgpu device, next to PyTorch (CPU, float32) running the same config.
//!
//! Models are random-weight [`UNet::random`] instances of the configs in `benches/configs/`;
//! speed does not depend on the weights. Prints a markdown table on stdout (progress on
//! stderr). `-- --help` lists the options; `benches/README.md` explains what is measured.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    if let Err(e) = native::main() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use diffusion_playground::gpu::{Dispatch, Gpu};
    use diffusion_playground::model::{Node, UNet, UNetConfig};
    use diffusion_playground::sampler::GpuSampler;
    use diffusion_playground::scheduler::{DdpmVariance, Sampler, Schedule, SchedulerConfig};
    use diffusion_playground::unet::GpuWeights;
    use std::path::Path;
    use std::time::{Duration, Instant};

    type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

    const USAGE: &str = "\
usage: cargo bench --bench unet [-- [OPTIONS] [MODEL...]]

MODEL            run only these models (tiny, cifar); default: all
--quick          batch 1 only, 1 timed iteration, no op-kind shares (about a minute)
--batches LIST   comma-separated batch sizes (default 1,16)
--max-iters N    timed iterations per measurement at most (default 3)
--budget-s S     stop timing a measurement after S seconds (default 10); always >= 1 iteration
--no-torch       skip the PyTorch column
--torch-threads N  torch.set_num_threads for the PyTorch column (default 2)
--no-shares      skip the per-op-kind time shares (costs about one forward per model at batch 1)
-h, --help       this text";

    /// A benchmarked model: its config file and the parameter count diffusers 0.42.1 reports
    /// for it (`sum(p.numel() for p in UNet2DModel.from_config(cfg).parameters())`).
    struct ModelSpec {
        name: &'static str,
        file: &'static str,
        diffusers_params: usize,
    }

    const MODELS: &[ModelSpec] = &[
        ModelSpec {
            name: "tiny",
            file: "tiny.json",
            diffusers_params: 1_113_955,
        },
        ModelSpec {
            name: "cifar",
            file: "ddpm-cifar10-32.json",
            diffusers_params: 35_746_307,
        },
    ];

    const SEED: u64 = 0;
    /// Sampling plan of the step measurement: DDPM with noise (the costlier kind of step).
    const PLAN_STEPS: usize = 1000;

    /// How long to time one measurement: up to `max_iters` runs, stopping early once `budget`
    /// has passed, but always at least one run.
    #[derive(Clone, Copy)]
    struct Policy {
        max_iters: usize,
        budget: Duration,
    }

    impl Policy {
        fn measure(&self, mut once: impl FnMut(usize) -> BoxResult<()>) -> BoxResult<Vec<f64>> {
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

    struct Options {
        models: Vec<&'static ModelSpec>,
        batches: Vec<usize>,
        policy: Policy,
        torch: bool,
        torch_threads: usize,
        shares: bool,
        command: String,
    }

    fn parse_options() -> BoxResult<Options> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let (mut quick, mut torch, mut shares) = (false, true, true);
        let (mut batches, mut max_iters, mut budget_s) = (None, None, None);
        let mut torch_threads = 2;
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

    /// One row of the table.
    struct Row {
        model: &'static str,
        params: usize,
        batch: usize,
        gflop: f64,
        forward_ms: Vec<f64>,
        step_ms: Vec<f64>,
        torch_ms: Option<Vec<f64>>,
    }

    /// Time per op kind of one forward pass, from running only that kind's dispatches.
    struct Share {
        kind: String,
        dispatches: usize,
        gflop: Option<f64>,
        ms: f64,
    }

    struct TorchModel {
        params: usize,
        gflop_per_sample: f64,
        versions: String,
        threads: u64,
        forward_ms: Vec<(usize, Vec<f64>)>,
    }

    pub fn main() -> BoxResult<()> {
        let options = parse_options()?;
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let started = utc_now();
        let load_before = load_average();
        let gpu = pollster::block_on(Gpu::new())?;
        eprintln!("adapter: {}", gpu.describe());
        let python = root.join("train/.venv/bin/python");
        let torch_python = (options.torch && python.exists()).then_some(python);

        let mut rows = Vec::new();
        let mut notes = Vec::new();
        let mut shares = Vec::new();
        let mut torch_versions = None;
        for spec in &options.models {
            let config_path = root.join("benches/configs").join(spec.file);
            let config = UNetConfig::from_json_str(&std::fs::read_to_string(&config_path)?)?;
            let unet = UNet::random(config, SEED)?;
            let params = unet.parameter_count();
            notes.push(format!(
                "{}: {} parameters here, {} in diffusers 0.42.1",
                spec.name, params, spec.diffusers_params
            ));
            if params != spec.diffusers_params {
                return Err(format!(
                    "{}: UNet::parameter_count() is {params} but diffusers counts {} for {}",
                    spec.name,
                    spec.diffusers_params,
                    config_path.display()
                )
                .into());
            }
            let weights = GpuWeights::upload(&gpu, &unet)?;
            for &batch in &options.batches {
                let (row, share) = measure_ours(&gpu, &unet, &weights, spec, batch, &options)?;
                rows.push(row);
                if let Some(share) = share {
                    shares.push((spec.name, batch, share));
                }
            }
            drop(weights);

            if let Some(python) = &torch_python {
                eprintln!("{}: PyTorch ...", spec.name);
                match run_torch(python, root, &config_path, &options) {
                    Ok(torch) => {
                        check_torch(spec, &unet, &torch, &mut notes)?;
                        torch_versions = Some((torch.versions.clone(), torch.threads));
                        for row in rows.iter_mut().filter(|r| r.model == spec.name) {
                            row.torch_ms = torch
                                .forward_ms
                                .iter()
                                .find(|(b, _)| *b == row.batch)
                                .map(|(_, t)| t.clone());
                        }
                    }
                    Err(e) => notes.push(format!("{}: PyTorch run failed: {e}", spec.name)),
                }
            }
        }
        let load_after = load_average();
        let busiest = [&load_before, &load_after]
            .iter()
            .filter_map(|l| l.as_deref()?.parse::<f64>().ok())
            .fold(0.0, f64::max);
        if torch_versions.is_some()
            && options.torch_threads > 1
            && busiest > num_cpus() as f64 - 0.5
        {
            notes.push(format!(
                "the load average reached {busiest:.1} on {} cores: PyTorch's {} OpenMP threads \
                 spin at every op's barrier and slow down sharply (5x or more) when another \
                 process holds a core; `--torch-threads 1` shows what one free core does",
                num_cpus(),
                options.torch_threads
            ));
        }

        println!("## UNet2DModel forward and sampling step: WGSL on wgpu vs PyTorch CPU\n");
        println!("- date: {started}");
        println!("- command: `{}`", options.command);
        let info = &gpu.adapter;
        println!(
            "- adapter: {} — driver {} {}",
            gpu.describe(),
            info.driver,
            info.driver_info
        );
        if let Some(cpu) = cpu_model() {
            println!("- CPU: {cpu}, {} logical cores", num_cpus());
        }
        println!(
            "- load average (1 min) before / after: {} / {}",
            load_before.as_deref().unwrap_or("?"),
            load_after.as_deref().unwrap_or("?")
        );
        match (&torch_python, &torch_versions) {
            (Some(_), Some((versions, threads))) => println!(
                "- PyTorch: {versions}, {threads} threads, float32, `torch.no_grad()`, random init"
            ),
            (Some(_), None) => println!("- PyTorch: every run failed (see notes)"),
            (None, _) if !options.torch => println!("- PyTorch: skipped (--no-torch)"),
            (None, _) => println!(
                "- PyTorch: skipped, `train/.venv/bin/python` does not exist; create it with \
                 `train/setup_venv.sh` (downloads torch and diffusers, a few minutes)"
            ),
        }
        println!(
            "- policy: one warm-up sampling step, then up to {} timed run(s) per cell, stopping \
             after {:.0} s (at least 1); median shown, runs in parentheses",
            options.policy.max_iters,
            options.policy.budget.as_secs_f64()
        );
        println!();
        print_table(&rows);
        if !shares.is_empty() {
            print_shares(&shares);
        }
        println!("\nNotes:");
        for note in &notes {
            println!("- {note}");
        }
        Ok(())
    }

    fn measure_ours(
        gpu: &Gpu,
        unet: &UNet,
        weights: &GpuWeights,
        spec: &ModelSpec,
        batch: usize,
        options: &Options,
    ) -> BoxResult<(Row, Option<Vec<Share>>)> {
        let sampler = GpuSampler::new(gpu, weights, unet, batch)?;
        let plan = Schedule::new(&SchedulerConfig::default())?.plan(
            Sampler::Ddpm {
                variance: DdpmVariance::FixedSmall,
            },
            PLAN_STEPS,
        )?;
        let net = &sampler.net;
        let gflop = 2.0 * net.graph.macs() as f64 / 1e9;
        let dispatches: Vec<&Dispatch> = net.dispatches().collect();
        let t = plan.timesteps[0] as f32;
        let forward = || -> BoxResult<()> {
            net.prepare(gpu, unet, t);
            gpu.run(&dispatches);
            sampler.wait(gpu)?;
            Ok(())
        };

        eprintln!("{} batch {batch}: warm-up ...", spec.name);
        sampler.start(gpu, SEED)?;
        sampler.step(gpu, unet, &plan, 0, SEED)?;
        sampler.wait(gpu)?;
        sampler.start(gpu, SEED)?;
        sampler.wait(gpu)?;

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
            sampler.step(gpu, unet, &plan, i, SEED)?;
            sampler.wait(gpu)?;
            Ok(())
        })?;
        eprintln!(
            "{} batch {batch}: sampling step {} ms ({} runs)",
            spec.name,
            fmt_ms(median(&step_ms)),
            step_ms.len()
        );

        let shares = if options.shares && batch == options.batches[0] {
            Some(op_shares(gpu, &sampler, unet, t)?)
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

    /// Runs each op kind's dispatches alone (one submit per kind, in graph order) and times it.
    /// The data they read is whatever the buffers hold, which does not change the work done.
    fn op_shares(gpu: &Gpu, sampler: &GpuSampler, unet: &UNet, t: f32) -> BoxResult<Vec<Share>> {
        let net = &sampler.net;
        let dispatches: Vec<&Dispatch> = net.dispatches().collect();
        // GpuUNet builds one dispatch per graph node, in order; fall back to kernel names only
        // if that ever changes.
        let aligned = dispatches.len() == net.graph.nodes.len();
        let mut kinds: Vec<(String, Vec<&Dispatch>, u64)> = Vec::new();
        for (i, d) in dispatches.iter().enumerate() {
            let (kind, macs) = match aligned.then(|| &net.graph.nodes[i]) {
                Some(node) => (node_kind(node, d), node.macs()),
                None => (d.name().to_string(), 0),
            };
            match kinds.iter_mut().find(|(k, _, _)| *k == kind) {
                Some((_, list, m)) => {
                    list.push(d);
                    *m += macs;
                }
                None => kinds.push((kind, vec![d], macs)),
            }
        }
        net.prepare(gpu, unet, t);
        let mut shares = Vec::new();
        for (kind, list, macs) in kinds {
            let t0 = Instant::now();
            gpu.run(&list);
            sampler.wait(gpu)?;
            shares.push(Share {
                kind,
                dispatches: list.len(),
                gflop: (aligned && macs > 0).then(|| 2.0 * macs as f64 / 1e9),
                ms: t0.elapsed().as_secs_f64() * 1e3,
            });
        }
        shares.sort_by(|a, b| b.ms.total_cmp(&a.ms));
        Ok(shares)
    }

    fn node_kind(node: &Node, dispatch: &Dispatch) -> String {
        match node {
            Node::Conv { op, .. } if op.stride == 1 => format!("conv2d {}x{}", op.k, op.k),
            Node::Conv { op, .. } => format!("conv2d {}x{} stride {}", op.k, op.k, op.stride),
            _ => dispatch.name().to_string(),
        }
    }

    fn run_torch(
        python: &Path,
        root: &Path,
        config: &Path,
        options: &Options,
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
            .args(["--threads", &options.torch_threads.to_string()])
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
                        "PyTorch batch {batch}: forward {} ms ({} runs)",
                        fmt_ms(median(&times)),
                        times.len()
                    );
                    forward_ms.push((batch, times));
                }
                _ => {}
            }
        }
        let mut model = model.ok_or("torch_unet.py printed no model line")?;
        model.forward_ms = forward_ms;
        Ok(model)
    }

    /// The same config must give the same model on both sides.
    fn check_torch(
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

    fn print_table(rows: &[Row]) {
        println!(
            "| model | params | GFLOP/forward | batch | ours ms/forward | ours GFLOP/s | \
             ms/sampling step | torch ms/forward | ours/torch |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in rows {
            let fwd = median(&r.forward_ms);
            let (torch, ratio) = match &r.torch_ms {
                Some(t) => (
                    format!("{} ({})", fmt_ms(median(t)), t.len()),
                    format!("{:.1}x", fwd / median(t)),
                ),
                None => ("—".to_string(), "—".to_string()),
            };
            println!(
                "| {} | {:.2} M | {:.2} | {} | {} ({}) | {:.2} | {} ({}) | {} | {} |",
                r.model,
                r.params as f64 / 1e6,
                r.gflop,
                r.batch,
                fmt_ms(fwd),
                r.forward_ms.len(),
                r.gflop / fwd * 1e3,
                fmt_ms(median(&r.step_ms)),
                r.step_ms.len(),
                torch,
                ratio
            );
        }
    }

    fn print_shares(shares: &[(&str, usize, Vec<Share>)]) {
        for (model, batch, list) in shares {
            let total: f64 = list.iter().map(|s| s.ms).sum();
            println!(
                "\nTime per op kind, {model} batch {batch} (each kind's dispatches run alone; \
                 sum {} ms):\n",
                fmt_ms(total)
            );
            println!("| op kind | dispatches | GFLOP | ms | share | GFLOP/s |");
            println!("|---|---:|---:|---:|---:|---:|");
            for s in list {
                let (gflop, rate) = match s.gflop {
                    Some(g) => (format!("{g:.3}"), format!("{:.2}", g / s.ms * 1e3)),
                    None => ("—".into(), "—".into()),
                };
                println!(
                    "| {} | {} | {gflop} | {} | {:.1}% | {rate} |",
                    s.kind,
                    s.dispatches,
                    fmt_ms(s.ms),
                    100.0 * s.ms / total
                );
            }
        }
    }

    fn median(v: &[f64]) -> f64 {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        let mid = s.len() / 2;
        match s.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => s[mid],
            _ => (s[mid - 1] + s[mid]) / 2.0,
        }
    }

    fn fmt_ms(ms: f64) -> String {
        if ms < 10.0 {
            format!("{ms:.2}")
        } else if ms < 100.0 {
            format!("{ms:.1}")
        } else {
            format!("{ms:.0}")
        }
    }

    fn load_average() -> Option<String> {
        let text = std::fs::read_to_string("/proc/loadavg").ok()?;
        text.split_whitespace().next().map(str::to_string)
    }

    fn cpu_model() -> Option<String> {
        let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
        let line = text.lines().find(|l| l.starts_with("model name"))?;
        Some(line.split_once(':')?.1.trim().to_string())
    }

    fn num_cpus() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// The current UTC date and time, `YYYY-MM-DD HH:MM UTC` (days to civil date after
    /// Howard Hinnant's `civil_from_days`).
    fn utc_now() -> String {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!(
            "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
            rem / 3600,
            rem % 3600 / 60
        )
    }
}
