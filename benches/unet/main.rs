//! `cargo bench --bench unet [-- OPTIONS]`: UNet2DModel forward passes and full sampling steps
//! on the native wgpu device and on the CPU executor (`--backend gpu|cpu|both`), next to
//! PyTorch (CPU, float32) running the same config.
//!
//! Models are random-weight `UNet::random` instances of the configs in `benches/configs/`;
//! speed does not depend on the weights. Prints a markdown table on stdout (progress on
//! stderr). `-- --help` lists the options; `benches/README.md` explains what is measured.
//! Modules: `options` (command line, timing policy), `measure` (our executors), `torch` (the
//! PyTorch columns), `report` (the tables and machine facts).

#[cfg(not(target_arch = "wasm32"))]
mod measure;
#[cfg(not(target_arch = "wasm32"))]
mod options;
#[cfg(not(target_arch = "wasm32"))]
mod report;
#[cfg(not(target_arch = "wasm32"))]
mod torch;

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    if let Err(e) = native::main() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

pub type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use super::measure::{measure_cpu, measure_ours};
    use super::options::{parse_options, Backend, Options, SEED};
    use super::report::{
        cpu_model, load_average, num_cpus, print_shares, print_table, utc_now, Row, Share,
    };
    use super::torch::{check_torch, run_torch, TorchModel};
    use super::BoxResult;
    use diffusion_playground::exec::gpu::GpuWeights;
    use diffusion_playground::gpu::Gpu;
    use diffusion_playground::model::{UNet, UNetConfig};
    use std::path::Path;
    use std::rc::Rc;

    /// What the runs produced, for the report.
    struct Results {
        /// The wgpu device's rows (torch at `--torch-threads`).
        rows: Vec<Row>,
        /// The CPU executor's rows (torch on 1 thread).
        cpu_rows: Vec<Row>,
        notes: Vec<String>,
        shares: Vec<(&'static str, usize, Vec<Share>)>,
        torch_versions: Option<String>,
    }

    pub fn main() -> BoxResult<()> {
        let options = parse_options()?;
        let started = utc_now();
        let load_before = load_average();
        let gpu = if options.backend.gpu() {
            let gpu = Rc::new(pollster::block_on(Gpu::new())?);
            eprintln!("adapter: {}", gpu.describe());
            Some(gpu)
        } else {
            None
        };
        let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("train/.venv/bin/python");
        let torch_python = (options.torch && python.exists()).then_some(python);
        let Results {
            rows,
            cpu_rows,
            mut notes,
            shares,
            torch_versions,
        } = run_models(gpu.as_ref(), &options, torch_python.as_deref())?;
        let load_after = load_average();
        let busiest = [&load_before, &load_after]
            .iter()
            .filter_map(|l| l.as_deref()?.parse::<f64>().ok())
            .fold(0.0, f64::max);
        if torch_versions.is_some()
            && options.backend.gpu()
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

        let title = match options.backend {
            Backend::Gpu => "WGSL on wgpu vs PyTorch CPU",
            Backend::Cpu => "CPU executor vs PyTorch CPU",
            Backend::Both => "WGSL on wgpu, CPU executor, PyTorch CPU",
        };
        println!("## UNet2DModel forward and sampling step: {title}\n");
        println!("- date: {started}");
        println!("- command: `{}`", options.command);
        if let Some(gpu) = &gpu {
            let info = &gpu.adapter;
            println!(
                "- adapter: {} — driver {} {}",
                gpu.describe(),
                info.driver,
                info.driver_info
            );
        }
        if options.backend.cpu() {
            println!(
                "- CPU executor: `exec::cpu` ({}), one thread",
                diffusion_playground::cpu::simd()
            );
        }
        if let Some(cpu) = cpu_model() {
            println!("- CPU: {cpu}, {} logical cores", num_cpus());
        }
        println!(
            "- load average (1 min) before / after: {} / {}",
            load_before.as_deref().unwrap_or("?"),
            load_after.as_deref().unwrap_or("?")
        );
        let torch_threads: Vec<String> = torch_runs(&options)
            .iter()
            .map(|(_, n)| n.to_string())
            .collect();
        match (&torch_python, &torch_versions) {
            (Some(_), Some(versions)) => println!(
                "- PyTorch: {versions}, {} thread(s), float32, `torch.no_grad()`, random init",
                torch_threads.join(" and ")
            ),
            (Some(_), None) => println!("- PyTorch: every run failed (see notes)"),
            (None, _) if !options.torch => println!("- PyTorch: skipped (--no-torch)"),
            (None, _) => println!(
                "- PyTorch: skipped, `train/.venv/bin/python` does not exist; create it with \
                 `train/setup_venv.sh` (downloads torch and diffusers, a few minutes)"
            ),
        }
        println!(
            "- policy: one warm-up (wgpu: a sampling step; CPU: a forward, and a step before \
             the steps), then up to {} timed run(s) per cell, stopping after {:.0} s (at least \
             1); median shown, runs in parentheses",
            options.policy.max_iters,
            options.policy.budget.as_secs_f64()
        );
        if !rows.is_empty() {
            println!(
                "\n### WGSL on wgpu vs PyTorch CPU ({} thread(s))\n",
                options.torch_threads
            );
            print_table(&rows, "ours", "torch");
        }
        if !cpu_rows.is_empty() {
            println!("\n### CPU executor (one thread) vs PyTorch CPU (one thread)\n");
            print_table(&cpu_rows, "CPU", "torch 1-thread");
        }
        if !shares.is_empty() {
            print_shares(&shares);
        }
        println!("\nNotes:");
        for note in &notes {
            println!("- {note}");
        }
        Ok(())
    }

    /// Which PyTorch runs a model needs: (for the gpu table, for the cpu table) -> threads.
    /// One run when both tables want the same thread count.
    fn torch_runs(options: &Options) -> Vec<((bool, bool), usize)> {
        let (gpu, cpu) = (options.backend.gpu(), options.backend.cpu());
        if gpu && cpu && options.torch_threads == 1 {
            vec![((true, true), 1)]
        } else {
            let mut runs = Vec::new();
            if gpu {
                runs.push(((true, false), options.torch_threads));
            }
            if cpu {
                runs.push(((false, true), 1));
            }
            runs
        }
    }

    fn fill_torch(rows: &mut [Row], model: &str, torch: &TorchModel) {
        for row in rows.iter_mut().filter(|r| r.model == model) {
            row.torch_ms = torch
                .forward_ms
                .iter()
                .find(|(b, _)| *b == row.batch)
                .map(|(_, t)| t.clone());
        }
    }

    /// Every model at every batch size on our executors, then (if asked) in PyTorch.
    fn run_models(
        gpu: Option<&Rc<Gpu>>,
        options: &Options,
        torch_python: Option<&Path>,
    ) -> BoxResult<Results> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut rows = Vec::new();
        let mut cpu_rows = Vec::new();
        let mut notes = Vec::new();
        let mut shares = Vec::new();
        let mut torch_versions = None;
        for spec in &options.models {
            let config_path = root.join(spec.file);
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
            if let Some(gpu) = gpu {
                let weights = GpuWeights::upload(gpu, &unet)?;
                for &batch in &options.batches {
                    let (row, share) = measure_ours(gpu, &unet, &weights, spec, batch, options)?;
                    rows.push(row);
                    if let Some(share) = share {
                        shares.push((spec.name, batch, share));
                    }
                }
            }
            if options.backend.cpu() {
                for &batch in &options.batches {
                    cpu_rows.push(measure_cpu(&unet, spec, batch, options)?);
                }
            }

            let Some(python) = torch_python else { continue };
            let mut checked = false;
            for ((for_gpu, for_cpu), threads) in torch_runs(options) {
                eprintln!("{}: PyTorch, {threads} thread(s) ...", spec.name);
                match run_torch(python, root, &config_path, options, threads) {
                    Ok(torch) => {
                        if !checked {
                            check_torch(spec, &unet, &torch, &mut notes)?;
                            checked = true;
                        }
                        torch_versions = Some(torch.versions.clone());
                        if for_gpu {
                            fill_torch(&mut rows, spec.name, &torch);
                        }
                        if for_cpu {
                            fill_torch(&mut cpu_rows, spec.name, &torch);
                        }
                    }
                    Err(e) => notes.push(format!(
                        "{}: PyTorch run ({threads} thread(s)) failed: {e}",
                        spec.name
                    )),
                }
            }
        }
        Ok(Results {
            rows,
            cpu_rows,
            notes,
            shares,
            torch_versions,
        })
    }
}
