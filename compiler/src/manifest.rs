//! Compiling the model a manifest describes, exactly as `build.rs` embeds it: the sha256 is
//! verified, the committed calibration images of the manifest's `[calibration]` table are
//! observed, the graph is compiled with the table's method and written as the decluttered,
//! uncompressed NNEF tar the firmware loads. Deterministic: the same files give the same
//! bytes. `build.rs` (through `inception-edge-embed`) and `incept eval` share this.

use std::path::{Path, PathBuf};

use inception_edge_assets::dataset::ImageSet;
use inception_edge_assets::{read_file, AssetError, Manifest};
use inception_edge_core::Preprocess;
use tract_core::internal::*;

use crate::{compile, to_nnef_tar, Calibrator, CompileError, FloatModel, Method, Options};

/// Why the model of a manifest cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The manifest, the model's checksum or the calibration table is wrong.
    #[error("{}: {reason}", path.display())]
    Invalid {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A model asset (manifest, model file, image) could not be read.
    #[error(transparent)]
    Asset(#[from] AssetError),
    /// The int8 compiler failed.
    #[error(transparent)]
    Compile(#[from] CompileError),
}

impl From<TractError> for ManifestError {
    fn from(e: TractError) -> Self {
        ManifestError::Compile(e.into())
    }
}

fn invalid(path: &Path, reason: impl Into<String>) -> ManifestError {
    ManifestError::Invalid {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// A manifest's model compiled to int8, with what went into it.
#[derive(Debug)]
pub struct ManifestBuild {
    /// The manifest, parsed.
    pub manifest: Manifest,
    /// The manifest's text, verbatim.
    pub manifest_text: String,
    /// The ONNX model file.
    pub model_path: PathBuf,
    /// The calibration image set (directory or IDX file).
    pub calib_path: PathBuf,
    /// The calibration images, opened.
    pub calib_set: ImageSet,
    /// Images calibrated on (the first `count` of the set).
    pub count: usize,
    /// The preprocessing the manifest gives.
    pub pre: Preprocess,
    /// The compiler options used.
    pub options: Options,
    /// The int8 NNEF blob (decluttered graph, uncompressed tar).
    pub blob: Vec<u8>,
}

/// Compiles the model of the manifest at `manifest_path`; see the module docs.
pub fn compile_manifest(manifest_path: &Path) -> Result<ManifestBuild, ManifestError> {
    let manifest_text = String::from_utf8(read_file(manifest_path)?)
        .map_err(|_| invalid(manifest_path, "not UTF-8 text"))?;
    let m = Manifest::parse(&manifest_text).map_err(|r| invalid(manifest_path, r))?;
    let model_path = m.model_path(manifest_path);
    let model_bytes = read_file(&model_path).map_err(|e| {
        invalid(
            &model_path,
            format!(
                "{e}; the model file is not in the checkout (large models are committed with \
                 the repository; restore it with `git checkout -- {}`)",
                model_path.display()
            ),
        )
    })?;
    m.verify_model(&model_bytes, &model_path).map_err(|e| {
        invalid(
            &model_path,
            format!(
                "{e}; restore the committed file, or if the model changed on purpose, update \
                 `model.sha256` in {}",
                manifest_path.display()
            ),
        )
    })?;
    let spec = m.calibration.clone().ok_or_else(|| {
        invalid(
            manifest_path,
            "no [calibration] table: a model is embedded only with committed calibration \
             images (add `[calibration] data = \"…\"`)",
        )
    })?;
    let method: Method = match &spec.method {
        Some(s) => s.parse().map_err(|e: String| invalid(manifest_path, e))?,
        None => Options::default().method,
    };
    let pre = m
        .input
        .preprocess()
        .map_err(|r| invalid(manifest_path, r))?;
    let calib_path = m
        .calibration_path(manifest_path)
        .ok_or_else(|| invalid(manifest_path, "no [calibration] data"))?;

    // Fixed batch-1 graph with the manifest's geometry.
    let float = FloatModel::from_onnx_bytes(&model_bytes, &model_path.display().to_string(), None)?;
    let shape = float.input_shape();
    if shape != pre.shape() {
        return Err(invalid(
            manifest_path,
            format!(
                "the model's input is {shape:?} but the manifest's [input] gives {:?}",
                pre.shape()
            ),
        ));
    }

    // Calibrate on the committed images.
    let set = ImageSet::open(&calib_path)?;
    let count = spec.images.unwrap_or(set.len());
    if count == 0 || count > set.len() {
        return Err(invalid(
            manifest_path,
            format!(
                "[calibration] images = {count} but {} holds {}",
                calib_path.display(),
                set.len()
            ),
        ));
    }
    let mut calibrator = Calibrator::new(&float)?;
    let mut input = vec![0f32; shape.iter().product()];
    for i in 0..count {
        set.with_frame(i, |f| pre.run_f32(f, &mut input))?
            .map_err(|e| invalid(&calib_path, format!("image {i}: {e}")))?;
        calibrator.observe(&input)?;
    }
    let options = Options {
        method,
        ..Options::default()
    };
    let int8 = compile(&float, &calibrator.finish()?, &options)?;
    // Decluttered on the host (architecture-independent) and stored as a plain tar, so the
    // firmware's boot skips both gunzip and most of tract's declutter pass.
    let blob = to_nnef_tar(&int8.model.clone().into_decluttered()?)?;
    Ok(ManifestBuild {
        manifest: m,
        manifest_text,
        model_path,
        calib_path,
        calib_set: set,
        count,
        pre,
        options,
        blob,
    })
}
