//! How close an int8 model is to its fp32 original: per-layer SQNR and output agreement.

use tract_core::internal::*;

use crate::error::{CompileError, Result};
use crate::{FloatModel, Int8Model};

/// Quantizes an f32 input for an int8 model: `clamp(round_half_even(x / scale), -128, 127)`,
/// the same arithmetic as `inception_edge_core::QuantParams::quantize`.
pub fn quantize_input(x: &[f32], scale: f32) -> Vec<i8> {
    x.iter()
        .map(|&v| (v / scale).round_ties_even().clamp(-128.0, 127.0) as i8)
        .collect()
}

/// The signal-to-quantization-noise ratio of one int8 tensor against its fp32 original.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerQuality {
    /// The fp32 node.
    pub name: String,
    /// What produces it (see [`Layer::kind`](crate::Layer::kind)).
    pub kind: &'static str,
    /// The largest of its int8 scales (one per channel after a concatenation).
    pub scale: f32,
    /// The calibrated absolute maximum (0 for an `avgpool`: it keeps its input's scale).
    pub amax: f32,
    /// `10·log10(Σx² / Σ(x − x̂)²)` over the inputs, x̂ the dequantized int8 value.
    pub sqnr_db: f64,
}

/// Runs both models on `inputs` and measures every quantized tensor's SQNR.
pub fn layer_quality(
    float: &FloatModel,
    int8: &Int8Model,
    inputs: &[Vec<f32>],
) -> Result<Vec<LayerQuality>> {
    if inputs.is_empty() {
        return Err(CompileError::Calibration(
            "no inputs to measure layer quality on".into(),
        ));
    }
    let mut fm = float.model.clone();
    fm.select_output_outlets(&int8.layers.iter().map(|l| l.fp32).collect::<Vec<_>>())?;
    let fp = fm.into_optimized()?.into_runnable()?;
    let mut qm = int8.model.clone();
    qm.select_output_outlets(&int8.layers.iter().map(|l| l.wire).collect::<Vec<_>>())?;
    let qp = qm.into_optimized()?.into_runnable()?;
    let shape = float.input_shape();
    let mut energy = vec![(0f64, 0f64); int8.layers.len()];
    for input in inputs {
        let f = fp.run(tvec!(Tensor::from_shape(&shape, input)?.into_tvalue()))?;
        let q = quantize_input(input, int8.input_scale);
        let q = qp.run(tvec!(Tensor::from_shape(&shape, &q)?.into_tvalue()))?;
        for (i, layer) in int8.layers.iter().enumerate() {
            let shape = q[i].shape();
            let (c, inner) = (
                shape.get(1).copied().unwrap_or(1),
                shape.iter().skip(2).product::<usize>(),
            );
            let fv = f[i].try_as_plain_ram()?;
            let qv = q[i].try_as_plain_ram()?;
            for (j, (&x, &y)) in fv
                .as_slice::<f32>()?
                .iter()
                .zip(qv.as_slice::<i8>()?)
                .enumerate()
            {
                let ch = (j / inner) % c;
                let s = if layer.scales.len() == 1 {
                    layer.scales[0]
                } else {
                    layer.scales[ch]
                };
                let d = x as f64 - (y as f64 - layer.zero_point as f64) * s as f64;
                energy[i].0 += x as f64 * x as f64;
                energy[i].1 += d * d;
            }
        }
    }
    Ok(int8
        .layers
        .iter()
        .zip(energy)
        .map(|(l, (s, n))| LayerQuality {
            name: l.name.clone(),
            kind: l.kind,
            scale: l.scales.iter().copied().fold(0f32, f32::max),
            amax: l.amax,
            sqnr_db: if n > 0.0 {
                10.0 * (s / n).log10()
            } else {
                f64::INFINITY
            },
        })
        .collect())
}

/// Agreement between fp32 and int8 outputs over a set of inputs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Agreement {
    /// Inputs compared.
    pub inputs: usize,
    /// Inputs whose arg-max is the same.
    pub top1_same: usize,
    /// Sum of cosine similarities of the output vectors.
    pub cosine_sum: f64,
}

impl Agreement {
    /// Adds one input's fp32 and int8 outputs.
    pub fn add(&mut self, fp32: &[f32], int8: &[f32]) {
        self.inputs += 1;
        self.top1_same += (argmax(fp32) == argmax(int8)) as usize;
        self.cosine_sum += cosine(fp32, int8);
    }

    /// Fraction of inputs with the same arg-max.
    pub fn top1(&self) -> f64 {
        self.top1_same as f64 / self.inputs.max(1) as f64
    }

    /// Mean cosine similarity.
    pub fn mean_cosine(&self) -> f64 {
        self.cosine_sum / self.inputs.max(1) as f64
    }
}

/// Index of the largest value (the first on ties).
pub fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold(0, |b, (i, &x)| if x > v[b] { i } else { b })
}

/// Cosine similarity of two vectors (1 for two zero vectors).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        ab += x as f64 * y as f64;
        aa += x as f64 * x as f64;
        bb += y as f64 * y as f64;
    }
    if aa == 0.0 && bb == 0.0 {
        1.0
    } else {
        ab / (aa.sqrt() * bb.sqrt()).max(f64::MIN_POSITIVE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_quantization_rounds_half_to_even_and_saturates() {
        assert_eq!(
            quantize_input(&[0.5, 1.5, -0.5, 1000.0, -1000.0], 1.0),
            vec![0, 2, 0, 127, -128]
        );
    }

    #[test]
    fn agreement_counts_same_argmax_and_averages_cosine() {
        let mut a = Agreement::default();
        a.add(&[1.0, 2.0], &[1.0, 2.0]);
        a.add(&[1.0, 0.0], &[0.0, 1.0]);
        assert_eq!(a.top1(), 0.5);
        assert!((a.mean_cosine() - 0.5).abs() < 1e-12);
    }
}
