//! The int8 graph compiler: (fp32 graph, calibration, options) → int8 tract graph.

use std::collections::HashMap;

use tract_core::internal::*;
use tract_core::ops::array::TypedConcat;
use tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use tract_core::ops::nn::DataFormat;

use inception_edge_ops::{
    accumulator_bounds, window_pads, Dequant, FixedMultiplier, QAdd, QAvgPool, QIm2col, QLrn,
    Requant, PROP_COMPILER, PROP_INPUT_SCALE, PROP_INPUT_ZERO_POINT, PROP_METHOD, PROP_PER_CHANNEL,
};

use crate::calibrate::{key, Calibration, Method};
use crate::error::{CompileError, Result};
use crate::plan::{plan, Step, StepKind};
use crate::FloatModel;

/// Compiler options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// How activation ranges become scales.
    pub method: Method,
    /// One weight scale per output channel (default) or one per layer.
    pub per_channel: bool,
    /// Concatenations keep each branch's own scale (a per-channel scaled tensor whose
    /// consumers fold the scales into their weights) instead of one shared scale. Tighter
    /// ranges, but each branch is clipped at its own calibrated maximum; measured worse on
    /// the Fashion-MNIST Inception-v3, so off by default.
    pub concat_per_branch: bool,
    /// Lower every convolution with a kernel larger than 1×1, a stride or padding to
    /// inception-edge's [`QIm2col`](inception_edge_ops::QIm2col) and a quantized 1×1
    /// convolution (default) instead of tract's quantized convolution. Bit-identical results;
    /// tract's own quantized im2col path is several times slower.
    pub own_im2col: bool,
    /// Snap each convolution's per-channel weight scales to whole multiples `m[c] · A` of one
    /// layer scale, with `|accumulator| · m[c]` provably below 2^31 (default). The
    /// requantization after the convolution is then an integer multiply per channel and one
    /// scale for the layer, which the runtime runs inside tract's matrix kernel
    /// ([`RequantFusion`](inception_edge_ops::RequantFusion)) with the same bytes. A weight
    /// scale grows by at most a factor `1 + 1/m[c]`.
    pub fusable_scales: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            method: Method::Percentile(Method::DEFAULT_PERCENTILE),
            per_channel: true,
            concat_per_branch: false,
            own_im2col: true,
            fusable_scales: true,
        }
    }
}

/// One quantized tensor of the int8 graph, for reports.
#[derive(Debug, Clone)]
pub struct Layer {
    /// The fp32 node the tensor stands for.
    pub name: String,
    /// What produces it: `input`, `conv`, `linear`, `concat`, `add`, `lrn`, `avgpool`.
    pub kind: &'static str,
    /// Its scales, one per channel or one for all (`real ≈ (int8 − zero_point) · scale`).
    pub scales: Vec<f32>,
    /// Its zero point: 0 (symmetric) or −128 (a non-negative tensor).
    pub zero_point: i32,
    /// The calibrated absolute maximum of the fp32 tensor (0 for an `avgpool`, which keeps its
    /// input's scale and is not calibrated).
    pub amax: f32,
    /// Where the int8 value is in the int8 graph.
    pub(crate) wire: OutletId,
    /// The fp32 value it stands for.
    pub(crate) fp32: OutletId,
}

/// A compiled int8 model: i8 input, integer operators throughout, f32 outputs.
#[derive(Debug, Clone)]
pub struct Int8Model {
    /// The int8 graph (not yet optimized).
    pub model: TypedModel,
    /// The input scale: feed `round(x / input_scale)` clamped to i8.
    pub input_scale: f32,
    /// The quantized tensors with their scales, in evaluation order.
    pub layers: Vec<Layer>,
    /// The options it was compiled with.
    pub options: Options,
}

/// Symmetric int8 quantization of weights `[O, ...]`: per output channel or per tensor.
/// Returns the i8 weights and one scale per output channel.
pub fn quantize_weights(w: &Tensor, per_channel: bool) -> Result<(Tensor, Vec<f32>)> {
    let w = w.cast_to::<f32>()?;
    let values = w.try_as_plain_ram()?;
    let values = values.as_slice::<f32>()?;
    let out_channels = w.shape()[0];
    let per = values.len() / out_channels.max(1);
    let amax = |s: &[f32]| s.iter().fold(0f32, |m, v| m.max(v.abs()));
    let scale = |a: f32| if a > 0.0 { a / 127.0 } else { 1.0 };
    let scales: Vec<f32> = if per_channel {
        values.chunks(per.max(1)).map(|c| scale(amax(c))).collect()
    } else {
        vec![scale(amax(values)); out_channels]
    };
    let q: Vec<i8> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| (v / scales[i / per]).round().clamp(-127.0, 127.0) as i8)
        .collect();
    Ok((Tensor::from_shape(w.shape(), &q)?, scales))
}

/// The largest per-channel multiplier of snapped weight scales (15 bits): with the layer's
/// requantization scale rounded to [`UNIT_BITS`] significant bits, every product
/// `m[c] · unit` fits the 31 bits of a fixed-point multiplier exactly.
const MAX_SNAP: u64 = 1 << 15;

/// Significant bits of the layer's requantization scale `A / output scale` (an exact `f32`).
const UNIT_BITS: i32 = 16;

/// `x > 0` rounded to `bits` significant bits.
fn round_to_bits(x: f64, bits: i32) -> f64 {
    let e = x.log2().floor() as i32 + 1 - bits;
    (x * 2f64.powi(-e)).round() * 2f64.powi(e)
}

/// Per-channel weight scales snapped to whole multiples of one layer scale (see
/// [`Options::fusable_scales`]).
#[derive(Debug, Clone, PartialEq)]
struct Snap {
    /// The layer scale `A`.
    unit: f64,
    /// `m[c]`: the weight scale of channel `c` is `m[c] · A`.
    multiples: Vec<u64>,
}

impl Snap {
    /// Snaps the scales `scales[c]` of the i8 weights `wq` (`[O, ...]`, quantized with those
    /// scales) and i32 biases `bq`, for inputs around zero point `x_zp`: `m[c] · A ≥
    /// scales[c]`, and `m[c]` times the largest accumulator channel `c` can reach
    /// ([`accumulator_bounds`], at least as large as with the grown scale) stays below 2^31.
    /// `None` if some channel's accumulator alone can reach 2^31.
    fn new(wq: &[i8], scales: &[f32], bq: &[i32], x_zp: i32) -> Option<Snap> {
        let bounds = accumulator_bounds(wq, bq, scales.len(), x_zp);
        let mut unit = 0f64;
        for (&s, &bound) in scales.iter().zip(&bounds) {
            let most = (i32::MAX as u64 / bound.max(1)).min(MAX_SNAP);
            if most == 0 {
                return None;
            }
            unit = unit.max(s as f64 / most as f64);
        }
        if scales.windows(2).all(|w| w[0] == w[1]) {
            // one scale for the layer (per-tensor weights): it is the unit, nothing grows
            return Some(Snap {
                unit: scales.first().copied().unwrap_or(1.0) as f64,
                multiples: vec![1; scales.len()],
            });
        }
        let multiples = scales
            .iter()
            // a relative 1e-9 below a whole multiple is that multiple: the weights that
            // reach 127 then round to 127.00000…, which the clamp keeps
            .map(|&s| ((s as f64 / unit) * (1.0 - 1e-9)).ceil().max(1.0) as u64)
            .collect();
        Some(Snap { unit, multiples })
    }

    /// The snapped scale of channel `c`.
    fn scale(&self, c: usize) -> f64 {
        self.multiples[c] as f64 * self.unit
    }
}

/// An int8 value: `real[c] = (q − zp) · scales[c]` along axis 1 (one scale for all channels
/// when `scales` has one element).
#[derive(Clone)]
struct Q {
    wire: OutletId,
    scales: Vec<f32>,
    zp: i32,
}

impl Q {
    /// The scale of channel `c`.
    fn scale(&self, c: usize) -> f32 {
        if self.scales.len() == 1 {
            self.scales[0]
        } else {
            self.scales[c]
        }
    }

    /// The scales spread over `channels` channels.
    fn spread(&self, channels: usize) -> Vec<f32> {
        (0..channels).map(|c| self.scale(c)).collect()
    }
}

/// Quantization parameters calibration gives one tensor.
#[derive(Clone, Copy)]
struct Params {
    scale: f32,
    zp: i32,
    amax: f32,
}

struct Builder<'a> {
    float: &'a TypedModel,
    calib: &'a Calibration,
    opts: Options,
    model: TypedModel,
    values: HashMap<OutletId, Q>,
    outputs: HashMap<OutletId, OutletId>,
    layers: Vec<Layer>,
}

/// The spec of a 1×1 NCHW convolution from `input_channels` to `output_channels`.
fn one_by_one(input_channels: usize, output_channels: usize) -> PoolSpec {
    PoolSpec {
        data_format: DataFormat::NCHW,
        kernel_shape: tvec![1, 1],
        padding: PaddingSpec::Valid,
        dilations: None,
        strides: None,
        input_channels,
        output_channels,
    }
}

/// Whether an axis op keeps axis 1 as the channel axis (so per-channel scales survive it).
fn keeps_channels(op: &AxisOp, rank: usize) -> bool {
    match op {
        AxisOp::Add(a) | AxisOp::Rm(a) => *a >= 2 && *a <= rank,
        _ => false,
    }
}

impl Builder<'_> {
    /// The parameters calibration gives a tensor: symmetric (zero point 0) if it has negative
    /// values, else all 256 levels on `[0, threshold]` (zero point −128).
    fn stats_params(&self, outlet: OutletId) -> Result<Params> {
        let k = key(self.float, outlet);
        let stats = self.calib.stats.get(&k).ok_or_else(|| {
            CompileError::Calibration(format!(
                "no statistics for tensor {k}: the calibration was made for another model"
            ))
        })?;
        let t = stats.threshold(self.opts.method);
        let t = if t > 0.0 { t } else { 1.0 };
        Ok(if stats.non_negative() {
            Params {
                scale: t / 255.0,
                zp: -128,
                amax: stats.amax,
            }
        } else {
            Params {
                scale: t / 127.0,
                zp: 0,
                amax: stats.amax,
            }
        })
    }

    /// The parameters a freely requantized value takes: with shared concatenation scales,
    /// its concatenation's if it feeds one, else its own.
    fn target(&self, end: OutletId) -> Result<Params> {
        if !self.opts.concat_per_branch {
            for s in &self.float.node(end.node).outputs[end.slot].successors {
                let succ = self.float.node(s.node);
                if succ.op_as::<TypedConcat>().is_some_and(|c| c.axis == 1) {
                    let concat = self.stats_params(OutletId::new(s.node, 0))?;
                    let own = self.stats_params(end)?;
                    return Ok(Params {
                        amax: own.amax,
                        ..concat
                    });
                }
            }
        }
        self.stats_params(end)
    }

    fn value(&self, outlet: OutletId) -> Result<Q> {
        self.values.get(&outlet).cloned().ok_or_else(|| {
            CompileError::Tract(format!(
                "internal: no int8 value for {}",
                key(self.float, outlet)
            ))
        })
    }

    fn channels(&self, wire: OutletId) -> Result<usize> {
        let fact = self.model.outlet_fact(wire)?;
        if fact.rank() < 2 {
            return Ok(1);
        }
        fact.shape[1]
            .to_usize()
            .map_err(|_| CompileError::Tract(format!("symbolic channel count {}", fact.shape[1])))
    }

    fn konst(&mut self, name: String, t: Tensor) -> Result<OutletId> {
        Ok(self.model.add_const(name, t)?)
    }

    /// Requantizes `input` (accumulators with `in_zp` 0, or i8 values) by per-channel
    /// multipliers to zero point `zp`.
    fn requant(
        &mut self,
        name: &str,
        input: OutletId,
        in_zp: i32,
        mult: &[f64],
        zp: i32,
        relu: bool,
    ) -> Result<OutletId> {
        let fixed = mult
            .iter()
            .map(|&m| FixedMultiplier::new(m))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CompileError::Calibration(format!("{name}: {e}")))?;
        let single = fixed.windows(2).all(|w| w[0] == w[1]);
        let fixed = if single { &fixed[..1] } else { &fixed[..] };
        let mant: Vec<i32> = fixed.iter().map(|f| f.mantissa).collect();
        let shift: Vec<i32> = fixed.iter().map(|f| f.shift).collect();
        let m = self.konst(format!("{name}.mantissa"), tensor1(&mant))?;
        let s = self.konst(format!("{name}.shift"), tensor1(&shift))?;
        let op = Requant {
            axis: 1,
            input_zero_point: in_zp,
            zero_point: zp,
            lo: if relu { zp.max(-128) } else { -128 },
            hi: 127,
        };
        Ok(self
            .model
            .wire_node(format!("{name}.requant"), op, &[input, m, s])?[0])
    }

    /// Brings `x` to one scale and zero point.
    fn uniform(&mut self, name: &str, x: Q, scale: f32, zp: i32) -> Result<OutletId> {
        if x.zp == zp && x.scales.iter().all(|&s| (s / scale - 1.0).abs() <= 1e-6) {
            return Ok(x.wire);
        }
        let c = self.channels(x.wire)?;
        let mult: Vec<f64> = x
            .spread(c)
            .iter()
            .map(|&s| s as f64 / scale as f64)
            .collect();
        self.requant(name, x.wire, x.zp, &mult, zp, false)
    }

    fn dequant(
        &mut self,
        name: &str,
        input: OutletId,
        zp: i32,
        scales: &[f32],
    ) -> Result<OutletId> {
        let single = scales.windows(2).all(|w| w[0] == w[1]);
        let scales = if single { &scales[..1] } else { scales };
        let s = self.konst(format!("{name}.scale"), tensor1(scales))?;
        let op = Dequant {
            axis: 1,
            zero_point: zp,
        };
        Ok(self
            .model
            .wire_node(format!("{name}.dequant"), op, &[input, s])?[0])
    }

    /// An int8 convolution with i32 accumulators; returns the accumulator wire, the real
    /// value of one accumulator unit per output channel and, with
    /// [`Options::fusable_scales`], how those scales were snapped.
    ///
    /// The input's per-channel scales fold into the weights (`w'[o, c] = w[o, c] · s[c]`)
    /// before the weights are quantized per output channel, so a tensor whose channels come
    /// from differently scaled branches needs no requantization.
    fn conv(
        &mut self,
        name: &str,
        x: &Q,
        spec: PoolSpec,
        group: usize,
        weights: &Tensor,
        bias: &Tensor,
    ) -> Result<(OutletId, Vec<f32>, Option<Snap>)> {
        let weights = weights.cast_to::<f32>()?;
        let shape = weights.shape().to_vec();
        let (out_channels, in_per_group) = (shape[0], shape[1]);
        let kernel: usize = shape[2..].iter().product();
        let w = weights.try_as_plain_ram()?;
        let w = w.as_slice::<f32>()?;
        let out_per_group = out_channels / group.max(1);
        let folded: Vec<f32> = w
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let o = i / (in_per_group * kernel);
                let c = (o / out_per_group) * in_per_group + (i / kernel) % in_per_group;
                v * x.scale(c)
            })
            .collect();
        let (mut wq, mut acc_scales) =
            quantize_weights(&Tensor::from_shape(&shape, &folded)?, self.opts.per_channel)?;
        let bias = bias.cast_to::<f32>()?;
        let bias = bias.try_as_plain_ram()?;
        let bias = bias.as_slice::<f32>()?;
        if bias.len() != 1 && bias.len() != out_channels {
            return Err(CompileError::Unsupported {
                node: name.into(),
                op: "Conv".into(),
                reason: format!("{} biases for {out_channels} channels", bias.len()),
            });
        }
        let quantize_bias = |scale: &dyn Fn(usize) -> f64| -> Vec<i32> {
            (0..out_channels)
                .map(|c| {
                    let b = if bias.len() == 1 { bias[0] } else { bias[c] };
                    (b as f64 / scale(c))
                        .round()
                        .clamp(i32::MIN as f64, i32::MAX as f64) as i32
                })
                .collect()
        };
        let mut bq = quantize_bias(&|c| acc_scales[c] as f64);
        let mut snap = None;
        if self.opts.fusable_scales {
            let w = wq.try_as_plain_ram()?.as_slice::<i8>()?.to_vec();
            if let Some(s) = Snap::new(&w, &acc_scales, &bq, x.zp) {
                let per = folded.len() / out_channels.max(1);
                let q: Vec<i8> = folded
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| (v as f64 / s.scale(i / per)).round().clamp(-127.0, 127.0) as i8)
                    .collect();
                wq = Tensor::from_shape(&shape, &q)?;
                bq = quantize_bias(&|c| s.scale(c));
                acc_scales = (0..out_channels).map(|c| s.scale(c) as f32).collect();
                snap = Some(s);
            }
        }
        let (input, spec, wq, plane) = match self.im2col(name, x, &spec, group, &shape)? {
            Some((patches, spec, plane)) => {
                let k = in_per_group * kernel;
                (
                    patches,
                    spec,
                    wq.into_shape(&[out_channels, k, 1, 1])?,
                    Some(plane),
                )
            }
            None => (x.wire, spec, wq, None),
        };
        let wc = self.konst(format!("{name}.weights"), wq)?;
        let b = self.konst(format!("{name}.bias"), tensor1(&bq))?;
        let zero = self.konst(format!("{name}.zero"), tensor0(0i32))?;
        // tract pads the input with its zero point and subtracts zp·Σw per channel
        let x0 = self.konst(format!("{name}.x0"), tensor0(x.zp))?;
        let one = self.konst(format!("{name}.one"), tensor0(1f32))?;
        let op = Conv {
            pool_spec: spec,
            kernel_fmt: KernelFormat::OIHW,
            group,
            q_params: Some(i32::datum_type()),
        };
        let mut acc =
            self.model
                .wire_node(name, op, &[input, wc, b, x0, one, zero, one, zero, one])?[0];
        if let Some([oh, ow]) = plane {
            // The flat patches give a flat accumulator `[1, O, 1, OH·OW]`: back to the image.
            let op = AxisOp::Reshape(
                2,
                tvec![1.to_dim(), (oh * ow).to_dim()],
                tvec![oh.to_dim(), ow.to_dim()],
            );
            acc = self.model.wire_node(format!("{name}.image"), op, &[acc])?[0];
        }
        Ok((acc, acc_scales, snap))
    }

    /// With [`Options::own_im2col`], for a 2-D NCHW convolution of one group: the flat
    /// [`QIm2col`] patches of `x` (`[1, C·kh·kw, 1, OH·OW]`), the 1×1 convolution spec that
    /// multiplies them (weights `[O, C·kh·kw, 1, 1]`) and the output plane `[OH, OW]`. Padded
    /// cells hold `x`'s zero point, which tract's convolution subtracts as it subtracts it
    /// from every input value. A plain 1×1 convolution goes through it too (its patches are
    /// a copy of `x`) when its input has more than one row: tract would otherwise run it as
    /// one matrix product per row.
    fn im2col(
        &mut self,
        name: &str,
        x: &Q,
        spec: &PoolSpec,
        group: usize,
        weight_shape: &[usize],
    ) -> Result<Option<(OutletId, PoolSpec, [usize; 2])>> {
        let fact = self.model.outlet_fact(x.wire)?;
        let hw: Option<Vec<usize>> = fact
            .shape
            .iter()
            .skip(2)
            .map(|d| d.to_usize().ok())
            .collect();
        let (Some(hw), true) = (hw, fact.rank() == 4) else {
            return Ok(None);
        };
        let dilations = spec.dilations();
        let strides = spec.strides();
        let padding = spec.computed_padding(&hw);
        let plain = spec.kernel_shape.iter().all(|&k| k == 1)
            && strides.iter().all(|&s| s == 1)
            && padding
                .iter()
                .all(|p| p.pad_before == 0 && p.pad_after == 0);
        if !self.opts.own_im2col
            || (plain && hw[0] <= 1)
            || group != 1
            || spec.data_format != DataFormat::NCHW
            || spec.kernel_shape.len() != 2
            || weight_shape.len() != 4
        {
            return Ok(None);
        }
        let Ok(pad) = i8::try_from(x.zp) else {
            return Ok(None);
        };
        let op = QIm2col {
            kernel: [spec.kernel_shape[0], spec.kernel_shape[1]],
            strides: [strides[0], strides[1]],
            dilations: [dilations[0], dilations[1]],
            pads: window_pads(spec, &hw),
            pad,
            flat: true,
        };
        let Some(plane) = op.output_hw(hw[0], hw[1]) else {
            return Ok(None); // tract's convolution reports the kernel that does not fit
        };
        let patches = self
            .model
            .wire_node(format!("{name}.im2col"), op, &[x.wire])?[0];
        let k = weight_shape[1] * weight_shape[2] * weight_shape[3];
        Ok(Some((patches, one_by_one(k, weight_shape[0]), plane)))
    }

    /// After a convolution: the int8 value (if anything reads it) and the f32 output (if the
    /// fp32 value is a model output).
    fn finish_accumulators(
        &mut self,
        step: &Step,
        acc: OutletId,
        (acc_scales, snap): (&[f32], Option<&Snap>),
        relu: bool,
        kind: &'static str,
        post: &[AxisOp],
    ) -> Result<()> {
        let is_output = self.float.outputs.contains(&step.end) || self.feeds_softmax(step.end);
        let read = !self.float.node(step.end.node).outputs[step.end.slot]
            .successors
            .is_empty()
            && !self.feeds_softmax(step.end);
        let name = &step.name;
        if is_output && !relu {
            let mut f = self.dequant(name, acc, 0, acc_scales)?;
            for (i, a) in post.iter().enumerate() {
                f = self
                    .model
                    .wire_node(format!("{name}.out.{i}"), a.clone(), &[f])?[0];
            }
            self.outputs.insert(step.end, f);
        }
        if read || (is_output && relu) {
            let Params { scale, zp, amax } = self.target(step.end)?;
            let mult: Vec<f64> = match snap {
                // m[c] · B with B = A / scale rounded to 16 bits: exact products, so that the
                // requantization is an integer multiply per channel, then one f32-exact scale
                Some(snap) => {
                    let unit = round_to_bits(snap.unit / scale as f64, UNIT_BITS);
                    snap.multiples.iter().map(|&m| m as f64 * unit).collect()
                }
                None => acc_scales
                    .iter()
                    .map(|&a| a as f64 / scale as f64)
                    .collect(),
            };
            let mut q = self.requant(name, acc, 0, &mult, zp, relu)?;
            for (i, a) in post.iter().enumerate() {
                q = self
                    .model
                    .wire_node(format!("{name}.q.{i}"), a.clone(), &[q])?[0];
            }
            self.values.insert(
                step.end,
                Q {
                    wire: q,
                    scales: vec![scale],
                    zp,
                },
            );
            self.layers.push(Layer {
                name: name.clone(),
                kind,
                scales: vec![scale],
                zero_point: zp,
                amax,
                wire: q,
                fp32: step.end,
            });
        }
        Ok(())
    }

    /// The f32 value of `outlet`: the dequantized accumulators if a layer left them, else its
    /// int8 value dequantized (as `name`).
    fn float_value(&mut self, name: &str, outlet: OutletId) -> Result<OutletId> {
        if let Some(&f) = self.outputs.get(&outlet) {
            return Ok(f);
        }
        let q = self.value(outlet)?;
        let c = self.channels(q.wire)?;
        self.dequant(name, q.wire, q.zp, &q.spread(c))
    }

    /// `x` on one scale (the largest of its channels'), requantized if it has several.
    fn single_scale(&mut self, name: &str, x: Q) -> Result<Q> {
        if x.scales.len() <= 1 {
            return Ok(x);
        }
        let s = x.scales.iter().copied().fold(0f32, f32::max);
        Ok(Q {
            wire: self.uniform(&format!("{name}.uniform"), x.clone(), s, x.zp)?,
            scales: vec![s],
            zp: x.zp,
        })
    }

    /// Whether `outlet` is read only by a softmax that is a model output (it then needs f32).
    fn feeds_softmax(&self, outlet: OutletId) -> bool {
        let succ = &self.float.node(outlet.node).outputs[outlet.slot].successors;
        succ.len() == 1 && {
            let next = self.float.node(succ[0].node);
            next.op_is::<tract_core::ops::nn::Softmax>()
                && self.float.outputs.contains(&OutletId::new(next.id, 0))
        }
    }

    fn step(&mut self, step: &Step) -> Result<()> {
        let name = step.name.clone();
        match &step.kind {
            StepKind::Source => {
                let shape = self.float.outlet_fact(step.end)?.shape.clone();
                // the input is quantized outside the graph: symmetric, never clipped
                let Params { amax, .. } = self.stats_params(step.end)?;
                let scale = if amax > 0.0 {
                    amax / 127.0
                } else {
                    1.0 / 127.0
                };
                let wire = self.model.add_source(&name, i8::datum_type().fact(shape))?;
                self.values.insert(
                    step.end,
                    Q {
                        wire,
                        scales: vec![scale],
                        zp: 0,
                    },
                );
                self.layers.push(Layer {
                    name,
                    kind: "input",
                    scales: vec![scale],
                    zero_point: 0,
                    amax,
                    wire,
                    fp32: step.end,
                });
            }
            StepKind::Conv {
                op,
                weights,
                bias,
                relu,
            } => {
                let x = self.value(step.inputs[0])?;
                let (acc, scales, snap) =
                    self.conv(&name, &x, op.pool_spec.clone(), op.group, weights, bias)?;
                let scales = (&scales[..], snap.as_ref());
                self.finish_accumulators(step, acc, scales, *relu, "conv", &[])?;
            }
            StepKind::Linear {
                weights,
                bias,
                relu,
            } => {
                let x = self.value(step.inputs[0])?;
                let (n, k) = (weights.shape()[0], weights.shape()[1]);
                let x4 = self
                    .model
                    .wire_node(format!("{name}.h"), AxisOp::Add(2), &[x.wire])?[0];
                let x4 = self
                    .model
                    .wire_node(format!("{name}.w"), AxisOp::Add(3), &[x4])?[0];
                let w4 = weights.clone().into_tensor().into_shape(&[n, k, 1, 1])?;
                let b = match bias {
                    Some(b) => b.clone().into_tensor(),
                    None => tensor0(0f32),
                };
                let spec = one_by_one(k, n);
                let (acc, scales, snap) =
                    self.conv(&name, &Q { wire: x4, ..x }, spec, 1, &w4, &b)?;
                let post = [AxisOp::Rm(3), AxisOp::Rm(2)];
                let scales = (&scales[..], snap.as_ref());
                self.finish_accumulators(step, acc, scales, *relu, "linear", &post)?;
            }
            StepKind::MaxPool(op) => {
                let x = self.value(step.inputs[0])?;
                let wire = self.model.wire_node(&name, op.clone(), &[x.wire])?[0];
                self.values.insert(step.end, Q { wire, ..x });
            }
            StepKind::AvgPool(op) => {
                let x = self.value(step.inputs[0])?;
                let op = QAvgPool {
                    zero_point: x.zp,
                    ..op.clone()
                };
                let wire = self.model.wire_node(&name, op, &[x.wire])?[0];
                // reported for its SQNR: a branch's pooling and its convolution apart
                self.layers.push(Layer {
                    name: name.clone(),
                    kind: "avgpool",
                    scales: x.scales.clone(),
                    zero_point: x.zp,
                    amax: 0.0,
                    wire,
                    fp32: step.end,
                });
                self.values.insert(step.end, Q { wire, ..x });
            }
            StepKind::Axis(op) => {
                let mut x = self.value(step.inputs[0])?;
                let rank = self.model.outlet_fact(x.wire)?.rank();
                if !keeps_channels(op, rank) {
                    x = self.single_scale(&name, x)?;
                }
                let wire = self.model.wire_node(&name, op.clone(), &[x.wire])?[0];
                self.values.insert(step.end, Q { wire, ..x });
            }
            StepKind::Relu => {
                let x = self.value(step.inputs[0])?;
                let c = self.channels(x.wire)?;
                let wire = self.requant(&name, x.wire, x.zp, &vec![1.0; c], x.zp, true)?;
                self.values.insert(step.end, Q { wire, ..x });
            }
            StepKind::Add { relu } => {
                let Params { scale, zp, amax } = self.target(step.end)?;
                let mut fixed = Vec::new();
                let mut wires = Vec::new();
                for (i, input) in step.inputs.iter().enumerate() {
                    let x = self.value(*input)?;
                    let s = x.scales.iter().copied().fold(0f32, f32::max);
                    let wire = self.uniform(&format!("{name}.{i}"), x.clone(), s, x.zp)?;
                    let m = FixedMultiplier::new(s as f64 / scale as f64)
                        .map_err(|e| CompileError::Calibration(format!("{name}: {e}")))?;
                    fixed.push((m, x.zp));
                    wires.push(wire);
                }
                let op = QAdd {
                    input_zero_points: [fixed[0].1, fixed[1].1],
                    mantissas: [fixed[0].0.mantissa, fixed[1].0.mantissa],
                    shifts: [fixed[0].0.shift, fixed[1].0.shift],
                    zero_point: zp,
                    lo: if *relu { zp } else { -128 },
                    hi: 127,
                };
                let wire = self.model.wire_node(&name, op, &wires)?[0];
                self.values.insert(
                    step.end,
                    Q {
                        wire,
                        scales: vec![scale],
                        zp,
                    },
                );
                let layer = Layer {
                    name,
                    kind: "add",
                    scales: vec![scale],
                    zero_point: zp,
                    amax,
                    wire,
                    fp32: step.end,
                };
                self.layers.push(layer);
            }
            StepKind::Identity => {
                let x = self.value(step.inputs[0])?;
                self.values.insert(step.end, x);
            }
            StepKind::Softmax(op) => {
                let f = self.float_value(&format!("{name}.in"), step.inputs[0])?;
                let wire = self.model.wire_node(&name, op.clone(), &[f])?[0];
                self.outputs.insert(step.end, wire);
            }
            StepKind::Lrn(lrn) => {
                let x = self.value(step.inputs[0])?;
                let x = self.single_scale(&name, x)?;
                let Params { scale, zp, amax } = self.target(step.end)?;
                let op = QLrn {
                    size: lrn.size,
                    alpha: lrn.alpha,
                    beta: lrn.beta,
                    bias: lrn.bias,
                    input_scale: x.scales[0],
                    input_zero_point: x.zp,
                    scale,
                    zero_point: zp,
                    table: Default::default(),
                };
                let wire = self.model.wire_node(&name, op, &[x.wire])?[0];
                self.values.insert(
                    step.end,
                    Q {
                        wire,
                        scales: vec![scale],
                        zp,
                    },
                );
                self.layers.push(Layer {
                    name,
                    kind: "lrn",
                    scales: vec![scale],
                    zero_point: zp,
                    amax,
                    wire,
                    fp32: step.end,
                });
            }
            StepKind::Concat(op) => {
                let inputs = step
                    .inputs
                    .iter()
                    .map(|i| self.value(*i))
                    .collect::<Result<Vec<_>>>()?;
                let calibrated = self.stats_params(step.end)?;
                let same_zp = inputs.iter().all(|x| x.zp == inputs[0].zp);
                let (wires, scales, zp) = if op.axis == 1 && same_zp && self.opts.concat_per_branch
                {
                    // every branch keeps its own scale: the concatenation is a per-channel
                    // scaled tensor and no branch is requantized
                    let mut scales = Vec::new();
                    for x in &inputs {
                        scales.extend(x.spread(self.channels(x.wire)?));
                    }
                    (
                        inputs.iter().map(|x| x.wire).collect(),
                        scales,
                        inputs[0].zp,
                    )
                } else {
                    let Params { scale, zp, .. } = calibrated;
                    let mut wires = Vec::new();
                    for (i, x) in inputs.into_iter().enumerate() {
                        wires.push(self.uniform(&format!("{name}.{i}"), x, scale, zp)?);
                    }
                    (wires, vec![scale], zp)
                };
                let wire = self.model.wire_node(&name, op.clone(), &wires)?[0];
                self.values.insert(
                    step.end,
                    Q {
                        wire,
                        scales: scales.clone(),
                        zp,
                    },
                );
                self.layers.push(Layer {
                    name,
                    kind: "concat",
                    scales,
                    zero_point: zp,
                    amax: calibrated.amax,
                    wire,
                    fp32: step.end,
                });
            }
        }
        Ok(())
    }
}

/// Compiles the fp32 model into an int8 graph with the calibration's ranges.
///
/// Every convolution and linear layer becomes a tract `Conv` on int8 inputs and weights with
/// i32 accumulators, followed by a fixed-point [`Requant`] to its own calibrated scale (a
/// ReLU folds into the clamp; non-negative tensors use all 256 levels with zero point −128).
/// Max pooling, average pooling and reshapes run on int8 values with the scales unchanged.
/// A concatenation along channels requantizes nothing: each branch keeps its scale, and the
/// convolutions reading the concatenation fold the per-channel scales into their weights.
/// The model outputs are dequantized to f32 — from the accumulators when the output is a
/// linear layer, so logits lose nothing to an output scale. No other float operator is left:
/// an operator without an integer lowering is an error naming the node.
pub fn compile(float: &FloatModel, calib: &Calibration, opts: &Options) -> Result<Int8Model> {
    let steps = plan(float)?;
    let mut b = Builder {
        float: &float.model,
        calib,
        opts: *opts,
        model: TypedModel::default(),
        values: HashMap::new(),
        outputs: HashMap::new(),
        layers: Vec::new(),
    };
    for step in &steps {
        b.step(step)?;
    }
    let mut outputs = Vec::new();
    for (i, &o) in float.model.outputs.iter().enumerate() {
        let wire = b.float_value(&format!("output.{i}"), o)?;
        outputs.push(wire);
    }
    let input_scale = b.layers.first().map(|l| l.scales[0]).unwrap_or(1.0);
    let layers = std::mem::take(&mut b.layers);
    let mut model = b.model;
    model.select_output_outlets(&outputs)?;
    let props = &mut model.properties;
    props.insert(
        PROP_INPUT_SCALE.into(),
        tensor0(input_scale).into_arc_tensor(),
    );
    props.insert(
        PROP_INPUT_ZERO_POINT.into(),
        tensor0(0i32).into_arc_tensor(),
    );
    props.insert(
        PROP_METHOD.into(),
        tensor0(opts.method.to_string()).into_arc_tensor(),
    );
    props.insert(
        PROP_PER_CHANNEL.into(),
        tensor0(opts.per_channel as i64).into_arc_tensor(),
    );
    props.insert(
        PROP_COMPILER.into(),
        tensor0(format!(
            "inception-edge-compiler {}",
            env!("CARGO_PKG_VERSION")
        ))
        .into_arc_tensor(),
    );
    Ok(Int8Model {
        model,
        input_scale,
        layers,
        options: *opts,
    })
}
