//! 3x3 stride-1 "same" convolutions by Winograd's minimal filtering (Lavin & Gray, "Fast
//! Algorithms for Convolutional Neural Networks", 2015). An m x m output tile is computed from
//! an α x α input patch (α = m + 2) with α² multiplies per (in, out) channel pair instead of
//! 9m²:
//! - F(2x2, 3x3) ([`f2`]): α = 4, 16 multiplies per 4 outputs (2.25x fewer than direct);
//! - F(4x4, 3x3) ([`f4`]): α = 6, 36 multiplies per 16 outputs (4x fewer), with larger
//!   transforms; used where an image has enough 4x4 tiles to fill the GEMM's columns (see
//!   [`Tile::of`]). In wasm at batch 1 it makes emoji32's forward pass 16 ms instead of 21.
//!
//! Per chunk of tiles (over the batch), three passes:
//! 1. input transform: each α x α input patch d (stride m, zero outside) becomes V = Bᵀ d B,
//!    scattered into α² matrices V_ξ (Cin x tiles);
//! 2. α² GEMMs M_ξ = U_ξ V_ξ with the transformed weights U = G g Gᵀ (packed once);
//! 3. output transform: Y = Aᵀ M A per tile, plus bias and the time-embedding term.

use super::gemm::{self, PackedA, Rows};
use crate::ops::Conv2d;

mod f2;
mod f4;

/// Most output pixels transformed at once (256 F(2x2) tiles, 64 F(4x4) tiles): small enough
/// that a chunk's V and M stay near L2 (4096 pixels was 2x slower at batch 16 than 1024).
const CHUNK_PIXELS: usize = 1024;

/// Fewest F(4x4) tiles per image for which F(4x4) runs: an 8x8 image (4 tiles) took 5 ms
/// more over emoji32's forward pass in wasm at batch 1 than with F(2x2), whose 16 tiles fill
/// the GEMM's columns better.
const F4_MIN_TILES: usize = 16;

/// Which Winograd algorithm a convolution runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tile {
    /// F(2x2, 3x3).
    F2,
    /// F(4x4, 3x3).
    F4,
}

impl Tile {
    /// The algorithm for `c`, or None when this module does not compute it: 3x3, stride 1,
    /// padding 1 all round, even height and width (whole 2x2 tiles; every UNet level of a
    /// power-of-two sample is). F(4x4) when the sides are multiples of 4 and an image has at
    /// least [`F4_MIN_TILES`] 4x4 tiles. The choice never depends on the batch size, so an
    /// image comes out bit for bit the same in any batch, or in any worker's part of one.
    pub fn of(c: &Conv2d) -> Option<Tile> {
        let same = c.k == 3
            && c.stride == 1
            && c.pad_top == 1
            && c.pad_left == 1
            && c.ho == c.h
            && c.wo == c.w;
        if !same || !c.h.is_multiple_of(2) || !c.w.is_multiple_of(2) {
            return None;
        }
        let f4 =
            c.h.is_multiple_of(4) && c.w.is_multiple_of(4) && (c.h / 4) * (c.w / 4) >= F4_MIN_TILES;
        Some(if f4 { Tile::F4 } else { Tile::F2 })
    }

    /// Output tile side m.
    const fn m(self) -> usize {
        match self {
            Tile::F2 => 2,
            Tile::F4 => 4,
        }
    }

    /// Input patch side α = m + 2; α² GEMMs per chunk.
    const fn alpha(self) -> usize {
        self.m() + 2
    }

    fn tiles_per_image(self, c: &Conv2d) -> usize {
        (c.h / self.m()) * (c.w / self.m())
    }
}

/// Images transformed at once (with either tile): as many as fit in [`CHUNK_PIXELS`], at
/// least one.
fn images_per_chunk(c: &Conv2d) -> usize {
    (CHUNK_PIXELS / (c.h * c.w)).clamp(1, c.n)
}

/// Whether this module computes `c` (see [`Tile::of`]).
pub fn applies(c: &Conv2d) -> bool {
    Tile::of(c).is_some()
}

/// U_ξ = (G g Gᵀ)_ξ for ξ in 0..α², each packed as a GEMM A (Cout x Cin).
pub fn pack_weight(c: &Conv2d, weight: &[f32]) -> Vec<f32> {
    let tile = Tile::of(c).expect("winograd::pack_weight on a convolution it does not apply to");
    let a2 = tile.alpha() * tile.alpha();
    let per = c.cout * c.cin;
    let mut u = vec![0f32; a2 * per];
    for (pair, g) in weight.chunks_exact(9).enumerate() {
        let g: &[f32; 9] = g.try_into().unwrap();
        let mut scatter = |t: &[f32]| {
            for (xi, &v) in t.iter().enumerate() {
                u[xi * per + pair] = v;
            }
        };
        match tile {
            Tile::F2 => scatter(&f2::transform_kernel(g)),
            Tile::F4 => scatter(&f4::transform_kernel(g)),
        }
    }
    u.chunks_exact(per)
        .flat_map(|m| gemm::pack_a(c.cout, c.cin, |r, col| m[r * c.cin + col]))
        .collect()
}

pub fn scratch_len(c: &Conv2d) -> usize {
    let tile = Tile::of(c).expect("winograd::scratch_len on a convolution it does not apply to");
    let a2 = tile.alpha() * tile.alpha();
    let t = images_per_chunk(c) * tile.tiles_per_image(c);
    let transforms = match tile {
        Tile::F2 => f2::rows_len(c),
        Tile::F4 => f4::rows_len(c),
    };
    a2 * (c.cin + c.cout) * t
        + gemm::scratch_len(c.cin)
            .max(transforms)
            .max(tile.m() * tile.m() * t)
}

/// `x` (N, Cin, H, W) -> `out` (N, Cout, H, W); `weight` from [`pack_weight`].
pub fn run(
    c: &Conv2d,
    x: &[f32],
    time: Option<&[f32]>,
    weight: &[f32],
    bias: &[f32],
    out: &mut [f32],
    scratch: &mut [f32],
) {
    let tile = Tile::of(c).expect("winograd::run on a convolution it does not apply to");
    let a2 = tile.alpha() * tile.alpha();
    let per_image = tile.tiles_per_image(c);
    let packed_len = weight.len() / a2;
    let chunk = images_per_chunk(c);
    for n0 in (0..c.n).step_by(chunk) {
        let images = chunk.min(c.n - n0);
        let t = images * per_image;
        let (v, rest) = scratch.split_at_mut(a2 * c.cin * t);
        let (m, blocks) = rest.split_at_mut(a2 * c.cout * t);
        let x = &x[n0 * c.cin * c.h * c.w..];
        match tile {
            Tile::F2 => f2::input_transform(c, x, images, v, blocks),
            Tile::F4 => f4::input_transform(c, x, images, v, blocks),
        }
        for xi in 0..a2 {
            let a = PackedA {
                m: c.cout,
                k: c.cin,
                data: &weight[xi * packed_len..(xi + 1) * packed_len],
            };
            let b = Rows {
                b: &v[xi * c.cin * t..(xi + 1) * c.cin * t],
                n: t,
            };
            let mx = &mut m[xi * c.cout * t..(xi + 1) * c.cout * t];
            gemm::gemm(a, &b, t, &|_| 0.0, mx, t, blocks);
        }
        match tile {
            Tile::F2 => f2::output_transform(c, m, t, n0, images, time, bias, out, blocks),
            Tile::F4 => f4::output_transform(c, m, t, n0, images, time, bias, out, blocks),
        }
    }
}
