//! Minimal `.npy` (NumPy format 1.0/2.0) reading and writing for float32 C-order arrays, the
//! interchange format of the CLI (`--input`, `--init-noise`, `--save-npy`).

use std::fmt::Write as _;

#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("not a .npy file (bad magic); save arrays with numpy.save")]
    Magic,
    #[error("the .npy header is malformed: {0}")]
    Header(String),
    #[error(
        "the array has dtype {0}; convert it first, e.g. `np.save(path, arr.astype(np.float32))`"
    )]
    Dtype(String),
    #[error("the array is Fortran-ordered; save a C-ordered copy with np.ascontiguousarray")]
    FortranOrder,
    #[error(
        "the file holds {found} bytes of data but shape {shape:?} of float32 needs exactly {wanted}: \
         the file is truncated or its header is wrong; save it again with numpy.save"
    )]
    Truncated {
        shape: Vec<usize>,
        wanted: usize,
        found: usize,
    },
}

/// A float32 array with its shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

fn header_value<'a>(header: &'a str, key: &str) -> Result<&'a str, NpyError> {
    let at = header
        .find(&format!("'{key}'"))
        .ok_or_else(|| NpyError::Header(format!("no '{key}' in {header}")))?;
    let rest = &header[at + key.len() + 2..];
    let colon = rest
        .find(':')
        .ok_or_else(|| NpyError::Header(format!("no value for '{key}'")))?;
    Ok(rest[colon + 1..].trim_start())
}

/// Parses a `.npy` file holding float32 (`<f4`) values in C order.
pub fn read(bytes: &[u8]) -> Result<Array, NpyError> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(NpyError::Magic);
    }
    let (header_len, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(NpyError::Header(format!("unsupported format version {v}"))),
    };
    let end = start
        .checked_add(header_len)
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| {
            NpyError::Header(format!(
                "the header length field says {header_len} bytes but the file has only {} after it",
                bytes.len() - start
            ))
        })?;
    let header = std::str::from_utf8(
        bytes
            .get(start..end)
            .ok_or(NpyError::Header("truncated header".into()))?,
    )
    .map_err(|e| NpyError::Header(e.to_string()))?;
    let descr = header_value(header, "descr")?;
    let descr = descr.split('\'').nth(1).unwrap_or("");
    if descr != "<f4" {
        return Err(NpyError::Dtype(descr.to_string()));
    }
    let order = header_value(header, "fortran_order")?;
    if order.starts_with("True") {
        return Err(NpyError::FortranOrder);
    }
    if !order.starts_with("False") {
        return Err(NpyError::Header(format!(
            "'fortran_order' must be True or False in {header}"
        )));
    }
    let shape_text = header_value(header, "shape")?;
    let close = shape_text
        .find(')')
        .ok_or_else(|| NpyError::Header("unterminated shape".into()))?;
    let inner = shape_text
        .get(1..close)
        .ok_or_else(|| NpyError::Header(format!("malformed shape in {header}")))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|e| NpyError::Header(format!("shape: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .and_then(|c| c.checked_mul(4).map(|_| c))
        .ok_or_else(|| {
            NpyError::Header(format!(
                "shape {shape:?} has more elements than this machine can address"
            ))
        })?;
    let data = &bytes[end..];
    if data.len() != count * 4 {
        return Err(NpyError::Truncated {
            shape,
            wanted: count * 4,
            found: data.len(),
        });
    }
    let data = data[..count * 4]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(Array { shape, data })
}

/// Serialises float32 values of `shape` as a version-1.0 `.npy` file.
pub fn write(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let mut dims = String::new();
    for d in shape {
        let _ = write!(dims, "{d}, ");
    }
    if shape.len() > 1 {
        dims.truncate(dims.len() - 2);
    } else if shape.len() == 1 {
        dims.truncate(dims.len() - 1);
    }
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}");
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_dtypes() {
        let data: Vec<f32> = (0..24).map(|i| i as f32 * 0.5 - 3.0).collect();
        for shape in [vec![2, 3, 4], vec![24], vec![1, 1, 2, 12]] {
            let bytes = write(&shape, &data);
            assert_eq!(
                (10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize) % 64,
                0,
                "header is 64-byte aligned"
            );
            assert_eq!(
                read(&bytes).unwrap(),
                Array {
                    shape: shape.clone(),
                    data: data.clone()
                }
            );
        }
        let mut f8 = write(&[2], &[1.0, 2.0]);
        let at = f8.windows(3).position(|w| w == b"<f4").unwrap();
        f8[at + 2] = b'8';
        assert!(matches!(read(&f8), Err(NpyError::Dtype(d)) if d == "<f8"));
        let short = write(&[4], &[1.0; 4]);
        assert!(matches!(
            read(&short[..short.len() - 3]),
            Err(NpyError::Truncated { .. })
        ));
        assert!(matches!(read(b"not numpy at all"), Err(NpyError::Magic)));
    }
}
