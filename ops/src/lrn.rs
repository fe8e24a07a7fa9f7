//! Int8 local response normalization across channels (GoogLeNet's LRN).

use tract_nnef::internal::*;

/// ONNX `LRN` on an int8 NCHW tensor: with `x = s_in · (q − zp_in)`,
/// `y_c = x_c / (bias + alpha / size · Σ x_k²)^beta` over the channels
/// `c − ⌊(size−1)/2⌋ ..= c + ⌈(size−1)/2⌉`, requantized to `s_out`, `zp_out`.
///
/// The sum of squares is exact integer arithmetic; the power is `libm`'s software `pow` in
/// f64, so the output is bit-identical on every target (no platform `libm`, no FMA). The
/// powers are memoized per integer sum of squares ([`PowTable`]): GoogLeNet's two LRNs take
/// 4.7 ms instead of 27 ms on the x86_64 build host.
#[derive(Debug, Clone, PartialEq)]
pub struct QLrn {
    /// Window size over channels.
    pub size: usize,
    /// ONNX `alpha`.
    pub alpha: f32,
    /// ONNX `beta`.
    pub beta: f32,
    /// ONNX `bias`.
    pub bias: f32,
    /// Input scale.
    pub input_scale: f32,
    /// Input zero point.
    pub input_zero_point: i32,
    /// Output scale.
    pub scale: f32,
    /// Output zero point.
    pub zero_point: i32,
    /// The denominators, memoized on first use (see [`PowTable`]).
    pub table: PowTable,
}

/// The parameters a [`PowTable`] was built for: size, alpha, beta, bias, input scale (bits)
/// and input zero point.
type TableKey = (usize, [u32; 4], i32);

/// Memo of the LRN denominators `pow(bias + k·s, −beta)` for every integer sum of squares `s`
/// the int8 input can produce (`size · 255²` + 1 values for an i8 zero point), built on first
/// use and shared by clones. Each entry is the very value the direct computation gives, so
/// outputs do not depend on it. Ignored by comparisons and hashing; an op whose parameters
/// no longer match the table's computes the powers directly.
#[derive(Clone, Default)]
pub struct PowTable(Arc<std::sync::OnceLock<(TableKey, Vec<f64>)>>);

impl std::fmt::Debug for PowTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.get() {
            Some((_, t)) => write!(f, "PowTable({} entries)", t.len()),
            None => f.write_str("PowTable(empty)"),
        }
    }
}

impl PartialEq for PowTable {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// The largest table built (8 MiB of f64); larger windows compute the powers directly.
const TABLE_LIMIT: u64 = 1 << 20;

impl Eq for QLrn {}

impl std::hash::Hash for QLrn {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.size.hash(state);
        for f in [
            self.alpha,
            self.beta,
            self.bias,
            self.input_scale,
            self.scale,
        ] {
            f.to_bits().hash(state);
        }
        self.input_zero_point.hash(state);
        self.zero_point.hash(state);
    }
}

impl QLrn {
    fn check(&self, x: &Tensor) -> TractResult<()> {
        ensure!(x.rank() >= 2, "QLrn: rank {} input", x.rank());
        ensure!(self.size >= 1, "QLrn: window size 0");
        ensure!(
            self.input_scale > 0.0 && self.scale > 0.0,
            "QLrn: scales must be positive"
        );
        Ok(())
    }

    fn key(&self) -> TableKey {
        let bits = [self.alpha, self.beta, self.bias, self.input_scale].map(f32::to_bits);
        (self.size, bits, self.input_zero_point)
    }

    /// `k` of the denominator `pow(bias + k·Σq², −beta)` over zero-point-adjusted integers.
    fn k(&self) -> f64 {
        self.alpha as f64 / self.size as f64 * (self.input_scale as f64).powi(2)
    }

    fn denominator(&self, k: f64, sum: i64) -> f64 {
        libm::pow(self.bias as f64 + k * sum as f64, -(self.beta as f64))
    }

    /// The memoized denominators, when the table is small enough to build.
    fn table(&self, k: f64) -> Option<&[f64]> {
        let zp = self.input_zero_point as i64;
        let most = (-128 - zp).abs().max((127 - zp).abs()) as u64;
        let len = (self.size as u64)
            .checked_mul(most * most)
            .filter(|&n| n < TABLE_LIMIT)?
            + 1;
        let key = self.key();
        let (built_for, table) = self.table.0.get_or_init(|| {
            let t = (0..len as i64).map(|s| self.denominator(k, s)).collect();
            (key, t)
        });
        (*built_for == key).then_some(table.as_slice())
    }

    /// Normalizes `x` (i8, rank ≥ 2, channels on axis 1, standard layout).
    pub fn eval_tensor(&self, x: &Tensor) -> TractResult<Tensor> {
        self.check(x)?;
        let (outer, channels, inner) = crate::split_at_axis(x.shape(), 1);
        let v = x.try_as_plain_ram()?;
        let v = v.as_slice::<i8>()?;
        let zp = self.input_zero_point as i64;
        let (before, after) = ((self.size - 1) / 2, self.size / 2);
        let k = self.k();
        let table = self.table(k);
        let m = self.input_scale as f64 / self.scale as f64;
        let mut out = vec![0i8; v.len()];
        let mut sums = vec![0i64; inner];
        for o in 0..outer {
            let base = o * channels * inner;
            let row = |c: usize| &v[base + c * inner..base + (c + 1) * inner];
            for c in 0..channels {
                sums.fill(0);
                for ch in c.saturating_sub(before)..=(c + after).min(channels - 1) {
                    for (s, &q) in sums.iter_mut().zip(row(ch)) {
                        let x = q as i64 - zp;
                        *s += x * x;
                    }
                }
                let dst = &mut out[base + c * inner..base + (c + 1) * inner];
                for ((y, &q), &sum) in dst.iter_mut().zip(row(c)).zip(&sums) {
                    let d = match table {
                        Some(t) => t[sum as usize],
                        None => self.denominator(k, sum),
                    };
                    let r = libm::round(m * (q as i64 - zp) as f64 * d) + self.zero_point as f64;
                    *y = r.clamp(-128.0, 127.0) as i8;
                }
            }
        }
        Tensor::from_shape(x.shape(), &out)
    }

    /// The definition, one output at a time with a `pow` each: what
    /// [`QLrn::eval_tensor`] must equal bit for bit (tests).
    pub fn eval_reference(&self, x: &Tensor) -> TractResult<Tensor> {
        self.check(x)?;
        let (outer, channels, inner) = crate::split_at_axis(x.shape(), 1);
        let v = x.try_as_plain_ram()?;
        let v = v.as_slice::<i8>()?;
        let zp = self.input_zero_point as i64;
        let (before, after) = ((self.size - 1) / 2, self.size / 2);
        let k = self.k();
        let m = self.input_scale as f64 / self.scale as f64;
        let mut out = vec![0i8; v.len()];
        for o in 0..outer {
            let base = o * channels * inner;
            for c in 0..channels {
                let lo = c.saturating_sub(before);
                let hi = (c + after).min(channels - 1);
                for i in 0..inner {
                    let at = |ch: usize| v[base + ch * inner + i] as i64 - zp;
                    let sum: i64 = (lo..=hi).map(|ch| at(ch) * at(ch)).sum();
                    let d = self.denominator(k, sum);
                    let y = libm::round(m * at(c) as f64 * d) + self.zero_point as f64;
                    out[base + c * inner + i] = y.clamp(-128.0, 127.0) as i8;
                }
            }
        }
        Tensor::from_shape(x.shape(), &out)
    }
}

impl Op for QLrn {
    fn name(&self) -> StaticName {
        "QLrn".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "size {} alpha {} beta {} bias {}, scale {} zp {} → scale {} zp {}",
            self.size,
            self.alpha,
            self.beta,
            self.bias,
            self.input_scale,
            self.input_zero_point,
            self.scale,
            self.zero_point
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for QLrn {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        Ok(tvec!(self.eval_tensor(&x)?.into_tvalue()))
    }
}

impl TypedOp for QLrn {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.len() == 1, "QLrn takes 1 input");
        ensure!(
            inputs[0].datum_type == i8::datum_type(),
            "QLrn: the input must be i8"
        );
        Ok(tvec!(i8::datum_type().fact(inputs[0].shape.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn op(s_in: f32, zp_in: i32, s_out: f32, zp_out: i32) -> QLrn {
        QLrn {
            size: 5,
            alpha: 1e-4,
            beta: 0.75,
            bias: 1.0,
            input_scale: s_in,
            input_zero_point: zp_in,
            scale: s_out,
            zero_point: zp_out,
            table: PowTable::default(),
        }
    }

    proptest! {
        /// Against the ONNX formula in f64: at most one step off (rounding of the output).
        #[test]
        fn qlrn_matches_the_onnx_formula(
            xs in proptest::collection::vec(any::<i8>(), 7 * 3),
            s_in in 0.01f32..2.0,
            zp_in in -128i32..0,
        ) {
            let lrn = op(s_in, zp_in, s_in * 0.9, -128);
            let x = Tensor::from_shape(&[1, 7, 3], &xs).unwrap();
            let y = lrn.eval_tensor(&x).unwrap();
            let y = y.try_as_plain_ram().unwrap().as_slice::<i8>().unwrap().to_vec();
            let f = |c: usize, i: usize| s_in as f64 * (xs[c * 3 + i] as f64 - zp_in as f64);
            for c in 0..7usize {
                for i in 0..3 {
                    let sum: f64 = (c.saturating_sub(2)..=(c + 2).min(6)).map(|k| f(k, i).powi(2)).sum();
                    let r = f(c, i) / (1.0f64 + 1e-4 / 5.0 * sum).powf(0.75);
                    let q = (r / (s_in as f64 * 0.9)).round() - 128.0;
                    prop_assert!((y[c * 3 + i] as f64 - q.clamp(-128.0, 127.0)).abs() <= 1.0);
                }
            }
        }
    }

    proptest! {
        /// The memoized evaluation equals the definition bit for bit, with a table (i8 zero
        /// points) and without (a zero point no i8 model has, or a window too wide).
        #[test]
        fn the_memoized_evaluation_is_bit_identical_to_the_definition(
            xs in proptest::collection::vec(any::<i8>(), 2 * 9 * 5),
            size in 1usize..8,
            s_in in 0.001f32..4.0,
            zp_in in -300i32..300,
            wide in any::<bool>(),
        ) {
            let mut lrn = op(s_in, zp_in, s_in * 0.7, -3);
            lrn.size = if wide { 40 } else { size };
            lrn.alpha = 0.3;
            let x = Tensor::from_shape(&[2, 9, 5], &xs).unwrap();
            let fast = lrn.eval_tensor(&x).unwrap();
            prop_assert_eq!(&fast, &lrn.eval_reference(&x).unwrap());
            // a second run reads the table built by the first
            prop_assert_eq!(&fast, &lrn.eval_tensor(&x).unwrap());
        }
    }

    #[test]
    fn a_clone_with_other_parameters_does_not_use_the_first_table() {
        let x = Tensor::from_shape(
            &[1, 6, 4],
            &(0..24).map(|i| i as i8 * 5).collect::<Vec<_>>(),
        )
        .unwrap();
        let a = op(0.05, -128, 0.04, -128);
        a.eval_tensor(&x).unwrap();
        assert!(format!("{:?}", a.table).contains("entries"));
        let mut b = a.clone();
        b.input_scale = 0.2;
        b.alpha = 0.5;
        assert_eq!(b.eval_tensor(&x).unwrap(), b.eval_reference(&x).unwrap());
        assert_ne!(b.eval_tensor(&x).unwrap(), a.eval_tensor(&x).unwrap());
    }

    #[test]
    fn bad_scales_and_ranks_are_errors() {
        let x = Tensor::from_shape(&[1, 2, 1], &[1i8, 2]).unwrap();
        assert!(op(0.0, 0, 1.0, 0).eval_tensor(&x).is_err());
        let flat = Tensor::from_shape(&[2], &[1i8, 2]).unwrap();
        assert!(op(1.0, 0, 1.0, 0).eval_tensor(&flat).is_err());
    }
}
