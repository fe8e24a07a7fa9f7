//! The int8 compiler of inception-edge: import an fp32 ONNX model, calibrate its activation
//! ranges in tract, compile it into an int8 tract graph that runs on integer kernels, and
//! write it as NNEF that the runtime (tract-nnef only) loads.
//!
//! ```no_run
//! use inception_edge_compiler::{compile, Calibrator, FloatModel, Options};
//! # fn main() -> Result<(), inception_edge_compiler::CompileError> {
//! let float = FloatModel::from_onnx_file("model.onnx", None)?;
//! let mut calibrator = Calibrator::new(&float)?;
//! # let images: Vec<Vec<f32>> = vec![];
//! for image in &images {
//!     calibrator.observe(image)?;
//! }
//! let int8 = compile(&float, &calibrator.finish()?, &Options::default())?;
//! let blob = inception_edge_compiler::to_nnef_bytes(&int8.model)?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod calibrate;
mod error;
mod import;
pub mod manifest;
mod nnef;
mod plan;
mod prequant;
mod quantize;
mod report;
pub mod zoo;

/// ONNX's protobuf types (tract-onnx's), for reading and writing ONNX files.
pub use tract_onnx::pb;

pub use calibrate::{Calibration, Calibrator, Method, TensorStats, BINS};
pub use error::{CompileError, Result};
pub use import::FloatModel;
pub use inception_edge_ops::{
    PROP_COMPILER, PROP_INPUT_SCALE, PROP_INPUT_ZERO_POINT, PROP_METHOD, PROP_PER_CHANNEL,
};
pub use nnef::{from_nnef_bytes, to_nnef_bytes, to_nnef_tar};
pub use prequant::{import_prequantized, is_prequantized};
pub use quantize::{compile, quantize_weights, Int8Model, Layer, Options};
pub use report::{argmax, cosine, layer_quality, quantize_input, Agreement, LayerQuality};
