//! Pictures for the CLI: batches of images in [-1, 1] as RGBA8, near-square grids, trajectory
//! strips, nearest-neighbour upscaling and PNG encoding (native only).
//!
//! The float -> byte mapping is diffusers' `numpy_to_pil` one, through [`ToRgba8::cpu`], so a
//! grid built here is byte-identical to the GPU's [`Executor::read_rgba`]
//! (`crate::exec::Executor::read_rgba`).
//!
//! [`Executor::read_rgba`]: crate::exec::Executor::read_rgba

use crate::ops::ToRgba8;
use std::path::Path;

/// Errors of building or writing a picture. Messages say which size or file was wrong.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot make a picture: {0}")]
    Size(String),
    #[error("encoding the PNG failed: {0}")]
    Png(#[from] png::EncodingError),
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// An 8-bit RGBA picture, row-major, 4 bytes per pixel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub rgba: Vec<u8>,
}

impl Image {
    /// A `width` x `height` picture filled with one colour.
    pub fn filled(width: usize, height: usize, colour: [u8; 4]) -> Image {
        Image {
            width,
            height,
            rgba: colour.repeat(width * height),
        }
    }

    /// Wraps RGBA bytes (e.g. from `Executor::read_rgba`), checking their length.
    pub fn from_rgba(width: usize, height: usize, rgba: Vec<u8>) -> Result<Image, ImageError> {
        if rgba.len() != width * height * 4 {
            return Err(ImageError::Size(format!(
                "{} bytes do not make a {width}x{height} RGBA picture ({} needed)",
                rgba.len(),
                width * height * 4
            )));
        }
        Ok(Image {
            width,
            height,
            rgba,
        })
    }

    /// Pixels packed as `ToRgba8` packs them (`r | g << 8 | b << 16 | a << 24`).
    pub fn from_packed(width: usize, height: usize, words: &[u32]) -> Result<Image, ImageError> {
        let rgba = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        Image::from_rgba(width, height, rgba)
    }

    /// Every pixel repeated `factor` times in x and y (nearest neighbour).
    pub fn upscale(&self, factor: usize) -> Image {
        let factor = factor.max(1);
        if factor == 1 {
            return self.clone();
        }
        let (w, h) = (self.width * factor, self.height * factor);
        let mut rgba = Vec::with_capacity(w * h * 4);
        for y in 0..h {
            let row = &self.rgba[(y / factor) * self.width * 4..][..self.width * 4];
            for px in row.chunks_exact(4) {
                for _ in 0..factor {
                    rgba.extend_from_slice(px);
                }
            }
        }
        Image {
            width: w,
            height: h,
            rgba,
        }
    }

    /// Copies `src` with its top-left corner at (`x`, `y`), cropping what falls outside.
    pub fn blit(&mut self, src: &Image, x: usize, y: usize) {
        if x >= self.width || y >= self.height {
            return;
        }
        let w = src.width.min(self.width - x);
        for sy in 0..src.height.min(self.height - y) {
            let from = &src.rgba[sy * src.width * 4..][..w * 4];
            self.rgba[((y + sy) * self.width + x) * 4..][..w * 4].copy_from_slice(from);
        }
    }

    /// The picture as an 8-bit RGBA PNG file's bytes.
    pub fn to_png(&self) -> Result<Vec<u8>, ImageError> {
        if self.width == 0
            || self.height == 0
            || self.width > u32::MAX as usize
            || self.height > u32::MAX as usize
        {
            return Err(ImageError::Size(format!(
                "a PNG cannot be {}x{} pixels",
                self.width, self.height
            )));
        }
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
            encoder.set_color(png::ColorType::Rgba);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header()?;
            writer.write_image_data(&self.rgba)?;
            writer.finish()?;
        }
        Ok(out)
    }

    /// Writes the picture as a PNG file.
    pub fn write_png(&self, path: &Path) -> Result<(), ImageError> {
        let bytes = self.to_png()?;
        std::fs::write(path, bytes).map_err(|source| ImageError::Io {
            path: path.display().to_string(),
            source,
        })
    }
}

/// Checks that `x` holds an (N, C, H, W) batch and returns the `ToRgba8` layout for it.
fn layout(x: &[f32], shape: [usize; 4]) -> Result<ToRgba8, ImageError> {
    let grid = ToRgba8::new(shape).map_err(|e| ImageError::Size(e.to_string()))?;
    if x.len() != shape.iter().product::<usize>() {
        return Err(ImageError::Size(format!(
            "{} values do not make a batch of shape {shape:?}",
            x.len()
        )));
    }
    Ok(grid)
}

/// The whole batch as one picture in `ToRgba8`'s near-square layout (`cols = ceil(sqrt(N))`,
/// no gaps, empty cells transparent black): the same bytes as `Executor::read_rgba`.
pub fn batch_grid(x: &[f32], shape: [usize; 4]) -> Result<Image, ImageError> {
    let grid = layout(x, shape)?;
    let mut words = vec![0u32; grid.output_len()];
    grid.cpu(x, &mut words);
    Image::from_packed(grid.width(), grid.height(), &words)
}

/// Image `index` of an (N, C, H, W) batch as a picture (1 channel: grey; 2: red/green; 3 or
/// more: the first three as RGB).
pub fn batch_image(x: &[f32], shape: [usize; 4], index: usize) -> Result<Image, ImageError> {
    layout(x, shape)?;
    let [n, c, h, w] = shape;
    if index >= n {
        return Err(ImageError::Size(format!("image {index} of a batch of {n}")));
    }
    let one = c * h * w;
    batch_grid(&x[index * one..][..one], [1, c, h, w])
}

/// The integer factor that makes an `h` x `w` image at least `min_px` pixels on its shorter
/// side (1 if it already is).
pub fn upscale_factor(h: usize, w: usize, min_px: usize) -> usize {
    let short = h.min(w).max(1);
    min_px.div_ceil(short).max(1)
}

/// A table of pictures: `rows[r][c]` in cell (r, c), cells as large as the largest picture
/// (pictures top-left aligned), `gap` pixels of `background` between cells (none around).
pub fn compose(rows: &[Vec<Image>], gap: usize, background: [u8; 4]) -> Result<Image, ImageError> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let cell_w = rows.iter().flatten().map(|i| i.width).max().unwrap_or(0);
    let cell_h = rows.iter().flatten().map(|i| i.height).max().unwrap_or(0);
    if rows.is_empty() || cols == 0 || cell_w == 0 || cell_h == 0 {
        return Err(ImageError::Size(
            "nothing to compose (no non-empty pictures)".into(),
        ));
    }
    let width = cols * cell_w + (cols - 1) * gap;
    let height = rows.len() * cell_h + (rows.len() - 1) * gap;
    let mut out = Image::filled(width, height, background);
    for (r, row) in rows.iter().enumerate() {
        for (c, img) in row.iter().enumerate() {
            out.blit(img, c * (cell_w + gap), r * (cell_h + gap));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upscale_repeats_pixels() {
        let img = Image::from_rgba(2, 1, vec![1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        let big = img.upscale(2);
        assert_eq!((big.width, big.height), (4, 2));
        let row = [1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8, 5, 6, 7, 8];
        assert_eq!(&big.rgba[..16], &row);
        assert_eq!(&big.rgba[16..], &row);
    }

    #[test]
    fn compose_puts_gaps_between_cells() {
        let a = Image::filled(2, 2, [255, 0, 0, 255]);
        let out = compose(&[vec![a.clone(), a.clone()], vec![a]], 1, [0, 0, 0, 0]).unwrap();
        assert_eq!((out.width, out.height), (5, 5));
        let px = |x: usize, y: usize| &out.rgba[(y * out.width + x) * 4..][..4];
        assert_eq!(px(0, 0), [255, 0, 0, 255]);
        assert_eq!(px(2, 0), [0, 0, 0, 0]);
        assert_eq!(px(3, 1), [255, 0, 0, 255]);
        assert_eq!(px(3, 3), [0, 0, 0, 0]);
        assert_eq!(px(1, 4), [255, 0, 0, 255]);
    }

    #[test]
    fn batch_image_maps_like_diffusers() {
        // Two 1x1 RGB images; image 1 is (-1, 0, 1) -> (0, 128, 255).
        let x = [0.0, 0.0, 0.0, -1.0, 0.0, 1.0];
        let img = batch_image(&x, [2, 3, 1, 1], 1).unwrap();
        assert_eq!(img.rgba, vec![0, 128, 255, 255]);
        assert!(batch_image(&x, [2, 3, 1, 1], 2).is_err());
        assert!(batch_grid(&x[..5], [2, 3, 1, 1]).is_err());
    }

    #[test]
    fn png_round_trips_its_header() {
        let png = Image::filled(3, 5, [9, 9, 9, 255]).to_png().unwrap();
        let reader = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .unwrap();
        assert_eq!((reader.info().width, reader.info().height), (3, 5));
    }

    #[test]
    fn upscale_factor_reaches_the_minimum() {
        assert_eq!(upscale_factor(16, 16, 64), 4);
        assert_eq!(upscale_factor(12, 12, 64), 6);
        assert_eq!(upscale_factor(128, 64, 64), 1);
    }
}
