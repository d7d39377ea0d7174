//! Tensors of a `diffusion_pytorch_model.safetensors` file, converted to f32 (from F32, F16 or
//! BF16) and handed out by name with their shape checked.

use super::ModelError;
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;

/// A named f32 tensor in torch's layout.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// The checkpoint's tensors; each is taken once by the graph builder, and any left over
/// afterwards means the config does not describe the checkpoint.
#[derive(Clone, Debug, Default)]
pub struct Weights {
    tensors: BTreeMap<String, Tensor>,
    /// The file's storage dtype (of the first floating tensor), for logs.
    pub dtype: Option<String>,
}

fn to_f32(name: &str, dtype: Dtype, bytes: &[u8]) -> Result<Vec<f32>, ModelError> {
    let words = |n: usize| bytes.chunks_exact(n);
    Ok(match dtype {
        Dtype::F32 => words(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => words(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => words(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        other => {
            return Err(ModelError::TensorDtype {
                name: name.to_string(),
                found: format!("{other:?}"),
            })
        }
    })
}

/// The first 8 bytes give the JSON header's length: refused here, with the numbers, when the
/// file cannot hold it (the library would only say "invalid header length").
fn check_header_length(bytes: &[u8]) -> Result<(), ModelError> {
    let reason = match bytes.first_chunk::<8>() {
        None => format!(
            "the file is {} bytes, shorter than the 8-byte header length that starts it",
            bytes.len()
        ),
        Some(head) => {
            let n = u64::from_le_bytes(*head);
            let rest = bytes.len() as u64 - 8;
            if n <= rest {
                return Ok(());
            }
            format!("the header length field says {n} bytes but only {rest} follow it")
        }
    };
    Err(ModelError::Safetensors { reason })
}

/// The library's error, with what it means for the file.
fn explain(e: safetensors::SafeTensorError) -> String {
    use safetensors::SafeTensorError as E;
    match &e {
        E::InvalidOffset(_) | E::MetadataIncompleteBuffer => format!(
            "{e}: each tensor's data must start where the previous one ends, with no gaps or \
             overlaps, and the last must end at the end of the file"
        ),
        E::ValidationOverflow => format!("{e}: a tensor's shape has more elements than can exist"),
        E::TensorInvalidInfo => {
            format!("{e}: a tensor's byte range does not match its shape and dtype")
        }
        _ => e.to_string(),
    }
}

impl Weights {
    /// Parses a safetensors file's bytes. Truncated or malformed files are refused.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self, ModelError> {
        check_header_length(bytes)?;
        let file = SafeTensors::deserialize(bytes)
            .map_err(|e| ModelError::Safetensors { reason: explain(e) })?;
        let mut weights = Weights::default();
        for (name, view) in file.iter() {
            if weights.dtype.is_none() {
                weights.dtype = Some(format!("{:?}", view.dtype()));
            }
            let data = to_f32(name, view.dtype(), view.data())?;
            if let Some(bad) = data.iter().position(|v| !v.is_finite()) {
                return Err(ModelError::NonFinite {
                    name: name.to_string(),
                    index: bad,
                });
            }
            weights.tensors.insert(
                name.to_string(),
                Tensor {
                    shape: view.shape().to_vec(),
                    data,
                },
            );
        }
        Ok(weights)
    }

    /// Builds weights from tensors in memory (tests, converters).
    pub fn from_tensors(tensors: impl IntoIterator<Item = (String, Tensor)>) -> Self {
        Weights {
            tensors: tensors.into_iter().collect(),
            dtype: Some("F32".into()),
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Removes and returns tensor `name`, which must have shape `shape`.
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ModelError> {
        let tensor = self
            .tensors
            .remove(name)
            .ok_or_else(|| ModelError::MissingTensor {
                name: name.to_string(),
                expected: shape.to_vec(),
            })?;
        if tensor.shape != shape {
            return Err(ModelError::TensorShape {
                name: name.to_string(),
                expected: shape.to_vec(),
                found: tensor.shape,
            });
        }
        Ok(tensor.data)
    }

    /// Takes `name` or, when absent, its deprecated alias (old attention blocks' names).
    pub fn take_either(
        &mut self,
        name: &str,
        alias: &str,
        shape: &[usize],
    ) -> Result<Vec<f32>, ModelError> {
        if !self.contains(name) && self.contains(alias) {
            self.take(alias, shape)
        } else {
            self.take(name, shape)
        }
    }

    /// Names of the tensors nobody took.
    pub fn remaining(&self) -> Vec<String> {
        self.tensors.keys().cloned().collect()
    }

    /// Number of parameters left in the store.
    pub fn parameter_count(&self) -> usize {
        self.tensors.values().map(|t| t.data.len()).sum()
    }
}
