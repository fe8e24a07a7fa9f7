//! The error type of model assets.

use std::path::PathBuf;

use inception_edge_core::FrameError;

/// What can go wrong reading a manifest, a model file's checksum or an image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AssetError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A manifest could not be parsed, is inconsistent, or its model file does not match it.
    #[error("manifest {}: {reason}", path.display())]
    Manifest {
        /// The manifest (or model) file.
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
    /// A decoded image does not make a valid frame.
    #[error("invalid frame: {0}")]
    Frame(#[from] FrameError),
}

/// Shorthand for results with [`AssetError`].
pub type Result<T, E = AssetError> = std::result::Result<T, E>;
