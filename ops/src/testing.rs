//! Helpers of this crate's tests.

use tract_nnef::internal::*;

/// `c` seeded `h`×`w` i8 planes (`[1, c, h, w]`), the same for the same seed.
pub(crate) fn seeded_planes([c, h, w]: [usize; 3], seed: u64) -> Tensor {
    let x: Vec<i8> = (0..c * h * w)
        .map(|i| {
            (seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(i as u64 * 1442695040888963407)
                >> 56) as i8
        })
        .collect();
    Tensor::from_shape(&[1, c, h, w], &x).unwrap()
}

/// The mantissas and shifts (i32 `[n]` each) of `Requant` multipliers `ms`.
pub(crate) fn fixed_params(ms: &[f64]) -> (Tensor, Tensor) {
    let f: Vec<crate::FixedMultiplier> = ms
        .iter()
        .map(|&m| crate::FixedMultiplier::new(m).unwrap())
        .collect();
    let mantissa: Vec<i32> = f.iter().map(|f| f.mantissa).collect();
    let shift: Vec<i32> = f.iter().map(|f| f.shift).collect();
    (tensor1(&mantissa), tensor1(&shift))
}
