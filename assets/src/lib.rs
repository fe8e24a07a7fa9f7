//! The files a model is made of, read in one place: the `manifest.toml` beside each model
//! under `models/`, and the image sets used for calibration and evaluation.
//!
//! The runtime (`inception-edge`), the int8 compiler and the build script that embeds a model
//! all read models through this crate, so they agree on what a manifest means.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "image")]
pub mod dataset;
#[cfg(feature = "image")]
pub mod decode;
mod error;
pub mod manifest;

pub use error::{AssetError, Result};
pub use manifest::{sha256_hex, Manifest};

/// Reads a whole file, naming it in the error.
pub fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| AssetError::Io {
        path: path.to_owned(),
        source,
    })
}
