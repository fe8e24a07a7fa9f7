//! Affine quantization parameters and the rounding rule used everywhere in the crate.
//!
//! A real value `x` maps to `q = clamp(round_half_even(x / scale) + zero_point)`, the rule of
//! ONNX `QuantizeLinear` and of tract's quantized types; `x ≈ (q - zero_point) × scale`.

use core::fmt;

/// Scale and zero point of an affine-quantized tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QuantParams {
    scale: f32,
    zero_point: i32,
}

/// Why quantization parameters were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum QuantError {
    /// The scale is zero, negative, infinite or NaN.
    InvalidScale,
    /// The zero point lies outside the integer type's range.
    ZeroPointOutOfRange,
}

impl fmt::Display for QuantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantError::InvalidScale => f.write_str("quantization scale must be finite and > 0"),
            QuantError::ZeroPointOutOfRange => {
                f.write_str("quantization zero point is outside the integer range")
            }
        }
    }
}

impl core::error::Error for QuantError {}

/// An 8-bit integer type a tensor can be quantized to.
pub trait QuantInt: Copy + sealed::Sealed {
    /// Smallest value.
    const MIN: i32;
    /// Largest value.
    const MAX: i32;
    /// Converts a value already clamped to `MIN..=MAX`.
    fn from_clamped(v: i32) -> Self;
    /// Widens to `i32`.
    fn to_i32(self) -> i32;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for i8 {}
    impl Sealed for u8 {}
}

impl QuantInt for i8 {
    const MIN: i32 = i8::MIN as i32;
    const MAX: i32 = i8::MAX as i32;
    #[inline]
    fn from_clamped(v: i32) -> Self {
        v as i8
    }
    #[inline]
    fn to_i32(self) -> i32 {
        i32::from(self)
    }
}

impl QuantInt for u8 {
    const MIN: i32 = 0;
    const MAX: i32 = u8::MAX as i32;
    #[inline]
    fn from_clamped(v: i32) -> Self {
        v as u8
    }
    #[inline]
    fn to_i32(self) -> i32 {
        i32::from(self)
    }
}

impl QuantParams {
    /// Parameters with the given scale and zero point. The zero point must fit the widest
    /// 8-bit range used (`-128..=255`); [`QuantParams::check_for`] narrows that to one type.
    pub fn new(scale: f32, zero_point: i32) -> Result<Self, QuantError> {
        if !(scale.is_finite() && scale > 0.0) {
            return Err(QuantError::InvalidScale);
        }
        if !(-128..=255).contains(&zero_point) {
            return Err(QuantError::ZeroPointOutOfRange);
        }
        Ok(QuantParams { scale, zero_point })
    }

    /// Checks that the zero point is representable in `T`.
    pub fn check_for<T: QuantInt>(self) -> Result<Self, QuantError> {
        if (T::MIN..=T::MAX).contains(&self.zero_point) {
            Ok(self)
        } else {
            Err(QuantError::ZeroPointOutOfRange)
        }
    }

    /// The scale (real value of one integer step).
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// The integer that represents 0.0.
    pub fn zero_point(&self) -> i32 {
        self.zero_point
    }

    /// Quantizes one value: `clamp(round_half_even(x / scale) + zero_point)`. NaN maps to the
    /// zero point.
    #[inline]
    pub fn quantize<T: QuantInt>(&self, x: f32) -> T {
        let r = rint(x / self.scale);
        // `as` saturates for out-of-range floats and maps NaN to 0.
        let q = (r as i32).saturating_add(self.zero_point);
        T::from_clamped(q.clamp(T::MIN, T::MAX))
    }

    /// Dequantizes one value: `(q - zero_point) × scale`.
    #[inline]
    pub fn dequantize<T: QuantInt>(&self, q: T) -> f32 {
        (q.to_i32() - self.zero_point) as f32 * self.scale
    }
}

/// Round half to even, as `libm::rintf`, inline and branch-light: for |x| < 2²³, adding and
/// subtracting 2²³ to |x| leaves the integer nearest to it (ties to even: the sum's unit in the
/// last place is 1 and 2²³ is even); larger magnitudes, infinities and NaN pass through.
#[inline(always)]
fn rint(x: f32) -> f32 {
    const TWO_23: f32 = 8_388_608.0;
    let a = x.abs();
    if a < TWO_23 {
        ((a + TWO_23) - TWO_23).copysign(x)
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rint_matches_libm_on_ties_edges_and_specials() {
        let mut cases = std::vec![
            0.5f32,
            1.5,
            2.5,
            -0.5,
            -1.5,
            -2.5,
            0.49999997,
            4_194_303.5,
            4_194_304.0,
            8_388_607.5,
            1e10,
            -1e10,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MIN_POSITIVE,
            -0.0,
            0.0
        ];
        let mut x = 0x9e37_79b9u32;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            cases.push(f32::from_bits(x));
        }
        for v in cases {
            let (a, b) = (rint(v), libm::rintf(v));
            assert!(
                a == b || (a.is_nan() && b.is_nan()),
                "{v:e}: {a:e} vs {b:e}"
            );
        }
    }

    #[test]
    fn invalid_scales_are_refused() {
        for s in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            assert_eq!(QuantParams::new(s, 0), Err(QuantError::InvalidScale), "{s}");
        }
    }

    #[test]
    fn zero_points_outside_the_type_are_refused() {
        assert_eq!(
            QuantParams::new(1.0, 256),
            Err(QuantError::ZeroPointOutOfRange)
        );
        let q = QuantParams::new(1.0, 200).unwrap();
        assert!(q.check_for::<u8>().is_ok());
        assert_eq!(q.check_for::<i8>(), Err(QuantError::ZeroPointOutOfRange));
    }

    #[test]
    fn ties_round_to_even_like_onnx_quantize_linear() {
        let q = QuantParams::new(1.0, 0).unwrap();
        assert_eq!(q.quantize::<i8>(0.5), 0);
        assert_eq!(q.quantize::<i8>(1.5), 2);
        assert_eq!(q.quantize::<i8>(2.5), 2);
        assert_eq!(q.quantize::<i8>(-2.5), -2);
    }

    #[test]
    fn out_of_range_and_nan_values_saturate_or_map_to_zero_point() {
        let q = QuantParams::new(0.1, 3).unwrap();
        assert_eq!(q.quantize::<i8>(1e9), 127);
        assert_eq!(q.quantize::<i8>(-1e9), -128);
        assert_eq!(q.quantize::<u8>(f32::NAN), 3);
        assert_eq!(q.quantize::<u8>(f32::NEG_INFINITY), 0);
    }

    proptest! {
        /// Tolerance: within the representable range, dequantize(quantize(x)) is within
        /// half a step (plus f32 rounding) of x.
        #[test]
        fn quantization_round_trip_is_within_half_a_step(
            scale in 1e-4f32..10.0, zp in -128i32..=127, t in 0f32..=1.0
        ) {
            let q = QuantParams::new(scale, zp).unwrap();
            let lo = (i8::MIN as i32 - zp) as f32 * scale;
            let hi = (i8::MAX as i32 - zp) as f32 * scale;
            let x = lo + t * (hi - lo);
            let back = q.dequantize(q.quantize::<i8>(x));
            prop_assert!((back - x).abs() <= scale * 0.5 + scale * 1e-3 + x.abs() * 1e-6,
                "x={} back={} scale={}", x, back, scale);
        }

        #[test]
        fn quantization_matches_a_float64_reference(
            scale in 1e-3f32..4.0, zp in 0i32..=255, x in -2e3f32..2e3
        ) {
            let q = QuantParams::new(scale, zp).unwrap();
            let v = f64::from(x / scale);
            // round half to even in f64
            let r = v.round_ties_even();
            let want = (r as i64 + i64::from(zp)).clamp(0, 255) as u8;
            prop_assert_eq!(q.quantize::<u8>(x), want);
        }
    }
}
