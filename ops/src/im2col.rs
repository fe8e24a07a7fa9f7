//! Int8 im2col: the patches of a convolution laid out as the channels of a 1×1 convolution.

use tract_nnef::internal::*;

/// Rewrites an i8 NCHW tensor `[N, C, H, W]` into `[N, C·kh·kw, Ho, Wo]`: channel
/// `(c·kh + ky)·kw + kx` of output pixel `(oy, ox)` is input pixel
/// `(oy·sy + ky·dy − top, ox·sx + kx·dx − left)` of channel `c`, or `pad` outside the input.
///
/// A `kh×kw` convolution with OIHW weights `[O, C, kh, kw]` equals a 1×1 convolution of this
/// output with the weights reshaped to `[O, C·kh·kw, 1, 1]`, exactly, in integers. tract's
/// quantized 1×1 convolution packs its input with a plain strided copy, where its own
/// quantized im2col writes every byte through the packing of its int8 kernels; this op lays
/// each output row with `copy_from_slice` and fills the padding with `fill`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QIm2col {
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Vertical and horizontal stride.
    pub strides: [usize; 2],
    /// Vertical and horizontal dilation.
    pub dilations: [usize; 2],
    /// Padding: top, left, bottom, right.
    pub pads: [usize; 4],
    /// The value of padded cells (the input's zero point, so they mean 0).
    pub pad: i8,
}

impl QIm2col {
    /// The output height and width for an input plane of `h`×`w`, if the kernel fits.
    pub fn output_hw(&self, h: usize, w: usize) -> Option<[usize; 2]> {
        let mut out = [0; 2];
        for (axis, size) in [h, w].into_iter().enumerate() {
            let (k, s, d) = (self.kernel[axis], self.strides[axis], self.dilations[axis]);
            if k == 0 || s == 0 || d == 0 {
                return None;
            }
            let padded = size + self.pads[axis] + self.pads[axis + 2];
            let span = (k - 1) * d + 1;
            if padded < span {
                return None;
            }
            out[axis] = (padded - span) / s + 1;
        }
        Some(out)
    }

    /// The im2col of `x` (i8, NCHW, standard layout).
    pub fn eval_tensor(&self, x: &Tensor) -> TractResult<Tensor> {
        ensure!(
            x.rank() == 4 && x.datum_type() == i8::datum_type(),
            "QIm2col: input must be i8 NCHW, got {:?} {:?}",
            x.datum_type(),
            x.shape()
        );
        let (n, c, h, w) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
        let [oh, ow] = self
            .output_hw(h, w)
            .with_context(|| format!("QIm2col: kernel {:?} does not fit {h}x{w}", self.kernel))?;
        let [kh, kw] = self.kernel;
        let k = c * kh * kw;
        let mut out = vec![self.pad; n * k * oh * ow];
        let x = x.try_as_plain_ram()?;
        let x = x.as_slice::<i8>()?;
        let [sy, sx] = self.strides;
        let [dy, dx] = self.dilations;
        let (top, left) = (self.pads[0] as isize, self.pads[1] as isize);
        for (image, patches) in x
            .chunks_exact(c * h * w)
            .zip(out.chunks_exact_mut(k * oh * ow))
        {
            for (row, plane) in patches.chunks_exact_mut(oh * ow).enumerate() {
                let (ci, ky, kx) = (row / (kh * kw), (row / kw) % kh, row % kw);
                let input = &image[ci * h * w..(ci + 1) * h * w];
                // Output columns whose input column is inside: ox·sx + kx·dx − left in [0, w).
                let shift = (kx * dx) as isize - left;
                let first = if shift >= 0 {
                    0
                } else {
                    (-shift as usize).div_ceil(sx)
                };
                let last = if (w as isize) <= shift {
                    0
                } else {
                    ((w as isize - shift) as usize).div_ceil(sx)
                }
                .min(ow);
                for (oy, out_row) in plane.chunks_exact_mut(ow).enumerate() {
                    let y = (oy * sy + ky * dy) as isize - top;
                    if y < 0 || y >= h as isize || first >= last {
                        continue; // stays `pad`
                    }
                    let src = &input[y as usize * w..(y as usize + 1) * w];
                    let start = (first * sx) as isize + shift;
                    if sx == 1 {
                        let start = start as usize;
                        out_row[first..last].copy_from_slice(&src[start..start + (last - first)]);
                    } else {
                        for (o, i) in out_row[first..last]
                            .iter_mut()
                            .zip((start as usize..).step_by(sx))
                        {
                            *o = src[i];
                        }
                    }
                }
            }
        }
        Tensor::from_shape(&[n, k, oh, ow], &out)
    }
}

impl Op for QIm2col {
    fn name(&self) -> StaticName {
        "QIm2col".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "kernel: {:?} strides: {:?} dilations: {:?} pads: {:?} pad value: {}",
            self.kernel, self.strides, self.dilations, self.pads, self.pad
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for QIm2col {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        crate::settle_vector_state();
        Ok(tvec!(self.eval_tensor(&x)?.into_tvalue()))
    }
}

impl TypedOp for QIm2col {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let x = inputs[0];
        ensure!(
            x.datum_type == i8::datum_type() && x.rank() == 4,
            "QIm2col: input must be i8 NCHW, got {:?} {:?}",
            x.datum_type,
            x.shape
        );
        let (c, h, w) = (
            x.shape[1].to_usize()?,
            x.shape[2].to_usize()?,
            x.shape[3].to_usize()?,
        );
        let [oh, ow] = self
            .output_hw(h, w)
            .with_context(|| format!("QIm2col: kernel {:?} does not fit {h}x{w}", self.kernel))?;
        let k = c * self.kernel[0] * self.kernel[1];
        let shape = tvec![x.shape[0].clone(), k.to_dim(), oh.to_dim(), ow.to_dim()];
        Ok(tvec!(i8::datum_type().fact(shape)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition, element by element.
    fn reference(op: &QIm2col, x: &[i8], shape: [usize; 4]) -> Vec<i8> {
        let [n, c, h, w] = shape;
        let [oh, ow] = op.output_hw(h, w).unwrap();
        let [kh, kw] = op.kernel;
        let mut out = vec![];
        for b in 0..n {
            for ci in 0..c {
                for ky in 0..kh {
                    for kx in 0..kw {
                        for oy in 0..oh {
                            for ox in 0..ow {
                                let y = (oy * op.strides[0] + ky * op.dilations[0]) as isize
                                    - op.pads[0] as isize;
                                let xx = (ox * op.strides[1] + kx * op.dilations[1]) as isize
                                    - op.pads[1] as isize;
                                let inside =
                                    y >= 0 && xx >= 0 && (y as usize) < h && (xx as usize) < w;
                                out.push(if inside {
                                    x[((b * c + ci) * h + y as usize) * w + xx as usize]
                                } else {
                                    op.pad
                                });
                            }
                        }
                    }
                }
            }
        }
        out
    }

    proptest! {
        /// Tolerance: exact.
        #[test]
        fn rows_copied_by_slices_equal_the_element_by_element_definition(
            n in 1usize..3, c in 1usize..4, h in 1usize..10, w in 1usize..10,
            kh in 1usize..4, kw in 1usize..4, sy in 1usize..3, sx in 1usize..3,
            dy in 1usize..3, dx in 1usize..3, pads in proptest::array::uniform4(0usize..3),
            pad in any::<i8>(), seed in any::<u64>(),
        ) {
            let op = QIm2col { kernel: [kh, kw], strides: [sy, sx], dilations: [dy, dx], pads, pad };
            prop_assume!(op.output_hw(h, w).is_some());
            let x: Vec<i8> = (0..n * c * h * w)
                .map(|i| (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64 * 1442695040888963407) >> 56) as i8)
                .collect();
            let t = Tensor::from_shape(&[n, c, h, w], &x).unwrap();
            let y = op.eval_tensor(&t).unwrap();
            let [oh, ow] = op.output_hw(h, w).unwrap();
            prop_assert_eq!(y.shape(), &[n, c * kh * kw, oh, ow]);
            let y = y.try_as_plain_ram().unwrap().as_slice::<i8>().unwrap().to_vec();
            prop_assert_eq!(y, reference(&op, &x, [n, c, h, w]));
        }
    }

    #[test]
    fn a_kernel_larger_than_the_padded_input_is_refused() {
        let op = QIm2col {
            kernel: [5, 5],
            strides: [1, 1],
            dilations: [1, 1],
            pads: [0; 4],
            pad: 0,
        };
        assert_eq!(op.output_hw(4, 4), None);
        let t = Tensor::from_shape(&[1, 1, 4, 4], &[0i8; 16]).unwrap();
        assert!(op.eval_tensor(&t).is_err());
        let f = i8::fact([1, 1, 4, 4]);
        assert!(op.output_facts(&[&f]).is_err());
    }
}
