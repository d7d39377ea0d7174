//! How much a set of images disagrees: the per-pixel standard deviation across "branches" (runs
//! that share x_t at some step and differ only in the noise drawn after it), for the page's
//! "paths not taken" view and its curve of how much the final image can still change.

use crate::error::InputError;

/// The spread of `branches` images of `channels` x `pixels` values each.
#[derive(Clone, Debug, PartialEq)]
pub struct Spread {
    /// Per pixel: the standard deviation across branches (population, divided by the branch
    /// count) of each channel, averaged over the channels. `pixels` values.
    pub std_map: Vec<f32>,
    /// The mean of `std_map`: the mean per-pixel standard deviation.
    pub mean_std: f64,
}

/// The spread of `images` ((branches, channels, pixels), sample-major as the engine stores a
/// batch). Errors when the length does not fit or there are fewer than two branches.
pub fn spread(
    images: &[f32],
    branches: usize,
    channels: usize,
    pixels: usize,
) -> Result<Spread, InputError> {
    let per_image = channels * pixels;
    if branches < 2 || per_image == 0 || images.len() != branches * per_image {
        return Err(InputError::Length {
            what: "the branches' images",
            found: images.len(),
            expected: branches.max(2) * per_image,
            shape: format!(
                "{} branches (at least 2) of {channels} channels x {pixels} pixels",
                branches
            ),
        });
    }
    let mut std_map = vec![0.0f32; pixels];
    let mut total = 0.0f64;
    let n = branches as f64;
    for c in 0..channels {
        for (p, out) in std_map.iter_mut().enumerate() {
            let at = |b: usize| f64::from(images[b * per_image + c * pixels + p]);
            let mean = (0..branches).map(at).sum::<f64>() / n;
            let var = (0..branches).map(|b| (at(b) - mean).powi(2)).sum::<f64>() / n;
            let std = var.sqrt();
            *out += (std / channels as f64) as f32;
            total += std;
        }
    }
    Ok(Spread {
        std_map,
        mean_std: total / (channels * pixels) as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_branches_have_zero_spread() {
        let one: Vec<f32> = (0..12).map(|i| i as f32 * 0.1 - 0.5).collect();
        let images: Vec<f32> = one.iter().chain(&one).chain(&one).copied().collect();
        let s = spread(&images, 3, 3, 4).unwrap();
        assert_eq!(s.std_map, vec![0.0; 4]);
        assert_eq!(s.mean_std, 0.0);
    }

    #[test]
    fn two_branches_a_known_spread() {
        // 2 branches, 2 channels, 2 pixels: channel 0 differs by 2 at pixel 0 (std 1), channel 1
        // by 1 at pixel 1 (std 0.5).
        let a = [0.0, 0.0, 0.0, 0.0];
        let b = [2.0, 0.0, 0.0, 1.0];
        let images: Vec<f32> = a.iter().chain(&b).copied().collect();
        let s = spread(&images, 2, 2, 2).unwrap();
        assert_eq!(s.std_map, vec![0.5, 0.25]);
        assert_eq!(s.mean_std, 1.5 / 4.0);
    }

    #[test]
    fn bad_lengths_and_one_branch_are_refused() {
        assert!(spread(&[0.0; 7], 2, 1, 4).is_err());
        let e = spread(&[0.0; 4], 1, 1, 4).unwrap_err().to_string();
        assert!(e.contains("at least 2"), "{e}");
    }
}
