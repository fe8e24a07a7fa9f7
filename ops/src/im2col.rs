//! Int8 im2col: the patches of a convolution laid out as the channels of a 1×1 convolution.

use tract_nnef::internal::*;
use tract_nnef::tract_core::ops::cnn::PoolSpec;
use tract_nnef::tract_core::tract_linalg::multithread::par_chunks_mut;

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
    /// Lay the output out as `[N, C·kh·kw, 1, OH·OW]`, all output pixels on one row, instead
    /// of `[N, C·kh·kw, OH, OW]`. tract runs a 1×1 convolution as one matrix product per
    /// row, so on the flat layout it is one product over every pixel: big enough to fill its
    /// kernels and to be split across threads. The bytes are the same in both layouts.
    pub flat: bool,
}

/// The output plane of a `kernel` window sliding over an `[h, w]` plane with `strides`,
/// `dilations` and `pads` (top, left, bottom, right), if the window fits.
pub(crate) fn window_output(
    kernel: [usize; 2],
    strides: [usize; 2],
    dilations: [usize; 2],
    pads: [usize; 4],
    [h, w]: [usize; 2],
) -> Option<[usize; 2]> {
    let mut out = [0; 2];
    for (axis, size) in [h, w].into_iter().enumerate() {
        let (k, s, d) = (kernel[axis], strides[axis], dilations[axis]);
        if k == 0 || s == 0 || d == 0 {
            return None;
        }
        let padded = size + pads[axis] + pads[axis + 2];
        let span = (k - 1) * d + 1;
        if padded < span {
            return None;
        }
        out[axis] = (padded - span) / s + 1;
    }
    Some(out)
}

/// The image width from which [`QIm2col::edge_masks`] leaves the edge columns of shifted patch
/// rows to one short fill per row.
const MASKED_WIDTH: usize = 64;

/// The `[top, left, bottom, right]` padding the 2-D window `spec` takes on an input plane of
/// `input_hw` (the layout of [`QIm2col::pads`] and [`QMaxPool::pads`](crate::QMaxPool)).
pub fn window_pads(spec: &PoolSpec, input_hw: &[usize]) -> [usize; 4] {
    let padding = spec.computed_padding(input_hw);
    [
        padding[0].pad_before,
        padding[1].pad_before,
        padding[0].pad_after,
        padding[1].pad_after,
    ]
}

/// The output columns `first..last` (of `ow`) whose input column `ox·sx + shift` is inside
/// `[0, w)`.
pub(crate) fn inside_columns(shift: isize, sx: usize, w: usize, ow: usize) -> (usize, usize) {
    let first = if shift >= 0 {
        0
    } else {
        (-shift as usize).div_ceil(sx)
    };
    let last = if (w as isize) <= shift {
        0
    } else {
        ((w as isize - shift) as usize).div_ceil(sx)
    };
    (first, last.min(ow))
}

impl QIm2col {
    /// The output height and width for an input plane of `h`×`w`, if the kernel fits.
    pub fn output_hw(&self, h: usize, w: usize) -> Option<[usize; 2]> {
        window_output(self.kernel, self.strides, self.dilations, self.pads, [h, w])
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
        let k = c * self.kernel[0] * self.kernel[1];
        let mut out = vec![0i8; n * k * oh * ow]; // every cell written below
        let x = x.try_as_plain_ram()?;
        let x = x.as_slice::<i8>()?;
        // Patch rows are independent: with a thread pool they are split between its threads.
        par_chunks_mut(
            &mut out,
            (oh * ow).max(1),
            n * k * oh * ow,
            |first, planes| {
                // on a pool thread, tract's kernels may have left the vector state dirty
                crate::settle_vector_state();
                for (i, plane) in planes.chunks_exact_mut((oh * ow).max(1)).enumerate() {
                    let (image, row) = ((first + i) / k, (first + i) % k);
                    let image = &x[image * c * h * w..(image + 1) * c * h * w];
                    self.patch_row(image, [h, w], ow, row, 0, plane, None);
                }
                Ok(())
            },
        )?;
        Tensor::from_shape(&self.output_shape(n, k, oh, ow), &out)
    }

    /// Writes into `out` the values of patch row `row` (channel, kernel row, kernel column)
    /// for the output pixels `m0..m0 + out.len()` (row-major over the `ow`-wide output plane)
    /// of one `h`×`w` image; cells outside the image get `pad`. `masks`: the
    /// [`QIm2col::edge_masks`] of these pixels, when they apply.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn patch_row(
        &self,
        image: &[i8],
        [h, w]: [usize; 2],
        ow: usize,
        row: usize,
        m0: usize,
        out: &mut [i8],
        masks: Option<&[u8]>,
    ) {
        let [kh, kw] = self.kernel;
        let [sy, sx] = self.strides;
        let [dy, dx] = self.dilations;
        let (top, left) = (self.pads[0] as isize, self.pads[1] as isize);
        let (ci, ky, kx) = (row / (kh * kw), (row / kw) % kh, row % kw);
        let input = &image[ci * h * w..(ci + 1) * h * w];
        let shift = (kx * dx) as isize - left;
        let (first, last) = inside_columns(shift, sx, w, ow);
        if out.is_empty() {
            return;
        }
        // Stride 1 and an output as wide as the image ("same" padding, 1×1 kernels): the
        // patch row is the image plane shifted, one copy and then the edges padded.
        if sx == 1 && sy == 1 && ow == w {
            let mask = masks.map(|m| &m[kx * out.len()..(kx + 1) * out.len()]);
            self.shifted_plane(input, w, (ky * dy) as isize - top, shift, m0, out, mask);
            return;
        }
        let (mut oy, mut ox0) = (m0 / ow.max(1), m0 % ow.max(1));
        let mut done = 0;
        while done < out.len() {
            let seg = (ow - ox0).min(out.len() - done);
            let dst = &mut out[done..done + seg];
            done += seg;
            let y = (oy * sy + ky * dy) as isize - top;
            // inside columns of this segment: [a, b)
            let a = first.clamp(ox0, ox0 + seg);
            let b = last.clamp(a, ox0 + seg);
            let x0 = ox0;
            (oy, ox0) = (oy + 1, 0);
            if y < 0 || y >= h as isize || a >= b {
                dst.fill(self.pad);
                continue;
            }
            if a > x0 {
                dst[..a - x0].fill(self.pad);
            }
            if b < x0 + seg {
                dst[b - x0..].fill(self.pad);
            }
            let ox0 = x0;
            let src = &input[y as usize * w..(y as usize + 1) * w];
            let start = ((a * sx) as isize + shift) as usize;
            let inside = &mut dst[a - ox0..b - ox0];
            if sx == 1 {
                inside.copy_from_slice(&src[start..start + inside.len()]);
            } else {
                for (o, i) in inside.iter_mut().zip((start..).step_by(sx)) {
                    *o = src[i];
                }
            }
        }
    }

    /// [`QIm2col::patch_row`] at stride 1 when the output is as wide as the `w`-wide
    /// image: output pixel `m` reads the plane (`input`) at flat index `m + rows·w + shift`,
    /// so the pixels `m0..m0 + out.len()` are one contiguous range of the plane. It is copied
    /// whole; then what lies outside the plane (rows above or below it) and the columns that
    /// ran off the left or right edge into the neighbouring row are set to `pad`.
    ///
    /// With `mask` (from [`QIm2col::edge_masks`]: 1 where the pixel's column is off the
    /// edge for this shift), the edge columns are set in one vectorized pass instead of a
    /// short fill per output row.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn shifted_plane(
        &self,
        input: &[i8],
        w: usize,
        rows: isize,
        shift: isize,
        m0: usize,
        out: &mut [i8],
        mask: Option<&[u8]>,
    ) {
        let (len, plane) = (out.len() as isize, input.len() as isize);
        let base = m0 as isize + rows * w as isize + shift;
        let a = (-base).clamp(0, len) as usize;
        let b = (plane - base).clamp(a as isize, len) as usize;
        out[..a].fill(self.pad);
        if a < b {
            let from = (base + a as isize) as usize;
            out[a..b].copy_from_slice(&input[from..from + (b - a)]);
        }
        out[b..].fill(self.pad);
        if shift == 0 {
            return; // no column is off an edge
        }
        if let Some(mask) = mask {
            let pad = self.pad;
            for (o, &m) in out.iter_mut().zip(mask) {
                *o = if m != 0 { pad } else { *o };
            }
            return;
        }
        // off the edge: columns [w - shift, w) of every output row for a right shift,
        // [0, -shift) for a left one
        let (c0, c1) = if shift > 0 {
            (w.saturating_sub(shift as usize), w)
        } else {
            (0, shift.unsigned_abs().min(w))
        };
        if c0 < c1 {
            let end = m0 + out.len();
            let mut row = m0 / w * w;
            while row < end {
                let (s, e) = ((row + c0).max(m0), (row + c1).min(end));
                if s < e {
                    out[s - m0..e - m0].fill(self.pad);
                }
                row += w;
            }
        }
    }

    /// For the patch rows [`QIm2col::patch_row`] copies as a shifted plane (stride 1, an
    /// output as wide as the `w`-wide image): writes into `masks`, for each kernel column
    /// `kx` in turn, `len` bytes that are 1 where output pixel `m0 + i` reads a column off
    /// the image's left or right edge. Returns whether they apply (other patch rows take
    /// none, and images [`MASKED_WIDTH`] or more wide, whose rows are long, take none).
    pub(crate) fn edge_masks(
        &self,
        [w, ow]: [usize; 2],
        m0: usize,
        len: usize,
        masks: &mut Vec<u8>,
    ) -> bool {
        // rows of 64 pixels or more take fewer fills than a pass over the whole strip
        if self.strides != [1, 1] || ow != w || w == 0 || w >= MASKED_WIDTH {
            return false;
        }
        let kw = self.kernel[1];
        masks.clear();
        masks.resize(kw * len, 0);
        for (kx, mask) in masks.chunks_exact_mut(len.max(1)).enumerate().take(kw) {
            let shift = (kx * self.dilations[1]) as isize - self.pads[1] as isize;
            let (c0, c1) = if shift > 0 {
                (w.saturating_sub(shift as usize), w)
            } else {
                (0, shift.unsigned_abs().min(w))
            };
            let mut col = m0 % w;
            for m in mask.iter_mut() {
                *m = u8::from(col >= c0 && col < c1);
                col += 1;
                if col == w {
                    col = 0;
                }
            }
        }
        true
    }

    /// The output shape for `n` images, `k` patch rows and an `oh`×`ow` output plane.
    fn output_shape<D: Clone + From<usize>>(&self, n: D, k: usize, oh: usize, ow: usize) -> [D; 4] {
        if self.flat {
            [n, k.into(), 1.into(), (oh * ow).into()]
        } else {
            [n, k.into(), oh.into(), ow.into()]
        }
    }
}

impl Op for QIm2col {
    fn name(&self) -> StaticName {
        "QIm2col".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "kernel: {:?} strides: {:?} dilations: {:?} pads: {:?} pad value: {} flat: {}",
            self.kernel, self.strides, self.dilations, self.pads, self.pad, self.flat
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
        let shape = self.output_shape(x.shape[0].clone(), k, oh, ow);
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
            pad in any::<i8>(), seed in any::<u64>(), flat in any::<bool>(),
        ) {
            let op = QIm2col { kernel: [kh, kw], strides: [sy, sx], dilations: [dy, dx], pads, pad, flat };
            prop_assume!(op.output_hw(h, w).is_some());
            let x: Vec<i8> = (0..n * c * h * w)
                .map(|i| (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64 * 1442695040888963407) >> 56) as i8)
                .collect();
            let t = Tensor::from_shape(&[n, c, h, w], &x).unwrap();
            let y = op.eval_tensor(&t).unwrap();
            let [oh, ow] = op.output_hw(h, w).unwrap();
            let shape = if flat { [n, c * kh * kw, 1, oh * ow] } else { [n, c * kh * kw, oh, ow] };
            prop_assert_eq!(y.shape(), &shape);
            let f = i8::fact([n, c, h, w]);
            let facts = op.output_facts(&[&f]).unwrap();
            prop_assert_eq!(facts[0].shape.as_concrete().unwrap(), &shape);
            let y = y.try_as_plain_ram().unwrap().as_slice::<i8>().unwrap().to_vec();
            prop_assert_eq!(y, reference(&op, &x, [n, c, h, w]));
        }
    }

    proptest! {
        /// Tolerance: exact. Stride 1 with an output as wide as the image (the shifted-plane
        /// path), any part of a patch row as the packer asks for it.
        #[test]
        fn same_padded_patch_rows_equal_the_definition_from_any_pixel(
            c in 1usize..3, h in 1usize..12, w in 1usize..20,
            kh in 1usize..8, kw in 1usize..8, dy in 1usize..3, dx in 1usize..3,
            left_share in 0usize..100, top in 0usize..4, bottom in 0usize..4,
            pad in any::<i8>(), seed in any::<u64>(), from in 0usize..1000, len in 0usize..1000,
        ) {
            let across = (kw - 1) * dx;
            let left = across * left_share / 100;
            let op = QIm2col {
                kernel: [kh, kw], strides: [1, 1], dilations: [dy, dx],
                pads: [top, left, bottom, across - left], pad, flat: true,
            };
            let Some([oh, ow]) = op.output_hw(h, w) else { return Ok(()) };
            prop_assert_eq!(ow, w);
            let x: Vec<i8> = (0..c * h * w)
                .map(|i| (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64 * 1442695040888963407) >> 56) as i8)
                .collect();
            let expected = reference(&op, &x, [1, c, h, w]);
            let t = Tensor::from_shape(&[1, c, h, w], &x).unwrap();
            let whole = op.eval_tensor(&t).unwrap();
            prop_assert_eq!(whole.try_as_plain_ram().unwrap().as_slice::<i8>().unwrap(), &expected[..]);
            let m0 = from % (oh * ow);
            let len = len % (oh * ow - m0 + 1);
            let mut masks = Vec::new();
            let masked = op.edge_masks([w, ow], m0, len, &mut masks);
            for row in 0..c * kh * kw {
                let mut out = vec![0i8; len];
                op.patch_row(&x, [h, w], ow, row, m0, &mut out, None);
                let start = row * oh * ow + m0;
                prop_assert_eq!(&out[..], &expected[start..start + len], "row {}", row);
                if masked {
                    let mut out = vec![0i8; len];
                    op.patch_row(&x, [h, w], ow, row, m0, &mut out, Some(&masks));
                    prop_assert_eq!(&out[..], &expected[start..start + len], "row {} masked", row);
                }
            }
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
            flat: false,
        };
        assert_eq!(op.output_hw(4, 4), None);
        let t = Tensor::from_shape(&[1, 1, 4, 4], &[0i8; 16]).unwrap();
        assert!(op.eval_tensor(&t).is_err());
        let f = i8::fact([1, 1, 4, 4]);
        assert!(op.output_facts(&[&f]).is_err());
    }
}
