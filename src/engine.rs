//! The inference engine: a tract plan with a fixed batch-1 input, run one frame at a time.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use tract_core::prelude::*;

use crate::error::{tract_reason, Error, Result};

/// A loaded, optimized model with one `f32` input and one output, ready to run.
///
/// The plan's state (its scratch buffers) is kept between calls to [`Engine::run`], so a
/// camera loop allocates only the input and output tensors per frame.
#[derive(Debug)]
pub struct Engine {
    state: TypedSimpleState,
    input_shape: Vec<usize>,
    output_shape: Vec<usize>,
}

/// Runs `f`, turning a panic inside tract into a typed model error naming `path`.
fn guarded<T>(path: &Path, f: impl FnOnce() -> TractResult<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Error::Model {
            path: path.to_owned(),
            reason: tract_reason(&e),
        }),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(Error::Model {
                path: path.to_owned(),
                reason: format!("tract panicked: {msg}"),
            })
        }
    }
}

fn concrete(shape: &ShapeFact) -> Option<Vec<usize>> {
    shape.as_concrete().map(|s| s.to_vec())
}

impl Engine {
    /// Wraps a typed model whose single input is `f32` with a concrete shape. The model is
    /// optimized here. `origin` names the model in errors.
    pub fn from_typed(model: TypedModel, origin: impl Into<PathBuf>) -> Result<Self> {
        let origin = origin.into();
        let (inputs, outputs) = (model.inputs.len(), model.outputs.len());
        if inputs != 1 || outputs != 1 {
            return Err(Error::Model {
                path: origin,
                reason: format!("expected 1 input and 1 output, found {inputs} and {outputs}"),
            });
        }
        let plan = guarded(&origin, || {
            let model = model.into_optimized()?;
            model.into_runnable()
        })?;
        let model = plan.model();
        let in_fact = model.input_fact(0).map_err(|e| Error::Model {
            path: origin.clone(),
            reason: tract_reason(&e),
        })?;
        if in_fact.datum_type != f32::datum_type() {
            return Err(Error::InputShape {
                shape: format!("{in_fact:?}"),
                reason: "the input must be f32".into(),
            });
        }
        let input_shape = concrete(&in_fact.shape).ok_or_else(|| Error::InputShape {
            shape: format!("{:?}", in_fact.shape),
            reason: "the input shape must be concrete".into(),
        })?;
        let out_fact = model.output_fact(0).map_err(|e| Error::Model {
            path: origin.clone(),
            reason: tract_reason(&e),
        })?;
        let output_shape = concrete(&out_fact.shape).ok_or_else(|| Error::Model {
            path: origin.clone(),
            reason: format!("output shape {:?} is not concrete", out_fact.shape),
        })?;
        let state = guarded(&origin, || plan.spawn())?;
        Ok(Engine {
            state,
            input_shape,
            output_shape,
        })
    }

    /// Loads an ONNX model file, fixes its input to batch 1 (a symbolic or unknown first
    /// dimension becomes 1; every other dimension must be known), and optimizes it.
    #[cfg(feature = "onnx")]
    pub fn from_onnx_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = crate::error::read_file(path)?;
        Self::from_onnx_bytes(&bytes, path)
    }

    /// Like [`Engine::from_onnx_file`] from bytes in memory; `origin` names them in errors.
    #[cfg(feature = "onnx")]
    pub fn from_onnx_bytes(bytes: &[u8], origin: impl Into<PathBuf>) -> Result<Self> {
        use tract_onnx::prelude::*;
        let origin: PathBuf = origin.into();
        let mut model = guarded(&origin, || tract_onnx::onnx().model_for_read(&mut &*bytes))?;
        if model.inputs.len() != 1 {
            return Err(Error::Model {
                path: origin,
                reason: format!("expected 1 input, found {}", model.inputs.len()),
            });
        }
        let fact = guarded(&origin, || Ok(model.input_fact(0)?.clone()))?;
        let shape = batch1_shape(&fact.shape)?;
        let typed = guarded(&origin, || {
            model.set_input_fact(0, f32::fact(&shape).into())?;
            model.into_typed()
        })?;
        Self::from_typed(typed, origin)
    }

    /// The input shape (batch 1).
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// Number of elements of the input tensor.
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// The output shape.
    pub fn output_shape(&self) -> &[usize] {
        &self.output_shape
    }

    /// Runs the model on one input tensor (row-major in [`Engine::input_shape`]) and writes
    /// the flattened output into `output` (resized as needed).
    pub fn run(&mut self, input: &[f32], output: &mut Vec<f32>) -> Result<()> {
        if input.len() != self.input_len() {
            return Err(Error::InputSize {
                got: input.len(),
                expected: self.input_len(),
                shape: self.input_shape.clone(),
            });
        }
        let inference = |e: TractError| Error::Inference(tract_reason(&e));
        let tensor = Tensor::from_shape(&self.input_shape, input).map_err(inference)?;
        let outputs = self
            .state
            .run(tvec!(tensor.into_tvalue()))
            .map_err(inference)?;
        let view = outputs[0].to_plain_array_view::<f32>().map_err(inference)?;
        output.clear();
        output.extend(view.iter().copied());
        Ok(())
    }
}

/// Fixes the batch dimension of an ONNX input shape to 1.
#[cfg(feature = "onnx")]
fn batch1_shape(shape: &tract_onnx::tract_hir::infer::ShapeFactoid) -> Result<Vec<usize>> {
    use tract_onnx::tract_hir::infer::Factoid;
    use tract_onnx::tract_hir::internal::DimLike;
    let shown = format!("{shape:?}");
    let bad = |reason: &str| Error::InputShape {
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
