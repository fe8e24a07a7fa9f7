//! Importing models another tool already quantized: onnxruntime's QDQ format
//! (`QuantizeLinear`/`DequantizeLinear` around float operators) and its QOperator format with
//! quantized convolutions (`QLinearConv`). Their quantization parameters become a
//! [`Calibration`], their int8 weights float weights again, and the same int8 compiler builds
//! the same kind of graph — so such a model runs on integer kernels and writes to NNEF, which
//! stock tract does with neither.

use std::collections::HashMap;

use tract_onnx::pb::{self, NodeProto, TensorProto};
use tract_onnx::prelude::*;

use crate::calibrate::{key, Calibration, TensorStats, BINS};
use crate::error::{CompileError, Result};
use crate::import::FloatModel;

/// Quantization parameters the model gives one float tensor: `real = (q − zero_point) · scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct QParams {
    scale: f32,
    zero_point: i32,
    /// u8 (0..=255) or i8 (−128..=127) storage.
    unsigned: bool,
}

impl QParams {
    /// The float range the quantized type covers.
    fn range(&self) -> (f32, f32) {
        let (lo, hi) = if self.unsigned { (0, 255) } else { (-128, 127) };
        (
            (lo - self.zero_point) as f32 * self.scale,
            (hi - self.zero_point) as f32 * self.scale,
        )
    }

    /// Statistics that make min-max calibration reproduce this range.
    fn stats(&self, non_negative: bool) -> TensorStats {
        let (lo, hi) = self.range();
        let amax = if non_negative {
            hi.max(0.0)
        } else {
            lo.abs().max(hi.abs())
        };
        let mut hist = vec![0; BINS];
        hist[BINS - 1] = 1;
        TensorStats {
            amax,
            min: if non_negative || lo >= 0.0 {
                0.0
            } else {
                -amax
            },
            width: amax / BINS as f32,
            hist,
            zeros: 0,
        }
    }
}

/// Whether an ONNX model holds quantization operators (so it is imported, not calibrated).
pub fn is_prequantized(bytes: &[u8]) -> bool {
    let Ok(proto) = tract_onnx::onnx().proto_model_for_read(&mut &*bytes) else {
        return false;
    };
    proto.graph.iter().flat_map(|g| &g.node).any(|n| {
        matches!(
            n.op_type.as_str(),
            "QuantizeLinear" | "DequantizeLinear" | "QLinearConv"
        )
    })
}

fn bad(node: &NodeProto, reason: impl Into<String>) -> CompileError {
    CompileError::Unsupported {
        node: node.name.clone(),
        op: node.op_type.clone(),
        reason: reason.into(),
    }
}

fn float_initializer(name: &str, t: &Tensor) -> Result<TensorProto> {
    let t = t.cast_to::<f32>()?;
    Ok(TensorProto {
        name: name.to_string(),
        dims: t.shape().iter().map(|&d| d as i64).collect(),
        data_type: pb::tensor_proto::DataType::Float as i32,
        float_data: t.try_as_plain_ram()?.as_slice::<f32>()?.to_vec(),
        ..TensorProto::default()
    })
}

/// `(q − zero_point) · scale`, per tensor or along `axis`.
fn dequantize(q: &Tensor, scale: &Tensor, zp: Option<&Tensor>, axis: usize) -> Result<Tensor> {
    let values = q.cast_to::<i64>()?;
    let values = values.try_as_plain_ram()?;
    let values = values.as_slice::<i64>()?;
    let scale = scale.cast_to::<f32>()?;
    let scale = scale.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
    let zp: Vec<i64> = match zp {
        Some(z) => z
            .cast_to::<i64>()?
            .try_as_plain_ram()?
            .as_slice::<i64>()?
            .to_vec(),
        None => vec![0],
    };
    let shape = q.shape();
    let inner: usize = shape.iter().skip(axis + 1).product();
    let channels = shape.get(axis).copied().unwrap_or(1);
    let pick = |v: &[f32], c: usize| if v.len() == 1 { v[0] } else { v[c] };
    let out: Vec<f32> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = (i / inner.max(1)) % channels.max(1);
            let z = if zp.len() == 1 { zp[0] } else { zp[c] };
            (v - z) as f32 * pick(&scale, c)
        })
        .collect();
    Ok(Tensor::from_shape(shape, &out)?)
}

fn attr_i(node: &NodeProto, name: &str, default: i64) -> i64 {
    node.attribute
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.i)
        .unwrap_or(default)
}

/// Imports a pre-quantized ONNX model: the float graph it quantizes, and the calibration its
/// quantization parameters amount to (compile it with [`crate::Method::MinMax`]).
/// `output` selects an output node by name, as in [`FloatModel::from_onnx_bytes`].
pub fn import_prequantized(
    bytes: &[u8],
    origin: &str,
    output: Option<&str>,
) -> Result<(FloatModel, Calibration)> {
    let onnx = tract_onnx::onnx();
    let model_err = |reason: String| CompileError::Model {
        origin: origin.into(),
        reason,
    };
    let mut proto = onnx
        .proto_model_for_read(&mut &*bytes)
        .map_err(|e| model_err(crate::error::reason(&e)))?;
    let graph = proto
        .graph
        .as_mut()
        .ok_or_else(|| model_err("no graph".into()))?;

    let beyond = |op: &str| {
        (op.starts_with("QLinear") && op != "QLinearConv")
            || matches!(
                op,
                "QGemm" | "MatMulInteger" | "ConvInteger" | "DynamicQuantizeLinear"
            )
    };
    if let Some(node) = graph.node.iter().find(|n| beyond(&n.op_type)) {
        return Err(bad(
            node,
            "only QLinearConv is imported from the QOperator format",
        ));
    }
    let mut inits: HashMap<String, Tensor> = HashMap::new();
    for t in &graph.initializer {
        let v =
            tract_onnx::tensor::load_tensor(&tract_onnx::data_resolver::FopenDataResolver, t, None)
                .map_err(|e| {
                    model_err(format!(
                        "initializer {}: {}",
                        t.name,
                        crate::error::reason(&e)
                    ))
                })?;
        inits.insert(t.name.clone(), v);
    }
    let konst = |name: &str, node: &NodeProto| -> Result<Tensor> {
        inits
            .get(name)
            .cloned()
            .ok_or_else(|| bad(node, format!("{name} is not a constant initializer")))
    };

    // quantized tensor name -> the float tensor it stands for, and their parameters
    let mut alias: HashMap<String, String> = HashMap::new();
    let mut params: HashMap<String, QParams> = HashMap::new();
    let mut new_inits: Vec<TensorProto> = Vec::new();
    let mut nodes: Vec<NodeProto> = Vec::new();
    let qparams = |node: &NodeProto, s: &str, z: Option<&String>| -> Result<QParams> {
        let scale = konst(s, node)?
            .cast_to_scalar::<f32>()
            .map_err(|_| bad(node, "per-axis activation scale"))?;
        let (zero_point, unsigned) = match z {
            Some(z) => {
                let t = konst(z, node)?;
                (
                    t.cast_to_scalar::<i32>()?,
                    t.datum_type() == u8::datum_type(),
                )
            }
            None => (0, true),
        };
        Ok(QParams {
            scale,
            zero_point,
            unsigned,
        })
    };
    for node in &graph.node {
        match node.op_type.as_str() {
            "DequantizeLinear" if inits.contains_key(&node.input[0]) => {
                let q = konst(&node.input[0], node)?;
                let s = konst(&node.input[1], node)?;
                let z = node
                    .input
                    .get(2)
                    .filter(|z| !z.is_empty())
                    .map(|z| konst(z, node))
                    .transpose()?;
                let axis = attr_i(node, "axis", 1);
                let axis = if axis < 0 {
                    axis + q.rank() as i64
                } else {
                    axis
                } as usize;
                let f = dequantize(&q, &s, z.as_ref(), axis)?;
                new_inits.push(float_initializer(&node.output[0], &f)?);
            }
            "QuantizeLinear" => {
                let x = alias
                    .get(&node.input[0])
                    .cloned()
                    .unwrap_or_else(|| node.input[0].clone());
                params.insert(x.clone(), qparams(node, &node.input[1], node.input.get(2))?);
                alias.insert(node.output[0].clone(), x);
            }
            "DequantizeLinear" => {
                let x = alias.get(&node.input[0]).cloned().ok_or_else(|| {
                    bad(
                        node,
                        "dequantizes a tensor no QuantizeLinear or QLinearConv produced",
                    )
                })?;
                alias.insert(node.output[0].clone(), x);
            }
            "QLinearConv" => {
                let x = alias
                    .get(&node.input[0])
                    .cloned()
                    .ok_or_else(|| bad(node, "its input comes from no QuantizeLinear"))?;
                let x_scale = konst(&node.input[1], node)?.cast_to_scalar::<f32>()?;
                let wq = konst(&node.input[3], node)?;
                let ws = konst(&node.input[4], node)?;
                let wz = konst(&node.input[5], node)?;
                let w = dequantize(&wq, &ws, Some(&wz), 0)?;
                let w_name = format!("{}.w_f32", node.name);
                new_inits.push(float_initializer(&w_name, &w)?);
                let mut inputs = vec![x, w_name];
                if let Some(b) = node.input.get(8).filter(|b| !b.is_empty()) {
                    // i32 bias on the scale x_scale · w_scale[c]
                    let bq = konst(b, node)?;
                    let ws: Vec<f32> = ws
                        .cast_to::<f32>()?
                        .try_as_plain_ram()?
                        .as_slice::<f32>()?
                        .to_vec();
                    let scales: Vec<f32> = ws.iter().map(|s| s * x_scale).collect();
                    let b_f = dequantize(&bq, &tensor1(&scales), None, 0)?;
                    let b_name = format!("{}.b_f32", node.name);
                    new_inits.push(float_initializer(&b_name, &b_f)?);
                    inputs.push(b_name);
                }
                let y = format!("{}.float", node.output[0]);
                params.insert(y.clone(), qparams(node, &node.input[6], node.input.get(7))?);
                alias.insert(node.output[0].clone(), y.clone());
                nodes.push(NodeProto {
                    name: node.name.clone(),
                    op_type: "Conv".into(),
                    input: inputs,
                    output: vec![y],
                    attribute: node.attribute.clone(),
                    ..NodeProto::default()
                });
            }
            op if op.starts_with("QLinear")
                || op.starts_with("QGemm")
                || op == "MatMulInteger"
                || op == "ConvInteger" =>
            {
                return Err(bad(
                    node,
                    "only QLinearConv is imported from the QOperator format",
                ));
            }
            _ => {
                let mut n = node.clone();
                for i in n.input.iter_mut() {
                    if let Some(a) = alias.get(i) {
                        *i = a.clone();
                    }
                }
                nodes.push(n);
            }
        }
    }
    for o in graph.output.iter_mut() {
        if let Some(a) = alias.get(&o.name) {
            o.name = a.clone();
        }
    }
    graph.node = nodes;
    graph.initializer.extend(new_inits);
    graph.value_info.clear();

    let float = FloatModel::from_proto(&proto, origin, output)?;
    // params on a tensor pass to the ReLU reading it (its output is what gets requantized)
    let model = &float.model;
    let mut calibration = Calibration {
        stats: HashMap::new(),
        inputs: 0,
    };
    for (name, p) in &params {
        let outlet = model.find_outlet_label(name).or_else(|| {
            model
                .node_by_name(name)
                .ok()
                .map(|n| OutletId::new(n.id, 0))
        });
        let Some(outlet) = outlet else { continue };
        calibration.stats.insert(key(model, outlet), p.stats(false));
        let succ = &model.node(outlet.node).outputs[outlet.slot].successors;
        if let [only] = succ.as_slice() {
            let next = model.node(only.node);
            if crate::plan::relu_input(model, next) == Some(outlet) {
                calibration
                    .stats
                    .insert(key(model, OutletId::new(next.id, 0)), p.stats(true));
            }
        }
    }
    propagate(model, &mut calibration)?;
    Ok((float, calibration))
}

/// Fills in tensors the model left unquantized but the compiler needs a range for (a
/// concatenation of quantized branches, a pooling of a quantized tensor): pooling and
/// reshapes keep their input's range, a concatenation spans its inputs'.
fn propagate(model: &TypedModel, calibration: &mut Calibration) -> Result<()> {
    use tract_onnx::tract_core::ops::array::TypedConcat;
    use tract_onnx::tract_core::ops::cnn::{MaxPool, SumPool};
    for id in model.eval_order()? {
        let node = model.node(id);
        let out = key(model, OutletId::new(id, 0));
        if calibration.stats.contains_key(&out) {
            continue;
        }
        let inputs: Vec<Option<&TensorStats>> = node
            .inputs
            .iter()
            .filter(|i| model.outlet_fact(**i).is_ok_and(|f| f.konst.is_none()))
            .map(|i| calibration.stats.get(&key(model, *i)))
            .collect();
        let passthrough = node.op_is::<MaxPool>()
            || node.op_is::<SumPool>()
            || node.op_is::<tract_onnx::tract_core::ops::change_axes::AxisOp>()
            || crate::plan::relu_input(model, node).is_some();
        let merged = if node.op_is::<TypedConcat>()
            && !inputs.is_empty()
            && inputs.iter().all(Option::is_some)
        {
            let mut s = inputs[0].unwrap().clone();
            for other in inputs.iter().skip(1).flatten() {
                if other.amax > s.amax {
                    s.amax = other.amax;
                    s.width = other.width;
                }
                s.min = s.min.min(other.min);
            }
            Some(s)
        } else if passthrough && inputs.len() == 1 {
            inputs[0].cloned()
        } else {
            None
        };
        if let Some(s) = merged {
            calibration.stats.insert(out, s);
        }
    }
    Ok(())
}
