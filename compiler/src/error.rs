//! Errors of the compiler.

use std::path::PathBuf;

/// What can go wrong importing, calibrating, compiling or writing a model.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The model could not be loaded or analysed by tract.
    #[error("{origin}: {reason}")]
    Model {
        /// Names the model (file path or description).
        origin: String,
        /// Why.
        reason: String,
    },
    /// The model's input is not something the compiler handles.
    #[error("input {shape}: {reason}")]
    Input {
        /// The input shape as tract shows it.
        shape: String,
        /// Why.
        reason: String,
    },
    /// A node the int8 compiler has no integer lowering for.
    #[error("node {node:?} (op {op}) has no int8 lowering: {reason}")]
    Unsupported {
        /// The node's name.
        node: String,
        /// The operator's name.
        op: String,
        /// What exactly is not supported.
        reason: String,
    },
    /// The calibration set is empty, unreadable or does not fit the model.
    #[error("calibration: {0}")]
    Calibration(String),
    /// A zoo network cannot be built as asked (size, classes, weights that do not fit).
    #[error("zoo: {0}")]
    Spec(String),
    /// tract failed while building, optimizing or running a graph.
    #[error("tract: {0}")]
    Tract(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = CompileError> = std::result::Result<T, E>;

/// tract's error chain on one line.
pub(crate) fn reason(e: &tract_core::prelude::TractError) -> String {
    format!("{e:#}").replace('\n', " ")
}

impl From<tract_core::prelude::TractError> for CompileError {
    fn from(e: tract_core::prelude::TractError) -> Self {
        CompileError::Tract(reason(&e))
    }
}
