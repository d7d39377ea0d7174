//! Broken or unsupported checkpoints are refused at load with an error that names the file,
//! field or tensor (and the expected vs found shape) — never a panic.

mod common;

use common::fixture;
use diffusion_playground::model::{
    Checkpoint, CheckpointFiles, ModelError, Tensor, UNet, UNetConfig, Weights,
};
use diffusion_playground::scheduler::SchedulerError;
use diffusion_playground::{Error, ErrorKind};

fn tiny_files() -> CheckpointFiles {
    CheckpointFiles::read_dir(&fixture("models/tiny")).unwrap()
}

fn tiny_weights() -> Vec<(String, Tensor)> {
    let files = tiny_files();
    let st = safetensors::SafeTensors::deserialize(&files.safetensors).unwrap();
    st.iter()
        .map(|(name, view)| {
            let data = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (
                name.to_string(),
                Tensor {
                    shape: view.shape().to_vec(),
                    data,
                },
            )
        })
        .collect()
}

fn load_err(config: &str, tensors: Vec<(String, Tensor)>) -> ModelError {
    let config = UNetConfig::from_json_str(config).expect("config parses");
    UNet::load(config, Weights::from_tensors(tensors)).expect_err("load must fail")
}

fn with_config(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&tiny_files().config_json).unwrap();
    edit(&mut v);
    v.to_string()
}

#[test]
fn truncated_safetensors_is_refused() {
    let mut files = tiny_files();
    files.safetensors.truncate(files.safetensors.len() / 2);
    let err = Checkpoint::from_files(&files).unwrap_err();
    assert!(matches!(err, ModelError::Safetensors { .. }), "{err:?}");
    assert!(err.to_string().contains("truncated"), "{err}");
    files.safetensors.truncate(5);
    assert!(matches!(
        Checkpoint::from_files(&files).unwrap_err(),
        ModelError::Safetensors { .. }
    ));
}

#[test]
fn wrong_shape_names_tensor_and_shapes() {
    let config = tiny_files().config_json;
    let mut tensors = tiny_weights();
    let (_, t) = tensors
        .iter_mut()
        .find(|(n, _)| n == "down_blocks.0.resnets.0.conv1.weight")
        .unwrap();
    t.shape = vec![t.shape[0], t.shape[1], 1, 9];
    let err = load_err(&config, tensors);
    match &err {
        ModelError::TensorShape {
            name,
            expected,
            found,
        } => {
            assert_eq!(name, "down_blocks.0.resnets.0.conv1.weight");
            assert_eq!(expected, &vec![16, 16, 3, 3]);
            assert_eq!(found, &vec![16, 16, 1, 9]);
        }
        other => panic!("wanted TensorShape, got {other:?}"),
    }
    assert!(err.to_string().contains("[16, 16, 3, 3]"), "{err}");
}

#[test]
fn missing_tensor_is_named() {
    let config = tiny_files().config_json;
    let tensors: Vec<_> = tiny_weights()
        .into_iter()
        .filter(|(n, _)| n != "conv_out.bias")
        .collect();
    let err = load_err(&config, tensors);
    assert!(
        matches!(&err, ModelError::MissingTensor { name, .. } if name == "conv_out.bias"),
        "{err:?}"
    );
}

#[test]
fn extra_tensors_mean_config_mismatch() {
    let config = tiny_files().config_json;
    let mut tensors = tiny_weights();
    tensors.push((
        "class_embedding.weight".into(),
        Tensor {
            shape: vec![2],
            data: vec![0.0; 2],
        },
    ));
    let err = load_err(&config, tensors);
    assert!(
        matches!(&err, ModelError::UnusedTensors { examples, .. } if examples.contains("class_embedding")),
        "{err:?}"
    );
}

#[test]
fn unsupported_config_fields_are_named() {
    type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|v| v["down_block_types"][1] = "CrossAttnDownBlock2D".into()),
            "down_block_types[1]",
        ),
        (
            Box::new(|v| v["up_block_types"][0] = "SkipUpBlock2D".into()),
            "up_block_types[0]",
        ),
        (
            Box::new(|v| v["time_embedding_type"] = "fourier".into()),
            "time_embedding_type",
        ),
        (
            Box::new(|v| v["resnet_time_scale_shift"] = "scale_shift".into()),
            "resnet_time_scale_shift",
        ),
        (Box::new(|v| v["act_fn"] = "gelu".into()), "act_fn"),
        (
            Box::new(|v| v["class_embed_type"] = "timestep".into()),
            "class_embed_type",
        ),
        (
            Box::new(|v| v["downsample_type"] = "resnet".into()),
            "downsample_type",
        ),
        (
            Box::new(|v| v["_class_name"] = "UNet2DConditionModel".into()),
            "_class_name",
        ),
    ];
    for (edit, field) in cases {
        let text = with_config(edit);
        let err = UNetConfig::from_json_str(&text).unwrap_err();
        assert!(
            matches!(&err, ModelError::Unsupported { field: f, .. } if f == field),
            "{field}: {err:?}"
        );
        assert!(err.to_string().contains(field), "{err}");
    }
}

#[test]
fn inconsistent_configs_are_refused() {
    let text = with_config(|v| v["norm_num_groups"] = 7.into());
    assert!(UNetConfig::from_json_str(&text)
        .unwrap_err()
        .to_string()
        .contains("norm_num_groups"));
    let text = with_config(|v| v["sample_size"] = 18.into());
    let err = load_err(&text, tiny_weights());
    assert!(
        matches!(err, ModelError::SampleSize { factor: 4, .. }),
        "{err:?}"
    );
    let text = with_config(|v| v["attention_head_dim"] = 7.into());
    let err = load_err(&text, tiny_weights());
    assert!(err.to_string().contains("attention_head_dim"), "{err}");
    let text = with_config(|v| v["down_block_types"] = serde_json::json!(["DownBlock2D"]));
    assert!(matches!(
        UNetConfig::from_json_str(&text).unwrap_err(),
        ModelError::Config { .. }
    ));
    let err = UNetConfig::from_json_str("{ not json").unwrap_err();
    assert!(err.to_string().contains("config.json"), "{err}");
}

#[test]
fn non_float_dtype_is_refused() {
    let data = vec![0u8; 8];
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::I64, vec![1], &data).unwrap();
    let bytes = safetensors::serialize([("conv_in.weight", view)], None).unwrap();
    let err = Weights::from_safetensors(&bytes).unwrap_err();
    assert!(
        matches!(&err, ModelError::TensorDtype { name, .. } if name == "conv_in.weight"),
        "{err:?}"
    );
}

#[test]
fn folders_pickles_and_layouts() {
    let dir = std::env::temp_dir().join(format!("dp-bad-models-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), tiny_files().config_json).unwrap();
    std::fs::write(dir.join("diffusion_pytorch_model.bin"), b"").unwrap();
    let err = Checkpoint::from_dir(&dir).unwrap_err();
    assert!(matches!(err, ModelError::Pickle { .. }), "{err:?}");
    assert!(err.to_string().contains("safetensors"), "{err}");
    std::fs::remove_file(dir.join("diffusion_pytorch_model.bin")).unwrap();
    let err = Checkpoint::from_dir(&dir).unwrap_err();
    assert!(matches!(err, ModelError::MissingFile { .. }), "{err:?}");
    std::fs::remove_dir_all(&dir).unwrap();

    let err = Checkpoint::from_dir(&dir).unwrap_err();
    assert!(matches!(err, ModelError::MissingFile { .. }), "{err:?}");

    // The pipeline layout with unet/ and scheduler/ subfolders loads, scheduler included.
    let ckpt = Checkpoint::from_dir(&fixture("models/nested_layout")).unwrap();
    assert!(
        ckpt.scheduler.is_some(),
        "scheduler/scheduler_config.json is read"
    );
}

#[test]
fn bad_scheduler_config_is_refused_at_load() {
    let mut files = tiny_files();
    files.scheduler_json = Some(r#"{"thresholding": true}"#.into());
    let err = Checkpoint::from_files(&files).unwrap_err();
    assert!(err.to_string().contains("scheduler_config.json"), "{err}");
}

#[test]
fn a_bad_scheduler_config_keeps_its_typed_cause() {
    let mut files = tiny_files();
    files.scheduler_json = Some(r#"{"thresholding": true}"#.into());
    let err = Checkpoint::from_files(&files).unwrap_err();
    let cause = std::error::Error::source(&err).expect("the scheduler error is the source");
    assert!(
        matches!(
            cause.downcast_ref::<SchedulerError>(),
            Some(SchedulerError::ThresholdingUnsupported)
        ),
        "{cause:?}"
    );
    assert_eq!(Error::from(err).kind(), ErrorKind::BadCheckpoint);
}
