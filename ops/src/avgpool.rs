//! Int8 average pooling.

use tract_nnef::internal::*;
use tract_nnef::tract_core::tract_linalg::multithread::par_chunks_mut;

use crate::shift::{combine_shifted, redo_edge_columns, redo_edge_rows};

/// Int8 average pooling over the two spatial axes of an NCHW tensor, the output on the
/// input's scale: `round_half_away_from_zero(sum / count)`, where `count` is the number of
/// window cells inside the input (or inside the padded input when `count_include_pad`).
///
/// A window covering the whole plane (`kernel = [H, W]`, no padding) is a global average pool.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QAvgPool {
    /// Window height and width.
    pub kernel: [usize; 2],
    /// Vertical and horizontal stride.
    pub strides: [usize; 2],
    /// Padding: top, left, bottom, right.
    pub pads: [usize; 4],
    /// Whether padded cells count in the divisor (ONNX `count_include_pad`).
    pub count_include_pad: bool,
    /// The tensor's zero point: the value padded cells hold when they count.
    pub zero_point: i32,
}

/// `round_half_away_from_zero(sum / count)` for `count > 0`.
#[inline(always)]
#[cfg(test)]
fn rounded_div(sum: i32, count: i32) -> i32 {
    if sum >= 0 {
        (2 * sum + count) / (2 * count)
    } else {
        (2 * sum - count) / (2 * count)
    }
}

impl QAvgPool {
    /// The output height and width for an input plane of `h`×`w`, if the window fits.
    pub fn output_hw(&self, h: usize, w: usize) -> Option<[usize; 2]> {
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.strides;
        let ph = h + self.pads[0] + self.pads[2];
        let pw = w + self.pads[1] + self.pads[3];
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 || ph < kh || pw < kw {
            return None;
        }
        Some([(ph - kh) / sh + 1, (pw - kw) / sw + 1])
    }

    /// Pools `x` (i8, NCHW, standard layout).
    ///
    /// Window sums are separable: a prefix sum along each row gives the horizontal window
    /// sums, a running prefix down the columns the vertical ones, so each output costs a
    /// few additions whatever the window. The division by the cell count is a multiplication
    /// by a 40-bit reciprocal, exact for every sum an i8 window can have.
    pub fn eval_tensor(&self, x: &Tensor) -> TractResult<Tensor> {
        ensure!(
            x.rank() == 4,
            "QAvgPool: input must be NCHW, got {:?}",
            x.shape()
        );
        let (n, c, h, w) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
        let [oh, ow] = self
            .output_hw(h, w)
            .with_context(|| format!("QAvgPool: window {:?} does not fit {h}x{w}", self.kernel))?;
        let src = x.try_as_plain_ram()?.as_slice::<i8>()?;
        let [kh, kw] = self.kernel;
        ensure!(
            kh * kw <= 1 << 16,
            "QAvgPool: window {:?} too large",
            self.kernel
        );
        // per output row/column: the inside range and the padded extent
        let extents = |o: usize, s: usize, k: usize, pad: usize, len: usize, pad_end: usize| {
            let start = (o * s) as isize - pad as isize;
            let a = start.max(0) as usize;
            let b = (start + k as isize).min(len as isize).max(0) as usize;
            let padded = ((start + k as isize).min((len + pad_end) as isize)
                - start.max(-(pad as isize))) as usize;
            (a, b.max(a), padded)
        };
        let rows: Vec<_> = (0..oh)
            .map(|o| extents(o, self.strides[0], kh, self.pads[0], h, self.pads[2]))
            .collect();
        let cols: Vec<_> = (0..ow)
            .map(|o| extents(o, self.strides[1], kw, self.pads[1], w, self.pads[3]))
            .collect();
        // reciprocals of 2·count for every count a window can have
        let recip: Vec<u64> = (0..=kh * kw)
            .map(|c| {
                if c == 0 {
                    0
                } else {
                    (1u64 << 40).div_ceil(2 * c as u64)
                }
            })
            .collect();
        let mut out = vec![0i8; n * c * oh * ow];
        // Planes are independent: with a thread pool they are split between its threads, each
        // plane computed exactly as alone.
        par_chunks_mut(&mut out, oh * ow, n * c * h * w, |first, planes| {
            // on a pool thread, tract's kernels may have left the vector state dirty
            crate::settle_vector_state();
            // compiled for AVX-512 or AVX2, the widest this CPU has: the window sums and the
            // `f32` division then take 16 or 8 lanes at a time
            crate::simd::widest(
                #[inline(always)]
                || self.pool_planes(src, first, planes, [h, w], &rows, &cols, &recip),
            );
            Ok(())
        })?;
        Tensor::from_shape(&[n, c, oh, ow], &out)
    }

    /// Pools the planes `first..` of `src` (`h`×`w` each) into `out` (whole output planes).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn pool_planes(
        &self,
        src: &[i8],
        first: usize,
        out: &mut [i8],
        [h, w]: [usize; 2],
        rows: &[(usize, usize, usize)],
        cols: &[(usize, usize, usize)],
        recip: &[u64],
    ) {
        let ow = cols.len();
        let exact_f32 = self.kernel[0] * self.kernel[1] <= F32_EXACT_WINDOW;
        let cols_inside: Vec<i32> = cols.iter().map(|&(a, b, _)| (b - a) as i32).collect();
        let cols_padded: Vec<i32> = cols.iter().map(|&(_, _, p)| p as i32).collect();
        let [kh, kw] = self.kernel;
        let same = self.strides == [1, 1]
            && self.pads[0] + self.pads[2] + 1 == kh
            && self.pads[1] + self.pads[3] + 1 == kw;
        if exact_f32 && same {
            return self.pool_same(src, first, out, [h, w], rows, cols);
        }
        let mut prefix = vec![0i32; w + 1];
        // running column prefix of horizontal window sums: vp[y][ox] = Σ_{y' < y} hs[y'][ox]
        let mut vp = vec![0i32; (h + 1) * ow];
        // at stride 1, the columns whose window lies inside the row, `a = ox - left` and
        // `b = a + kw`: their sums are two shifted slices of the prefix (vectorized)
        let (left, kw) = (self.pads[1], self.kernel[1]);
        let inner = match (w + left + 1).checked_sub(kw).map(|hi| hi.min(ow)) {
            Some(hi) if self.strides[1] == 1 && left < hi => left..hi,
            _ => 0..0,
        };
        for (i, dst) in out.chunks_exact_mut(rows.len() * ow).enumerate() {
            let plane = first + i;
            let src = &src[plane * h * w..(plane + 1) * h * w];
            for y in 0..h {
                let row = &src[y * w..(y + 1) * w];
                // the running sum stays in a register (read back from `prefix`, each step
                // waited for the store before it)
                let mut sum = 0;
                for (p, &v) in prefix[1..].iter_mut().zip(row) {
                    sum += v as i32;
                    *p = sum;
                }
                let (done, next) = vp.split_at_mut((y + 1) * ow);
                let prev = &done[y * ow..];
                for ox in (0..inner.start).chain(inner.end..ow) {
                    let (a, b, _) = cols[ox];
                    next[ox] = prev[ox] + prefix[b] - prefix[a];
                }
                if !inner.is_empty() {
                    let (lo, hi) = (inner.start - left, inner.end - left);
                    let sums = prefix[lo + kw..hi + kw].iter().zip(&prefix[lo..hi]);
                    let (next, prev) = (&mut next[inner.clone()], &prev[inner.clone()]);
                    for ((n, p), (b, a)) in next.iter_mut().zip(prev).zip(sums) {
                        *n = p + b - a;
                    }
                }
            }
            for (oy, &(ya, yb, ypad)) in rows.iter().enumerate() {
                let (top, bottom) = (&vp[ya * ow..(ya + 1) * ow], &vp[yb * ow..(yb + 1) * ow]);
                let dst = &mut dst[oy * ow..(oy + 1) * ow];
                if exact_f32 {
                    let rows = [(yb - ya) as i32, ypad as i32];
                    self.divide_row(top, bottom, [&cols_inside, &cols_padded], rows, dst);
                    continue;
                }
                for (ox, &(xa, xb, xpad)) in cols.iter().enumerate() {
                    let mut sum = bottom[ox] - top[ox];
                    let inside = (yb - ya) * (xb - xa);
                    let count = if self.count_include_pad {
                        sum += (ypad * xpad - inside) as i32 * self.zero_point;
                        ypad * xpad
                    } else {
                        inside
                    };
                    dst[ox] = if count == 0 {
                        self.zero_point.clamp(-128, 127) as i8
                    } else {
                        // round half away from zero: floor((2|s| + c) / 2c), sign restored
                        let num = (2 * sum.unsigned_abs() as u64 + count as u64) * recip[count];
                        let q = (num >> 40) as i32;
                        (if sum < 0 { -q } else { q }).clamp(-128, 127) as i8
                    };
                }
            }
        }
    }
}

/// Elements of the planes [`QAvgPool::pool_same`] sums at a time (its buffers stay in the
/// first-level cache).
const SAME_GROUP: usize = 4096;

impl QAvgPool {
    /// [`QAvgPool::pool_planes`] for a stride-1 window padded to keep the plane's size, of at
    /// most [`F32_EXACT_WINDOW`] cells: the window sums of a group of whole planes are
    /// `kw` shifted copies of the group added into one buffer, then `kh` copies of that
    /// shifted by whole rows, loops the compiler vectorizes over thousands of values (the
    /// general path's prefix sums are a serial chain, and its rows are short). Where a shift
    /// crossed into the neighbouring row or plane — the `left + right` edge columns of every
    /// row, the `top + bottom` edge rows of every plane — the sums are computed again cell by
    /// cell. Same integers, so the same bytes.
    #[inline(always)]
    fn pool_same(
        &self,
        src: &[i8],
        first: usize,
        out: &mut [i8],
        [h, w]: [usize; 2],
        rows: &[(usize, usize, usize)],
        cols: &[(usize, usize, usize)],
    ) {
        let [top, left, bottom, right] = self.pads;
        let hw = h * w;
        // per cell of a plane: what the window sum gets added (padded cells that count) and
        // the count it is divided by
        let mut add = vec![0i32; hw];
        let mut count = vec![0i32; hw];
        for (y, &(ya, yb, ypad)) in rows.iter().enumerate() {
            for (x, &(xa, xb, xpad)) in cols.iter().enumerate() {
                let inside = ((yb - ya) * (xb - xa)) as i32;
                (add[y * w + x], count[y * w + x]) = if self.count_include_pad {
                    let padded = (ypad * xpad) as i32;
                    ((padded - inside) * self.zero_point, padded)
                } else {
                    (0, inside)
                };
            }
        }
        let group = (SAME_GROUP / hw.max(1)).max(1);
        let planes = out.len() / hw.max(1);
        let (mut hsum, mut vsum) = (vec![0i32; group * hw], vec![0i32; group * hw]);
        for g0 in (0..planes).step_by(group) {
            let g = group.min(planes - g0);
            let n = g * hw;
            let x = &src[(first + g0) * hw..(first + g0 + g) * hw];
            let (hs, vs) = (&mut hsum[..n], &mut vsum[..n]);
            // horizontal: hs[i] = Σ x[i + dx], dx in -left..=right; then the edge columns,
            // whose shifted copies crossed into the next or previous row
            for (s, &v) in hs.iter_mut().zip(x) {
                *s = v as i32;
            }
            let add_i8 = |s: &mut i32, v: i8| *s += v as i32;
            combine_shifted(hs, x, [left, right], 1, add_i8);
            redo_edge_columns(hs, x, w, [left, right], 0, |s, v| s + v as i32);
            // vertical: vs[i] = Σ hs[i + dy·w], dy in -top..=bottom; then the edge rows of
            // every plane, whose shifted copies crossed into another plane
            vs.copy_from_slice(hs);
            combine_shifted(vs, hs, [top, bottom], w, |s, v| *s += v);
            redo_edge_rows(vs, hs, [h, w], [top, bottom], 0, |s, v| s + v);
            let dst = &mut out[g0 * hw..(g0 + g) * hw];
            for (dst, vs) in dst.chunks_exact_mut(hw).zip(vs.chunks_exact(hw)) {
                for ((d, &s), (&a, &c)) in dst.iter_mut().zip(vs).zip(add.iter().zip(&count)) {
                    *d = divided(s + a, c, self.zero_point);
                }
            }
        }
    }

    /// One output row, for windows of at most [`F32_EXACT_WINDOW`] cells: the window sums
    /// `bottom − top`, divided in `f32`. The quotient `(2|s| + c) / 2c` has a numerator below
    /// 2^19, so its correctly rounded `f32` value is below the next integer whenever the exact
    /// one is (their gap, at least 1/2c, is far above half an `f32` ulp): truncating it is the
    /// exact floor. Written as plain loops over the row, which the compiler vectorizes.
    #[inline(always)]
    fn divide_row(
        &self,
        top: &[i32],
        bottom: &[i32],
        [cols_inside, cols_padded]: [&[i32]; 2],
        [rows_inside, rows_padded]: [i32; 2],
        dst: &mut [i8],
    ) {
        let n = dst.len();
        let (top, bottom) = (&top[..n], &bottom[..n]);
        let (cols_inside, cols_padded) = (&cols_inside[..n], &cols_padded[..n]);
        let zp = self.zero_point;
        if self.count_include_pad {
            for i in 0..n {
                let count = rows_padded * cols_padded[i];
                let sum = bottom[i] - top[i] + (count - rows_inside * cols_inside[i]) * zp;
                dst[i] = divided(sum, count, zp);
            }
        } else {
            for i in 0..n {
                dst[i] = divided(bottom[i] - top[i], rows_inside * cols_inside[i], zp);
            }
        }
    }
}

/// `sum / count` rounded half away from zero and clamped to i8 (`zp` for an empty window),
/// in `f32`; exact for `|sum| ≤ 128·count` and `count ≤` [`F32_EXACT_WINDOW`] (see
/// [`QAvgPool::divide_row`]).
#[inline(always)]
fn divided(sum: i32, count: i32, zp: i32) -> i8 {
    let quotient = (2 * sum.abs() + count) as f32 / (2 * count.max(1)) as f32;
    // SAFETY: `quotient` is finite and in [0, 2^19) (numerator below 2^19, denominator at
    // least 2), so it truncates to an i32 (unlike `as`, no saturation or NaN check, which is
    // what keeps the loops vectorized).
    #[allow(unsafe_code)]
    let q = unsafe { quotient.to_int_unchecked::<i32>() };
    let q = if sum < 0 { -q } else { q };
    if count == 0 { zp } else { q }.clamp(-128, 127) as i8
}

/// The largest window [`QAvgPool::divide_row`] divides in `f32`, exactly.
const F32_EXACT_WINDOW: usize = 1024;

impl Op for QAvgPool {
    fn name(&self) -> StaticName {
        "QAvgPool".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "kernel: {:?} strides: {:?} pads: {:?} count_include_pad: {} zero point: {}",
            self.kernel, self.strides, self.pads, self.count_include_pad, self.zero_point
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for QAvgPool {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        crate::settle_vector_state();
        Ok(tvec!(self.eval_tensor(&x)?.into_tvalue()))
    }
}

impl TypedOp for QAvgPool {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let x = inputs[0];
        ensure!(
            x.datum_type == i8::datum_type(),
            "QAvgPool: input must be i8"
        );
        ensure!(
            x.rank() == 4,
            "QAvgPool: input must be NCHW, got {:?}",
            x.shape
        );
        let (h, w) = (x.shape[2].to_usize()?, x.shape[3].to_usize()?);
        let [oh, ow] = self
            .output_hw(h, w)
            .with_context(|| format!("QAvgPool: window {:?} does not fit {h}x{w}", self.kernel))?;
        let shape = tvec![
            x.shape[0].clone(),
            x.shape[1].clone(),
            oh.to_dim(),
            ow.to_dim()
        ];
        Ok(tvec!(i8::datum_type().fact(shape)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::{with_isa, Isa};
    use crate::testing::seeded_planes;
    use proptest::prelude::*;

    fn pool(k: usize, s: usize, p: usize, include: bool) -> QAvgPool {
        QAvgPool {
            kernel: [k, k],
            strides: [s, s],
            pads: [p; 4],
            count_include_pad: include,
            zero_point: 0,
        }
    }

    /// The direct definition, cell by cell, for checking the fast path.
    fn reference(op: &QAvgPool, x: &[i8], h: usize, w: usize) -> Vec<i8> {
        let [oh, ow] = op.output_hw(h, w).unwrap();
        let mut out = vec![];
        for oy in 0..oh {
            for ox in 0..ow {
                let (mut sum, mut count) = (0i32, 0i32);
                for ky in 0..op.kernel[0] {
                    for kx in 0..op.kernel[1] {
                        let y = (oy * op.strides[0] + ky) as isize - op.pads[0] as isize;
                        let xx = (ox * op.strides[1] + kx) as isize - op.pads[1] as isize;
                        let inside = y >= 0 && xx >= 0 && (y as usize) < h && (xx as usize) < w;
                        let in_padded =
                            y < (h + op.pads[2]) as isize && xx < (w + op.pads[3]) as isize;
                        if inside {
                            sum += x[y as usize * w + xx as usize] as i32;
                            count += 1;
                        } else if op.count_include_pad && in_padded {
                            sum += op.zero_point;
                            count += 1;
                        }
                    }
                }
                out.push(if count == 0 {
                    op.zero_point as i8
                } else {
                    rounded_div(sum, count).clamp(-128, 127) as i8
                });
            }
        }
        out
    }

    /// `op` on `c` seeded `h`×`w` planes, and [`reference`] plane by plane.
    fn pooled_and_reference(op: &QAvgPool, [c, h, w]: [usize; 3], seed: u64) -> (Vec<i8>, Vec<i8>) {
        let t = seeded_planes([c, h, w], seed);
        let x = t
            .try_as_plain_ram()
            .unwrap()
            .as_slice::<i8>()
            .unwrap()
            .to_vec();
        let y = op.eval_tensor(&t).unwrap();
        let y = y
            .try_as_plain_ram()
            .unwrap()
            .as_slice::<i8>()
            .unwrap()
            .to_vec();
        let expected = x
            .chunks_exact(h * w)
            .flat_map(|plane| reference(op, plane, h, w))
            .collect();
        (y, expected)
    }

    proptest! {
        /// Tolerance: exact.
        #[test]
        fn the_separable_path_equals_the_cell_by_cell_definition(
            c in 1usize..5, h in 1usize..9, w in 1usize..9, kh in 1usize..4, kw in 1usize..4,
            s in 1usize..3, pads in proptest::array::uniform4(0usize..3),
            include in any::<bool>(), zp in -128i32..0, seed in any::<u64>(),
        ) {
            prop_assume!(pads[0] < kh && pads[2] < kh && pads[1] < kw && pads[3] < kw);
            let op = QAvgPool { kernel: [kh, kw], strides: [s, s], pads, count_include_pad: include, zero_point: zp };
            prop_assume!(op.output_hw(h, w).is_some());
            let (y, expected) = pooled_and_reference(&op, [c, h, w], seed);
            prop_assert_eq!(y, expected);
        }

        /// Tolerance: exact. Stride-1 windows that keep the plane's size (the shifted-sum
        /// path), with more planes than one group of it and every corner case of its edges.
        #[test]
        fn same_windows_equal_the_cell_by_cell_definition(
            c in 1usize..80, h in 1usize..12, w in 1usize..12, kh in 1usize..6, kw in 1usize..6,
            top in 0usize..6, left in 0usize..6,
            include in any::<bool>(), zp in -128i32..0, seed in any::<u64>(),
        ) {
            prop_assume!(top < kh && left < kw);
            let pads = [top, left, kh - 1 - top, kw - 1 - left];
            let op = QAvgPool { kernel: [kh, kw], strides: [1, 1], pads, count_include_pad: include, zero_point: zp };
            prop_assert_eq!(op.output_hw(h, w), Some([h, w]));
            let (y, expected) = pooled_and_reference(&op, [c, h, w], seed);
            prop_assert_eq!(y, expected);
        }

        /// Tolerance: exact. Each compilation of the plane loops this CPU can run.
        #[test]
        fn every_instruction_set_gives_the_baseline_bytes(
            c in 1usize..4, h in 1usize..20, w in 1usize..40, k in 1usize..4, s in 1usize..3,
            p in 0usize..2, include in any::<bool>(), zp in -128i32..0, seed in any::<u64>(),
        ) {
            prop_assume!(h + 2 * p >= k && w + 2 * p >= k && p < k);
            let x: Vec<i8> = (0..c * h * w).map(|i| (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64 * 1442695040888963407) >> 56) as i8).collect();
            let op = QAvgPool { kernel: [k, k], strides: [s, s], pads: [p; 4], count_include_pad: include, zero_point: zp };
            let t = Tensor::from_shape(&[1, c, h, w], &x).unwrap();
            let baseline = with_isa(Isa::Baseline, || op.eval_tensor(&t).unwrap()).unwrap();
            for isa in [Isa::Avx2, Isa::Avx512] {
                if let Some(y) = with_isa(isa, || op.eval_tensor(&t).unwrap()) {
                    prop_assert_eq!(&y, &baseline, "{:?}", isa);
                }
            }
        }
    }

    /// Every window size the `f32` division takes, with every sum its cells can have.
    #[test]
    fn the_f32_division_is_exact_for_every_window_sum() {
        let op = pool(1, 1, 0, false);
        let mut got = [0i8];
        for count in 1..=F32_EXACT_WINDOW {
            let c = count as i32;
            for sum in -128 * c..=127 * c {
                let cells = [c];
                op.divide_row(&[0], &[sum], [&cells, &cells], [1, 1], &mut got);
                let want = rounded_div(sum, c).clamp(-128, 127) as i8;
                assert_eq!(got[0], want, "sum {sum} over {count} cells");
            }
        }
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(rounded_div(3, 2), 2);
        assert_eq!(rounded_div(-3, 2), -2);
        assert_eq!(rounded_div(4, 3), 1);
        assert_eq!(rounded_div(-4, 3), -1);
    }

    #[test]
    fn border_cells_average_only_what_is_inside_unless_padding_counts() {
        let x = Tensor::from_shape(&[1, 1, 2, 2], &[10i8, 20, 30, 40]).unwrap();
        let y = pool(3, 1, 1, false).eval_tensor(&x).unwrap();
        assert_eq!(
            y,
            Tensor::from_shape(&[1, 1, 2, 2], &[25i8, 25, 25, 25]).unwrap()
        );
        let y = pool(3, 1, 1, true).eval_tensor(&x).unwrap();
        // 100 / 9 = 11.1
        assert_eq!(
            y,
            Tensor::from_shape(&[1, 1, 2, 2], &[11i8, 11, 11, 11]).unwrap()
        );
    }

    #[test]
    fn a_window_larger_than_the_plane_is_refused() {
        let x = i8::fact([1, 1, 2, 2]);
        assert!(pool(5, 1, 0, false).output_facts(&[&x]).is_err());
    }

    proptest! {
        /// Tolerance: exact (integer sums; rounding checked against f64 half-away rounding).
        #[test]
        fn global_pool_matches_a_float_reference(xs in proptest::collection::vec(any::<i8>(), 2 * 5 * 7)) {
            let x = Tensor::from_shape(&[1, 2, 5, 7], &xs).unwrap();
            let op = QAvgPool { kernel: [5, 7], strides: [1, 1], pads: [0; 4], count_include_pad: false, zero_point: 0 };
            let y = op.eval_tensor(&x).unwrap();
            let y = y.try_as_plain_ram().unwrap().as_slice::<i8>().unwrap().to_vec();
            for c in 0..2 {
                let mean = xs[c * 35..(c + 1) * 35].iter().map(|&v| v as f64).sum::<f64>() / 35.0;
                prop_assert_eq!(y[c] as f64, mean.round());
            }
        }
    }
}
