//! Requantization inside tract's matrix kernel.
//!
//! A quantized convolution leaves i32 accumulators that [`Requant`] turns into i8: the
//! kernel writes 4 bytes per value and [`Requant`] reads them again. When the multipliers of
//! a [`Requant`] are whole multiples `m[c] · B` of one scale `B` that an `f32` holds exactly,
//! and `m[c]` times the largest accumulator channel `c` can reach stays below 2^31, the same
//! arithmetic is an integer multiply per channel, tract's rounding scale (round half up, as
//! [`Requant`]), the zero point and the clamp: operators that tract's optimizer fuses into
//! the matrix kernel, which then stores i8. The compiler snaps weight scales so that every
//! convolution qualifies (`Options::fusable_scales` of `inception-edge-compiler`).
//!
//! [`RequantFusion`] is what the runtime uses: it finds the qualifying [`Requant`]s before
//! tract's optimizer (the check needs the unpacked weights) and, after it, writes those
//! operations straight into each convolution's `OptMatMul`. [`fuse_requant`] expresses the
//! same rewrite in tract's operators before the optimizer, which then fuses them itself; it
//! gives the same `OptMatMul`s (tested) but makes the optimizer take half as long again.

use tract_nnef::internal::*;
use tract_nnef::tract_core::ops::cast::cast;
use tract_nnef::tract_core::ops::change_axes::IntoShape;
use tract_nnef::tract_core::ops::cnn::{Conv, KernelFormat};
use tract_nnef::tract_core::ops::einsum::EinSum;
use tract_nnef::tract_core::ops::math;
use tract_nnef::tract_core::ops::matmul::optimized::{
    MapOutputAxisToInput, OptMatMul, ProtoFusedSpec,
};
use tract_nnef::tract_core::ops::nn::DataFormat;
use tract_nnef::tract_core::tract_linalg::generic::rounding::Scaler;
use tract_nnef::tract_core::tract_linalg::mmm::{OutputStoreSpec, RoundingPolicy};
use tract_nnef::tract_core::tract_linalg::BinOp;

use crate::Requant;

/// The largest divisor [`decompose`] tries on the common factor of the multipliers.
const MAX_DIVISOR: u128 = 1 << 16;

/// Replaces every [`Requant`] of a quantized convolution's accumulators whose multipliers
/// qualify (see the module docs) by tract's operators, which its optimizer then fuses into the
/// convolution's matrix kernel; run it before the optimizer. Returns how many it replaced.
/// Outputs are bit-identical: the operators compute exactly what [`Requant`] computes.
pub fn fuse_requant(model: &mut TypedModel) -> TractResult<usize> {
    let mut fused = 0;
    for id in 0..model.nodes.len() {
        let Some(plan) = plan_for(model, id)? else {
            continue;
        };
        let node = model.node(id);
        let (name, input, dt) = (
            node.name.clone(),
            node.inputs[0],
            node.outputs[0].fact.datum_type,
        );
        let rank = model.outlet_fact(input)?.rank();
        let scalar = |v: i32| tensor0(v).broadcast_into_rank(rank);
        let mut shape = tvec![1; rank];
        shape[plan.axis] = plan.multiples.len();
        let multiples = Tensor::from_shape(&shape, &plan.multiples)?;

        let mut patch = TypedModelPatch::new(format!("fuse requantization {name}"));
        let mut x = patch.tap_model(model, input)?;
        if plan.multiples.iter().any(|&m| m != 1) {
            let m = patch.add_const(format!("{name}.multiples"), multiples)?;
            x = patch.wire_node(format!("{name}.mul"), math::mul(), &[x, m])?[0];
        }
        let scaler = Scaler::new(plan.unit, RoundingPolicy::PlusInf);
        x = patch.wire_node(format!("{name}.scale"), math::q_scale(scaler), &[x])?[0];
        if plan.zero_point != 0 {
            let zp = patch.add_const(format!("{name}.zero_point"), scalar(plan.zero_point)?)?;
            x = patch.wire_node(format!("{name}.add"), math::add(), &[x, zp])?[0];
        }
        let lo = patch.add_const(format!("{name}.lo"), scalar(plan.lo)?)?;
        x = patch.wire_node(format!("{name}.max"), math::max(), &[x, lo])?[0];
        let hi = patch.add_const(format!("{name}.hi"), scalar(plan.hi)?)?;
        x = patch.wire_node(format!("{name}.min"), math::min(), &[x, hi])?[0];
        x = patch.wire_node(format!("{name}.cast"), cast(dt), &[x])?[0];
        patch.shunt_outside(model, OutletId::new(id, 0), x)?;
        patch.apply(model)?;
        fused += 1;
    }
    Ok(fused)
}

/// The requantizations of a model that tract's matrix kernel can do (see the module docs):
/// found with [`RequantFusion::plan`] before tract's optimizer, written into the optimized
/// model's `OptMatMul`s with [`RequantFusion::apply`].
#[derive(Debug, Clone, Default)]
pub struct RequantFusion {
    /// The plan of each qualifying [`Requant`], by node name.
    plans: HashMap<String, Plan>,
}

impl RequantFusion {
    /// Finds the qualifying [`Requant`]s of `model`, a model as written (before tract's
    /// optimizer, whose packing of the weights hides what the check needs).
    pub fn plan(model: &TypedModel) -> TractResult<Self> {
        let mut plans = HashMap::new();
        for id in 0..model.nodes.len() {
            if let Some(plan) = plan_for(model, id)? {
                plans.insert(model.node(id).name.clone(), plan);
            }
        }
        Ok(RequantFusion { plans })
    }

    /// How many [`Requant`]s qualified.
    pub fn len(&self) -> usize {
        self.plans.len()
    }

    /// Whether none qualified.
    pub fn is_empty(&self) -> bool {
        self.plans.is_empty()
    }

    /// Writes each planned [`Requant`] of `optimized` (the planned model after tract's
    /// optimizer) into the `OptMatMul` that computes its accumulators: an integer multiply
    /// per channel, the rounding scale, the zero point, the clamp and an i8 store, the
    /// operations tract's optimizer fuses from [`fuse_requant`]'s operators. A [`Requant`]
    /// whose `OptMatMul` cannot take them (another reader of the accumulators, a channel axis
    /// that is neither the kernel's rows nor its columns) stays. Returns how many were
    /// written.
    pub fn apply(&self, optimized: &mut TypedModel) -> TractResult<usize> {
        let mut fused = 0;
        for id in 0..optimized.nodes.len() {
            let Some(plan) = self.plans.get(&optimized.node(id).name) else {
                continue;
            };
            if let Some(patch) = kernel_patch(optimized, id, plan)? {
                patch.apply(optimized)?;
                fused += 1;
            }
        }
        if fused > 0 {
            optimized.compact()?;
        }
        Ok(fused)
    }
}

/// The patch writing `plan` (for the [`Requant`] `id` of an optimized model) into the
/// `OptMatMul` of its accumulators, if it can take it.
fn kernel_patch(
    model: &TypedModel,
    id: usize,
    plan: &Plan,
) -> TractResult<Option<TypedModelPatch>> {
    let node = model.node(id);
    if !node.op_is::<Requant>() {
        return Ok(None);
    }
    let dt = node.outputs[0].fact.datum_type;
    // back to the matrix product through reshapes that leave the channel axis (and all
    // before it) alone, each with no other reader
    let mut reshapes = vec![];
    let mut at = node.inputs[0];
    let mm = loop {
        let prev = model.node(at.node);
        if prev.outputs.len() != 1 || prev.outputs[0].successors.len() != 1 {
            return Ok(None);
        }
        if prev.op_is::<IntoShape>() || prev.op_is::<AxisOp>() {
            let (before, after) = (
                &model.outlet_fact(prev.inputs[0])?.shape,
                &prev.outputs[0].fact.shape,
            );
            if before.len() <= plan.axis
                || after.len() <= plan.axis
                || before[..=plan.axis] != after[..=plan.axis]
            {
                return Ok(None);
            }
            reshapes.push(prev);
            at = prev.inputs[0];
            continue;
        }
        break prev;
    };
    let Some(op) = mm.op_as::<OptMatMul>() else {
        return Ok(None);
    };
    if model.output_outlets()?.contains(&mm.id.into())
        || op.c_fact.datum_type != i32::datum_type()
        || op
            .mmm
            .iter()
            .any(|k| k.internal_type() != i32::datum_type())
        || op.c_fact.rank() <= plan.axis
    {
        return Ok(None);
    }
    let Some(ProtoFusedSpec::Store(stores)) = op.micro_ops.last() else {
        return Ok(None);
    };
    if stores
        .iter()
        .any(|s| matches!(s, OutputStoreSpec::Strides { .. }))
    {
        return Ok(None);
    }
    let channels = plan.multiples.len();
    let rank = op.c_fact.rank();
    let map = MapOutputAxisToInput(tvec!((plan.axis, plan.axis)));
    let per_channel: fn(usize, BinOp, MapOutputAxisToInput) -> ProtoFusedSpec =
        if op.c_n_axis == Some(plan.axis) {
            ProtoFusedSpec::BinPerCol
        } else if op.c_m_axis == Some(plan.axis) {
            ProtoFusedSpec::BinPerRow
        } else {
            return Ok(None);
        };
    if channels != 1 && op.c_fact.shape[plan.axis] != channels.to_dim() {
        return Ok(None);
    }

    let name = &node.name;
    let mut patch = TypedModelPatch::new(format!("requantization {name} into the kernel"));
    let mut inputs = patch.taps(model, &mm.inputs)?;
    let mut uops = vec![];
    let scalar = |v: i32| tensor0(v).broadcast_into_rank(rank);
    if plan.multiples.iter().any(|&m| m != 1) {
        let mut shape = tvec![1; rank];
        shape[plan.axis] = channels;
        let multiples = Tensor::from_shape(&shape, &plan.multiples)?;
        inputs.push(patch.add_const(format!("{name}.multiples"), multiples)?);
        uops.push(per_channel(inputs.len() - 1, BinOp::Mul, map));
    }
    uops.push(ProtoFusedSpec::Scaler(Scaler::new(
        plan.unit,
        RoundingPolicy::PlusInf,
    )));
    for (suffix, value, binop) in [
        ("zero_point", plan.zero_point, BinOp::Add),
        ("lo", plan.lo, BinOp::Max),
        ("hi", plan.hi, BinOp::Min),
    ] {
        if binop == BinOp::Add && value == 0 {
            continue;
        }
        inputs.push(patch.add_const(format!("{name}.{suffix}"), scalar(value)?)?);
        uops.push(ProtoFusedSpec::BinScalar(inputs.len() - 1, binop));
    }
    let mut micro_ops = op.micro_ops.clone();
    let store = micro_ops.len() - 1;
    micro_ops.splice(store..store, uops);
    let new_op = OptMatMul::new(
        op.mmm.clone(),
        op.mode_picker.clone(),
        dt.fact(op.c_fact.shape.clone()),
        op.c_m_axis,
        op.c_n_axis,
        micro_ops,
        op.trivial_packing,
    )?;
    let mut wire = patch.wire_node(name, new_op, &inputs)?[0];
    for reshape in reshapes.iter().rev() {
        wire = patch.wire_node(&reshape.name, reshape.op.clone(), &[wire])?[0];
    }
    patch.shunt_outside(model, OutletId::new(id, 0), wire)?;
    Ok(Some(patch))
}

/// How a qualifying [`Requant`] becomes tract's operators.
#[derive(Debug, Clone, PartialEq)]
struct Plan {
    axis: usize,
    multiples: Vec<i32>,
    unit: f32,
    zero_point: i32,
    lo: i32,
    hi: i32,
}

/// The plan for node `id` if it is a qualifying [`Requant`]: of the i32 accumulators of a
/// quantized [`Conv`] or [`EinSum`] (through reshapes of axes after the channel axis only), with
/// multipliers `m[c] · unit` such that no accumulator times its `m[c]` reaches 2^31.
fn plan_for(model: &TypedModel, id: usize) -> TractResult<Option<Plan>> {
    let node = model.node(id);
    let Some(op) = node.op_as::<Requant>() else {
        return Ok(None);
    };
    if op.input_zero_point != 0
        || model.outlet_fact(node.inputs[0])?.datum_type != i32::datum_type()
    {
        return Ok(None);
    }
    let konst = |o: OutletId| model.outlet_fact(o).ok().and_then(|f| f.konst.clone());
    let (Some(mantissa), Some(shift)) = (konst(node.inputs[1]), konst(node.inputs[2])) else {
        return Ok(None);
    };
    // back to the convolution, through reshapes that leave the channel axis alone
    let mut at = node.inputs[0];
    let prod = loop {
        let prev = model.node(at.node);
        if prev.outputs[0].successors.len() != 1 {
            return Ok(None);
        }
        match prev.op_as::<AxisOp>() {
            Some(AxisOp::Reshape(start, _, _)) if *start > op.axis => at = prev.inputs[0],
            Some(_) => return Ok(None),
            None => break prev,
        }
    };
    // the convolution as the compiler writes it, or as tract's decluttering leaves it: the
    // output axis of the weights' first (output channel) axis must be the Requant's
    let (q_params, out_axis) = if let Some(es) = prod.op_as::<EinSum>() {
        let axis = es
            .axes
            .iter_all_axes()
            .find(|a| a.inputs[1].first() == Some(&0));
        (
            es.q_params,
            axis.and_then(|a| a.outputs[0].first().copied()),
        )
    } else if let Some(conv) = prod.op_as::<Conv>() {
        let nchw = conv.pool_spec.data_format == DataFormat::NCHW;
        let oihw = conv.kernel_fmt == KernelFormat::OIHW;
        (conv.q_params, (nchw && oihw).then_some(1))
    } else {
        return Ok(None);
    };
    // inputs: data, weights, bias, data zero point and scale, weights zero point and scale,
    // output zero point and scale
    if q_params != Some(i32::datum_type()) || prod.inputs.len() != 9 || out_axis != Some(op.axis) {
        return Ok(None);
    }
    let ks: Vec<Option<Arc<Tensor>>> = prod.inputs[1..].iter().map(|&o| konst(o)).collect();
    let Some(ks) = ks.into_iter().collect::<Option<Vec<_>>>() else {
        return Ok(None);
    };
    let (weights, bias) = (&ks[0], &ks[1]);
    let scalar_i32 = |t: &Tensor| t.cast_to_scalar::<i32>().ok();
    let scalar_f32 = |t: &Tensor| t.cast_to_scalar::<f32>().ok();
    let (Some(x0), Some(w0), Some(c0)) =
        (scalar_i32(&ks[2]), scalar_i32(&ks[4]), scalar_i32(&ks[6]))
    else {
        return Ok(None);
    };
    let ones = [&ks[3], &ks[5], &ks[7]]
        .iter()
        .all(|t| scalar_f32(t) == Some(1.0));
    if w0 != 0 || c0 != 0 || !ones || weights.datum_type().unquantized() != i8::datum_type() {
        return Ok(None);
    }
    let channels = weights.shape()[0];
    let w = weights.try_as_plain_ram()?;
    let w = w.as_slice::<i8>()?;
    let bias = bias.cast_to::<i32>()?;
    let bias = bias.try_as_plain_ram()?;
    let bias = bias.as_slice::<i32>()?;
    let mantissa = mantissa.try_as_plain_ram()?.as_slice::<i32>()?.to_vec();
    let shift = shift.try_as_plain_ram()?.as_slice::<i32>()?.to_vec();
    if channels == 0 || (bias.len() != 1 && bias.len() != channels) {
        return Ok(None);
    }
    if mantissa.len() != shift.len() || (mantissa.len() != 1 && mantissa.len() != channels) {
        return Ok(None);
    }
    let Some((mut multiples, mut unit)) = decompose(&mantissa, &shift) else {
        return Ok(None);
    };
    if let [m] = multiples[..] {
        // one multiplier: the scale alone, if it holds it (tract's optimizer does not take a
        // multiplication by a one-element constant well)
        let Some(scale) = decompose_one(m as f64 * unit as f64) else {
            return Ok(None);
        };
        (multiples, unit) = (vec![1], scale);
    }
    for (c, bound) in accumulator_bounds(w, bias, channels, x0).iter().enumerate() {
        let m = multiples[if multiples.len() == 1 { 0 } else { c }].unsigned_abs() as u64;
        if bound.saturating_mul(m) > i32::MAX as u64 {
            return Ok(None);
        }
    }
    Ok(Some(Plan {
        axis: op.axis,
        multiples,
        unit,
        zero_point: op.zero_point,
        lo: op.lo.clamp(-128, 127),
        hi: op.hi.clamp(-128, 127),
    }))
}

/// The largest magnitude the i32 accumulator of each of the `channels` output channels of a
/// quantized convolution can reach: `Σ|w[c]| · range + |bias[c]|`, for i8 `weights` (`[O, ...]`,
/// zero point 0), i32 `bias` (one per channel, or one for all) and i8 data whose zero point is
/// `input_zero_point` (so within `range = max(|−128 − zp|, |127 − zp|)` of it).
pub fn accumulator_bounds(
    weights: &[i8],
    bias: &[i32],
    channels: usize,
    input_zero_point: i32,
) -> Vec<u64> {
    let range = (-128 - input_zero_point)
        .unsigned_abs()
        .max((127 - input_zero_point).unsigned_abs()) as u64;
    let per = weights.len() / channels.max(1);
    (0..channels)
        .map(|c| {
            let sum: u64 = weights[c * per..(c + 1) * per]
                .iter()
                .map(|&v| v.unsigned_abs() as u64)
                .sum();
            let b = match bias {
                [one] => one,
                all => all.get(c).unwrap_or(&0),
            };
            sum * range + b.unsigned_abs() as u64
        })
        .collect()
}

/// The fixed-point multipliers `mantissa[c] · 2^-shift[c]` as `m[c] · unit`, whole `m[c]`
/// and a `unit` that an `f32` and tract's [`Scaler`] hold exactly; `None` if there is none.
fn decompose(mantissa: &[i32], shift: &[i32]) -> Option<(Vec<i32>, f32)> {
    if mantissa.iter().any(|&m| m < 0) || shift.iter().any(|&s| !(0..=100).contains(&s)) {
        return None;
    }
    // every multiplier as a whole number of 2^-top
    let top = *shift.iter().max()?;
    let whole: Vec<u128> = mantissa
        .iter()
        .zip(shift)
        .map(|(&m, &s)| (m as u128) << (top - s))
        .collect();
    let common = whole.iter().fold(0u128, |g, &n| gcd(g, n));
    if common == 0 {
        return None;
    }
    // the largest divisor of the common factor that is an f32 (24 significant bits), tried
    // from the common factor itself down
    let unit = (1..=MAX_DIVISOR)
        .filter(|d| common % d == 0)
        .map(|d| common / d)
        .find(|&u| u >> u.trailing_zeros() < 1 << 24)?;
    let multiples: Vec<i32> = whole
        .iter()
        .map(|&n| i32::try_from(n / unit).ok())
        .collect::<Option<_>>()?;
    Some((multiples, decompose_one(unit as f64 * 2f64.powi(-top))?))
}

/// `value` as an `f32` that tract's [`Scaler`] holds exactly, if there is one.
fn decompose_one(value: f64) -> Option<f32> {
    let scale = value as f32;
    // tract's scaler holds mult · 2^-(31 + shift), or 2^-shift
    let scaler = Scaler::new(scale, RoundingPolicy::PlusInf);
    let held = match scaler.mult {
        Some(mult) => mult as f64 * 2f64.powi(-(31 + scaler.shift as i32)),
        None => 2f64.powi(-(scaler.shift as i32)),
    };
    (value > 0.0 && scale as f64 == value && held == value).then_some(scale)
}

fn gcd(a: u128, b: u128) -> u128 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FixedMultiplier;

    #[test]
    fn whole_multiples_of_an_f32_scale_decompose_into_those_multiples() {
        let unit = 0.0123291015625f64; // 808 · 2^-16, an f32
        let ms = [1u32, 7, 300, 32768];
        let fixed: Vec<FixedMultiplier> = ms
            .iter()
            .map(|&m| FixedMultiplier::new(m as f64 * unit).unwrap())
            .collect();
        let mantissa: Vec<i32> = fixed.iter().map(|f| f.mantissa).collect();
        let shift: Vec<i32> = fixed.iter().map(|f| f.shift).collect();
        let (multiples, u) = decompose(&mantissa, &shift).unwrap();
        // the common factor may take in a common divisor of the multiples (here none)
        assert_eq!(multiples, vec![1, 7, 300, 32768]);
        assert_eq!(u as f64, unit);
    }

    /// A 1×1 quantized convolution (`[1, k, 1, n]` i8 data around zero point `x0`, `[o, k]`
    /// weights, i32 accumulators) followed by a `Requant` with `multipliers` to zero point
    /// `zp`.
    fn conv_requant(weights: &[i8], o: usize, x0: i32, multipliers: &[f64], zp: i32) -> TypedModel {
        use tract_nnef::tract_core::ops::cnn::{PaddingSpec, PoolSpec};
        let (k, n) = (weights.len() / o, 5);
        let mut model = TypedModel::default();
        let x = model.add_source("x", i8::fact([1, k, 1, n])).unwrap();
        let w = Tensor::from_shape(&[o, k, 1, 1], weights).unwrap();
        let bias: Vec<i32> = (0..o as i32).map(|c| c * 37 - 50).collect();
        let mut inputs = tvec![x];
        for (i, t) in [
            w,
            tensor1(&bias),
            tensor0(x0),
            tensor0(1f32),
            tensor0(0i32),
            tensor0(1f32),
            tensor0(0i32),
            tensor0(1f32),
        ]
        .into_iter()
        .enumerate()
        {
            inputs.push(model.add_const(format!("k{i}"), t).unwrap());
        }
        let spec = PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: tvec![1, 1],
            padding: PaddingSpec::Valid,
            dilations: None,
            strides: None,
            input_channels: k,
            output_channels: o,
        };
        let conv = Conv {
            pool_spec: spec,
            kernel_fmt: KernelFormat::OIHW,
            group: 1,
            q_params: Some(i32::datum_type()),
        };
        let acc = model.wire_node("conv", conv, &inputs).unwrap()[0];
        let (mantissa, shift) = crate::testing::fixed_params(multipliers);
        let m = model.add_const("mantissa", mantissa).unwrap();
        let s = model.add_const("shift", shift).unwrap();
        let op = Requant {
            axis: 1,
            input_zero_point: 0,
            zero_point: zp,
            lo: -128,
            hi: 127,
        };
        let y = model.wire_node("requant", op, &[acc, m, s]).unwrap()[0];
        model.select_output_outlets(&[y]).unwrap();
        model
    }

    /// A 3-channel layer of 40 varied weights per channel, a unit its multipliers are whole
    /// multiples of, and `n` inputs `[1, 40, 1, 5]` covering every i8 value: `(o, k, weights,
    /// unit, inputs)`.
    fn varied_layer(n: usize) -> (usize, usize, Vec<i8>, f64, Vec<Tensor>) {
        let (o, k) = (3, 40);
        let weights: Vec<i8> = (0..o * k).map(|i| ((i * 53) % 255) as i8).collect();
        let xs = (0..n)
            .map(|seed| {
                let v: Vec<i8> = (0..k * 5)
                    .map(|i| ((i * 97 + seed * 31) % 256) as u8 as i8)
                    .collect();
                Tensor::from_shape(&[1, k, 1, 5], &v).unwrap()
            })
            .collect();
        (o, k, weights, 808.0 * 2f64.powi(-22), xs)
    }

    /// The model's output for every input in `xs`, optimized as `Engine` runs it.
    fn run(model: TypedModel, xs: &[Tensor]) -> Vec<Tensor> {
        let plan = model.into_optimized().unwrap().into_runnable().unwrap();
        xs.iter()
            .map(|x| {
                let y = plan.run(tvec!(x.clone().into_tvalue())).unwrap();
                y[0].clone().into_tensor()
            })
            .collect()
    }

    #[test]
    fn a_fused_requantization_gives_the_operators_bytes_and_stores_i8_from_the_kernel() {
        // every value of the data, and saturation both ways
        let (o, _, weights, unit, xs) = varied_layer(12);
        let model = conv_requant(
            &weights,
            o,
            -128,
            &[5.0 * unit, 300.0 * unit, 1.0 * unit],
            -128,
        );
        let mut fused = model.clone();
        assert_eq!(fuse_requant(&mut fused).unwrap(), 1);
        let optimized = fused.clone().into_optimized().unwrap();
        assert!(optimized.nodes.iter().all(|n| !n.op_is::<Requant>()));
        let mm = optimized
            .nodes
            .iter()
            .find(|n| n.op.name() == "OptMatMul")
            .unwrap();
        assert_eq!(mm.outputs[0].fact.datum_type, i8::datum_type());
        let (a, b) = (run(model, &xs), run(fused, &xs));
        assert_eq!(a, b);
        let all: Vec<i8> = a
            .iter()
            .flat_map(|t| {
                t.try_as_plain_ram()
                    .unwrap()
                    .as_slice::<i8>()
                    .unwrap()
                    .to_vec()
            })
            .collect();
        assert!(all.contains(&127) && all.contains(&-128) && all.iter().any(|v| v.abs() < 100));
    }

    /// `model` optimized as `Engine` loads it: requantizations planned, tract's optimizer,
    /// then written into the kernels. Returns it and how many were written.
    fn kernel_fused(model: &TypedModel) -> (TypedModel, usize) {
        let fusion = RequantFusion::plan(model).unwrap();
        let mut optimized = model.clone().into_optimized().unwrap();
        let n = fusion.apply(&mut optimized).unwrap();
        (optimized, n)
    }

    /// The `OptMatMul`s of `model`, with the constant values of their inputs.
    fn matmuls(model: &TypedModel) -> Vec<(OptMatMul, Vec<Option<Vec<i32>>>)> {
        let values = |o: &OutletId| {
            let k = model.outlet_fact(*o).unwrap().konst.clone()?;
            let k = k.cast_to::<i32>().ok()?;
            Some(k.try_as_plain_ram().ok()?.as_slice::<i32>().ok()?.to_vec())
        };
        model
            .nodes
            .iter()
            .filter_map(|n| {
                let op = n.op_as::<OptMatMul>()?.clone();
                Some((op, n.inputs.iter().map(values).collect()))
            })
            .collect()
    }

    #[test]
    fn the_kernel_fusion_builds_the_matrix_product_tracts_optimizer_builds_from_the_operators() {
        let (o, _, weights, unit, xs) = varied_layer(6);
        // per-channel multiples and a zero point; one multiplier (per tensor) and none
        for (multipliers, zp) in [
            (vec![5.0 * unit, 300.0 * unit, 1.0 * unit], -128),
            (vec![7.0 * unit], 0),
        ] {
            let model = conv_requant(&weights, o, -128, &multipliers, zp);
            let (kernel, n) = kernel_fused(&model);
            assert_eq!(n, 1);
            assert!(kernel.nodes.iter().all(|n| !n.op_is::<Requant>()));
            let mut operators = model.clone();
            assert_eq!(fuse_requant(&mut operators).unwrap(), 1);
            let operators = operators.into_optimized().unwrap();
            let (a, b) = (matmuls(&kernel), matmuls(&operators));
            assert_eq!(a.len(), 1);
            assert_eq!(a, b, "{multipliers:?}");
            assert_eq!(a[0].0.c_fact.datum_type, i8::datum_type());
            let plan = |m: TypedModel| m.into_runnable().unwrap();
            let (kernel, plain) = (plan(kernel), plan(model.into_optimized().unwrap()));
            for x in &xs {
                let y = |p: &Arc<TypedSimplePlan>| p.run(tvec!(x.clone().into_tvalue())).unwrap();
                assert_eq!(y(&kernel)[0], y(&plain)[0]);
            }
        }
    }

    #[test]
    fn a_requantization_whose_accumulators_have_another_reader_stays_out_of_the_kernel() {
        let weights: Vec<i8> = (0..2 * 8).map(|i| i as i8 - 8).collect();
        let mut model = conv_requant(&weights, 2, 0, &[0.5, 1.5], 0);
        // a second reader of the accumulators: the kernel must still store them as i32
        let acc = model.node(model.outputs[0].node).inputs[0];
        let y = model.outputs[0];
        let other = model
            .wire_node("other", cast(f32::datum_type()), &[acc])
            .unwrap()[0];
        model.select_output_outlets(&[y, other]).unwrap();
        assert_eq!(RequantFusion::plan(&model).unwrap().len(), 0);
        // planned on the model without the second reader, applied to one with it
        let single = conv_requant(&weights, 2, 0, &[0.5, 1.5], 0);
        let fusion = RequantFusion::plan(&single).unwrap();
        assert_eq!(fusion.len(), 1);
        let mut optimized = model.into_optimized().unwrap();
        assert_eq!(fusion.apply(&mut optimized).unwrap(), 0);
        let i32_stores = optimized
            .nodes
            .iter()
            .filter(|n| n.op_is::<OptMatMul>())
            .all(|n| n.outputs[0].fact.datum_type == i32::datum_type());
        assert!(i32_stores);
        assert!(optimized.nodes.iter().any(|n| n.op_is::<Requant>()));
    }

    #[test]
    fn fused_ties_round_half_up_as_the_operator_does() {
        // small accumulators on a quarter-step scale: many exact halves, of both signs
        let (o, k) = (3, 16);
        let weights: Vec<i8> = (0..o * k).map(|i| (i % 3) as i8 - 1).collect();
        let model = conv_requant(&weights, o, 0, &[0.5, 1.5, 0.25], 0);
        let mut fused = model.clone();
        assert_eq!(fuse_requant(&mut fused).unwrap(), 1);
        let xs: Vec<Tensor> = (0..8)
            .map(|seed| {
                let v: Vec<i8> = (0..k * 5).map(|i| ((i * 7 + seed) % 9) as i8 - 4).collect();
                Tensor::from_shape(&[1, k, 1, 5], &v).unwrap()
            })
            .collect();
        let (kernel, n) = kernel_fused(&model);
        assert_eq!(n, 1);
        let kernel = kernel.into_runnable().unwrap();
        let expected = run(model, &xs);
        assert_eq!(expected, run(fused, &xs));
        for (x, e) in xs.iter().zip(&expected) {
            let y = kernel.run(tvec!(x.clone().into_tvalue())).unwrap();
            assert_eq!(&*y[0], e);
        }
    }

    #[test]
    fn a_requantization_whose_accumulators_could_overflow_the_product_stays() {
        // 2,000 weights of 127 on data up to 255 from its zero point: accumulators reach
        // 6.5e7, and 6.5e7 · 300 is past 2^31
        let (o, k) = (2, 2000);
        let weights = vec![127i8; o * k];
        let unit = 808.0 * 2f64.powi(-40);
        let mut model = conv_requant(&weights, o, -128, &[300.0 * unit, 1.0 * unit], -128);
        assert!(RequantFusion::plan(&model).unwrap().is_empty());
        assert_eq!(fuse_requant(&mut model).unwrap(), 0);
        // with multipliers small enough for the same weights, it goes
        let mut model = conv_requant(&weights, o, -128, &[30.0 * unit, 1.0 * unit], -128);
        assert_eq!(fuse_requant(&mut model).unwrap(), 1);
    }

    #[test]
    fn a_requantization_with_unrelated_multipliers_stays() {
        let weights = vec![1i8; 2 * 8];
        let mut model = conv_requant(&weights, 2, 0, &[0.3, 0.7], 0);
        assert_eq!(fuse_requant(&mut model).unwrap(), 0);
        assert_eq!(
            model.nodes.iter().filter(|n| n.op_is::<Requant>()).count(),
            1
        );
    }

    #[test]
    fn multipliers_with_no_f32_common_scale_do_not_decompose() {
        // two unrelated 31-bit mantissas: their only common factor is tiny, and the
        // multiples of it overflow i32
        let a = FixedMultiplier::new(0.3).unwrap();
        let b = FixedMultiplier::new(0.7).unwrap();
        assert_eq!(
            decompose(&[a.mantissa, b.mantissa], &[a.shift, b.shift]),
            None
        );
        assert_eq!(decompose(&[-1], &[3]), None);
        assert_eq!(decompose(&[0, 0], &[1, 1]), None);
    }
}
