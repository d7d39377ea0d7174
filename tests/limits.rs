//! Issue 16's hostile inputs to the loader: config sizes past the engine's limits
//! (`src/model/limits.rs`), damaged safetensors files and malformed `.npy` files. Each must be
//! refused before anything large is allocated, with an error that names what is wrong — never
//! a panic (these tests run in debug, so arithmetic overflow would panic).

mod common;

use common::fixture;
use diffusion_playground::model::limits::{MAX_BATCH, MAX_SAMPLE_SIDE};
use diffusion_playground::model::{Checkpoint, CheckpointFiles, ModelError, UNet, UNetConfig};
use diffusion_playground::npy::{self, NpyError};
use diffusion_playground::{Error, ErrorKind};

fn tiny_files() -> CheckpointFiles {
    CheckpointFiles::read_dir(&fixture("models/tiny")).unwrap()
}

fn tiny_config(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&tiny_files().config_json).unwrap();
    edit(&mut v);
    v.to_string()
}

/// The config error of the tiny config after `edit`, as text.
fn config_err(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let text = tiny_config(edit);
    let err = UNetConfig::from_json_str(&text).expect_err("config must be refused");
    assert!(
        matches!(
            err,
            ModelError::Unsupported { .. } | ModelError::Config { .. }
        ),
        "{err:?}"
    );
    err.to_string()
}

fn assert_mentions(message: &str, needles: &[&str]) {
    for needle in needles {
        assert!(
            message.contains(needle),
            "`{message}` does not mention `{needle}`"
        );
    }
}

/// An edit of config.json's JSON.
type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;

#[test]
fn config_sizes_past_the_limits_are_named() {
    use serde_json::json;
    let levels = |n: usize, c: u64| {
        move |v: &mut serde_json::Value| {
            v["block_out_channels"] = json!(vec![c; n]);
            v["down_block_types"] = json!(vec!["DownBlock2D"; n]);
            v["up_block_types"] = json!(vec!["UpBlock2D"; n]);
        }
    };
    let cases: Vec<(Edit, &[&str])> = vec![
        (
            Box::new(|v| v["block_out_channels"] = json!([])),
            &["block_out_channels", "0 levels", "1 to 8"],
        ),
        (Box::new(levels(65, 8)), &["65 levels", "1 to 8"]),
        (
            Box::new(levels(3, 1 << 62)),
            &["block_out_channels[0]", "4611686018427387904", "1 to 4096"],
        ),
        (
            Box::new(|v| v["sample_size"] = json!(1u64 << 31)),
            &["sample_size", "2147483648", "1 to 4096"],
        ),
        (
            Box::new(|v| v["sample_size"] = json!(46340)),
            &["sample_size", "46340", "1 to 4096"],
        ),
        (
            Box::new(|v| v["sample_size"] = json!([16, 0])),
            &["sample_size (width)", "1 to 4096"],
        ),
        (
            Box::new(|v| v["norm_num_groups"] = json!(0)),
            &["norm_num_groups", "positive divisor"],
        ),
        (
            Box::new(|v| v["attention_head_dim"] = json!(0)),
            &["attention_head_dim", "positive divisor"],
        ),
        (
            Box::new(|v| v["layers_per_block"] = json!(0)),
            &["layers_per_block", "1 to 16"],
        ),
        (
            Box::new(|v| v["layers_per_block"] = json!(1u64 << 40)),
            &["layers_per_block", "1 to 16"],
        ),
        (
            Box::new(|v| v["in_channels"] = json!(0)),
            &["in_channels", "1 to 256"],
        ),
        (
            Box::new(|v| v["out_channels"] = json!(1u64 << 33)),
            &["out_channels", "1 to 256"],
        ),
        (
            Box::new(|v| v["time_embedding_dim"] = json!(1u64 << 50)),
            &["time_embedding_dim", "1 to 16384"],
        ),
        (
            Box::new(|v| v["norm_eps"] = json!(1e-50)),
            &["norm_eps", "float32"],
        ),
        (
            Box::new(|v| v["mid_block_scale_factor"] = json!(1e-300)),
            &["mid_block_scale_factor"],
        ),
        (
            Box::new(|v| v["freq_shift"] = json!(8)),
            &["freq_shift", "half of block_out_channels[0]"],
        ),
    ];
    for (edit, needles) in cases {
        assert_mentions(&config_err(edit), needles);
    }
    // Negative numbers and wrong types are JSON errors that name the field.
    let err = UNetConfig::from_json_str(&tiny_config(|v| v["sample_size"] = json!(-16)));
    assert!(
        err.unwrap_err().to_string().contains("config.json"),
        "negative sample_size"
    );
}

#[test]
fn tensors_past_2_pow_28_elements_are_refused_before_allocation() {
    // A model within every per-field limit whose first feature map would be 2^35 floats.
    let cfg = UNetConfig::from_json_str(&tiny_config(|v| {
        v["sample_size"] = serde_json::json!(4096);
        v["block_out_channels"] = serde_json::json!([2048, 2048, 2048]);
        v["norm_num_groups"] = serde_json::json!(32);
        v["time_embedding_dim"] = serde_json::json!(8);
    }))
    .unwrap();
    let err = UNet::random(cfg, 1).unwrap_err().to_string();
    assert_mentions(&err, &["conv_in", "2^28", "smaller batch"]);

    // A real-sized model is fine at batch 1, but not at 1024 images of 256x256.
    let cfg = UNetConfig::from_json_str(&tiny_config(|v| {
        v["sample_size"] = serde_json::json!(256);
    }))
    .unwrap();
    let unet = UNet::random(cfg, 1).unwrap();
    assert!(unet.graph(1).is_ok());
    let err = unet.graph(MAX_BATCH).unwrap_err().to_string();
    assert_mentions(&err, &["2^28", "smaller batch"]);
}

#[test]
fn batch_and_sample_size_are_bounded() {
    let unet = Checkpoint::from_files(&tiny_files()).unwrap().unet;
    for batch in [0, MAX_BATCH + 1, usize::MAX] {
        let err = Error::from(unet.graph(batch).unwrap_err());
        assert_eq!(err.kind(), ErrorKind::BadInput, "{err}");
        assert!(err.to_string().contains("1 to 1024"), "{err}");
    }
    let big = MAX_SAMPLE_SIDE + 4;
    for (h, w) in [(46340, 46340), (1 << 31, 16), (16, big), (usize::MAX, 16)] {
        let err = unet.clone().with_sample_hw(h, w).unwrap_err().to_string();
        assert_mentions(&err, &["sample size", "1 to 4096"]);
    }
}

/// The tiny checkpoint's safetensors bytes with the header length field `n`.
fn with_header_length(n: u64) -> CheckpointFiles {
    let mut files = tiny_files();
    files.safetensors[..8].copy_from_slice(&n.to_le_bytes());
    files
}

fn safetensors_err(files: &CheckpointFiles) -> String {
    let err = Checkpoint::from_files(files).unwrap_err();
    assert!(matches!(err, ModelError::Safetensors { .. }), "{err:?}");
    assert_eq!(Error::from(err).kind(), ErrorKind::BadCheckpoint);
    Checkpoint::from_files(files).unwrap_err().to_string()
}

#[test]
fn safetensors_header_lengths_past_the_file_are_refused() {
    let len = tiny_files().safetensors.len() as u64;
    let err = safetensors_err(&with_header_length(1 << 63));
    assert_mentions(&err, &["9223372036854775808", "only", "download or export"]);
    let err = safetensors_err(&with_header_length(len - 7));
    assert_mentions(
        &err,
        &[&format!("says {} bytes but only {}", len - 7, len - 8)],
    );
    let err = safetensors_err(&with_header_length(u64::MAX));
    assert_mentions(&err, &["header length"]);
    let mut files = tiny_files();
    files.safetensors.truncate(3);
    assert_mentions(
        &safetensors_err(&files),
        &["3 bytes", "8-byte header length"],
    );
}

/// A safetensors file of F32 tensors with the given header entries and `data_len` data bytes.
fn raw_safetensors(entries: &[(&str, &str, &str)], data_len: usize) -> CheckpointFiles {
    let header = entries
        .iter()
        .map(|(name, shape, offsets)| {
            format!(r#""{name}":{{"dtype":"F32","shape":{shape},"data_offsets":{offsets}}}"#)
        })
        .collect::<Vec<_>>()
        .join(",");
    let header = format!("{{{header}}}");
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend(std::iter::repeat_n(0u8, data_len));
    CheckpointFiles {
        safetensors: bytes,
        ..tiny_files()
    }
}

#[test]
fn overlapping_gapped_and_overflowing_tensors_are_refused() {
    let overlap = raw_safetensors(&[("a", "[2]", "[0,8]"), ("b", "[2]", "[4,12]")], 12);
    assert_mentions(
        &safetensors_err(&overlap),
        &["offset", "no gaps or overlaps"],
    );
    let gap = raw_safetensors(&[("a", "[2]", "[0,8]"), ("b", "[2]", "[12,20]")], 20);
    assert_mentions(&safetensors_err(&gap), &["offset", "no gaps or overlaps"]);
    let short = raw_safetensors(&[("a", "[2]", "[0,8]")], 12);
    assert_mentions(&safetensors_err(&short), &["no gaps or overlaps"]);
    let overflow = raw_safetensors(&[("a", "[4294967296,4294967296,16]", "[0,8]")], 8);
    assert_mentions(&safetensors_err(&overflow), &["overflow", "shape"]);
    let mismatch = raw_safetensors(&[("a", "[3]", "[0,8]")], 8);
    assert_mentions(&safetensors_err(&mismatch), &["shape and dtype"]);
}

#[test]
fn non_finite_weights_are_refused_naming_the_tensor() {
    let files = tiny_files();
    let n = u64::from_le_bytes(files.safetensors[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&files.safetensors[8..8 + n]).unwrap();
    let (name, info) = header
        .as_object()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_str() != "__metadata__")
        .unwrap();
    let start = info["data_offsets"][0].as_u64().unwrap() as usize;
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut files = files.clone();
        let at = 8 + n + start + 4;
        files.safetensors[at..at + 4].copy_from_slice(&bad.to_le_bytes());
        let err = Checkpoint::from_files(&files).unwrap_err();
        match &err {
            ModelError::NonFinite { name: got, index } => {
                assert_eq!(got, name);
                assert_eq!(*index, 1);
            }
            other => panic!("{bad}: wanted NonFinite, got {other:?}"),
        }
        assert_mentions(&err.to_string(), &[name, "non-finite", "index 1"]);
    }
}

/// A version-1 `.npy` with header text `header` (padded) and `data` bytes.
fn npy_with(header: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

fn npy_err(bytes: &[u8]) -> String {
    npy::read(bytes).expect_err("must be refused").to_string()
}

#[test]
fn malformed_npy_files_are_refused() {
    let good = npy::write(&[2, 2], &[1.0; 4]);
    assert!(matches!(
        npy::read(b"\x93NUMPX\x01\x00\x00\x00"),
        Err(NpyError::Magic)
    ));
    assert!(matches!(npy::read(&good[..7]), Err(NpyError::Magic)));
    let mut past_end = good.clone();
    past_end[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
    assert!(npy_err(&past_end).contains("65535 bytes but the file has only"));
    let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
    v2.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(npy_err(&v2).contains("4294967295 bytes"));
    let mut v9 = good.clone();
    v9[6] = 9;
    assert!(npy_err(&v9).contains("unsupported format version 9"));
    let f4 = |descr: &str, order: &str, shape: &str| {
        format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}\n")
    };
    let data = [0u8; 16];
    for descr in ["<f8", ">f4", "<i4", "|u1"] {
        let err = npy::read(&npy_with(&f4(descr, "False", "(4,)"), &data)).unwrap_err();
        assert!(matches!(&err, NpyError::Dtype(d) if d == descr), "{err:?}");
        assert!(err.to_string().contains("float32"), "{err}");
    }
    let fortran = npy_with(&f4("<f4", "True", "(2, 2)"), &data);
    assert!(matches!(npy::read(&fortran), Err(NpyError::FortranOrder)));
    assert!(npy_err(&npy_with(&f4("<f4", "Maybe", "(4,)"), &data)).contains("True or False"));
    let huge = npy_with(&f4("<f4", "False", "(4294967296, 4294967296, 2)"), &data);
    assert!(
        npy_err(&huge).contains("more elements"),
        "{}",
        npy_err(&huge)
    );
    let big = npy_with(&f4("<f4", "False", "(65536, 65536)"), &data);
    assert!(npy_err(&big).contains("exactly 17179869184"));
    let extra = npy_with(&f4("<f4", "False", "(3,)"), &data);
    assert!(npy_err(&extra).contains("16 bytes of data but shape [3] of float32 needs exactly 12"));
    let truncated = npy_with(&f4("<f4", "False", "(5,)"), &data);
    assert!(npy_err(&truncated).contains("truncated"));
    for shape in ["(-1,)", "(2.5,)", "4", "(4"] {
        let err = npy::read(&npy_with(&f4("<f4", "False", shape), &data)).unwrap_err();
        assert!(matches!(err, NpyError::Header(_)), "{shape}: {err:?}");
    }
    assert!(matches!(
        npy::read(&npy_with("{}", &data)),
        Err(NpyError::Header(_))
    ));
}
