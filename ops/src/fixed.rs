//! Fixed-point multipliers: a positive real factor as `mantissa · 2^-shift`.

/// A positive real multiplier `m ≈ mantissa · 2^-shift`, `mantissa` in `[2^30, 2^31)` and
/// `shift` in `1..=62`, applied to an integer `x` as `(x·mantissa + 2^(shift-1)) >> shift`
/// (round half up) in 64-bit arithmetic. Multipliers below `2^-31` are stored as zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FixedMultiplier {
    /// The mantissa, in `[2^30, 2^31)`, or 0 for a zero multiplier.
    pub mantissa: i32,
    /// The right shift, in `1..=62`.
    pub shift: i32,
}

/// Why a real factor cannot be a [`FixedMultiplier`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FixedPointError {
    /// The factor is negative, NaN or infinite.
    NotPositiveFinite(f64),
    /// The factor is `2^30` or more.
    TooLarge(f64),
}

impl std::fmt::Display for FixedPointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FixedPointError::NotPositiveFinite(m) => {
                write!(f, "multiplier {m} is not a non-negative finite number")
            }
            FixedPointError::TooLarge(m) => write!(f, "multiplier {m} is 2^30 or more"),
        }
    }
}

impl std::error::Error for FixedPointError {}

impl FixedMultiplier {
    /// Encodes `m` (non-negative, finite, below `2^30`).
    pub fn new(m: f64) -> Result<Self, FixedPointError> {
        if !m.is_finite() || m < 0.0 {
            return Err(FixedPointError::NotPositiveFinite(m));
        }
        if m >= (1u64 << 30) as f64 {
            return Err(FixedPointError::TooLarge(m));
        }
        if m < 2f64.powi(-31) {
            return Ok(FixedMultiplier {
                mantissa: 0,
                shift: 1,
            });
        }
        // m = f · 2^e with f in [0.5, 1)
        let mut e = m.log2().floor() as i32 + 1;
        let mut f = m / 2f64.powi(e);
        // log2 rounding may leave f just outside [0.5, 1)
        while f >= 1.0 {
            f /= 2.0;
            e += 1;
        }
        while f < 0.5 {
            f *= 2.0;
            e -= 1;
        }
        let mut mantissa = (f * (1u64 << 31) as f64).round() as i64;
        if mantissa == 1 << 31 {
            mantissa = 1 << 30;
            e += 1;
        }
        let shift = 31 - e;
        if shift > 62 {
            return Ok(FixedMultiplier {
                mantissa: 0,
                shift: 1,
            });
        }
        debug_assert!(shift >= 1);
        Ok(FixedMultiplier {
            mantissa: mantissa as i32,
            shift,
        })
    }

    /// The real value this multiplier stands for.
    pub fn value(&self) -> f64 {
        self.mantissa as f64 * 2f64.powi(-self.shift)
    }

    /// `round_half_up(x · m)` in 64-bit integer arithmetic.
    #[inline(always)]
    pub fn apply(&self, x: i32) -> i64 {
        apply(x, self.mantissa, self.shift)
    }
}

/// `round_half_up(x · mantissa · 2^-shift)`; `shift` must be in `1..=62`.
#[inline(always)]
pub(crate) fn apply(x: i32, mantissa: i32, shift: i32) -> i64 {
    let shift = shift.clamp(1, 62) as u32;
    (x as i64 * mantissa as i64 + (1i64 << (shift - 1))) >> shift
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_multiplier_of_one_half_is_exact() {
        let m = FixedMultiplier::new(0.5).unwrap();
        assert_eq!(m.value(), 0.5);
        assert_eq!(m.apply(3), 2); // 1.5 rounds half up
        assert_eq!(m.apply(-3), -1); // -1.5 rounds half up
    }

    #[test]
    fn bad_multipliers_are_refused() {
        assert!(FixedMultiplier::new(-1.0).is_err());
        assert!(FixedMultiplier::new(f64::NAN).is_err());
        assert!(FixedMultiplier::new(2f64.powi(31)).is_err());
        assert_eq!(FixedMultiplier::new(1e-12).unwrap().apply(i32::MAX), 0);
    }

    proptest! {
        /// Tolerance: the mantissa has 31 bits, so the product is within 1 of the float one
        /// (0.5 from rounding plus |x|·m·2^-31 ≤ 0.5 for |x|·m < 2^30).
        #[test]
        fn fixed_point_matches_the_float_product(m in 1e-9f64..1.0, x in -(1i32 << 24)..(1 << 24)) {
            let f = FixedMultiplier::new(m).unwrap();
            prop_assert!((f.value() - m).abs() <= m * 2f64.powi(-30));
            let exact = x as f64 * m;
            prop_assert!((f.apply(x) as f64 - exact).abs() <= 1.0, "{} vs {}", f.apply(x), exact);
        }
    }
}
