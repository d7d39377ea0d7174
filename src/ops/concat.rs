//! Channel concatenation of a skip connection (`shaders/concat.wgsl`).

use super::{checked_len, shape_err, u32_of, Op, ShapeError, Signature};
use crate::gpu::{KernelSource, Launch};

static KERNEL: KernelSource = crate::kernel!(per_item "concat", 256);

/// a: (N, Ca, HW), b: (N, Cb, HW) -> (N, Ca + Cb, HW).
#[derive(Clone, Debug, PartialEq)]
pub struct Concat {
    pub n: usize,
    pub ca: usize,
    pub cb: usize,
    pub hw: usize,
}

impl Concat {
    pub fn new(n: usize, ca: usize, cb: usize, hw: usize) -> Result<Self, ShapeError> {
        let c = ca
            .checked_add(cb)
            .ok_or_else(|| shape_err("concat", "channel count overflows"))?;
        if checked_len("concat", &[n, c, hw])? == 0 {
            return Err(shape_err("concat", "empty input"));
        }
        Ok(Concat { n, ca, cb, hw })
    }

    pub fn output_len(&self) -> usize {
        self.n * (self.ca + self.cb) * self.hw
    }
}

impl Op for Concat {
    fn signature(&self) -> Signature {
        Signature {
            inputs: vec![self.n * self.ca * self.hw, self.n * self.cb * self.hw],
            input_slots: 2,
            params: vec![],
            output: self.output_len(),
        }
    }

    fn reference(&self, inputs: &[&[f32]], _: &[&[f32]], out: &mut [f32]) {
        let (a, b) = (inputs[0], inputs[1]);
        let (la, lb) = (self.ca * self.hw, self.cb * self.hw);
        for s in 0..self.n {
            let o = s * (la + lb);
            out[o..o + la].copy_from_slice(&a[s * la..(s + 1) * la]);
            out[o + la..o + la + lb].copy_from_slice(&b[s * lb..(s + 1) * lb]);
        }
    }

    fn launch(&self) -> Launch {
        // The shader's Params: n, ca, cb, hw.
        let params = [self.n, self.ca, self.cb, self.hw].map(u32_of);
        Launch::per_item(&KERNEL, &params, self.output_len())
    }
}
