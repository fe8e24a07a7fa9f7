//! Precompiling a model for a firmware build: what `build.rs` of the `inception-edge` crate
//! runs (on the build host; nothing of this crate is linked into the firmware).
//!
//! [`select`] picks a model from the index `models/manifest.toml`; [`embed`] verifies the
//! model's sha256, calibrates it on the committed images its manifest names, compiles it to
//! int8, writes the NNEF blob, runs it once on the self-test image and generates the Rust
//! module of constants that travels with the blob. Every step is deterministic: the same
//! inputs give byte-identical blobs and modules.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use inception_edge_assets::manifest::OutputKind;
use inception_edge_assets::{read_file, sha256_hex, Manifest};
use inception_edge_core::{Preprocess, QuantParams};
use serde::Deserialize;
use tract_core::internal::*;

use inception_edge_compiler::manifest::{compile_manifest, ManifestBuild};
use inception_edge_compiler::{from_nnef_bytes, PROP_INPUT_SCALE, PROP_INPUT_ZERO_POINT};

/// Why a model cannot be embedded: the manifest, checksum or calibration table is wrong
/// ([`EmbedError::Invalid`], naming the file and the fix), an asset cannot be read, or the int8
/// compiler failed. The same error as compiling a manifest's model anywhere else.
pub use inception_edge_compiler::manifest::ManifestError as EmbedError;

/// Shorthand for results with [`EmbedError`].
pub type Result<T, E = EmbedError> = std::result::Result<T, E>;

/// The file name of the model index under the models directory.
pub const INDEX: &str = "manifest.toml";

/// The environment variable that picks the embedded model by name.
pub const MODEL_ENV: &str = "INCEPTION_EDGE_MODEL";

/// The models directory's index: which models exist and which one a build embeds by default.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelIndex {
    /// The model embedded when nothing else is asked for.
    pub default: String,
    /// Every model, by directory name under the models directory.
    pub models: Vec<String>,
}

impl ModelIndex {
    /// Reads `models/manifest.toml`.
    pub fn open(models_dir: &Path) -> Result<Self> {
        let path = models_dir.join(INDEX);
        let text = String::from_utf8_lossy(&read_file(&path)?).into_owned();
        let index: ModelIndex = toml::from_str(&text).map_err(|e| EmbedError::Invalid {
            path: path.clone(),
            reason: e.to_string().replace('\n', " "),
        })?;
        if !index.models.contains(&index.default) {
            return Err(EmbedError::Invalid {
                path,
                reason: format!("the default model {:?} is not in `models`", index.default),
            });
        }
        Ok(index)
    }
}

/// The manifest path of the model `requested` names (or the index's default), checked to be
/// listed in the index and present on disk.
pub fn select(models_dir: &Path, requested: Option<&str>) -> Result<PathBuf> {
    let index = ModelIndex::open(models_dir)?;
    let name = requested.unwrap_or(&index.default);
    if !index.models.iter().any(|m| m == name) {
        return Err(EmbedError::Invalid {
            path: models_dir.join(INDEX),
            reason: format!(
                "no model named {name:?}; the index lists {}",
                index.models.join(", ")
            ),
        });
    }
    let manifest = models_dir.join(name).join("manifest.toml");
    if !manifest.is_file() {
        return Err(EmbedError::Invalid {
            path: manifest,
            reason: "the index lists this model but its manifest is missing".into(),
        });
    }
    Ok(manifest)
}

/// A precompiled model, ready to be written beside the generated module.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedded {
    /// The model's name.
    pub name: String,
    /// The int8 NNEF blob (a decluttered graph in an uncompressed tar, see [`inception_edge_compiler::to_nnef_tar`]).
    pub blob: Vec<u8>,
    /// Rust source of the constants module; it includes the blob from
    /// `concat!(env!("OUT_DIR"), "/", BLOB_FILE)`.
    pub module: String,
    /// Every file read, for `cargo:rerun-if-changed`.
    pub inputs: Vec<PathBuf>,
    /// One line saying what was done (calibration images, method, timing-free).
    pub summary: String,
}

/// The file name the blob is written to in `OUT_DIR`.
pub const BLOB_FILE: &str = "model.int8.nnef.tar";

fn embed_err(path: &Path, reason: impl Into<String>) -> EmbedError {
    EmbedError::Invalid {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Precompiles the model of the manifest at `manifest_path`; see the module docs.
pub fn embed(manifest_path: &Path) -> Result<Embedded> {
    let ManifestBuild {
        manifest: m,
        manifest_text,
        model_path,
        calib_path,
        calib_set: set,
        count,
        pre,
        options,
        blob,
    } = compile_manifest(manifest_path)?;
    let method = options.method;
    let shape = pre.shape();
    let spec = m
        .calibration
        .clone()
        .ok_or_else(|| embed_err(manifest_path, "no [calibration] table"))?;
    if spec.selftest >= set.len() {
        return Err(embed_err(
            manifest_path,
            format!("[calibration] selftest = {} is out of range", spec.selftest),
        ));
    }

    // The golden self-test: the reloaded blob, run as the runtime runs it.
    let (frame_bytes, frame_w, frame_h, frame_format) = set.with_frame(spec.selftest, |f| {
        (f.data().to_vec(), f.width(), f.height(), f.format())
    })?;
    let frame = inception_edge_core::Frame::new(&frame_bytes, frame_w, frame_h, frame_format)
        .map_err(|e| embed_err(&calib_path, e.to_string()))?;
    let reloaded = from_nnef_bytes(&blob, "the compiled blob")?;
    let prop = |name: &str| reloaded.properties.get(name).cloned();
    let scale = match prop(PROP_INPUT_SCALE) {
        Some(t) => t.cast_to_scalar::<f32>()?,
        None => return Err(embed_err(manifest_path, "the blob declares no input scale")),
    };
    let zero_point = match prop(PROP_INPUT_ZERO_POINT) {
        Some(t) => t.cast_to_scalar::<i32>()?,
        None => 0,
    };
    let q = QuantParams::new(scale, zero_point)
        .map_err(|e| embed_err(manifest_path, format!("input quantization: {e:?}")))?;
    let mut quantized = vec![0i8; shape.iter().product()];
    pre.run_quantized(&frame, q, &mut quantized)
        .map_err(|e| embed_err(&calib_path, e.to_string()))?;
    let plan = reloaded.into_optimized()?.into_runnable()?;
    let out = plan.run(tvec!(Tensor::from_shape(&shape, &quantized)?.into_tvalue()))?;
    let logits: Vec<f32> = out[0].try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
    if logits.len() != m.labels.len() {
        return Err(embed_err(
            manifest_path,
            format!(
                "the model has {} outputs but the manifest {} labels",
                logits.len(),
                m.labels.len()
            ),
        ));
    }

    let blob_sha256 = sha256_hex(&blob);
    let summary =
        format!(
        "{}: int8 ({options_method}, {weights} weights) calibrated on {count} images of {calib}; \
         blob {size} bytes, sha256 {blob_sha}",
        m.model.name,
        options_method = method,
        weights = if options.per_channel { "per-channel" } else { "per-tensor" },
        calib = calib_path.display(),
        size = blob.len(),
        blob_sha = blob_sha256,
    );
    let module = module_source(&ModuleFacts {
        manifest: &m,
        manifest_text: &manifest_text,
        pre: &pre,
        q,
        calibration: format!("{count} images of {}, method {method}", spec.data.display()),
        blob_len: blob.len(),
        blob_sha256: &blob_sha256,
        selftest_source: format!("image {} of {}", spec.selftest, spec.data.display()),
        frame: (&frame_bytes, frame_w, frame_h, frame_format),
        logits: &logits,
    });
    Ok(Embedded {
        name: m.model.name.clone(),
        blob,
        module,
        inputs: vec![manifest_path.to_owned(), model_path, calib_path],
        summary,
    })
}

struct ModuleFacts<'a> {
    manifest: &'a Manifest,
    manifest_text: &'a str,
    pre: &'a Preprocess,
    q: QuantParams,
    calibration: String,
    blob_len: usize,
    blob_sha256: &'a str,
    selftest_source: String,
    frame: (&'a [u8], usize, usize, inception_edge_core::PixelFormat),
    logits: &'a [f32],
}

/// The generated constants module. Only names from `inception_edge_core` and `std` are used,
/// fully qualified, so the module can be `include!`d anywhere.
fn module_source(f: &ModuleFacts<'_>) -> String {
    let m = f.manifest;
    let p = f.pre;
    let mut s = String::new();
    let core = "inception_edge_core";
    let _ = writeln!(
        s,
        "// @generated by build.rs (inception_edge_embed) from the manifest of {:?}. Do not edit.",
        m.model.name
    );
    let _ = writeln!(
        s,
        "/// The model's name.\npub const NAME: &str = {:?};",
        m.model.name
    );
    let _ = writeln!(s, "/// sha256 of the ONNX model the blob was compiled from.\npub const MODEL_SHA256: &str = {:?};", m.model.sha256.to_ascii_lowercase());
    let _ = writeln!(
        s,
        "/// sha256 of the embedded int8 NNEF blob.\npub const BLOB_SHA256: &str = {:?};",
        f.blob_sha256
    );
    let _ = writeln!(
        s,
        "/// Size of the embedded blob in bytes.\npub const BLOB_LEN: usize = {};",
        f.blob_len
    );
    let _ = writeln!(s, "/// The int8 NNEF blob (uncompressed tar).\npub static BLOB: &[u8] = include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{BLOB_FILE}\"));");
    let _ = writeln!(
        s,
        "/// The model's manifest, verbatim.\npub const MANIFEST: &str = {:?};",
        f.manifest_text
    );
    let _ = writeln!(
        s,
        "/// The version of the compiler that produced the blob.\npub const COMPILER: &str = {:?};",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        s,
        "/// How the blob was calibrated.\npub const CALIBRATION: &str = {:?};",
        f.calibration
    );
    let labels: Vec<String> = m.labels.iter().map(|l| format!("{l:?}")).collect();
    let _ = writeln!(
        s,
        "/// Class names, by class index.\npub const LABELS: [&str; {}] = [{}];",
        labels.len(),
        labels.join(", ")
    );
    let _ = writeln!(s, "/// Whether the output holds logits (`false`) or probabilities (`true`).\npub const OUTPUT_IS_PROBABILITIES: bool = {};", m.model.output == OutputKind::Probabilities);
    let _ = writeln!(s, "/// Input width and height in pixels.\npub const INPUT_WIDTH: usize = {};\n/// Input height in pixels.\npub const INPUT_HEIGHT: usize = {};", p.width, p.height);
    let _ = writeln!(
        s,
        "/// The preprocessing that feeds the model (geometry, channels, normalization).\n\
         pub const PREPROCESS: {core}::Preprocess = {core}::Preprocess {{ width: {}, height: {}, \
         resize: {core}::preprocess::Resize::{:?}, fit: {core}::preprocess::Fit::{:?}, \
         layout: {core}::preprocess::Layout::{:?}, channels: {core}::preprocess::Channels::{:?}, \
         normalize: {core}::preprocess::Normalize::{:?} }};",
        p.width, p.height, p.resize, p.fit, p.layout, p.channels, p.normalize
    );
    let _ = writeln!(s, "/// The int8 input's scale (f32 bits {:#010x}).\npub const INPUT_SCALE: f32 = f32::from_bits({:#010x});", f.q.scale().to_bits(), f.q.scale().to_bits());
    let _ = writeln!(
        s,
        "/// The int8 input's zero point.\npub const INPUT_ZERO_POINT: i32 = {};",
        f.q.zero_point()
    );
    let (bytes, w, h, format) = f.frame;
    let _ = writeln!(
        s,
        "/// Where the self-test frame comes from.\npub const SELFTEST_SOURCE: &str = {:?};",
        f.selftest_source
    );
    let _ = writeln!(s, "/// The self-test frame's geometry and pixel format.\npub const SELFTEST_WIDTH: usize = {w};\n/// Self-test frame height.\npub const SELFTEST_HEIGHT: usize = {h};\n/// Self-test frame pixel format.\npub const SELFTEST_FORMAT: {core}::PixelFormat = {core}::PixelFormat::{format:?};");
    let _ = write!(
        s,
        "/// The self-test frame's pixels.\npub static SELFTEST_PIXELS: [u8; {}] = [",
        bytes.len()
    );
    for (i, b) in bytes.iter().enumerate() {
        if i % 32 == 0 {
            s.push_str("\n    ");
        }
        let _ = write!(s, "{b},");
    }
    s.push_str("\n];\n");
    let _ = write!(s, "/// The expected output for the self-test frame, as f32 bits (compared exactly).\npub const SELFTEST_LOGITS: [u32; {}] = [", f.logits.len());
    for v in f.logits {
        let _ = write!(s, "{:#010x}, ", v.to_bits());
    }
    s.push_str("];\n");
    s
}
