//! ONNX → fp32 tract graph with a batch-1 input, constants folded.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;
use tract_onnx::tract_hir::internal::DimLike;

use crate::error::{reason, CompileError, Result};

/// An fp32 model ready for calibration and compilation: one f32 input of concrete shape
/// (batch 1), constants folded, not yet decluttered (so ONNX operators stay recognisable).
#[derive(Debug, Clone)]
pub struct FloatModel {
    /// The typed graph.
    pub model: TypedModel,
    /// Where it came from (for messages).
    pub origin: String,
}

/// Checks that every graph output names a value of the graph (an input, an initializer, or a
/// node's input or output): tract-onnx 0.23.9 indexes its name table with the output names
/// unchecked and panics on one that names nothing (`model.rs:187`), which the fuzzer found.
fn check_output_names(proto: &tract_onnx::pb::ModelProto, origin: &str) -> Result<()> {
    let Some(graph) = proto.graph.as_ref() else {
        return Ok(());
    };
    let known: std::collections::HashSet<&str> = graph
        .input
        .iter()
        .map(|i| i.name.as_str())
        .chain(graph.initializer.iter().map(|t| t.name.as_str()))
        .chain(
            graph
                .node
                .iter()
                .flat_map(|n| n.input.iter().chain(&n.output))
                .map(String::as_str),
        )
        .collect();
    match graph
        .output
        .iter()
        .find(|o| !known.contains(o.name.as_str()))
    {
        Some(o) => Err(CompileError::Model {
            origin: origin.into(),
            reason: format!(
                "graph output {:?} is not produced by any node, input or initializer",
                o.name
            ),
        }),
        None => Ok(()),
    }
}

fn guarded<T>(origin: &str, f: impl FnOnce() -> TractResult<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(CompileError::Model {
            origin: origin.into(),
            reason: reason(&e),
        }),
        Err(_) => Err(CompileError::Model {
            origin: origin.into(),
            reason: "tract panicked while loading the model".into(),
        }),
    }
}

impl FloatModel {
    /// Loads an ONNX file. `output` selects a node by name as the only output (for example the
    /// trunk features of a classifier); `None` keeps the model's outputs.
    pub fn from_onnx_file(path: impl AsRef<Path>, output: Option<&str>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| CompileError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_onnx_bytes(&bytes, &path.display().to_string(), output)
    }

    /// Like [`FloatModel::from_onnx_file`] from bytes in memory; `origin` names them.
    pub fn from_onnx_bytes(bytes: &[u8], origin: &str, output: Option<&str>) -> Result<Self> {
        let proto = guarded(origin, || {
            tract_onnx::onnx().proto_model_for_read(&mut &*bytes)
        })?;
        Self::from_proto(&proto, origin, output)
    }

    /// Like [`FloatModel::from_onnx_bytes`] from a parsed ONNX protobuf.
    pub fn from_proto(
        proto: &tract_onnx::pb::ModelProto,
        origin: &str,
        output: Option<&str>,
    ) -> Result<Self> {
        check_output_names(proto, origin)?;
        let mut model = guarded(origin, || tract_onnx::onnx().model_for_proto_model(proto))?;
        if model.inputs.len() != 1 {
            return Err(CompileError::Model {
                origin: origin.into(),
                reason: format!("expected 1 input, found {}", model.inputs.len()),
            });
        }
        let fact = guarded(origin, || Ok(model.input_fact(0)?.clone()))?;
        let shape = batch1_shape(&fact.shape)?;
        let typed = guarded(origin, || {
            model.set_input_fact(0, f32::fact(&shape).into())?;
            if let Some(name) = output {
                model.select_outputs_by_name([name])?;
            }
            let mut typed = model.into_typed()?;
            typed.prop_consts()?;
            typed.into_compact()
        })?;
        Self::from_typed(typed, origin)
    }

    /// Wraps a typed fp32 model (one f32 input of concrete shape).
    pub fn from_typed(model: TypedModel, origin: &str) -> Result<Self> {
        if model.inputs.len() != 1 || model.outputs.is_empty() {
            return Err(CompileError::Model {
                origin: origin.into(),
                reason: format!(
                    "expected 1 input and at least 1 output, found {} and {}",
                    model.inputs.len(),
                    model.outputs.len()
                ),
            });
        }
        let fact = model.input_fact(0)?;
        if fact.datum_type != f32::datum_type() || fact.shape.as_concrete().is_none() {
            return Err(CompileError::Input {
                shape: format!("{fact:?}"),
                reason: "the input must be f32 with a concrete shape".into(),
            });
        }
        Ok(FloatModel {
            model,
            origin: origin.into(),
        })
    }

    /// The input shape.
    pub fn input_shape(&self) -> Vec<usize> {
        self.model
            .input_fact(0)
            .unwrap()
            .shape
            .as_concrete()
            .unwrap()
            .to_vec()
    }

    /// Number of input elements.
    pub fn input_len(&self) -> usize {
        self.input_shape().iter().product()
    }
}

/// Fixes the batch dimension of an ONNX input shape to 1.
fn batch1_shape(shape: &tract_onnx::tract_hir::infer::ShapeFactoid) -> Result<Vec<usize>> {
    let shown = format!("{shape:?}");
    let bad = |reason: &str| CompileError::Input {
        shape: shown.clone(),
        reason: reason.into(),
    };
    if shape.is_open() {
        return Err(bad("the input rank is unknown"));
    }
    let mut dims = Vec::new();
    for (i, d) in shape.dims().enumerate() {
        let v = d.concretize().and_then(|d| d.to_usize().ok());
        match (i, v) {
            (0, Some(1) | None) => dims.push(1),
            (0, Some(_)) => return Err(bad("the batch dimension must be 1 or symbolic")),
            (_, Some(v)) if v > 0 => dims.push(v),
            _ => return Err(bad("every dimension but the batch must be known")),
        }
    }
    Ok(dims)
}
