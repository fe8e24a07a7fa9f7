//! Reading an fp32 graph as a sequence of int8-lowerable steps.

use std::collections::HashSet;

use tract_core::internal::*;
use tract_core::ops::array::TypedConcat;
use tract_core::ops::binary::TypedBinOp;
use tract_core::ops::cnn::{Conv, KernelFormat, MaxPool, SumPool};
use tract_core::ops::einsum::EinSum;
use tract_core::ops::konst::Const;
use tract_core::ops::nn::{Reduce, Reducer, Softmax};
use tract_core::ops::source::TypedSource;

use inception_edge_ops::QAvgPool;

use crate::error::{CompileError, Result};
use crate::FloatModel;

/// One int8-lowerable piece of the fp32 graph: possibly several fp32 nodes (a convolution
/// and its ReLU; a matrix product, its bias and ReLU; a sum and a division).
#[derive(Debug, Clone)]
pub(crate) struct Step {
    /// The name of the first fp32 node of the step.
    pub name: String,
    /// The fp32 values the step reads.
    pub inputs: Vec<OutletId>,
    /// The fp32 value the step produces.
    pub end: OutletId,
    /// What it does.
    pub kind: StepKind,
}

/// The kinds of steps.
#[derive(Debug, Clone)]
pub(crate) enum StepKind {
    /// The model input.
    Source,
    /// A convolution with constant weights (OIHW) and bias (`[O]` or scalar), maybe a ReLU.
    Conv {
        op: Conv,
        weights: Arc<Tensor>,
        bias: Arc<Tensor>,
        relu: bool,
    },
    /// `[1, K] × [N, K]ᵀ + bias`, maybe a ReLU.
    Linear {
        weights: Arc<Tensor>,
        bias: Option<Arc<Tensor>>,
        relu: bool,
    },
    /// Max pooling (scale unchanged).
    MaxPool(MaxPool),
    /// Average pooling (scale unchanged), including global average pooling.
    AvgPool(QAvgPool),
    /// Concatenation: every input brought to one scale.
    Concat(TypedConcat),
    /// Reshapes and axis moves (scale unchanged).
    Axis(AxisOp),
    /// A ReLU that no convolution absorbed.
    Relu,
    /// The sum of two tensors of the same shape (a residual connection), maybe a ReLU.
    Add { relu: bool },
    /// Local response normalization across channels (GoogLeNet), requantized.
    Lrn(tract_onnx_opl::lrn::Lrn),
    /// A softmax producing a model output, in f32 after the dequantization.
    Softmax(Softmax),
    /// An inference-time no-op (ONNX `Dropout` without its mask).
    Identity,
}

/// If the only consumer of `outlet` (an NCHW convolution output of `c` channels) multiplies
/// or adds a constant that is one value or one value per channel (a folded batch
/// normalization, caffe's `Scale`, Inception-ResNet's residual scaling): that node, whether it
/// multiplies, and the per-channel values.
fn channel_affine(
    model: &TypedModel,
    outlet: OutletId,
    c: usize,
) -> Option<(usize, bool, Vec<f32>)> {
    let next = sole_successor(model, outlet)?;
    let mul = match next.op_as::<TypedBinOp>()?.0.name() {
        "Mul" => true,
        "Add" => false,
        _ => return None,
    };
    let other = next.inputs.iter().copied().find(|&i| i != outlet)?;
    let k = konst(model, other)?;
    let k = k.cast_to::<f32>().ok()?;
    let v = k.try_as_plain_ram().ok()?.as_slice::<f32>().ok()?.to_vec();
    let rank = model.outlet_fact(outlet).ok()?.rank();
    let mut shape: Vec<usize> = k.shape().to_vec();
    if shape.len() > rank {
        return None;
    }
    while shape.len() < rank {
        shape.insert(0, 1);
    }
    let per_channel = rank == 4 && shape == [1, c, 1, 1];
    let values = match v.len() {
        1 => vec![v[0]; c],
        n if n == c && per_channel => v,
        _ => return None,
    };
    Some((next.id, mul, values))
}

/// Folds `y = conv(x) · k_mul + k_add` chains into the weights (OIHW) and bias.
fn fold_affine(
    weights: &Arc<Tensor>,
    bias: &Arc<Tensor>,
    steps: &[(bool, Vec<f32>)],
) -> TractResult<(Arc<Tensor>, Arc<Tensor>)> {
    let w = weights.cast_to::<f32>()?;
    let c = w.shape()[0];
    let mut wv = w.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
    let b = bias.cast_to::<f32>()?;
    let bv = b.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
    let mut bv = match bv.len() {
        1 => vec![bv[0]; c],
        n if n == c => bv,
        n => bail!("a bias of {n} values for {c} channels"),
    };
    let per = wv.len() / c.max(1);
    for (mul, k) in steps {
        for o in 0..c {
            if *mul {
                wv[o * per..(o + 1) * per]
                    .iter_mut()
                    .for_each(|x| *x *= k[o]);
                bv[o] *= k[o];
            } else {
                bv[o] += k[o];
            }
        }
    }
    Ok((
        Tensor::from_shape(w.shape(), &wv)?.into_arc_tensor(),
        Tensor::from_shape(&[c], &bv)?.into_arc_tensor(),
    ))
}

fn unsupported(node: &TypedNode, reason: impl Into<String>) -> CompileError {
    CompileError::Unsupported {
        node: node.name.clone(),
        op: node.op.name().to_string(),
        reason: reason.into(),
    }
}

/// The constant value of an outlet, if it is one.
fn konst(model: &TypedModel, outlet: OutletId) -> Option<Arc<Tensor>> {
    model.outlet_fact(outlet).ok()?.konst.clone()
}

/// Whether `node` is `max(x, 0)` with `x` non-constant; returns `x`.
pub(crate) fn relu_input(model: &TypedModel, node: &TypedNode) -> Option<OutletId> {
    let bin = node.op_as::<TypedBinOp>()?;
    if bin.0.name() != "Max" || node.inputs.len() != 2 {
        return None;
    }
    let (a, b) = (node.inputs[0], node.inputs[1]);
    let (x, zero) = match (konst(model, a), konst(model, b)) {
        (None, Some(z)) => (a, z),
        (Some(z), None) => (b, z),
        _ => return None,
    };
    let zero = zero.cast_to::<f32>().ok()?;
    let all_zero = zero
        .try_as_plain_ram()
        .ok()?
        .as_slice::<f32>()
        .ok()?
        .iter()
        .all(|&v| v == 0.0);
    all_zero.then_some(x)
}

/// The single node consuming `outlet`, if exactly one does and `outlet` is not a model output.
fn sole_successor(model: &TypedModel, outlet: OutletId) -> Option<&TypedNode> {
    if model.outputs.contains(&outlet) {
        return None;
    }
    let succ = &model.node(outlet.node).outputs[outlet.slot].successors;
    (succ.len() == 1).then(|| model.node(succ[0].node))
}

/// If the only consumer of `outlet` is a ReLU, absorbs it: returns its output and `true`;
/// else `outlet` and `false`.
fn absorb_relu(
    model: &TypedModel,
    outlet: OutletId,
    absorbed: &mut HashSet<usize>,
) -> (OutletId, bool) {
    match sole_successor(model, outlet).filter(|next| relu_input(model, next) == Some(outlet)) {
        Some(relu) => {
            absorbed.insert(relu.id);
            (OutletId::new(relu.id, 0), true)
        }
        None => (outlet, false),
    }
}

/// Reads the fp32 graph as steps in evaluation order.
pub(crate) fn plan(float: &FloatModel) -> Result<Vec<Step>> {
    let model = &float.model;
    let order = model.eval_order()?;
    let mut absorbed = HashSet::new();
    let mut steps = Vec::new();
    for &id in &order {
        if absorbed.contains(&id) {
            continue;
        }
        let node = model.node(id);
        let out0 = OutletId::new(id, 0);
        if node.op_is::<Const>() || konst(model, out0).is_some() {
            continue;
        }
        let values: Vec<OutletId> = node
            .inputs
            .iter()
            .copied()
            .filter(|&i| konst(model, i).is_none())
            .collect();
        let mut step = |kind, inputs: Vec<OutletId>, end: OutletId| {
            steps.push(Step {
                name: node.name.clone(),
                inputs,
                end,
                kind,
            })
        };
        if node.op_is::<TypedSource>() {
            step(StepKind::Source, vec![], out0);
        } else if let Some(conv) = node.op_as::<Conv>() {
            if conv.q_params.is_some() {
                return Err(unsupported(node, "the convolution is already quantized"));
            }
            if conv.kernel_fmt != KernelFormat::OIHW || conv.pool_spec.rank() != 2 {
                return Err(unsupported(
                    node,
                    "only 2-D OIHW convolutions are supported",
                ));
            }
            if !conv.pool_spec.data_format.has_n() || conv.pool_spec.data_format.c_is_last() {
                return Err(unsupported(node, "only NCHW convolutions are supported"));
            }
            let weights = konst(model, node.inputs[1])
                .ok_or_else(|| unsupported(node, "the weights are not constant"))?;
            let bias = konst(model, node.inputs[2])
                .ok_or_else(|| unsupported(node, "the bias is not constant"))?;
            // constant per-channel or scalar factors and offsets after the convolution (a
            // batch normalization, Inception-ResNet's residual scaling) fold into it
            let mut end = out0;
            let c = weights.shape()[0];
            let mut affine = Vec::new();
            while let Some((id, mul, k)) = channel_affine(model, end, c) {
                absorbed.insert(id);
                end = OutletId::new(id, 0);
                affine.push((mul, k));
            }
            let (weights, bias) = if affine.is_empty() {
                (weights, bias)
            } else {
                fold_affine(&weights, &bias, &affine)?
            };
            let (end, relu) = absorb_relu(model, end, &mut absorbed);
            let kind = StepKind::Conv {
                op: conv.clone(),
                weights,
                bias,
                relu,
            };
            step(kind, vec![node.inputs[0]], end);
        } else if let Some(einsum) = node.op_as::<EinSum>() {
            let expr = einsum.axes.to_string();
            let transposed = match expr.as_str() {
                "mk,nk->mn" => false,
                "mk,kn->mn" => true,
                _ => {
                    return Err(unsupported(
                        node,
                        format!("einsum {expr} is not a linear layer"),
                    ))
                }
            };
            if einsum.q_params.is_some() || node.inputs.len() != 2 {
                return Err(unsupported(node, "the matrix product is already quantized"));
            }
            let w = konst(model, node.inputs[1])
                .ok_or_else(|| unsupported(node, "the weights are not constant"))?;
            let weights = if transposed {
                w.clone()
                    .into_tensor()
                    .permute_axes(&[1, 0])?
                    .into_arc_tensor()
            } else {
                w
            };
            let rows = model.outlet_fact(node.inputs[0])?.shape.to_tvec();
            if rows.len() != 2 || !rows[0].is_one() {
                return Err(unsupported(
                    node,
                    format!("linear input {rows:?} is not [1, K]"),
                ));
            }
            let mut end = out0;
            let mut bias = None;
            if let Some(add) = sole_successor(model, end) {
                if add
                    .op_as::<TypedBinOp>()
                    .is_some_and(|b| b.0.name() == "Add")
                {
                    let other = add.inputs.iter().copied().find(|&i| i != end);
                    if let Some(b) = other.and_then(|o| konst(model, o)) {
                        let n = weights.shape()[0];
                        if b.len() == n {
                            bias = Some(b.into_tensor().into_shape(&[n])?.into_arc_tensor());
                            absorbed.insert(add.id);
                            end = OutletId::new(add.id, 0);
                        }
                    }
                }
            }
            let (end, relu) = absorb_relu(model, end, &mut absorbed);
            let kind = StepKind::Linear {
                weights,
                bias,
                relu,
            };
            step(kind, vec![node.inputs[0]], end);
        } else if let Some(pool) = node.op_as::<MaxPool>() {
            if pool.with_index_outputs.is_some() {
                return Err(unsupported(node, "max pooling with indices"));
            }
            step(StepKind::MaxPool(pool.clone()), values, out0);
        } else if let Some(pool) = node.op_as::<SumPool>() {
            if !pool.normalize {
                return Err(unsupported(node, "sum pooling without normalization"));
            }
            let q = avgpool_of(model, node, pool)?;
            step(StepKind::AvgPool(q), values, out0);
        } else if let Some(reduce) = node.op_as::<Reduce>() {
            let fact = model.outlet_fact(node.inputs[0])?;
            let shape = fact
                .shape
                .as_concrete()
                .map(|s| s.to_vec())
                .unwrap_or_default();
            if reduce.reducer != Reducer::Sum
                || shape.len() != 4
                || reduce.axes.as_slice() != [2, 3]
            {
                return Err(unsupported(
                    node,
                    "only a global average pool over H and W reduces",
                ));
            }
            let hw = (shape[2] * shape[3]) as f32;
            let div = sole_successor(model, out0)
                .filter(|d| d.op_as::<TypedBinOp>().is_some_and(|b| b.0.name() == "Div"))
                .filter(|d| d.inputs[0] == out0)
                .filter(|d| {
                    konst(model, d.inputs[1])
                        .and_then(|k| k.cast_to_scalar::<f32>().ok())
                        .is_some_and(|v| v == hw)
                })
                .ok_or_else(|| unsupported(node, "a sum over H and W not divided by H·W"))?;
            absorbed.insert(div.id);
            let q = QAvgPool {
                kernel: [shape[2], shape[3]],
                strides: [1, 1],
                pads: [0; 4],
                count_include_pad: false,
                zero_point: 0,
            };
            step(StepKind::AvgPool(q), values, OutletId::new(div.id, 0));
        } else if let Some(concat) = node.op_as::<TypedConcat>() {
            if values.len() != node.inputs.len() {
                return Err(unsupported(node, "concatenation with a constant"));
            }
            step(StepKind::Concat(concat.clone()), values, out0);
        } else if let Some(axis) = node.op_as::<AxisOp>() {
            step(StepKind::Axis(axis.clone()), values, out0);
        } else if node
            .op_as::<TypedBinOp>()
            .is_some_and(|b| b.0.name() == "Add")
            && values.len() == 2
        {
            let a = model.outlet_fact(node.inputs[0])?;
            let b = model.outlet_fact(node.inputs[1])?;
            if a.shape != b.shape {
                return Err(unsupported(node, "an addition with broadcasting"));
            }
            let (end, relu) = absorb_relu(model, out0, &mut absorbed);
            step(StepKind::Add { relu }, values, end);
        } else if let Some(lrn) = node.op_as::<tract_onnx_opl::lrn::Lrn>() {
            let rank = model.outlet_fact(node.inputs[0])?.rank();
            if rank != 4 {
                return Err(unsupported(node, format!("LRN over a rank-{rank} tensor")));
            }
            step(StepKind::Lrn(lrn.clone()), values, out0);
        } else if node.op.name() == "Dropout" && values.len() == 1 {
            if node
                .outputs
                .iter()
                .skip(1)
                .any(|o| !o.successors.is_empty())
            {
                return Err(unsupported(node, "a dropout whose mask is read"));
            }
            step(StepKind::Identity, values, out0);
        } else if let Some(softmax) = node.op_as::<Softmax>() {
            if !model.outputs.contains(&out0) {
                return Err(unsupported(
                    node,
                    "a softmax inside the graph (only a final one runs, in f32)",
                ));
            }
            step(StepKind::Softmax(softmax.clone()), values, out0);
        } else if let Some(x) = relu_input(model, node) {
            step(StepKind::Relu, vec![x], out0);
        } else {
            return Err(unsupported(node, "no integer kernel for this operator"));
        }
    }
    Ok(steps)
}

/// The int8 form of an fp32 average pool, padding made explicit.
fn avgpool_of(model: &TypedModel, node: &TypedNode, pool: &SumPool) -> Result<QAvgPool> {
    let spec = &pool.pool_spec;
    let fact = model.outlet_fact(node.inputs[0])?;
    let shape = fact
        .shape
        .as_concrete()
        .map(|s| s.to_vec())
        .unwrap_or_default();
    if spec.rank() != 2 || shape.len() != 4 || spec.data_format.c_is_last() {
        return Err(unsupported(
            node,
            "only 2-D NCHW average pooling is supported",
        ));
    }
    if spec
        .dilations
        .as_ref()
        .is_some_and(|d| d.iter().any(|&d| d != 1))
    {
        return Err(unsupported(node, "dilated average pooling"));
    }
    let strides = spec.strides.clone().unwrap_or_else(|| tvec![1, 1]);
    let geo = spec
        .padding
        .compute(&shape[2..], &spec.kernel_shape, &[1, 1], &strides);
    let q = QAvgPool {
        kernel: [spec.kernel_shape[0], spec.kernel_shape[1]],
        strides: [strides[0], strides[1]],
        pads: [
            geo[0].pad_before,
            geo[1].pad_before,
            geo[0].pad_after,
            geo[1].pad_after,
        ],
        count_include_pad: pool.count_include_pad,
        zero_point: 0,
    };
    let out = model
        .outlet_fact(OutletId::new(node.id, 0))?
        .shape
        .as_concrete()
        .map(|s| s.to_vec());
    let expected = q.output_hw(shape[2], shape[3]);
    if out.as_ref().map(|o| [o[2], o[3]]) != expected {
        return Err(unsupported(
            node,
            format!("pool geometry {q:?} gives {expected:?}, tract {out:?}"),
        ));
    }
    Ok(q)
}
