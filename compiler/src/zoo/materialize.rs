//! Seeded weights for ONNX graphs whose weights are placeholders: the ONNX model zoo's
//! `light_inception_v1.onnx` / `light_inception_v2.onnx` (in the `onnx` wheel) replace every
//! weight by `ConstantOfShape(shape, 0.02)`, so their output is constant.

use tract_onnx::pb::{tensor_proto::DataType, ModelProto, TensorProto};

use super::graph::SplitMix64;
use crate::{CompileError, Result};

/// Replaces every `ConstantOfShape` whose shape is an initializer by a seeded f32 initializer
/// of that shape: 4-D and 2-D weights He-uniform on their fan-in; 1-D tensors (biases,
/// batch-norm scales, shifts, means, variances) uniform in [0.5, 1.5], which keeps variances
/// positive and every ReLU alive. Returns how many tensors were materialized.
pub fn materialize(proto: &mut ModelProto, seed: u64) -> Result<usize> {
    let graph = proto
        .graph
        .as_mut()
        .ok_or_else(|| CompileError::Spec("the ONNX model has no graph".into()))?;
    let shapes: std::collections::HashMap<String, Vec<i64>> = graph
        .initializer
        .iter()
        .filter(|t| t.data_type == DataType::Int64 as i32 && t.dims.len() == 1)
        .map(|t| {
            let v = if !t.int64_data.is_empty() {
                t.int64_data.clone()
            } else {
                t.raw_data
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                    .collect()
            };
            (t.name.clone(), v)
        })
        .collect();
    let mut rng = SplitMix64::new(seed);
    let mut made = Vec::new();
    let mut keep = Vec::new();
    for node in std::mem::take(&mut graph.node) {
        let shape = (node.op_type == "ConstantOfShape")
            .then(|| node.input.first().and_then(|i| shapes.get(i)))
            .flatten();
        let Some(dims) = shape else {
            keep.push(node);
            continue;
        };
        if dims.iter().any(|&d| !(1..=1 << 24).contains(&d)) {
            return Err(CompileError::Spec(format!(
                "ConstantOfShape {:?}: shape {dims:?} is not a weight shape",
                node.name
            )));
        }
        let len: i64 = dims.iter().product();
        if len > 1 << 28 {
            return Err(CompileError::Spec(format!(
                "ConstantOfShape {:?}: {len} values",
                node.name
            )));
        }
        let values: Vec<f32> = match dims.len() {
            1 => (0..len).map(|_| 1.0 + rng.uniform(0.5)).collect(),
            _ => {
                let fan_in = (len / dims[0]) as f32;
                let bound = (6.0 / fan_in).sqrt();
                (0..len).map(|_| rng.uniform(bound)).collect()
            }
        };
        let name = node.output.first().cloned().unwrap_or_default();
        made.push(TensorProto {
            name,
            dims: dims.clone(),
            data_type: DataType::Float as i32,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
    }
    graph.node = keep;
    // the shape tensors now read by nothing go too (also from old-style graph inputs)
    let used: std::collections::HashSet<&String> =
        graph.node.iter().flat_map(|n| n.input.iter()).collect();
    let unused: std::collections::HashSet<String> = shapes
        .keys()
        .filter(|k| !used.contains(k))
        .cloned()
        .collect();
    graph.initializer.retain(|t| !unused.contains(&t.name));
    graph.input.retain(|i| !unused.contains(&i.name));
    let n = made.len();
    graph.initializer.extend(made);
    Ok(n)
}
