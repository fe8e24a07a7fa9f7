//! Int8 addition of two tensors on different scales (residual connections).

use tract_nnef::internal::*;

/// `clamp(round((a − a_zp)·m_a + (b − b_zp)·m_b) + zero_point, lo, hi)`: two i8 tensors of the
/// same shape, each with a fixed-point multiplier `mantissa · 2^-shift` to the output scale,
/// summed at 64-bit precision and rounded once (half up). A folded ReLU is `lo = zero_point`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QAdd {
    /// Zero points of the two inputs.
    pub input_zero_points: [i32; 2],
    /// Multiplier mantissas of the two inputs.
    pub mantissas: [i32; 2],
    /// Multiplier shifts of the two inputs (1..=62).
    pub shifts: [i32; 2],
    /// Output zero point.
    pub zero_point: i32,
    /// Lower clamp bound.
    pub lo: i32,
    /// Upper clamp bound.
    pub hi: i32,
}

impl QAdd {
    /// Adds `a` and `b` (i8, same shape, standard layout).
    pub fn eval_tensors(&self, a: &Tensor, b: &Tensor) -> TractResult<Tensor> {
        ensure!(
            a.shape() == b.shape(),
            "QAdd: shapes {:?} and {:?} differ",
            a.shape(),
            b.shape()
        );
        let av = a.try_as_plain_ram()?;
        let bv = b.try_as_plain_ram()?;
        let (av, bv) = (av.as_slice::<i8>()?, bv.as_slice::<i8>()?);
        // a common shift: the finer input is shifted left to meet the coarser one
        let s = self.shifts[0].max(self.shifts[1]).clamp(1, 62);
        let la = (s - self.shifts[0].clamp(1, 62)) as u32;
        let lb = (s - self.shifts[1].clamp(1, 62)) as u32;
        ensure!(la <= 24 && lb <= 24, "QAdd: input scales too far apart");
        let (ma, mb) = (
            (self.mantissas[0] as i64) << la,
            (self.mantissas[1] as i64) << lb,
        );
        let (za, zb) = (
            self.input_zero_points[0] as i64,
            self.input_zero_points[1] as i64,
        );
        let round = 1i64 << (s - 1);
        let (lo, hi) = (
            self.lo.clamp(-128, 127) as i64,
            self.hi.clamp(-128, 127) as i64,
        );
        let out: Vec<i8> = av
            .iter()
            .zip(bv)
            .map(|(&x, &y)| {
                let acc = (x as i64 - za) * ma + (y as i64 - zb) * mb + round;
                ((acc >> s) + self.zero_point as i64).clamp(lo, hi) as i8
            })
            .collect();
        Tensor::from_shape(a.shape(), &out)
    }
}

impl Op for QAdd {
    fn name(&self) -> StaticName {
        "QAdd".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "zero points {:?} → {} clamp [{}, {}]",
            self.input_zero_points, self.zero_point, self.lo, self.hi
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for QAdd {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (a, b) = args_2!(inputs);
        crate::settle_vector_state();
        Ok(tvec!(self.eval_tensors(&a, &b)?.into_tvalue()))
    }
}

impl TypedOp for QAdd {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.len() == 2, "QAdd takes 2 inputs");
        for i in inputs {
            ensure!(i.datum_type == i8::datum_type(), "QAdd: inputs must be i8");
        }
        ensure!(inputs[0].shape == inputs[1].shape, "QAdd: shapes differ");
        Ok(tvec!(i8::datum_type().fact(inputs[0].shape.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FixedMultiplier;
    use proptest::prelude::*;

    fn op(ma: f64, mb: f64, zps: [i32; 2], zp: i32) -> QAdd {
        let (a, b) = (
            FixedMultiplier::new(ma).unwrap(),
            FixedMultiplier::new(mb).unwrap(),
        );
        QAdd {
            input_zero_points: zps,
            mantissas: [a.mantissa, b.mantissa],
            shifts: [a.shift, b.shift],
            zero_point: zp,
            lo: -128,
            hi: 127,
        }
    }

    proptest! {
        /// Tolerance: one step (a single rounding of a 31-bit fixed-point sum).
        #[test]
        fn qadd_matches_a_float_reference(
            xs in proptest::collection::vec(any::<i8>(), 16),
            ys in proptest::collection::vec(any::<i8>(), 16),
            ma in 0.05f64..1.0, mb in 0.05f64..1.0,
        ) {
            let add = op(ma, mb, [-128, 0], -128);
            let a = Tensor::from_shape(&[16], &xs).unwrap();
            let b = Tensor::from_shape(&[16], &ys).unwrap();
            let z = add.eval_tensors(&a, &b).unwrap();
            let z = z.try_as_plain_ram().unwrap().as_slice::<i8>().unwrap().to_vec();
            for i in 0..16 {
                let r = ((xs[i] as f64 + 128.0) * ma + ys[i] as f64 * mb - 128.0).round().clamp(-128.0, 127.0);
                prop_assert!((z[i] as f64 - r).abs() <= 1.0, "{} vs {}", z[i], r);
            }
        }
    }

    #[test]
    fn different_shapes_are_refused() {
        let add = op(0.5, 0.5, [0, 0], 0);
        let a = Tensor::from_shape(&[2], &[1i8, 2]).unwrap();
        let b = Tensor::from_shape(&[3], &[1i8, 2, 3]).unwrap();
        assert!(add.eval_tensors(&a, &b).is_err());
    }
}
