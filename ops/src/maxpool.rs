//! [`QMaxPool`]: int8 max pooling, in place of tract's `OptMaxPool` on i8 tensors.
//!
//! tract's max pool walks every window element by element through its patch geometry; on
//! Inception-v3 its five int8 pools took about a tenth of the inference. This one is
//! separable (the maximum over each window row, then over the rows of the window), each pass
//! a run of element-wise maxima the compiler vectorizes. [`fast_ops`](crate::fast_ops) swaps
//! it in after tract's optimizer; models and NNEF files are unchanged.

use tract_nnef::internal::*;
use tract_nnef::tract_core::ops::cnn::OptMaxPool;
use tract_nnef::tract_core::ops::nn::DataFormat;
use tract_nnef::tract_core::tract_linalg::multithread::par_chunks_mut;

use crate::im2col::{inside_columns, window_output};
use crate::shift::{combine_shifted, redo_edge_columns, redo_edge_rows};
use crate::window_pads;

/// Bytes of the planes [`QMaxPool::pool_same`] takes at a time (its buffer stays in the
/// first-level cache).
const SAME_GROUP: usize = 16384;

/// Max pooling of an i8 NCHW tensor over `kernel` windows: cells outside the input are left
/// out of each window (a window with none inside gives `i8::MIN`, as tract's).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QMaxPool {
    /// Window height and width.
    pub kernel: [usize; 2],
    /// Vertical and horizontal stride.
    pub strides: [usize; 2],
    /// Vertical and horizontal dilation.
    pub dilations: [usize; 2],
    /// Padding: top, left, bottom, right.
    pub pads: [usize; 4],
}

impl QMaxPool {
    /// The output height and width for an input plane of `h`×`w`, if the window fits.
    pub fn output_hw(&self, h: usize, w: usize) -> Option<[usize; 2]> {
        window_output(self.kernel, self.strides, self.dilations, self.pads, [h, w])
    }

    /// The pooled `x` (i8, NCHW, standard layout).
    pub fn eval_tensor(&self, x: &Tensor) -> TractResult<Tensor> {
        ensure!(
            x.rank() == 4 && x.datum_type() == i8::datum_type(),
            "QMaxPool: input must be i8 NCHW, got {:?} {:?}",
            x.datum_type(),
            x.shape()
        );
        let (n, c, h, w) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
        let [oh, ow] = self
            .output_hw(h, w)
            .with_context(|| format!("QMaxPool: window {:?} does not fit {h}x{w}", self.kernel))?;
        let src = x.try_as_plain_ram()?.as_slice::<i8>()?;
        let mut out = vec![i8::MIN; n * c * oh * ow];
        // Planes are independent: with a thread pool they are split between its threads.
        par_chunks_mut(
            &mut out,
            (oh * ow).max(1),
            n * c * h * w,
            |first, planes| {
                // on a pool thread, tract's kernels may have left the vector state dirty
                crate::settle_vector_state();
                // compiled for AVX-512 or AVX2, the widest this CPU has (the x86_64 baseline,
                // SSE2, has no signed byte maximum: `pmaxsb` came with SSE4.1, and without it
                // every maximum is a compare and a blend); the same bytes
                if self.keeps_size() && h * w > 0 {
                    let x = &src[first * h * w..(first + planes.len() / (h * w).max(1)) * h * w];
                    crate::simd::widest(
                        #[inline(always)]
                        || self.pool_same(x, [h, w], planes),
                    );
                    return Ok(());
                }
                let mut rows = vec![i8::MIN; h * ow];
                crate::simd::widest(
                    #[inline(always)]
                    || {
                        for (i, dst) in planes.chunks_exact_mut((oh * ow).max(1)).enumerate() {
                            let plane = &src[(first + i) * h * w..(first + i + 1) * h * w];
                            self.pool_plane(plane, [h, w], &mut rows, dst);
                        }
                    },
                );
                Ok(())
            },
        )?;
        Tensor::from_shape(&[n, c, oh, ow], &out)
    }

    /// Whether the window is stride-1, undilated and padded to keep the plane's size.
    fn keeps_size(&self) -> bool {
        let [kh, kw] = self.kernel;
        self.strides == [1, 1]
            && self.dilations == [1, 1]
            && self.pads[0] + self.pads[2] + 1 == kh
            && self.pads[1] + self.pads[3] + 1 == kw
    }

    /// The planes `x` pooled into `out` for a window that [`QMaxPool::keeps_size`]: the
    /// maximum of `kw` shifted copies of a group of whole planes, then of `kh` copies of that
    /// shifted by whole rows, loops the compiler vectorizes over thousands of values (a
    /// plane's own rows can be 8 values long). Where a shift crossed into the neighbouring
    /// row or plane — the `left + right` edge columns of every row, the `top + bottom` edge
    /// rows of every plane — the maxima are taken again cell by cell. Same bytes.
    #[inline(always)]
    fn pool_same(&self, x: &[i8], [h, w]: [usize; 2], out: &mut [i8]) {
        let [top, left, bottom, right] = self.pads;
        let hw = h * w;
        let group = (SAME_GROUP / hw.max(1)).max(1) * hw;
        let mut rows = vec![0i8; group.min(x.len())];
        for (x, out) in x.chunks(group.max(1)).zip(out.chunks_mut(group.max(1))) {
            let rows = &mut rows[..x.len()];
            // horizontal: rows[i] = max x[i + dx], dx in -left..=right; then the edge
            // columns, whose shifted copies crossed into the next or previous row
            rows.copy_from_slice(x);
            let max = |m: &mut i8, v: i8| *m = (*m).max(v);
            combine_shifted(rows, x, [left, right], 1, max);
            redo_edge_columns(rows, x, w, [left, right], i8::MIN, i8::max);
            // vertical: out[i] = max rows[i + dy·w], dy in -top..=bottom; then the edge rows
            // of every plane, whose shifted copies crossed into another plane
            out.copy_from_slice(rows);
            combine_shifted(out, rows, [top, bottom], w, max);
            redo_edge_rows(out, rows, [h, w], [top, bottom], i8::MIN, i8::max);
        }
    }

    /// One plane: `rows[y][ox]` the maximum over window row `y` of output column `ox`, then
    /// `out[oy][ox]` the maximum of those over the window's rows.
    #[inline(always)]
    fn pool_plane(&self, plane: &[i8], [h, w]: [usize; 2], rows: &mut [i8], out: &mut [i8]) {
        let ow = rows.len() / h.max(1);
        let [kh, kw] = self.kernel;
        let [sy, sx] = self.strides;
        let [dy, dx] = self.dilations;
        let (top, left) = (self.pads[0] as isize, self.pads[1] as isize);
        rows.fill(i8::MIN);
        for kx in 0..kw {
            let shift = (kx * dx) as isize - left;
            let (first, last) = inside_columns(shift, sx, w, ow);
            if first >= last {
                continue;
            }
            let start = ((first * sx) as isize + shift) as usize;
            for (row, input) in rows.chunks_exact_mut(ow).zip(plane.chunks_exact(w)) {
                let row = &mut row[first..last];
                if sx == 1 {
                    for (m, &v) in row.iter_mut().zip(&input[start..]) {
                        *m = (*m).max(v);
                    }
                } else if sx == 2 {
                    // the first of each pair: a stride the compiler vectorizes (`step_by`
                    // stays scalar), then a last column whose pair the row's end cuts
                    let src = &input[start..];
                    let pairs = src.chunks_exact(2);
                    let n = row.len().min(pairs.len());
                    for (m, pair) in row[..n].iter_mut().zip(pairs) {
                        *m = (*m).max(pair[0]);
                    }
                    if let Some(m) = row.get_mut(n) {
                        *m = (*m).max(src[2 * n]);
                    }
                } else {
                    for (m, &v) in row.iter_mut().zip(input[start..].iter().step_by(sx)) {
                        *m = (*m).max(v);
                    }
                }
            }
        }
        for (oy, dst) in out.chunks_exact_mut(ow.max(1)).enumerate() {
            for ky in 0..kh {
                let y = (oy * sy + ky * dy) as isize - top;
                if y < 0 || y >= h as isize {
                    continue;
                }
                let row = &rows[y as usize * ow..(y as usize + 1) * ow];
                for (m, &v) in dst.iter_mut().zip(row) {
                    *m = (*m).max(v);
                }
            }
        }
    }

    /// The equivalent of tract's optimized max pool `op` on an i8 input of `shape`, if there
    /// is one (2-D NCHW, no index output).
    pub fn from_tract(op: &OptMaxPool, shape: &[usize]) -> Option<QMaxPool> {
        let spec = &op.pool_spec;
        if op.with_index_outputs.is_some()
            || spec.data_format != DataFormat::NCHW
            || spec.kernel_shape.len() != 2
            || shape.len() != 4
        {
            return None;
        }
        let (strides, dilations) = (spec.strides(), spec.dilations());
        Some(QMaxPool {
            kernel: [spec.kernel_shape[0], spec.kernel_shape[1]],
            strides: [strides[0], strides[1]],
            dilations: [dilations[0], dilations[1]],
            pads: window_pads(spec, &shape[2..]),
        })
    }
}

impl Op for QMaxPool {
    fn name(&self) -> StaticName {
        "QMaxPool".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "kernel: {:?} strides: {:?} dilations: {:?} pads: {:?}",
            self.kernel, self.strides, self.dilations, self.pads
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for QMaxPool {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        crate::settle_vector_state();
        Ok(tvec!(self.eval_tensor(&x)?.into_tvalue()))
    }
}

impl TypedOp for QMaxPool {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let x = inputs[0];
        ensure!(
            x.datum_type.unquantized() == i8::datum_type() && x.rank() == 4,
            "QMaxPool: input must be i8 NCHW, got {:?} {:?}",
            x.datum_type,
            x.shape
        );
        let (h, w) = (x.shape[2].to_usize()?, x.shape[3].to_usize()?);
        let [oh, ow] = self
            .output_hw(h, w)
            .with_context(|| format!("QMaxPool: window {:?} does not fit {h}x{w}", self.kernel))?;
        let shape = tvec![
            x.shape[0].clone(),
            x.shape[1].clone(),
            oh.to_dim(),
            ow.to_dim()
        ];
        Ok(tvec!(x.datum_type.fact(shape)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::{with_isa, Isa};
    use crate::testing::seeded_planes;
    use proptest::prelude::*;
    use tract_nnef::tract_core::ops::cnn::{MaxPool, PaddingSpec, PoolSpec};

    /// The spec of tract's max pool with `ours`'s window on `c` channels, padding explicit.
    fn explicit(c: usize, ours: &QMaxPool) -> PoolSpec {
        let p = ours.pads;
        PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: ours.kernel.iter().copied().collect(),
            padding: PaddingSpec::Explicit(tvec![p[0], p[1]], tvec![p[2], p[3]]),
            dilations: Some(ours.dilations.iter().copied().collect()),
            strides: Some(ours.strides.iter().copied().collect()),
            input_channels: c,
            output_channels: c,
        }
    }

    /// tract's own max pool on `x`, through an optimized model.
    fn tracts(spec: PoolSpec, x: &Tensor) -> (Tensor, Option<QMaxPool>) {
        let mut model = TypedModel::default();
        let input = model.add_source("x", i8::fact(x.shape())).unwrap();
        let pool = MaxPool {
            pool_spec: spec,
            with_index_outputs: None,
        };
        let y = model.wire_node("pool", pool, &[input]).unwrap();
        model.select_output_outlets(&y).unwrap();
        let model = model.into_optimized().unwrap();
        let ours = model
            .nodes
            .iter()
            .find_map(|n| n.op_as::<OptMaxPool>())
            .and_then(|op| QMaxPool::from_tract(op, x.shape()));
        let out = model
            .into_runnable()
            .unwrap()
            .run(tvec![x.clone().into_tvalue()])
            .unwrap();
        (out[0].clone().into_tensor(), ours)
    }

    proptest! {
        /// Tolerance: exact.
        #[test]
        fn pooling_equals_tracts_max_pool(
            c in 1usize..4, h in 1usize..14, w in 1usize..14,
            kh in 1usize..4, kw in 1usize..4, sy in 1usize..3, sx in 1usize..3,
            dy in 1usize..3, dx in 1usize..3, pads in proptest::array::uniform4(0usize..2),
            seed in any::<u64>(),
        ) {
            // tract's padding must stay below the window, or its windows can be empty
            prop_assume!(pads[0] < kh && pads[2] < kh && pads[1] < kw && pads[3] < kw);
            let ours = QMaxPool { kernel: [kh, kw], strides: [sy, sx], dilations: [dy, dx], pads };
            prop_assume!(ours.output_hw(h, w).is_some());
            let x = seeded_planes([c, h, w], seed);
            let spec = explicit(c, &ours);
            let (theirs, converted) = tracts(spec, &x);
            prop_assert_eq!(converted.as_ref(), Some(&ours));
            prop_assert_eq!(ours.eval_tensor(&x).unwrap(), theirs);
        }

        /// Tolerance: exact. Windows that keep the plane's size (the shifted-maximum path),
        /// with more planes than one group of it and every corner case of its edges.
        #[test]
        fn same_windows_equal_tracts_max_pool(
            c in 1usize..300, h in 1usize..12, w in 1usize..12, kh in 1usize..6, kw in 1usize..6,
            top in 0usize..6, left in 0usize..6, seed in any::<u64>(),
        ) {
            prop_assume!(top < kh && left < kw);
            let pads = [top, left, kh - 1 - top, kw - 1 - left];
            let ours = QMaxPool { kernel: [kh, kw], strides: [1, 1], dilations: [1, 1], pads };
            prop_assert!(ours.keeps_size());
            let x = seeded_planes([c, h, w], seed);
            let spec = explicit(c, &ours);
            let (theirs, _) = tracts(spec, &x);
            prop_assert_eq!(ours.eval_tensor(&x).unwrap(), theirs);
        }

        /// Tolerance: exact. Each compilation of the plane loop this CPU can run.
        #[test]
        fn every_instruction_set_gives_the_baseline_bytes(
            c in 1usize..4, h in 1usize..20, w in 1usize..40,
            k in 1usize..4, s in 1usize..3, pads in proptest::array::uniform4(0usize..2),
            seed in any::<u64>(),
        ) {
            let op = QMaxPool { kernel: [k, k], strides: [s, s], dilations: [1, 1], pads };
            prop_assume!(op.output_hw(h, w).is_some());
            let x = seeded_planes([c, h, w], seed);
            let baseline = with_isa(Isa::Baseline, || op.eval_tensor(&x).unwrap()).unwrap();
            for isa in [Isa::Avx2, Isa::Avx512] {
                if let Some(y) = with_isa(isa, || op.eval_tensor(&x).unwrap()) {
                    prop_assert_eq!(&y, &baseline, "{:?}", isa);
                }
            }
        }
    }

    #[test]
    fn a_window_larger_than_the_padded_input_or_a_float_input_is_refused() {
        let op = QMaxPool {
            kernel: [5, 5],
            strides: [1, 1],
            dilations: [1, 1],
            pads: [0; 4],
        };
        assert_eq!(op.output_hw(4, 4), None);
        assert!(op
            .eval_tensor(&Tensor::from_shape(&[1, 1, 4, 4], &[0i8; 16]).unwrap())
            .is_err());
        let float = Tensor::from_shape(&[1, 1, 8, 8], &[0f32; 64]).unwrap();
        assert!(op.eval_tensor(&float).is_err());
    }
}
