//! The scheduler against diffusers: fixtures made by tests/fixtures/gen_scheduler_fixtures.py
//! (diffusers' DDPMScheduler / DDIMScheduler on the CPU), plus the error paths.

use std::path::PathBuf;

use diffusion_playground::scheduler::{
    BetaSchedule, Clipping, DdpmVariance, PredictionType, Sampler, Schedule, SchedulerConfig,
    SchedulerError, StepCoeffs, TimestepSpacing,
};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        "scheduler",
        name,
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn config(v: &Value) -> SchedulerConfig {
    SchedulerConfig::from_json_value(v).unwrap_or_else(|e| panic!("config {v}: {e}"))
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("list of numbers")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn usize_of(v: &Value) -> usize {
    v.as_u64().expect("non-negative integer") as usize
}

/// The tolerance of the step comparisons: |a - b| <= 1e-5 + 1e-5 * |b|.
fn close(got: f32, want: f32) -> bool {
    (got - want).abs() <= 1e-5 + 1e-5 * want.abs()
}

/// Decodes the fixture's `[first, delta, count]` arithmetic runs.
fn decode_runs(v: &Value) -> Vec<i64> {
    let mut out = Vec::new();
    for run in v.as_array().expect("runs") {
        let r: Vec<i64> = run
            .as_array()
            .expect("run")
            .iter()
            .map(|x| x.as_i64().expect("int"))
            .collect();
        for k in 0..r[2] {
            out.push(r[0] + k * r[1]);
        }
    }
    out
}

fn fnv1a32(values: &[i64]) -> u32 {
    let mut h: u32 = 0x811C_9DC5;
    for v in values {
        for byte in v.to_le_bytes() {
            h ^= u32::from(byte);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
}

#[test]
fn fixtures_record_versions() {
    for name in ["alphas_cumprod.json", "timesteps.json", "steps.json"] {
        let v = fixture(name);
        let versions = &v["versions"];
        assert!(
            versions["torch"].is_string() && versions["diffusers"].is_string(),
            "{name}"
        );
    }
}

#[test]
fn alphas_cumprod_match_diffusers_bit_exactly() {
    let fx = fixture("alphas_cumprod.json");
    let mut checked = 0;
    for case in fx["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let schedule = Schedule::new(&config(&case["config"])).unwrap();
        let indices: Vec<usize> = case["indices"]
            .as_array()
            .unwrap()
            .iter()
            .map(usize_of)
            .collect();
        for (what, got_all, want_all) in [
            ("betas", schedule.betas(), f32s(&case["betas"])),
            (
                "alphas_cumprod",
                schedule.alphas_cumprod(),
                f32s(&case["alphas_cumprod"]),
            ),
        ] {
            for (&i, &want) in indices.iter().zip(&want_all) {
                let got = got_all[i];
                assert_eq!(
                    got.to_bits(),
                    want.to_bits(),
                    "{name}: {what}[{i}] = {got:e}, diffusers has {want:e}"
                );
                checked += 1;
            }
        }
        assert_eq!(
            schedule.alphas_cumprod().len(),
            schedule.num_train_timesteps(),
            "{name}"
        );
    }
    assert!(checked > 100);
}

#[test]
fn forward_process_helpers() {
    let schedule = Schedule::new(&SchedulerConfig::default()).unwrap();
    for t in [0, 1, 500, 999] {
        let a = f64::from(schedule.sqrt_alpha_bar(t));
        let b = f64::from(schedule.sqrt_one_minus_alpha_bar(t));
        assert!((a * a + b * b - 1.0).abs() < 1e-6, "t = {t}");
        assert!((a * a - f64::from(schedule.alphas_cumprod()[t])).abs() < 1e-6);
    }
    assert!(schedule.sqrt_alpha_bar(0) > schedule.sqrt_alpha_bar(999));
}

#[test]
fn timesteps_match_diffusers() {
    let fx = fixture("timesteps.json");
    let cases = fx["cases"].as_array().unwrap();
    for case in cases {
        let cfg = config(&case["config"]);
        let n = usize_of(&case["num_inference_steps"]);
        let label = format!(
            "T={} spacing={} offset={} N={n}",
            cfg.num_train_timesteps,
            cfg.timestep_spacing.as_str(),
            cfg.steps_offset
        );
        let schedule = Schedule::new(&cfg).unwrap();
        let samplers = [
            Sampler::Ddpm {
                variance: DdpmVariance::FixedSmall,
            },
            Sampler::Ddim { eta: 0.0 },
        ];
        if case.get("error").is_some() {
            // diffusers raised ValueError (N > T).
            assert!(
                matches!(
                    schedule.timesteps(n),
                    Err(SchedulerError::InvalidStepCount { .. })
                ),
                "{label}: diffusers refused, we did not"
            );
            for s in samplers {
                assert!(matches!(
                    schedule.plan(s, n),
                    Err(SchedulerError::InvalidStepCount { .. })
                ));
            }
            continue;
        }
        let want = decode_runs(&case["timesteps_runs"]);
        let got = schedule.timesteps(n).unwrap();
        assert_eq!(got, want, "{label}: raw timesteps differ from diffusers");
        let in_range = case["in_range"].as_bool().unwrap();
        for s in samplers {
            match schedule.plan(s, n) {
                Ok(plan) => {
                    assert!(
                        in_range,
                        "{label}: diffusers' list leaves 0..T but plan accepted it"
                    );
                    let want_u32: Vec<u32> = want.iter().map(|&t| t as u32).collect();
                    assert_eq!(plan.timesteps, want_u32, "{label} {s:?}");
                    assert_eq!(plan.coeffs.len(), plan.timesteps.len());
                    assert_eq!(plan.prev_timesteps.len(), plan.timesteps.len());
                    assert_eq!(plan.num_inference_steps, n);
                }
                Err(SchedulerError::TimestepOutOfRange { timestep, .. }) => {
                    assert!(!in_range, "{label}: plan refused an in-range list");
                    assert!(timestep < 0 || timestep >= cfg.num_train_timesteps as i64);
                }
                Err(e) => panic!("{label}: unexpected error {e}"),
            }
        }
    }
    assert!(cases.len() > 100);
}

#[test]
fn timesteps_match_diffusers_for_every_step_count() {
    let fx = fixture("timesteps.json");
    for case in fx["exhaustive"].as_array().unwrap() {
        let cfg = config(&case["config"]);
        let schedule = Schedule::new(&cfg).unwrap();
        let hashes = case["fnv1a32_hex_per_n"].as_str().unwrap();
        assert_eq!(hashes.len(), 8 * cfg.num_train_timesteps);
        for n in 1..=cfg.num_train_timesteps {
            let want = u32::from_str_radix(&hashes[8 * (n - 1)..8 * n], 16).unwrap();
            let got = schedule.timesteps(n).unwrap();
            assert_eq!(
                fnv1a32(&got),
                want,
                "spacing={} offset={} N={n}: timesteps {:?}... differ from diffusers",
                cfg.timestep_spacing.as_str(),
                cfg.steps_offset,
                &got[..got.len().min(8)]
            );
        }
    }
}

#[test]
fn single_steps_match_diffusers() {
    let fx = fixture("steps.json");
    let sample = f32s(&fx["sample"]);
    let model_output = f32s(&fx["model_output"]);
    let noise = f32s(&fx["noise"]);
    let len: usize = fx["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(usize_of)
        .product();
    assert_eq!(sample.len(), len);

    let cases = fx["cases"].as_array().unwrap();
    let mut failures = Vec::new();
    let mut worst = (0.0f32, String::new());
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let cfg = config(&case["config"]);
        let sampler = match case["sampler"].as_str().unwrap() {
            "ddpm" => Sampler::Ddpm {
                variance: DdpmVariance::from_config(&cfg),
            },
            "ddim" => Sampler::Ddim {
                eta: case["eta"].as_f64().unwrap() as f32,
            },
            other => panic!("{name}: unknown sampler {other}"),
        };
        let n = usize_of(&case["num_inference_steps"]);
        let i = usize_of(&case["step_index"]);
        // DDIM with diffusers' use_clipped_model_output=True is the clipping choice "recompute".
        let clipping = case["clipping"]
            .as_str()
            .map_or(Clipping::Checkpoint, |c| Clipping::parse(c).unwrap());
        let plan = Schedule::new(&cfg)
            .unwrap()
            .plan_clipped(sampler, n, clipping)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            i64::from(plan.timesteps[i]),
            case["timestep"].as_i64().unwrap(),
            "{name}: timestep"
        );
        assert_eq!(
            plan.prev_timesteps[i],
            case["prev_timestep"].as_i64().unwrap(),
            "{name}: previous timestep"
        );
        let c = plan.coeffs[i];
        assert_eq!(c.timestep, plan.timesteps[i] as f32);

        // A step without noise must not need the noise buffer.
        let noise_in: &[f32] = if c.needs_noise() { &noise } else { &[] };
        let mut prev = vec![0.0; len];
        let mut x0 = vec![0.0; len];
        c.apply(&sample, &model_output, noise_in, &mut prev, &mut x0);

        for (what, got_all, want_all) in [
            ("prev_sample", &prev, f32s(&case["prev_sample"])),
            (
                "pred_original_sample",
                &x0,
                f32s(&case["pred_original_sample"]),
            ),
        ] {
            for (k, (&got, &want)) in got_all.iter().zip(&want_all).enumerate() {
                let err = (got - want).abs() / (1.0 + want.abs());
                if err > worst.0 {
                    worst = (err, format!("{name} {what}[{k}]"));
                }
                if !close(got, want) {
                    failures.push(format!("{name}: {what}[{k}] got {got:e}, wanted {want:e}"));
                }
            }
        }
    }
    println!(
        "{} cases; worst |got - want| / (1 + |want|) = {:e} at {}",
        cases.len(),
        worst.0,
        worst.1
    );
    assert!(
        failures.is_empty(),
        "{} mismatches (showing up to 40):\n{}",
        failures.len(),
        failures
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn saved_diffusers_configs_parse() {
    let ddpm_text = std::fs::read_to_string(
        [
            env!("CARGO_MANIFEST_DIR"),
            "tests/fixtures/scheduler/ddpm_scheduler_config.json",
        ]
        .iter()
        .collect::<PathBuf>(),
    )
    .unwrap();
    let ddpm = SchedulerConfig::from_json_str(&ddpm_text).unwrap();
    assert_eq!(ddpm.variance_type, DdpmVariance::FixedLarge);
    assert_eq!(DdpmVariance::from_config(&ddpm), DdpmVariance::FixedLarge);
    assert_eq!(ddpm.clip_sample_range, 1.5);
    assert_eq!(ddpm.num_train_timesteps, 1000);
    assert!(
        ddpm.set_alpha_to_one,
        "DDPM configs lack the key: DDIM's default applies"
    );

    let ddim_text = std::fs::read_to_string(
        [
            env!("CARGO_MANIFEST_DIR"),
            "tests/fixtures/scheduler/ddim_scheduler_config.json",
        ]
        .iter()
        .collect::<PathBuf>(),
    )
    .unwrap();
    let ddim: SchedulerConfig = serde_json::from_str(&ddim_text).unwrap();
    assert_eq!(ddim.beta_schedule, BetaSchedule::ScaledLinear);
    assert_eq!(ddim.prediction_type, PredictionType::VPrediction);
    assert_eq!(ddim.timestep_spacing, TimestepSpacing::Leading);
    assert_eq!(ddim.steps_offset, 1);
    assert!(!ddim.set_alpha_to_one && !ddim.clip_sample);
    assert_eq!(
        ddim.variance_type,
        DdpmVariance::FixedSmall,
        "DDIM configs lack the key"
    );
    assert_eq!(ddim.beta_start, 0.00085);
}

#[test]
fn empty_config_is_diffusers_defaults() {
    let c = SchedulerConfig::from_json_str("{}").unwrap();
    assert_eq!(c, SchedulerConfig::default());
    assert_eq!(c.num_train_timesteps, 1000);
    assert_eq!((c.beta_start, c.beta_end), (0.0001, 0.02));
    assert_eq!(c.beta_schedule, BetaSchedule::Linear);
    assert!(c.clip_sample && !c.thresholding && c.set_alpha_to_one);
    // null means "unset", as diffusers writes it.
    let c2 = SchedulerConfig::from_json_str(r#"{"trained_betas": null, "prediction_type": null}"#)
        .unwrap();
    assert_eq!(c2, c);
}

fn err_of(json: &str) -> SchedulerError {
    SchedulerConfig::from_json_str(json).expect_err(json)
}

#[test]
fn bad_beta_schedule_is_refused_with_a_useful_message() {
    let e = err_of(r#"{"beta_schedule": "sigmoid"}"#);
    assert!(matches!(
        e,
        SchedulerError::UnsupportedValue {
            field: "beta_schedule",
            ..
        }
    ));
    let msg = e.to_string();
    assert!(
        msg.contains("beta_schedule") && msg.contains("sigmoid"),
        "{msg}"
    );
    assert!(
        msg.contains("linear") && msg.contains("squaredcos_cap_v2"),
        "{msg}"
    );
}

#[test]
fn thresholding_is_refused() {
    let e = err_of(r#"{"thresholding": true}"#);
    assert_eq!(e, SchedulerError::ThresholdingUnsupported);
    assert!(e.to_string().contains("\"thresholding\": false"), "{e}");
    // Also when the config is built in code.
    let cfg = SchedulerConfig {
        thresholding: true,
        ..Default::default()
    };
    assert_eq!(
        Schedule::new(&cfg).unwrap_err(),
        SchedulerError::ThresholdingUnsupported
    );
}

#[test]
fn other_unsupported_options_are_refused() {
    for (json, field) in [
        (r#"{"variance_type": "learned_range"}"#, "variance_type"),
        (r#"{"prediction_type": "x0"}"#, "prediction_type"),
        (r#"{"timestep_spacing": "karras"}"#, "timestep_spacing"),
        (
            r#"{"rescale_betas_zero_snr": true}"#,
            "rescale_betas_zero_snr",
        ),
    ] {
        match err_of(json) {
            SchedulerError::UnsupportedValue { field: f, .. } => assert_eq!(f, field, "{json}"),
            e => panic!("{json}: {e}"),
        }
    }
    for (json, field) in [
        (r#"{"num_train_timesteps": 0}"#, "num_train_timesteps"),
        (r#"{"beta_end": 1.5}"#, "beta_end"),
        (r#"{"clip_sample_range": -1}"#, "clip_sample_range"),
        (
            r#"{"num_train_timesteps": 3, "trained_betas": [0.1, 0.2]}"#,
            "trained_betas",
        ),
    ] {
        match err_of(json) {
            SchedulerError::InvalidNumber { field: f, .. } => assert_eq!(f, field, "{json}"),
            e => panic!("{json}: {e}"),
        }
    }
    let e = err_of(r#"{"num_train_timesteps": "1000"}"#);
    assert!(
        matches!(e, SchedulerError::Json(_)) && e.to_string().contains("num_train_timesteps"),
        "{e}"
    );
    assert!(matches!(err_of("not json"), SchedulerError::Json(_)));
    assert!(matches!(err_of("[1, 2]"), SchedulerError::Json(_)));
    let cfg = SchedulerConfig {
        num_train_timesteps: 2,
        trained_betas: Some(vec![0.1, 1.0]),
        ..Default::default()
    };
    assert!(matches!(
        Schedule::new(&cfg),
        Err(SchedulerError::InvalidBeta { index: 1, .. })
    ));
}

#[test]
fn bad_step_counts_and_eta_are_refused() {
    let schedule = Schedule::new(&SchedulerConfig::default()).unwrap();
    let ddpm = Sampler::Ddpm {
        variance: DdpmVariance::FixedSmall,
    };
    assert_eq!(
        schedule.plan(ddpm, 0).unwrap_err(),
        SchedulerError::InvalidStepCount {
            found: 0,
            max: 1000
        }
    );
    let e = schedule.plan(Sampler::Ddim { eta: 0.0 }, 1001).unwrap_err();
    assert_eq!(
        e,
        SchedulerError::InvalidStepCount {
            found: 1001,
            max: 1000
        }
    );
    assert!(
        e.to_string().contains("1001") && e.to_string().contains("1..=1000"),
        "{e}"
    );
    for eta in [1.5, -0.1, f32::NAN, f32::INFINITY] {
        let e = schedule.plan(Sampler::Ddim { eta }, 10).unwrap_err();
        assert!(
            matches!(e, SchedulerError::InvalidEta { .. }),
            "eta {eta}: {e}"
        );
    }
    assert!(schedule.plan(Sampler::Ddim { eta: 1.0 }, 10).is_ok());
}

#[test]
fn out_of_range_diffusers_timesteps_are_refused() {
    // Trailing spacing, T = 1000, N = 61: numpy's arange yields 62 values, the last -1.
    let cfg = SchedulerConfig {
        timestep_spacing: TimestepSpacing::Trailing,
        ..Default::default()
    };
    let schedule = Schedule::new(&cfg).unwrap();
    let raw = schedule.timesteps(61).unwrap();
    assert_eq!((raw.len(), raw[raw.len() - 1]), (62, -1));
    let e = schedule.plan(Sampler::Ddim { eta: 0.0 }, 61).unwrap_err();
    assert!(
        matches!(e, SchedulerError::TimestepOutOfRange { timestep: -1, .. }),
        "{e}"
    );
    // Leading spacing with steps_offset 1 and N = T starts at t = T.
    let cfg = SchedulerConfig {
        steps_offset: 1,
        ..Default::default()
    };
    let e = Schedule::new(&cfg)
        .unwrap()
        .plan(
            Sampler::Ddpm {
                variance: DdpmVariance::FixedSmall,
            },
            1000,
        )
        .unwrap_err();
    assert!(
        matches!(e, SchedulerError::TimestepOutOfRange { timestep: 1000, .. }),
        "{e}"
    );
}

#[test]
fn step_coeffs_layout_and_apply() {
    assert_eq!(std::mem::size_of::<StepCoeffs>(), 48);
    let c = StepCoeffs {
        x0_from_sample: 2.0,
        x0_from_model: -1.0,
        clip: 1.0,
        clip_range: 1.0,
        eps_from_sample: 0.5,
        eps_from_model: 0.25,
        prev_from_x0: 1.0,
        prev_from_sample: 0.1,
        prev_from_eps: 0.01,
        prev_from_noise: 0.0,
        timestep: 7.0,
        prev_from_prev_x0: 0.0,
    };
    let bytes: &[u8] = bytemuck::bytes_of(&c);
    assert_eq!(
        &bytes[40..44],
        &7.0f32.to_le_bytes(),
        "timestep is the 11th f32"
    );
    assert!(!c.needs_noise());
    let (s, m) = ([1.0f32, 0.25], [0.5f32, 0.0]);
    let (mut prev, mut x0) = ([0.0f32; 2], [0.0f32; 2]);
    c.apply(&s, &m, &[], &mut prev, &mut x0);
    // x0_raw = [1.5, 0.5] -> clipped [1.0, 0.5]; eps = [0.625, 0.125] (from the unclipped values).
    assert_eq!(x0, [1.0, 0.5]);
    assert_eq!(prev, [1.0 + 0.1 + 0.00625, 0.5 + 0.025 + 0.00125]);
    let unclipped = StepCoeffs { clip: 0.0, ..c };
    unclipped.apply(&s, &m, &[], &mut prev, &mut x0);
    assert_eq!(x0, [1.5, 0.5]);
}

#[test]
fn plan_properties() {
    let schedule = Schedule::new(&SchedulerConfig::default()).unwrap();
    // DDIM with eta = 0 never needs noise; DDPM needs it on every step but the one at t = 0.
    let ddim = schedule.plan(Sampler::Ddim { eta: 0.0 }, 50).unwrap();
    assert!(ddim.coeffs.iter().all(|c| !c.needs_noise()));
    let ddpm = schedule
        .plan(
            Sampler::Ddpm {
                variance: DdpmVariance::FixedSmall,
            },
            50,
        )
        .unwrap();
    let noisy: Vec<bool> = ddpm.coeffs.iter().map(StepCoeffs::needs_noise).collect();
    assert_eq!(*ddpm.timesteps.last().unwrap(), 0);
    assert!(noisy[..49].iter().all(|&b| b) && !noisy[49]);
    // The DDIM final step (set_alpha_to_one) lands exactly on the clipped x0.
    let last = ddim.coeffs.last().unwrap();
    assert_eq!(
        (last.prev_from_x0, last.prev_from_eps, last.prev_from_noise),
        (1.0, 0.0, 0.0)
    );
}

/// Issue 16: betas in (0, 1) whose float32 alpha-bar is 1 or 0 (NaN images otherwise), T past
/// 2^24, and trained betas outside (0, 1) are refused, naming the timestep and what to change.
#[test]
fn schedules_that_break_float32_are_refused() {
    let schedule_err = |json: &str| {
        SchedulerConfig::from_json_str(json)
            .and_then(|c| Schedule::new(&c))
            .expect_err(json)
    };
    let e = schedule_err(r#"{"beta_start": 1e-12}"#);
    assert!(
        matches!(e, SchedulerError::InvalidAlphaBar { index: 0, .. }),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("alphas_cumprod[0] = 1.0")
            && e.to_string().contains("raise beta_start"),
        "{e}"
    );
    let e = schedule_err(r#"{"beta_end": 0.999, "num_train_timesteps": 4000}"#);
    match &e {
        SchedulerError::InvalidAlphaBar { index, value, .. } => {
            assert!(*index > 100 && *index < 4000, "{e}");
            assert!(*value == 0.0 || !(1.0 / value).is_finite(), "{e}");
        }
        other => panic!("wanted InvalidAlphaBar, got {other:?}"),
    }
    assert!(
        e.to_string().contains("underflows") && e.to_string().contains("lower beta_end"),
        "{e}"
    );
    let e = schedule_err(r#"{"num_train_timesteps": 16777217}"#);
    assert!(
        e.to_string().contains("num_train_timesteps") && e.to_string().contains("16777217"),
        "{e}"
    );
    for (betas, index) in [("[0.1, 0.0]", 1), ("[-0.1, 0.2]", 0), ("[0.1, 1.0]", 1)] {
        let e = schedule_err(&format!(
            r#"{{"num_train_timesteps": 2, "trained_betas": {betas}}}"#
        ));
        assert!(
            matches!(e, SchedulerError::InvalidBeta { index: i, .. } if i == index),
            "{betas}: {e:?}"
        );
        assert!(e.to_string().contains("(0, 1)"), "{e}");
    }
    // The defaults and diffusers' usual schedules stay accepted.
    for json in [
        r#"{}"#,
        r#"{"beta_schedule": "squaredcos_cap_v2"}"#,
        r#"{"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}"#,
        r#"{"beta_start": 1e-7}"#,
    ] {
        let config = SchedulerConfig::from_json_str(json).unwrap();
        Schedule::new(&config).unwrap_or_else(|e| panic!("{json}: {e}"));
    }
}

#[test]
fn clipping_choices_override_the_config_and_refuse_what_does_not_apply() {
    let cfg = SchedulerConfig::from_json_str(r#"{"clip_sample": true, "clip_sample_range": 1.5}"#)
        .unwrap();
    let s = Schedule::new(&cfg).unwrap();
    let ddim = Sampler::Ddim { eta: 0.5 };
    let clip_of = |c: Clipping, sampler| {
        s.plan_clipped(sampler, 10, c)
            .unwrap()
            .coeffs
            .iter()
            .map(|c| (c.clip, c.clip_range))
            .collect::<Vec<_>>()
    };
    assert!(clip_of(Clipping::Checkpoint, ddim)
        .iter()
        .all(|&c| c == (1.0, 1.5)));
    assert!(clip_of(Clipping::Off, ddim).iter().all(|&(c, _)| c == 0.0));
    let unclipped = Schedule::new(&SchedulerConfig::default()).unwrap();
    let forced = unclipped
        .plan_clipped(ddim, 10, Clipping::Clip)
        .unwrap()
        .coeffs;
    assert!(forced.iter().all(|c| c.clip == 1.0 && c.clip_range == 1.0));
    // Off and Clip leave the update itself alone; recompute moves the eps weight onto x_t.
    let plain = s.plan(ddim, 10).unwrap().coeffs;
    let recompute = s
        .plan_clipped(ddim, 10, Clipping::ClipRecomputeEps)
        .unwrap()
        .coeffs;
    for (p, r) in plain.iter().zip(&recompute) {
        assert_eq!(r.prev_from_eps, 0.0);
        assert_eq!(r.prev_from_noise, p.prev_from_noise);
        assert!(r.prev_from_sample > 0.0 || p.prev_from_eps == 0.0);
    }
    for (clipping, sampler) in [
        (
            Clipping::ClipRecomputeEps,
            Sampler::Ddpm {
                variance: DdpmVariance::FixedSmall,
            },
        ),
        (Clipping::Clip, Sampler::DpmSolverPP),
        (Clipping::ClipRecomputeEps, Sampler::DpmSolverPP),
    ] {
        let e = s.plan_clipped(sampler, 10, clipping).unwrap_err();
        assert!(matches!(e, SchedulerError::ClippingNotFor { .. }), "{e}");
        assert!(e.to_string().contains("does not apply"), "{e}");
    }
    assert!(s
        .plan_clipped(Sampler::DpmSolverPP, 10, Clipping::Off)
        .is_ok());
    assert_eq!(
        Clipping::parse("recompute"),
        Some(Clipping::ClipRecomputeEps)
    );
    assert_eq!(Clipping::parse("sometimes"), None);
}
