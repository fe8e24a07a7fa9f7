//! Requantization (i32/i8 → i8) and dequantization (i32/i8 → f32), one factor per channel.

use tract_nnef::internal::*;
use tract_nnef::tract_core::tract_linalg::multithread::par_chunks_mut;

use crate::fixed::apply;
use crate::split_at_axis;

/// i32 accumulators (or i8 values) → i8:
/// `clamp(round_half_up((x − input_zero_point) · m[c]) + zero_point, lo, hi)`
/// with one fixed-point multiplier `m[c] = mantissa[c] · 2^-shift[c]` per channel along
/// `axis`, or one for the whole tensor.
///
/// Inputs: the values, the mantissas (i32, `[C]` or `[1]`), the shifts (i32, same shape).
/// A folded ReLU is `lo = zero_point`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requant {
    /// The channel axis the multipliers run along.
    pub axis: usize,
    /// Subtracted before scaling (the zero point of an i8 input; 0 for accumulators).
    pub input_zero_point: i32,
    /// Added after scaling.
    pub zero_point: i32,
    /// Lower clamp bound (inclusive), at least -128.
    pub lo: i32,
    /// Upper clamp bound (inclusive), at most 127.
    pub hi: i32,
}

/// i32 or i8 → f32: `(x - zero_point) · scale[c]` with one scale per channel along `axis`, or
/// one for the whole tensor. Inputs: the values, the scales (f32, `[C]` or `[1]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dequant {
    /// The channel axis the scales run along.
    pub axis: usize,
    /// Subtracted before scaling.
    pub zero_point: i32,
}

/// Checks a per-channel parameter's fact against the input fact.
fn check_params(
    op: &str,
    axis: usize,
    input: &TypedFact,
    params: &[&TypedFact],
    dt: DatumType,
) -> TractResult<()> {
    ensure!(
        input.datum_type == i32::datum_type() || input.datum_type == i8::datum_type(),
        "{op}: input must be i32 or i8, got {:?}",
        input.datum_type
    );
    ensure!(
        axis < input.rank(),
        "{op}: axis {axis} out of rank {}",
        input.rank()
    );
    for p in params {
        ensure!(
            p.datum_type == dt,
            "{op}: parameters must be {dt:?}, got {:?}",
            p.datum_type
        );
        ensure!(
            p.rank() == 1,
            "{op}: parameters must be rank 1, got {:?}",
            p.shape
        );
        let len = &p.shape[0];
        ensure!(
            len.is_one() || *len == input.shape[axis],
            "{op}: {len} parameters for {} channels",
            input.shape[axis]
        );
    }
    Ok(())
}

/// The input as i32 values, whatever its integer type (i8 is widened).
fn widened(input: &Tensor) -> TractResult<std::borrow::Cow<'_, [i32]>> {
    let view = input.try_as_plain_ram()?;
    if input.datum_type() == i32::datum_type() {
        Ok(std::borrow::Cow::Borrowed(view.as_slice::<i32>()?))
    } else {
        Ok(view.as_slice::<i8>()?.iter().map(|&v| v as i32).collect())
    }
}

/// The per-channel parameter `p` for channel `c` (a single value broadcasts).
#[inline(always)]
fn per_channel<T: Copy>(p: &[T], c: usize) -> T {
    if p.len() == 1 {
        p[0]
    } else {
        p[c]
    }
}

/// The requantization of one channel's run of values.
#[derive(Debug, Clone, Copy)]
struct Row {
    input_zero_point: i32,
    mantissa: i32,
    shift: i32,
    zero_point: i64,
    lo: i64,
    hi: i64,
}

impl Row {
    /// `dst[i] = clamp(apply(src[i] − input_zero_point) + zero_point, lo, hi)`.
    #[inline(always)]
    fn run(self, src: &[i32], dst: &mut [i8]) {
        for (d, &v) in dst.iter_mut().zip(src) {
            let r = apply(
                v.wrapping_sub(self.input_zero_point),
                self.mantissa,
                self.shift,
            );
            *d = (r + self.zero_point).clamp(self.lo, self.hi) as i8;
        }
    }
}

impl Requant {
    /// Requantizes `x` (i32 or i8, standard layout) with per-channel `mantissa`/`shift`.
    pub fn eval_tensor(
        &self,
        x: &Tensor,
        mantissa: &Tensor,
        shift: &Tensor,
    ) -> TractResult<Tensor> {
        let values = widened(x)?;
        let mantissa = mantissa.try_as_plain_ram()?.as_slice::<i32>()?.to_vec();
        let shift = shift.try_as_plain_ram()?.as_slice::<i32>()?.to_vec();
        let (_, channels, inner) = split_at_axis(x.shape(), self.axis);
        ensure!(
            mantissa.len() == shift.len() && (mantissa.len() == 1 || mantissa.len() == channels)
        );
        let lo = self.lo.clamp(-128, 127) as i64;
        let hi = self.hi.clamp(-128, 127) as i64;
        let zp = self.zero_point as i64;
        let mut out = vec![0i8; values.len()];
        // Channel runs are independent: with a thread pool they are split between its
        // threads, each run computed exactly as alone.
        par_chunks_mut(&mut out, inner.max(1), values.len(), |first, runs| {
            // on a pool thread, tract's kernels may have left the vector state dirty
            crate::settle_vector_state();
            // compiled for AVX-512 or AVX2, the widest this CPU has: the compiler then
            // vectorizes the 64-bit products (`vpmuldq`), 8 or 4 at a time; the same bytes
            crate::simd::widest(
                #[inline(always)]
                || {
                    for (i, dst) in runs.chunks_exact_mut(inner.max(1)).enumerate() {
                        let c = (first + i) % channels.max(1);
                        let start = (first + i) * inner;
                        let row = Row {
                            input_zero_point: self.input_zero_point,
                            mantissa: per_channel(&mantissa, c),
                            shift: per_channel(&shift, c),
                            zero_point: zp,
                            lo,
                            hi,
                        };
                        row.run(&values[start..start + inner], dst);
                    }
                },
            );
            Ok(())
        })?;
        Tensor::from_shape(x.shape(), &out)
    }
}

impl Dequant {
    /// Dequantizes `x` (i32 or i8, standard layout) with per-channel `scale`.
    pub fn eval_tensor(&self, x: &Tensor, scale: &Tensor) -> TractResult<Tensor> {
        let values = widened(x)?;
        let scale = scale.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
        let (outer, channels, inner) = split_at_axis(x.shape(), self.axis);
        ensure!(scale.len() == 1 || scale.len() == channels);
        let mut out = vec![0f32; values.len()];
        for o in 0..outer {
            for c in 0..channels {
                let s = per_channel(&scale, c);
                let start = (o * channels + c) * inner;
                for i in start..start + inner {
                    // exact for |x - zp| < 2^24; one IEEE rounding otherwise
                    out[i] = (values[i] as i64 - self.zero_point as i64) as f32 * s;
                }
            }
        }
        Tensor::from_shape(x.shape(), &out)
    }
}

impl Op for Requant {
    fn name(&self) -> StaticName {
        "Requant".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "axis: {} zero points: {} → {} clamp: [{}, {}]",
            self.axis, self.input_zero_point, self.zero_point, self.lo, self.hi
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for Requant {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (x, mantissa, shift) = args_3!(inputs);
        crate::settle_vector_state();
        Ok(tvec!(self
            .eval_tensor(&x, &mantissa, &shift)?
            .into_tvalue()))
    }
}

impl TypedOp for Requant {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.len() == 3, "Requant takes 3 inputs");
        check_params(
            "Requant",
            self.axis,
            inputs[0],
            &inputs[1..],
            i32::datum_type(),
        )?;
        ensure!(
            self.lo <= self.hi,
            "Requant: empty clamp [{}, {}]",
            self.lo,
            self.hi
        );
        Ok(tvec!(i8::datum_type().fact(inputs[0].shape.clone())))
    }
}

impl Op for Dequant {
    fn name(&self) -> StaticName {
        "Dequant".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "axis: {} zero point: {}",
            self.axis, self.zero_point
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for Dequant {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (x, scale) = args_2!(inputs);
        crate::settle_vector_state();
        Ok(tvec!(self.eval_tensor(&x, &scale)?.into_tvalue()))
    }
}

impl TypedOp for Dequant {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.len() == 2, "Dequant takes 2 inputs");
        check_params(
            "Dequant",
            self.axis,
            inputs[0],
            &inputs[1..],
            f32::datum_type(),
        )?;
        Ok(tvec!(f32::datum_type().fact(inputs[0].shape.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::{widest, with_isa, Isa};
    use crate::testing::fixed_params;
    use crate::FixedMultiplier;
    use proptest::prelude::*;

    #[test]
    fn requant_folds_relu_into_the_clamp() {
        let op = Requant {
            axis: 1,
            input_zero_point: 0,
            zero_point: 0,
            lo: 0,
            hi: 127,
        };
        let x = tensor2(&[[-500i32, 3, 1000], [-1, 7, 5000]])
            .into_shape(&[1, 2, 3])
            .unwrap();
        let (m, s) = fixed_params(&[0.5, 0.1]);
        let y = op.eval_tensor(&x, &m, &s).unwrap();
        assert_eq!(
            y,
            Tensor::from_shape(&[1, 2, 3], &[0i8, 2, 127, 0, 1, 127]).unwrap()
        );
    }

    #[test]
    fn requant_refuses_a_parameter_count_that_matches_no_channel_count() {
        let op = Requant {
            axis: 1,
            input_zero_point: 0,
            zero_point: 0,
            lo: -128,
            hi: 127,
        };
        let x = i32::fact([1, 3, 2]);
        let p = i32::fact([2]);
        assert!(op.output_facts(&[&x, &p, &p]).is_err());
    }

    proptest! {
        /// Tolerance: exact, on every value the accumulators can hold.
        #[test]
        fn the_vectorized_row_gives_the_scalar_rows_bytes(
            src in proptest::collection::vec(any::<i32>(), 0..200),
            izp in -128i32..128, m in 0.0f64..4.0, zp in -128i64..128,
            lo in -128i64..0, hi in 0i64..128,
        ) {
            let f = FixedMultiplier::new(m).unwrap();
            let row = Row { input_zero_point: izp, mantissa: f.mantissa, shift: f.shift, zero_point: zp, lo, hi };
            let (mut a, mut b) = (vec![0i8; src.len()], vec![0i8; src.len()]);
            row.run(&src, &mut a);
            // each instruction set this CPU has, as `widest` runs it
            for isa in [Isa::Baseline, Isa::Avx2, Isa::Avx512] {
                b.fill(0);
                if with_isa(isa, || widest(#[inline(always)] || row.run(&src, &mut b))).is_some() {
                    prop_assert_eq!(&a, &b, "{:?}", isa);
                }
            }
        }

        /// Tolerance: one step (the fixed-point product is within 1 of the real one).
        #[test]
        fn requant_matches_a_float_reference(
            xs in proptest::collection::vec(-100_000i32..100_000, 12),
            ms in proptest::collection::vec(1e-4f64..1.0, 3),
        ) {
            let op = Requant { axis: 1, input_zero_point: 0, zero_point: 0, lo: -128, hi: 127 };
            let x = Tensor::from_shape(&[1, 3, 4], &xs).unwrap();
            let (m, s) = fixed_params(&ms);
            let y = op.eval_tensor(&x, &m, &s).unwrap();
            let y = y.try_as_plain_ram().unwrap().as_slice::<i8>().unwrap().to_vec();
            for (i, (&x, &y)) in xs.iter().zip(&y).enumerate() {
                let r = (x as f64 * ms[i / 4]).round().clamp(-128.0, 127.0);
                prop_assert!((y as f64 - r).abs() <= 1.0, "{x} * {} -> {y} vs {r}", ms[i / 4]);
            }
        }
    }

    #[test]
    fn requant_moves_an_i8_value_between_zero_points() {
        // real = (q + 128) · 0.5  →  real = (q' − 0) · 1
        let op = Requant {
            axis: 1,
            input_zero_point: -128,
            zero_point: 0,
            lo: -128,
            hi: 127,
        };
        let x = Tensor::from_shape(&[1, 1, 3], &[-128i8, -127, 100]).unwrap();
        let (m, s) = fixed_params(&[0.5]);
        let y = op.eval_tensor(&x, &m, &s).unwrap();
        assert_eq!(y, Tensor::from_shape(&[1, 1, 3], &[0i8, 1, 114]).unwrap());
    }

    #[test]
    fn dequant_scales_each_channel() {
        let op = Dequant {
            axis: 1,
            zero_point: 0,
        };
        let x = Tensor::from_shape(&[1, 2], &[4i8, -2]).unwrap();
        let y = op.eval_tensor(&x, &tensor1(&[0.5f32, 0.25])).unwrap();
        assert_eq!(y, Tensor::from_shape(&[1, 2], &[2f32, -0.5]).unwrap());
    }
}
