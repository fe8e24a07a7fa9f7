//! Logits → ranked predictions: numerically stable softmax and top-k, on `f32` logits and on
//! quantized logits (dequantized lazily: ranking happens on the integers, which is exact since
//! dequantization is monotonic, and only the winners are converted).
//!
//! Ties rank the lower class index first, so results are deterministic.

use core::fmt;

use heapless::Vec;

use crate::quant::{QuantInt, QuantParams};

/// One ranked class.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Prediction {
    /// Class index into the model's label table.
    pub class: u16,
    /// Probability (after softmax) or logit, as the producing function documents.
    pub score: f32,
}

/// Up to `K` predictions, best first.
pub type TopK<const K: usize> = Vec<Prediction, K>;

/// Why logits could not be ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PostprocessError {
    /// No logits were given.
    Empty,
    /// More classes than a `u16` index can name.
    TooManyClasses,
    /// A logit is NaN.
    NotANumber,
}

impl fmt::Display for PostprocessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PostprocessError::Empty => f.write_str("no logits to rank"),
            PostprocessError::TooManyClasses => f.write_str("more than 65536 classes"),
            PostprocessError::NotANumber => f.write_str("a logit is NaN"),
        }
    }
}

impl core::error::Error for PostprocessError {}

fn check_len(n: usize) -> Result<(), PostprocessError> {
    match n {
        0 => Err(PostprocessError::Empty),
        n if n > usize::from(u16::MAX) + 1 => Err(PostprocessError::TooManyClasses),
        _ => Ok(()),
    }
}

/// Replaces `logits` by their softmax in place, subtracting the maximum first so that no
/// `exp` overflows. Fails on empty input or NaN.
pub fn softmax(logits: &mut [f32]) -> Result<(), PostprocessError> {
    if logits.is_empty() {
        return Err(PostprocessError::Empty);
    }
    if logits.iter().any(|x| x.is_nan()) {
        return Err(PostprocessError::NotANumber);
    }
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for x in logits.iter_mut() {
        // exp(-inf - -inf) would be NaN when every logit is -inf: treat as uniform.
        *x = if max == f32::NEG_INFINITY {
            1.0
        } else {
            libm::expf(*x - max)
        };
        sum += *x;
    }
    for x in logits.iter_mut() {
        *x /= sum;
    }
    Ok(())
}

/// Inserts `(class, key)` into `top`, kept sorted by descending key then ascending class.
fn insert<const K: usize, T: PartialOrd + Copy>(top: &mut Vec<(u16, T), K>, class: u16, key: T) {
    if K == 0 {
        return;
    }
    let pos = top.iter().position(|&(_, k)| key > k).unwrap_or(top.len());
    if pos >= K {
        return;
    }
    if top.is_full() {
        top.pop();
    }
    // Cannot fail: there is room after the pop, and pos <= len.
    let _ = top.insert(pos, (class, key));
}

/// The `K` largest logits, best first, with their raw logit as score.
pub fn top_k<const K: usize>(logits: &[f32]) -> Result<TopK<K>, PostprocessError> {
    check_len(logits.len())?;
    let mut top: Vec<(u16, f32), K> = Vec::new();
    for (i, &x) in logits.iter().enumerate() {
        if x.is_nan() {
            return Err(PostprocessError::NotANumber);
        }
        insert(&mut top, i as u16, x);
    }
    Ok(top
        .into_iter()
        .map(|(class, score)| Prediction { class, score })
        .collect())
}

/// The `K` most probable classes, best first, with softmax probabilities as scores. Needs no
/// scratch buffer: the normalizer is a second pass over the logits.
pub fn top_k_softmax<const K: usize>(logits: &[f32]) -> Result<TopK<K>, PostprocessError> {
    let mut top = top_k::<K>(logits)?;
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        let p = 1.0 / logits.len() as f32;
        top.iter_mut().for_each(|t| t.score = p);
        return Ok(top);
    }
    let sum: f32 = logits.iter().map(|&x| libm::expf(x - max)).sum();
    for t in top.iter_mut() {
        t.score = libm::expf(t.score - max) / sum;
    }
    Ok(top)
}

/// The `K` largest quantized logits, best first, ranked on the integers and dequantized
/// with `q` only for the winners (score = dequantized logit).
pub fn top_k_quantized<const K: usize, T: QuantInt>(
    logits: &[T],
    q: QuantParams,
) -> Result<TopK<K>, PostprocessError> {
    check_len(logits.len())?;
    let mut top: Vec<(u16, i32), K> = Vec::new();
    for (i, &x) in logits.iter().enumerate() {
        insert(&mut top, i as u16, x.to_i32());
    }
    Ok(top
        .into_iter()
        .map(|(class, v)| Prediction {
            class,
            score: (v - q.zero_point()) as f32 * q.scale(),
        })
        .collect())
}

/// The `K` most probable classes from quantized logits, with softmax probabilities computed
/// from the dequantized values.
pub fn top_k_softmax_quantized<const K: usize, T: QuantInt>(
    logits: &[T],
    q: QuantParams,
) -> Result<TopK<K>, PostprocessError> {
    let mut top = top_k_quantized::<K, T>(logits, q)?;
    let max = logits.iter().map(|x| x.to_i32()).max().unwrap_or(0);
    let sum: f32 = logits
        .iter()
        .map(|x| libm::expf((x.to_i32() - max) as f32 * q.scale()))
        .sum();
    let max_real = (max - q.zero_point()) as f32 * q.scale();
    for t in top.iter_mut() {
        t.score = libm::expf(t.score - max_real) / sum;
    }
    Ok(top)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec as StdVec;

    #[test]
    fn empty_logits_are_an_error() {
        assert_eq!(top_k::<3>(&[]), Err(PostprocessError::Empty));
        assert_eq!(softmax(&mut []), Err(PostprocessError::Empty));
        let q = QuantParams::new(1.0, 0).unwrap();
        assert_eq!(
            top_k_quantized::<3, i8>(&[], q),
            Err(PostprocessError::Empty)
        );
    }

    #[test]
    fn nan_logits_are_an_error() {
        assert_eq!(
            top_k::<2>(&[1.0, f32::NAN]),
            Err(PostprocessError::NotANumber)
        );
        assert_eq!(softmax(&mut [f32::NAN]), Err(PostprocessError::NotANumber));
    }

    #[test]
    fn more_than_65536_classes_is_an_error() {
        let big = std::vec![0f32; 65537];
        assert_eq!(top_k::<1>(&big), Err(PostprocessError::TooManyClasses));
    }

    #[test]
    fn softmax_survives_huge_logits() {
        let mut x = [1000.0, 999.0, -1000.0];
        softmax(&mut x).unwrap();
        assert!((x[0] - 0.731_058_6).abs() < 1e-6, "{x:?}");
        assert!((x.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn all_negative_infinity_gives_a_uniform_distribution() {
        let mut x = [f32::NEG_INFINITY; 4];
        softmax(&mut x).unwrap();
        assert_eq!(x, [0.25; 4]);
        let t = top_k_softmax::<2>(&[f32::NEG_INFINITY; 4]).unwrap();
        assert_eq!(t[0].score, 0.25);
    }

    #[test]
    fn ties_rank_the_lower_class_first() {
        let t = top_k::<3>(&[1.0, 5.0, 5.0, 0.0, 5.0]).unwrap();
        let classes: StdVec<u16> = t.iter().map(|p| p.class).collect();
        assert_eq!(classes, [1, 2, 4]);
    }

    #[test]
    fn k_larger_than_the_class_count_returns_every_class() {
        let t = top_k::<8>(&[0.1, 0.3]).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].class, 1);
    }

    #[test]
    fn quantized_top_k_dequantizes_the_winners() {
        let q = QuantParams::new(0.5, 10).unwrap();
        let t = top_k_quantized::<2, u8>(&[10, 30, 20], q).unwrap();
        assert_eq!(
            t[0],
            Prediction {
                class: 1,
                score: 10.0
            }
        );
        assert_eq!(
            t[1],
            Prediction {
                class: 2,
                score: 5.0
            }
        );
    }

    proptest! {
        #[test]
        fn top_k_agrees_with_a_full_sort(logits in proptest::collection::vec(-100f32..100.0, 1..60)) {
            let t = top_k::<5>(&logits).unwrap();
            let mut idx: StdVec<usize> = (0..logits.len()).collect();
            idx.sort_by(|&a, &b| logits[b].partial_cmp(&logits[a]).unwrap().then(a.cmp(&b)));
            prop_assert_eq!(t.len(), logits.len().min(5));
            for (p, &i) in t.iter().zip(&idx) {
                prop_assert_eq!(usize::from(p.class), i);
                prop_assert_eq!(p.score, logits[i]);
            }
        }

        /// Tolerance: 1e-5 absolute on probabilities against an f64 softmax.
        #[test]
        fn softmax_matches_a_float64_reference(logits in proptest::collection::vec(-80f32..80.0, 1..40)) {
            let m = logits.iter().copied().fold(f64::NEG_INFINITY, |a, b| a.max(f64::from(b)));
            let s: f64 = logits.iter().map(|&x| (f64::from(x) - m).exp()).sum();
            let mut y = logits.clone();
            softmax(&mut y).unwrap();
            let t = top_k_softmax::<3>(&logits).unwrap();
            for (i, &x) in logits.iter().enumerate() {
                let want = (f64::from(x) - m).exp() / s;
                prop_assert!((f64::from(y[i]) - want).abs() <= 1e-5);
            }
            for p in &t {
                prop_assert!((p.score - y[usize::from(p.class)]).abs() <= 1e-6);
            }
        }

        /// Quantized ranking equals ranking of the dequantized values; probabilities within 1e-5.
        #[test]
        fn quantized_top_k_matches_dequantize_then_rank(
            logits in proptest::collection::vec(any::<i8>(), 1..50), scale in 0.01f32..1.0, zp in -10i32..10
        ) {
            let q = QuantParams::new(scale, zp).unwrap();
            let real: StdVec<f32> = logits.iter().map(|&x| q.dequantize(x)).collect();
            let a = top_k_softmax_quantized::<4, i8>(&logits, q).unwrap();
            let b = top_k_softmax::<4>(&real).unwrap();
            for (x, y) in a.iter().zip(&b) {
                prop_assert_eq!(x.class, y.class);
                prop_assert!((x.score - y.score).abs() <= 1e-5);
            }
        }
    }
}
