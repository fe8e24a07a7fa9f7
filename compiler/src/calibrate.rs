//! Calibration: run the fp32 graph over sample inputs and record every quantized tensor's
//! range as a histogram of absolute values; turn ranges into scales by min-max, percentile or
//! entropy (KL divergence, as TensorRT does).

use std::collections::HashMap;
use std::str::FromStr;

use tract_core::internal::*;

use crate::error::{CompileError, Result};
use crate::plan::{plan, StepKind};
use crate::FloatModel;

/// Histogram resolution for percentile and entropy calibration.
pub const BINS: usize = 2048;
/// Quantization levels on one side of zero (symmetric int8).
const LEVELS: usize = 128;

/// How an activation range becomes a clipping threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// The largest absolute value seen.
    MinMax,
    /// The given percentile (0–100) of absolute values.
    Percentile(f64),
    /// The threshold whose int8 version of the histogram is closest (KL divergence) to it.
    Entropy,
    /// The threshold that minimizes the mean squared quantization error (rounding noise of
    /// the values kept plus clipping error of the values beyond).
    Mse,
}

impl Method {
    /// The default percentile.
    pub const DEFAULT_PERCENTILE: f64 = 99.99;
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Method::MinMax => write!(f, "minmax"),
            Method::Percentile(p) if *p == Method::DEFAULT_PERCENTILE => write!(f, "percentile"),
            Method::Percentile(p) => write!(f, "percentile:{p}"),
            Method::Entropy => write!(f, "entropy"),
            Method::Mse => write!(f, "mse"),
        }
    }
}

impl FromStr for Method {
    type Err = String;
    /// `minmax`, `percentile` (99.99), `percentile:P` or `entropy`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "minmax" => Ok(Method::MinMax),
            "entropy" => Ok(Method::Entropy),
            "mse" => Ok(Method::Mse),
            "percentile" => Ok(Method::Percentile(Method::DEFAULT_PERCENTILE)),
            _ => match s.strip_prefix("percentile:").map(str::parse::<f64>) {
                Some(Ok(p)) if p > 0.0 && p <= 100.0 => Ok(Method::Percentile(p)),
                _ => Err(format!(
                    "unknown calibration method {s:?}: use minmax, percentile, percentile:P (0 < P ≤ 100), entropy or mse"
                )),
            },
        }
    }
}

/// The distribution of absolute values of one tensor: a histogram whose bin width doubles as
/// larger values arrive, so one pass suffices.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorStats {
    /// The largest absolute value seen.
    pub amax: f32,
    /// The smallest value seen (≥ 0 for a ReLU's output).
    pub min: f32,
    /// Width of one bin (0 until a non-zero value arrives).
    pub width: f32,
    /// Counts per bin; bin `i` holds `[i·width, (i+1)·width)`, the last one also the top.
    /// Exact zeros (a ReLU's output, half a tensor or more) are counted apart: int8 represents
    /// them exactly at any scale, so they must not pull the threshold.
    pub hist: Vec<u64>,
    /// Number of exact zeros seen.
    pub zeros: u64,
}

impl Default for TensorStats {
    fn default() -> Self {
        TensorStats {
            amax: 0.0,
            min: f32::INFINITY,
            width: 0.0,
            hist: vec![0; BINS],
            zeros: 0,
        }
    }
}

impl TensorStats {
    /// Adds values to the histogram.
    pub fn add(&mut self, values: &[f32]) {
        let amax = values
            .iter()
            .fold(0f32, |m, v| if v.abs() > m { v.abs() } else { m });
        if !amax.is_finite() {
            // NaN/inf activations cannot be calibrated; keep what is finite.
            let finite: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
            return self.add(&finite);
        }
        if amax > 0.0 {
            if self.width == 0.0 {
                self.width = amax / BINS as f32;
            }
            while amax > self.width * BINS as f32 {
                // merge pairs of bins, doubling the width
                for i in 0..BINS / 2 {
                    self.hist[i] = self.hist[2 * i] + self.hist[2 * i + 1];
                }
                self.hist[BINS / 2..].iter_mut().for_each(|h| *h = 0);
                self.width *= 2.0;
            }
        }
        self.amax = self.amax.max(amax);
        self.min = values.iter().fold(self.min, |m, &v| m.min(v));
        let inv = if self.width > 0.0 {
            1.0 / self.width
        } else {
            0.0
        };
        for v in values {
            if *v == 0.0 {
                self.zeros += 1;
                continue;
            }
            let bin = ((v.abs() * inv) as usize).min(BINS - 1);
            self.hist[bin] += 1;
        }
    }

    /// Whether no negative value was seen.
    pub fn non_negative(&self) -> bool {
        self.min >= 0.0
    }

    /// Number of values seen.
    pub fn count(&self) -> u64 {
        self.hist.iter().sum::<u64>() + self.zeros
    }

    /// The clipping threshold (a positive absolute value) the method picks.
    pub fn threshold(&self, method: Method) -> f32 {
        if self.width == 0.0 {
            return 0.0;
        }
        match method {
            Method::MinMax => self.amax,
            Method::Percentile(p) => {
                let total = self.count() as f64;
                let mut seen = self.zeros as f64;
                for (i, &h) in self.hist.iter().enumerate() {
                    seen += h as f64;
                    if seen >= total * p / 100.0 {
                        return ((i + 1) as f32 * self.width).min(self.amax);
                    }
                }
                self.amax
            }
            Method::Entropy => self.entropy_threshold().min(self.amax),
            Method::Mse => self.mse_threshold().min(self.amax),
        }
    }

    /// The threshold minimizing the expected squared error: values inside `[0, t]` get
    /// uniform rounding noise `step²/12`, values beyond are clipped to `t`. A non-negative
    /// tensor spreads 255 steps over `[0, t]`, a signed one 127 on each side.
    fn mse_threshold(&self) -> f32 {
        let last = match self.hist.iter().rposition(|&v| v > 0) {
            Some(i) => i + 1,
            None => return 0.0,
        };
        let steps = if self.non_negative() { 255.0 } else { 127.0 };
        let w = self.width as f64;
        let mut best = (f64::INFINITY, last);
        for i in (last / 16).max(1)..=last {
            let t = i as f64 * w;
            let noise = (t / steps).powi(2) / 12.0;
            let mut err = 0.0;
            for (b, &h) in self.hist[..last].iter().enumerate() {
                if h == 0 {
                    continue;
                }
                let centre = (b as f64 + 0.5) * w;
                err += h as f64
                    * if centre <= t {
                        noise
                    } else {
                        (centre - t).powi(2) + noise
                    };
            }
            if err < best.0 {
                best = (err, i);
            }
        }
        best.1 as f32 * self.width
    }

    /// TensorRT's entropy calibration: for each candidate number of bins `i` (128…2048), clip
    /// the histogram to `i` bins, squeeze it into 128 levels, and keep the `i` whose squeezed
    /// version diverges least (KL) from the clipped one.
    fn entropy_threshold(&self) -> f32 {
        let h: Vec<f64> = self.hist.iter().map(|&v| v as f64).collect();
        // the last occupied bin bounds the search
        let last = h.iter().rposition(|&v| v > 0.0).map_or(0, |i| i + 1);
        if last <= LEVELS {
            return last as f32 * self.width;
        }
        let mut best = (f64::INFINITY, last);
        let mut q = vec![0f64; BINS];
        for i in LEVELS..=last {
            let outliers: f64 = h[i..].iter().sum();
            let mut p = h[..i].to_vec();
            p[i - 1] += outliers;
            let merged = i as f64 / LEVELS as f64;
            for j in 0..LEVELS {
                let start = (j as f64 * merged).floor() as usize;
                let end = if j == LEVELS - 1 {
                    i
                } else {
                    ((j + 1) as f64 * merged).floor() as usize
                };
                let (total, nonzero) = h[start..end]
                    .iter()
                    .fold((0f64, 0usize), |(t, n), &v| (t + v, n + (v > 0.0) as usize));
                for k in start..end {
                    q[k] = if h[k] > 0.0 {
                        total / nonzero as f64
                    } else {
                        0.0
                    };
                }
            }
            let (ps, qs): (f64, f64) = (p.iter().sum(), q[..i].iter().sum());
            if ps == 0.0 || qs == 0.0 {
                continue;
            }
            let mut kl = 0.0;
            for k in 0..i {
                if p[k] > 0.0 {
                    let pk = p[k] / ps;
                    let qk = if q[k] > 0.0 { q[k] / qs } else { 1e-10 };
                    kl += pk * (pk / qk).ln();
                }
            }
            if kl < best.0 {
                best = (kl, i);
            }
        }
        (best.1 as f32 + 0.5) * self.width
    }
}

/// Activation statistics of one model over a calibration set, keyed by fp32 tensor name
/// (`node:slot`). Reusable: compile the same calibration with different methods or options.
#[derive(Debug, Clone, Default)]
pub struct Calibration {
    /// Per-tensor statistics.
    pub stats: HashMap<String, TensorStats>,
    /// Number of calibration inputs seen.
    pub inputs: usize,
}

/// The key of an fp32 outlet in a [`Calibration`].
pub(crate) fn key(model: &TypedModel, outlet: OutletId) -> String {
    format!("{}:{}", model.node(outlet.node).name, outlet.slot)
}

/// Runs the fp32 model with every tensor that gets its own int8 scale made observable.
pub struct Calibrator {
    state: TypedSimpleState,
    keys: Vec<String>,
    stats: Vec<TensorStats>,
    outputs: usize,
    shape: Vec<usize>,
    inputs: usize,
}

impl std::fmt::Debug for Calibrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Calibrator")
            .field("tensors", &self.keys.len())
            .field("inputs", &self.inputs)
            .finish()
    }
}

impl Calibrator {
    /// Prepares the fp32 model for observation. Fails if a node has no int8 lowering, so a
    /// calibration is never wasted on a model that cannot be compiled.
    pub fn new(float: &FloatModel) -> Result<Self> {
        let steps = plan(float)?;
        let mut model = float.model.clone();
        let outputs = model.outputs.clone();
        let mut observed: Vec<OutletId> = steps
            .iter()
            .filter(|s| {
                matches!(
                    s.kind,
                    StepKind::Source
                        | StepKind::Conv { .. }
                        | StepKind::Linear { .. }
                        | StepKind::Concat(_)
                        | StepKind::Add { .. }
                        | StepKind::Lrn(_)
                )
            })
            .map(|s| s.end)
            .collect();
        observed.retain(|o| !outputs.contains(o));
        let keys = outputs
            .iter()
            .chain(&observed)
            .map(|&o| key(&model, o))
            .collect::<Vec<_>>();
        let all: Vec<OutletId> = outputs.iter().chain(&observed).copied().collect();
        model.select_output_outlets(&all)?;
        let plan = model.into_optimized()?.into_runnable()?;
        let state = plan.spawn()?;
        Ok(Calibrator {
            state,
            stats: vec![TensorStats::default(); keys.len()],
            keys,
            outputs: outputs.len(),
            shape: float.input_shape(),
            inputs: 0,
        })
    }

    /// Number of tensors observed.
    pub fn tensors(&self) -> usize {
        self.keys.len()
    }

    /// Runs one input (row-major, the model's input shape), records the statistics, and
    /// returns the model's own outputs, flattened.
    pub fn observe(&mut self, input: &[f32]) -> Result<Vec<Vec<f32>>> {
        let len: usize = self.shape.iter().product();
        if input.len() != len {
            return Err(CompileError::Calibration(format!(
                "input has {} values, the model takes {len} ({:?})",
                input.len(),
                self.shape
            )));
        }
        let tensor = Tensor::from_shape(&self.shape, input)?;
        let results = self.state.run(tvec!(tensor.into_tvalue()))?;
        let mut outputs = Vec::with_capacity(self.outputs);
        for (i, r) in results.iter().enumerate() {
            let values = r.try_as_plain_ram()?;
            let values = values.as_slice::<f32>()?;
            self.stats[i].add(values);
            if i < self.outputs {
                outputs.push(values.to_vec());
            }
        }
        self.inputs += 1;
        Ok(outputs)
    }

    /// The statistics gathered; an error if no input was observed.
    pub fn finish(self) -> Result<Calibration> {
        if self.inputs == 0 {
            return Err(CompileError::Calibration(
                "the calibration set is empty".into(),
            ));
        }
        Ok(Calibration {
            stats: self.keys.into_iter().zip(self.stats).collect(),
            inputs: self.inputs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(values: &[f32]) -> TensorStats {
        let mut s = TensorStats::default();
        s.add(values);
        s
    }

    #[test]
    fn the_histogram_widens_without_losing_counts() {
        let mut s = stats(&[0.5, -1.0]);
        s.add(&[100.0, 3.0]);
        assert_eq!(s.count(), 4);
        assert_eq!(s.amax, 100.0);
        assert!(s.width * BINS as f32 >= 100.0);
    }

    #[test]
    fn minmax_is_the_largest_absolute_value() {
        assert_eq!(stats(&[0.5, -7.0, 3.0]).threshold(Method::MinMax), 7.0);
    }

    #[test]
    fn percentile_ignores_rare_outliers() {
        let mut v: Vec<f32> = (0..100_000).map(|i| (i % 1000) as f32 / 1000.0).collect();
        v.push(1000.0);
        let t = stats(&v).threshold(Method::Percentile(99.9));
        assert!(t < 2.0, "{t}");
    }

    #[test]
    fn entropy_clips_a_long_tail_but_keeps_the_bulk() {
        // a Laplace-like bulk in [0, 1] and a sparse tail to 50
        let mut v: Vec<f32> = (0..200_000)
            .map(|i| -((1.0 - (i as f32 + 0.5) / 200_000.0).ln()) / 8.0)
            .collect();
        v.extend((0..20).map(|i| 10.0 + 2.0 * i as f32));
        let s = stats(&v);
        let t = s.threshold(Method::Entropy);
        assert!(t > 0.3 && t < 20.0, "{t}");
    }

    #[test]
    fn a_relu_output_s_zeros_do_not_pull_the_entropy_threshold_down() {
        // exponential(1) values plus as many exact zeros, as a ReLU leaves them
        let n = 400_000;
        let mut v: Vec<f32> = (0..n)
            .map(|i| -((1.0 - (i as f32 + 0.5) / n as f32).ln()))
            .collect();
        v.extend(std::iter::repeat_n(0.0, n));
        let s = stats(&v);
        assert_eq!(s.zeros, n as u64);
        let t = s.threshold(Method::Entropy);
        // an int8 grid over [0, t] must keep the bulk: e^-4 of the mass lies beyond 4
        assert!(t > 4.0 && t <= s.amax, "{t} of {}", s.amax);
        let m = s.threshold(Method::Mse);
        assert!(m > 4.0 && m <= s.amax, "{m}");
    }

    #[test]
    fn an_all_zero_tensor_has_a_zero_threshold() {
        assert_eq!(stats(&[0.0; 10]).threshold(Method::Entropy), 0.0);
    }

    #[test]
    fn methods_parse_and_print() {
        for m in ["minmax", "percentile", "percentile:99.9", "entropy", "mse"] {
            assert_eq!(m.parse::<Method>().unwrap().to_string(), m);
        }
        assert!("kl".parse::<Method>().is_err());
        assert!("percentile:0".parse::<Method>().is_err());
    }
}
