//! Writing and reading int8 models as NNEF (a gzipped tar of `graph.nnef`, `graph.quant`
//! and the weight files), with the `inception_edge` extension.

use std::io::Write;

use tract_core::internal::*;
use tract_nnef::prelude::Framework;

use crate::error::{CompileError, Result};

/// Serializes a model to a `.nnef.tgz` blob. Deterministic: the tar entries carry a fixed
/// timestamp and gzip a fixed compression level, so the same model gives the same bytes.
pub fn to_nnef_bytes(model: &TypedModel) -> Result<Vec<u8>> {
    let nnef = inception_edge_ops::nnef();
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    let gz = nnef.write_to_tar_with_config(model, gz, false, true)?;
    let mut gz = gz;
    gz.flush()
        .map_err(|e| CompileError::Tract(format!("gzip: {e}")))?;
    gz.finish()
        .map_err(|e| CompileError::Tract(format!("gzip: {e}")))
}

/// Serializes a model to an uncompressed NNEF tar: larger than [`to_nnef_bytes`] (int8
/// weights compress by only ~17 %) but it loads without a gunzip pass — what a firmware
/// embeds for a fast cold start. Deterministic like [`to_nnef_bytes`].
pub fn to_nnef_tar(model: &TypedModel) -> Result<Vec<u8>> {
    let nnef = inception_edge_ops::nnef();
    Ok(nnef.write_to_tar_with_config(model, Vec::new(), false, true)?)
}

/// Reads a model written by [`to_nnef_bytes`] (or any NNEF tar/tgz using the
/// `inception_edge` extension); `origin` names it in errors.
pub fn from_nnef_bytes(bytes: &[u8], origin: &str) -> Result<TypedModel> {
    let nnef = inception_edge_ops::nnef();
    let load = || nnef.model_for_read(&mut &*bytes);
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(load)) {
        Ok(Ok(m)) => Ok(m),
        Ok(Err(e)) => Err(CompileError::Model {
            origin: origin.into(),
            reason: crate::error::reason(&e),
        }),
        Err(_) => Err(CompileError::Model {
            origin: origin.into(),
            reason: "tract panicked while reading the model".into(),
        }),
    }
}
