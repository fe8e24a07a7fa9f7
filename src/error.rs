//! The runtime's error type.

use std::path::PathBuf;

use inception_edge_core::postprocess::PostprocessError;
use inception_edge_core::{FrameError, PreprocessError};

/// Everything that can go wrong between a model file and a classification.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The model file is not a model tract can load (corrupt, truncated, unsupported op).
    #[error("{} is not a usable model: {reason}", path.display())]
    Model {
        /// The model file (or `<memory>`).
        path: PathBuf,
        /// tract's explanation, outermost context first.
        reason: String,
    },
    /// The model's input is not something an image can be fed to.
    #[error("model input {shape} is not supported: {reason}")]
    InputShape {
        /// The input shape as the model declares it.
        shape: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An input tensor of the wrong size was passed to [`crate::Engine::run`].
    #[error("input has {got} elements, the model expects {expected} (shape {shape:?})")]
    InputSize {
        /// Elements given.
        got: usize,
        /// Elements expected.
        expected: usize,
        /// Model input shape.
        shape: Vec<usize>,
    },
    /// tract failed while running the model.
    #[error("inference failed: {0}")]
    Inference(String),
    /// The inference thread pool could not be set up.
    #[error("cannot use {threads} inference threads: {reason}")]
    Threads {
        /// Threads asked for.
        threads: usize,
        /// Why not.
        reason: String,
    },
    /// A manifest could not be parsed or is inconsistent.
    #[error("manifest {}: {reason}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An image file could not be decoded.
    #[error("cannot decode image {}: {reason}", path.display())]
    Image {
        /// The image file.
        path: PathBuf,
        /// The decoder's explanation.
        reason: String,
    },
    /// A frame's geometry is invalid.
    #[error("invalid frame: {0}")]
    Frame(#[from] FrameError),
    /// Preprocessing refused the frame or configuration.
    #[error("preprocessing: {0}")]
    Preprocess(#[from] PreprocessError),
    /// The embedded model failed its boot self-test: it loaded, but its output on the golden
    /// frame is not what the build computed.
    #[error("embedded model self-test failed: {0}")]
    SelfTest(String),
    /// The model's output could not be ranked.
    #[error("model output: {0}")]
    Postprocess(#[from] PostprocessError),
}

impl From<inception_edge_assets::AssetError> for Error {
    fn from(e: inception_edge_assets::AssetError) -> Self {
        use inception_edge_assets::AssetError as A;
        match e {
            A::Io { path, source } => Error::Io { path, source },
            A::Manifest { path, reason } => Error::Manifest { path, reason },
            A::Image { path, reason } => Error::Image { path, reason },
            A::Frame(e) => Error::Frame(e),
            other => Error::Manifest {
                path: PathBuf::new(),
                reason: other.to_string(),
            },
        }
    }
}

/// Shorthand for results with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Reads a whole file, naming it in the error.
pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

/// Formats a tract error with its whole context chain on one line.
pub(crate) fn tract_reason(e: &tract_core::prelude::TractError) -> String {
    format!("{e:#}")
}
