//! `dp info`: what a checkpoint folder holds, as this engine reads it.

use crate::args::{opt, Flag, Parsed};
use crate::common::{self, thousands};
use crate::CliError;
use diffusion_playground::model::{CheckpointFiles, UNet, UNetConfig, Weights};
use diffusion_playground::scheduler::{Schedule, SchedulerConfig};

pub const HELP: &str = "\
dp info: describe a checkpoint as this engine reads it

Usage: dp info [--model DIR]

  --model DIR   diffusers UNet2DModel folder [default: models/emoji32]

Prints the UNet config, parameter count, weight dtype, sample shape and the scheduler config
(or the DDPMScheduler defaults `dp sample` uses when the folder has none).";

const FLAGS: &[Flag] = &[opt("--model", "DIR")];

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

pub fn run(argv: &[String]) -> Result<(), CliError> {
    let p = Parsed::new("info", FLAGS, argv)?;
    let (dir, defaulted) = common::model_dir(p.path("--model"));
    common::check_model_dir(&dir, defaulted)?;
    let err = |e| common::model_error(e, &dir);
    let files = CheckpointFiles::read_dir(&dir).map_err(err)?;
    let config = UNetConfig::from_json_str(&files.config_json).map_err(err)?;
    let weights = Weights::from_safetensors(&files.safetensors).map_err(err)?;
    let dtype = weights
        .dtype
        .clone()
        .unwrap_or_else(|| "none (no tensors)".into());
    let unet = UNet::load(config, weights).map_err(err)?;
    let scheduler = match &files.scheduler_json {
        None => None,
        Some(text) => {
            let config = SchedulerConfig::from_json_str(text)
                .and_then(|c| Schedule::new(&c).map(|_| c))
                .map_err(|e| {
                    CliError::failed(
                        format!("the model folder's scheduler_config.json: {e}"),
                        "fix it, or override it with `dp sample --scheduler-config FILE`",
                    )
                })?;
            let class = serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| {
                    v.get("_class_name")
                        .and_then(|c| c.as_str())
                        .map(String::from)
                })
                .unwrap_or_else(|| "unnamed scheduler".into());
            Some((class, config))
        }
    };

    let c = &unet.config;
    let [ch, h, w] = unet.sample_shape();
    let list = |v: &[String]| v.join(", ");
    say!("model            {}", dir.display());
    say!(
        "class            {}",
        c.class_name
            .as_deref()
            .unwrap_or("(no _class_name; read as UNet2DModel)")
    );
    say!("parameters       {}", thousands(unet.parameter_count()));
    say!(
        "weights          {dtype} ({} bytes of safetensors; computed in f32)",
        thousands(files.safetensors.len())
    );
    say!(
        "sample shape     ({ch}, {h}, {w}) = (C, H, W); output channels {}",
        c.out_channels
    );
    say!(
        "channels         block_out_channels {:?}, layers_per_block {}",
        c.block_out_channels,
        c.layers_per_block
    );
    say!("down blocks      {}", list(&c.down_block_types));
    match &c.mid_block_type {
        Some(kind) => say!(
            "mid block        {kind} (attention: {}, scale factor {})",
            yes_no(c.add_attention),
            c.mid_block_scale_factor
        ),
        None => say!("mid block        none"),
    }
    say!("up blocks        {}", list(&c.up_block_types));
    say!(
        "attention        head dim {}",
        c.attention_head_dim
            .map_or("= channels (one head)".to_string(), |d| d.to_string())
    );
    say!(
        "group norm       {} groups{}, eps {:e}",
        c.norm_num_groups,
        c.attn_norm_num_groups
            .map_or(String::new(), |g| format!(" ({g} in attention)")),
        c.norm_eps
    );
    say!(
        "time embedding   {}, dim {}, flip_sin_to_cos {}, freq_shift {}",
        c.time_embedding_type,
        c.time_embed_dim(),
        c.flip_sin_to_cos,
        c.freq_shift
    );
    say!(
        "other            center_input_sample {}, downsample_padding {}, act {}",
        c.center_input_sample,
        c.downsample_padding,
        c.act_fn
    );
    let (source, s) = match scheduler {
        Some((class, s)) => (format!("{class} (scheduler_config.json)"), s),
        None => (
            "none in the folder; `dp sample` uses DDPMScheduler defaults".to_string(),
            SchedulerConfig::default(),
        ),
    };
    say!("scheduler        {source}");
    say!(
        "                 num_train_timesteps {}, beta_schedule {}{}",
        s.num_train_timesteps,
        s.beta_schedule.as_str(),
        if s.trained_betas.is_some() {
            " (trained_betas given)".to_string()
        } else {
            format!(" {}..{}", s.beta_start, s.beta_end)
        }
    );
    say!(
        "                 prediction_type {}, variance_type {}, clip_sample {}{}",
        s.prediction_type.as_str(),
        s.variance_type.as_str(),
        s.clip_sample,
        if s.clip_sample {
            format!(" (range {})", s.clip_sample_range)
        } else {
            String::new()
        }
    );
    say!(
        "                 timestep_spacing {}, steps_offset {}, set_alpha_to_one {}",
        s.timestep_spacing.as_str(),
        s.steps_offset,
        s.set_alpha_to_one
    );
    Ok(())
}
