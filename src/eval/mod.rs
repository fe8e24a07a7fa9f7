//! The accuracy harness behind `incept eval`: run one model in several variants (fp32 ONNX,
//! int8 compiled like `build.rs` does, the embedded int8 blob, an int8 NNEF file) over a
//! labelled image set, on several threads, and report top-1/top-k accuracy, agreement between
//! variants, per-class accuracy, a confusion matrix, the worst images and latency — as
//! markdown, JSON and PNG plots. [`suite`] checks the results against a committed thresholds
//! file and rewrites its baselines on request.
//!
//! ```no_run
//! use inception_edge::eval::{evaluate, load_variants, Dataset, Options};
//!
//! let data = Dataset::open("tests/data/fmnist-v3/test-1000-images-idx3-ubyte.gz")?;
//! let variants = load_variants("models/inception-v3-fmnist/manifest.toml".as_ref(), &["fp32", "int8"])?;
//! let report = evaluate(&data, &variants, &Options::default(), &|_, _| {})?;
//! println!("{}", report.to_markdown());
//! # Ok::<(), inception_edge::eval::EvalError>(())
//! ```

use std::path::{Path, PathBuf};

mod data;
mod markdown;
pub mod plot;
mod run;
pub mod suite;

pub use data::{Dataset, Item};
pub use run::{
    evaluate, Agreement, ClassStat, Failure, ImageResult, Latency, Options, Prediction, Report,
    Variant, VariantReport, Worst,
};

use crate::manifest::Manifest;
use crate::{Classifier, Error};

/// Why an evaluation could not run (problems with single images are not errors: they are
/// counted in [`Report::unreadable`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The dataset cannot be read or has the wrong form.
    #[error("dataset {}: {reason}", path.display())]
    Dataset {
        /// The dataset path (or the file at fault).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The dataset uses labels the model does not have.
    #[error("dataset {}: labels not among the model's classes: {unknown} (the model's classes: {known})", dataset.display())]
    UnknownLabels {
        /// The dataset.
        dataset: PathBuf,
        /// The labels that match no class.
        unknown: String,
        /// The model's classes.
        known: String,
    },
    /// A thresholds (suite) file is malformed.
    #[error("{}: {reason}", path.display())]
    Suite {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The requested variants or options do not fit the model.
    #[error("{0}")]
    Usage(String),
    /// A model could not be loaded.
    #[error(transparent)]
    Model(#[from] Error),
    /// The int8 compiler failed on the model.
    #[error(transparent)]
    Compile(#[from] inception_edge_compiler::manifest::ManifestError),
    /// A report or plot could not be written.
    #[error("cannot write {}: {reason}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl From<inception_edge_assets::AssetError> for EvalError {
    fn from(e: inception_edge_assets::AssetError) -> Self {
        EvalError::Model(e.into())
    }
}

/// The variant names [`load_variants`] knows.
pub const VARIANTS: [&str; 2] = ["fp32", "int8"];

/// The `model` argument naming the int8 model embedded in this binary.
pub const EMBEDDED: &str = "embedded";

/// Loads the requested variants of a model:
///
/// - a manifest (or the ONNX file it names): `fp32` is its ONNX model, `int8` the model
///   calibrated and compiled exactly as `build.rs` embeds it (the manifest's `[calibration]`
///   table; this takes a while for a large model);
/// - `embedded` (needs the `embed` feature): `int8` is the blob built into this binary, booted
///   with its self-test; `fp32` is the ONNX model it was compiled from, found through
///   `models_dir` and checked against the sha256 the build recorded;
/// - an NNEF file from `incept quantize` with a `manifest`: `int8` only.
pub fn load_variants(model: &Path, names: &[&str]) -> Result<Vec<Variant>, EvalError> {
    load_variants_with(model, names, None, Path::new("models"))
}

/// [`load_variants`] with an explicit manifest (for NNEF files) and models directory (for
/// the fp32 source of the embedded model).
pub fn load_variants_with(
    model: &Path,
    names: &[&str],
    manifest: Option<&Path>,
    models_dir: &Path,
) -> Result<Vec<Variant>, EvalError> {
    for n in names {
        if !VARIANTS.contains(n) {
            return Err(EvalError::Usage(format!(
                "unknown variant `{n}`: choose among {}",
                VARIANTS.join(", ")
            )));
        }
    }
    if names.is_empty() {
        return Err(EvalError::Usage("no variant requested".into()));
    }
    let mut out = Vec::new();
    if model == Path::new(EMBEDDED) && !model.exists() {
        for &n in names {
            out.push(embedded_variant(n, models_dir)?);
        }
        return Ok(out);
    }
    let is_nnef = {
        let s = model.to_string_lossy();
        s.ends_with(".nnef.tgz") || s.ends_with(".nnef.tar") || s.ends_with(".tgz")
    };
    if is_nnef {
        let manifest = manifest.ok_or_else(|| {
            EvalError::Usage(format!(
                "{} is an NNEF model: give the manifest it was compiled from (--manifest) for its preprocessing and labels",
                model.display()
            ))
        })?;
        if names != ["int8"] {
            return Err(EvalError::Usage(format!(
                "{} holds one compiled model: evaluate it as `int8` alone (and the manifest's ONNX as fp32)",
                model.display()
            )));
        }
        return Ok(vec![Variant {
            name: "int8".into(),
            origin: model.display().to_string(),
            classifier: Classifier::from_manifest_and_model(manifest, model)?,
        }]);
    }
    let manifest = match manifest {
        Some(m) => Some(m.to_owned()),
        None => Manifest::for_model(model)?.map(|(p, _)| p),
    };
    let Some(manifest) = manifest else {
        return bare_onnx(model, names);
    };
    let named = Manifest::from_file(&manifest)?.model_path(&manifest);
    let is_toml = model.extension().is_some_and(|e| e == "toml");
    if is_toml || named.canonicalize().ok() == model.canonicalize().ok() {
        for &n in names {
            out.push(manifest_variant(n, &manifest)?);
        }
        return Ok(out);
    }
    // another ONNX file with this manifest's preprocessing and labels
    if names != ["fp32"] {
        return Err(EvalError::Usage(format!(
            "{} is not the model {} names: only `fp32` can be evaluated (compile it with `incept quantize` and evaluate the NNEF file as int8)",
            model.display(),
            manifest.display()
        )));
    }
    Ok(vec![Variant {
        name: "fp32".into(),
        origin: format!(
            "{} (ONNX, tract fp32; {})",
            model.display(),
            manifest.display()
        ),
        classifier: Classifier::from_manifest_and_model(&manifest, model)?,
    }])
}

/// An ONNX file without a manifest: fp32, the default preprocessing for its input shape
/// (see [`crate::classifier::preprocess_for_shape`]), classes by index.
fn bare_onnx(model: &Path, names: &[&str]) -> Result<Vec<Variant>, EvalError> {
    if names != ["fp32"] {
        return Err(EvalError::Usage(format!(
            "{}: no manifest.toml beside it names this model, so only `fp32` can be evaluated (int8 is calibrated as the manifest's [calibration] says; give one with --manifest)",
            model.display()
        )));
    }
    let engine = crate::Engine::from_file(model)?;
    let pre = crate::classifier::preprocess_for_shape(engine.input_shape())?;
    Ok(vec![Variant {
        name: "fp32".into(),
        origin: format!("{} (ONNX, tract fp32, no manifest)", model.display()),
        classifier: Classifier::new(engine, pre, Vec::new(), Default::default())?,
    }])
}

pub(crate) fn manifest_variant(name: &str, manifest: &Path) -> Result<Variant, EvalError> {
    let classifier = match name {
        "fp32" => Classifier::from_manifest(manifest)?,
        _ => {
            let compiled = inception_edge_compiler::manifest::compile_manifest(manifest)?;
            Classifier::from_manifest_and_model_bytes(manifest, &compiled.blob)?
        }
    };
    let origin = match name {
        "fp32" => format!("{} (ONNX, tract fp32)", manifest.display()),
        _ => format!("{} (int8, compiled as build.rs does)", manifest.display()),
    };
    Ok(Variant {
        name: name.into(),
        origin,
        classifier,
    })
}

#[cfg(feature = "embed")]
fn embedded_variant(name: &str, models_dir: &Path) -> Result<Variant, EvalError> {
    use crate::embedded::model;
    if name == "int8" {
        return Ok(Variant {
            name: name.into(),
            origin: format!(
                "embedded {} (blob {})",
                model::NAME,
                &model::BLOB_SHA256[..12]
            ),
            classifier: Classifier::embedded()?,
        });
    }
    let manifest = models_dir.join(model::NAME).join("manifest.toml");
    let m = Manifest::from_file(&manifest).map_err(|e| {
        EvalError::Usage(format!(
            "the fp32 source of the embedded model {} is needed from {}: {e}",
            model::NAME,
            models_dir.display()
        ))
    })?;
    if !m.model.sha256.eq_ignore_ascii_case(model::MODEL_SHA256) {
        return Err(EvalError::Usage(format!(
            "{} names model sha256 {} but this binary was built from {}: rebuild, or compare against the right checkout",
            manifest.display(),
            m.model.sha256,
            model::MODEL_SHA256
        )));
    }
    manifest_variant(name, &manifest)
}

#[cfg(not(feature = "embed"))]
fn embedded_variant(_: &str, _: &Path) -> Result<Variant, EvalError> {
    Err(EvalError::Usage(
        "this binary has no embedded model (built without the `embed` feature)".into(),
    ))
}
