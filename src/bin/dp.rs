//! `dp`: the command-line front end of diffusion-playground. Samples images, runs single UNet
//! evaluations and describes checkpoints; `dp --help` lists the commands.

/// Prints a line to stdout, ignoring a closed pipe (`dp info | head -1`) instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[path = "dp/args.rs"]
mod args;
#[path = "dp/common.rs"]
mod common;
#[path = "dp/forward.rs"]
mod forward;
#[path = "dp/info.rs"]
mod info;
#[path = "dp/inpaint.rs"]
mod inpaint;
#[path = "dp/interpolate.rs"]
mod interpolate;
#[path = "dp/invert.rs"]
mod invert;
#[path = "dp/sample.rs"]
mod sample;

use std::process::ExitCode;

const USAGE: &str = "\
dp: run diffusers UNet2DModel checkpoints on WGSL compute shaders (wgpu)

Usage:
  dp sample  [--model DIR] [--sampler ddpm|ddim|dpmpp2m] [--steps N] [--eta E] [--seed S]
             [--batch B] [--init-noise xT.npy] --out grid.png [--trajectory strip.png]
             [--save-npy out.npy]
  dp invert  --model DIR --input x0.npy --steps S --out xT.npy [--reconstruct x0r.npy]
  dp interpolate --model DIR --seeds A,B --frames N --steps S --out strip.png [--save-npy F]
  dp inpaint --model DIR --input x0.npy --mask mask.npy [--sampler ddpm|ddim] [--resample R]
             --out grid.png [--save-npy F]
  dp forward --model DIR --input x.npy --timestep T --out eps.npy [--cpu]
  dp info    [--model DIR]
  dp help [COMMAND]          (or `dp COMMAND --help`)

Commands:
  sample   generate a batch of images with DDPM, DDIM or DPM-Solver++(2M) on the GPU
  invert   DDIM inversion: images x_0 to the noise x_T that DDIM maps back to them
  interpolate  images between two seeds (slerp of their x_T, DDIM eta 0)
  inpaint  fill masked-out pixels (RePaint-style, DDPM or DDIM)
  forward  one UNet evaluation of a float32 (N, C, H, W) .npy batch (GPU, or --cpu)
  info     describe a checkpoint: config, parameter count, dtype, sample shape, scheduler

A model folder is what diffusers' save_pretrained writes: config.json,
diffusion_pytorch_model.safetensors and optionally scheduler_config.json (or a pipeline
folder with unet/ and scheduler/ subfolders). Pickled .bin/.ckpt weights are refused.
--model defaults to models/emoji32.

Environment: WGPU_BACKEND (vulkan, metal, dx12, gl) and WGPU_ADAPTER_NAME choose the GPU.
Exit status: 0 on success, 1 when the work fails (files, model, GPU), 2 for usage errors.";

/// What went wrong, for the one `error: ...` line and its hint.
#[derive(Debug)]
pub enum CliError {
    /// The command line is wrong (unknown flag, bad value, inputs that do not fit): exit 2.
    Usage { message: String, hint: String },
    /// The work failed (a file, the model, the GPU): exit 1.
    Failed { message: String, hint: String },
}

impl CliError {
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> CliError {
        CliError::Usage {
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn failed(message: impl std::fmt::Display, hint: impl Into<String>) -> CliError {
        CliError::Failed {
            message: message.to_string(),
            hint: hint.into(),
        }
    }
}

const COMMANDS: [&str; 6] = [
    "sample",
    "forward",
    "info",
    "invert",
    "interpolate",
    "inpaint",
];

fn command_help(command: &str) -> Option<&'static str> {
    match command {
        "sample" => Some(sample::HELP),
        "forward" => Some(forward::HELP),
        "info" => Some(info::HELP),
        "invert" => Some(invert::HELP),
        "interpolate" => Some(interpolate::HELP),
        "inpaint" => Some(inpaint::HELP),
        _ => None,
    }
}

fn unknown_command(word: &str) -> CliError {
    let hint = match args::suggest(word, COMMANDS) {
        Some(s) => format!("did you mean `dp {s}`? Run `dp --help` for the commands"),
        None => "the commands are sample, forward, info, invert, interpolate and inpaint; \
                 run `dp --help`"
            .into(),
    };
    CliError::usage(format!("unknown command `{word}`"), hint)
}

fn run(argv: &[String]) -> Result<(), CliError> {
    let Some(command) = argv.first() else {
        return Err(CliError::usage(
            "no command given",
            "run `dp --help`; e.g. `dp sample --model DIR --out grid.png`",
        ));
    };
    let rest = &argv[1..];
    match command.as_str() {
        "-h" | "--help" | "help" => {
            match rest.first() {
                None => say!("{USAGE}"),
                Some(c) => say!("{}", command_help(c).ok_or_else(|| unknown_command(c))?),
            }
            return Ok(());
        }
        "-V" | "--version" => {
            say!("dp {}", env!("CARGO_PKG_VERSION"));
            return Ok(());
        }
        _ => {}
    }
    let help = command_help(command).ok_or_else(|| unknown_command(command))?;
    if rest.iter().any(|a| a == "--help" || a == "-h") {
        say!("{help}");
        return Ok(());
    }
    match command.as_str() {
        "sample" => sample::run(rest),
        "forward" => forward::run(rest),
        "invert" => invert::run(rest),
        "interpolate" => interpolate::run(rest),
        "inpaint" => inpaint::run(rest),
        _ => info::run(rest),
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = match std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect()
    {
        Ok(v) => v,
        Err(bad) => {
            eprintln!("error: argument {bad:?} is not valid UTF-8");
            eprintln!("hint: rename the file or use a path without such characters");
            return ExitCode::from(2);
        }
    };
    match run(&argv) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage { message, hint }) => {
            eprintln!("error: {message}");
            eprintln!("hint: {hint}");
            ExitCode::from(2)
        }
        Err(CliError::Failed { message, hint }) => {
            eprintln!("error: {message}");
            eprintln!("hint: {hint}");
            ExitCode::from(1)
        }
    }
}
