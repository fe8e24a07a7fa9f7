//! Model manifests: the `manifest.toml` that sits beside each model under `models/<name>/`
//! and says where the model came from and how to feed it.
//!
//! ```toml
//! [model]
//! name = "mini-inception-fmnist"
//! file = "mini-inception-fmnist.onnx"
//! sha256 = "…"
//! source = "how it was made"
//! licence = "MIT"
//! output = "logits"            # or "probabilities"
//!
//! [input]
//! width = 28
//! height = 28
//! channels = "gray"            # rgb | bgr | gray
//! layout = "nchw"              # nchw | nhwc
//! normalize = "unit"           # raw | unit | inception | symmetric | mean-std
//! # mean = [0.485, 0.456, 0.406]; std = [0.229, 0.224, 0.225]   (mean-std only)
//! resize = "area"              # bilinear | area
//! fit = "center-crop"          # stretch | center-crop | letterbox
//! # fill = 0                   (letterbox only)
//!
//! labels = ["T-shirt/top", "Trouser"]
//!
//! [calibration]                # what build.rs calibrates the int8 model on (optional)
//! data = "../../tests/data/fmnist-v3/calib-200-images-idx3-ubyte.gz"   # dir or IDX file
//! images = 200                 # how many of them (default: all)
//! method = "percentile"        # minmax | percentile[:P] | entropy | mse
//! selftest = 0                 # which image is the embedded golden self-test input
//! ```

use std::path::{Path, PathBuf};

use inception_edge_core::preprocess::{Channels, Fit, Layout, Normalize, Preprocess, Resize};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{AssetError as Error, Result};

/// A parsed model manifest.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Provenance and file of the model.
    pub model: ModelInfo,
    /// How to feed the model.
    pub input: InputSpec,
    /// Class names, by class index.
    pub labels: Vec<String>,
    /// Accuracy measured on held-out data, if any.
    #[serde(default)]
    pub accuracy: Option<Accuracy>,
    /// How to calibrate the int8 model, if it can be embedded.
    #[serde(default)]
    pub calibration: Option<CalibrationSpec>,
}

/// The `[calibration]` table: the committed images the int8 model is calibrated on when a
/// build embeds it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CalibrationSpec {
    /// A directory of PNG/JPEG files or an IDX image file, relative to the manifest.
    pub data: PathBuf,
    /// How many images to use (the first ones); all when absent.
    #[serde(default)]
    pub images: Option<usize>,
    /// The activation-range method, as `incept quantize --method` takes it.
    #[serde(default)]
    pub method: Option<String>,
    /// Index of the image that becomes the golden self-test input.
    #[serde(default)]
    pub selftest: usize,
}

/// The `[model]` table.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelInfo {
    /// Short name.
    pub name: String,
    /// Model file, relative to the manifest.
    pub file: PathBuf,
    /// Lower-case hex sha256 of the model file.
    pub sha256: String,
    /// Where the model and its weights come from.
    pub source: String,
    /// Licence of the weights and of the data they were trained on.
    pub licence: String,
    /// What the output holds.
    #[serde(default)]
    pub output: OutputKind,
}

/// What a classifier's output tensor holds.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OutputKind {
    /// Unnormalized scores: softmax is applied when ranking.
    #[default]
    Logits,
    /// Already probabilities.
    Probabilities,
}

/// The `[input]` table.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Input width in pixels.
    pub width: usize,
    /// Input height in pixels.
    pub height: usize,
    /// `rgb`, `bgr` or `gray`.
    pub channels: String,
    /// `nchw` or `nhwc`.
    #[serde(default = "default_layout")]
    pub layout: String,
    /// `raw`, `unit`, `inception`, `symmetric` or `mean-std`.
    pub normalize: String,
    /// Per-channel mean (0–1 scale) for `mean-std`.
    #[serde(default)]
    pub mean: Option<Vec<f32>>,
    /// Per-channel std (0–1 scale) for `mean-std`.
    #[serde(default)]
    pub std: Option<Vec<f32>>,
    /// `bilinear` or `area`.
    #[serde(default = "default_resize")]
    pub resize: String,
    /// `stretch`, `center-crop` or `letterbox`.
    #[serde(default = "default_fit")]
    pub fit: String,
    /// Letterbox padding value (0–255).
    #[serde(default)]
    pub fill: u8,
}

fn default_layout() -> String {
    "nchw".into()
}
fn default_resize() -> String {
    "bilinear".into()
}
fn default_fit() -> String {
    "stretch".into()
}

/// The `[accuracy]` table: a measured figure and what it was measured on.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Accuracy {
    /// The evaluation set.
    pub dataset: String,
    /// Number of images evaluated.
    pub images: usize,
    /// Top-1 accuracy, 0–1.
    pub top1: f64,
    /// How it was measured.
    #[serde(default)]
    pub command: Option<String>,
}

/// Parses one of a fixed set of names, naming the alternatives on failure.
pub(crate) fn pick<T: Copy>(what: &str, value: &str, options: &[(&str, T)]) -> Result<T, String> {
    options
        .iter()
        .find(|(n, _)| *n == value)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
            format!(
                "unknown {what} `{value}` (expected one of {})",
                names.join(", ")
            )
        })
}

/// Channel names accepted in manifests and on the command line.
pub const CHANNELS: [(&str, Channels); 3] = [
    ("rgb", Channels::Rgb),
    ("bgr", Channels::Bgr),
    ("gray", Channels::Gray),
];
/// Layout names.
pub const LAYOUTS: [(&str, Layout); 2] = [("nchw", Layout::Nchw), ("nhwc", Layout::Nhwc)];
/// Resize filter names.
pub const RESIZES: [(&str, Resize); 2] = [("bilinear", Resize::Bilinear), ("area", Resize::Area)];
/// Normalization names (`mean-std` takes its values separately).
pub const NORMALIZATIONS: [(&str, Normalize); 4] = [
    ("raw", Normalize::Raw),
    ("unit", Normalize::Unit),
    ("inception", Normalize::Inception),
    ("symmetric", Normalize::Symmetric),
];

impl InputSpec {
    /// The preprocessing recipe this input table describes.
    pub fn preprocess(&self) -> Result<Preprocess, String> {
        let channels = pick("channels", &self.channels, &CHANNELS)?;
        let layout = pick("layout", &self.layout, &LAYOUTS)?;
        let resize = pick("resize", &self.resize, &RESIZES)?;
        let fit = match self.fit.as_str() {
            "letterbox" => Fit::Letterbox { fill: self.fill },
            other => pick(
                "fit",
                other,
                &[("stretch", Fit::Stretch), ("center-crop", Fit::CenterCrop)],
            )?,
        };
        let normalize = if self.normalize == "mean-std" {
            let n = channels.count();
            let three = |v: &Option<Vec<f32>>, name: &str| -> Result<[f32; 3], String> {
                match v.as_deref() {
                    Some(v) if v.len() == n => {
                        let mut out = [v[0]; 3];
                        out[..n].copy_from_slice(v);
                        Ok(out)
                    }
                    _ => Err(format!("mean-std needs `{name}` with {n} values")),
                }
            };
            Normalize::MeanStd {
                mean: three(&self.mean, "mean")?,
                std: three(&self.std, "std")?,
            }
        } else {
            pick("normalize", &self.normalize, &NORMALIZATIONS)?
        };
        if self.width == 0 || self.height == 0 {
            return Err("width and height must be positive".into());
        }
        Ok(Preprocess::new(self.width, self.height)
            .channels(channels)
            .layout(layout)
            .resize(resize)
            .fit(fit)
            .normalize(normalize))
    }
}

impl Manifest {
    /// Reads and checks a manifest file (not the model's checksum: see
    /// [`Manifest::verify_model`]).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = crate::read_file(path)?;
        let text = String::from_utf8(bytes).map_err(|_| Error::Manifest {
            path: path.to_owned(),
            reason: "not UTF-8 text".into(),
        })?;
        Self::parse(&text).map_err(|reason| Error::Manifest {
            path: path.to_owned(),
            reason,
        })
    }

    /// The manifest of a model file: `model` itself when it is a `.toml` manifest, else the
    /// `manifest.toml` beside it when that names this file; `None` when there is none.
    pub fn for_model(model: &Path) -> Result<Option<(PathBuf, Self)>> {
        if model.extension().is_some_and(|e| e == "toml") {
            return Ok(Some((model.to_owned(), Self::from_file(model)?)));
        }
        let beside = model
            .parent()
            .unwrap_or(Path::new("."))
            .join("manifest.toml");
        if beside.is_file() {
            let m = Self::from_file(&beside)?;
            if model.file_name() == m.model.file.file_name() {
                return Ok(Some((beside, m)));
            }
        }
        Ok(None)
    }

    /// Parses and checks manifest text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let m: Manifest = toml::from_str(text).map_err(|e| e.to_string())?;
        m.input.preprocess()?;
        if m.labels.is_empty() {
            return Err("`labels` is empty".into());
        }
        if m.model.sha256.len() != 64 || !m.model.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("`model.sha256` must be 64 hex digits".into());
        }
        Ok(m)
    }

    /// The calibration data's path, given the manifest's own path.
    pub fn calibration_path(&self, manifest_path: &Path) -> Option<PathBuf> {
        let c = self.calibration.as_ref()?;
        Some(
            manifest_path
                .parent()
                .unwrap_or(Path::new("."))
                .join(&c.data),
        )
    }

    /// The model file's path, given the manifest's own path.
    pub fn model_path(&self, manifest_path: &Path) -> PathBuf {
        manifest_path
            .parent()
            .unwrap_or(Path::new("."))
            .join(&self.model.file)
    }

    /// Checks the model bytes against the manifest's sha256.
    pub fn verify_model(&self, bytes: &[u8], model_path: &Path) -> Result<()> {
        let got = sha256_hex(bytes);
        if !got.eq_ignore_ascii_case(&self.model.sha256) {
            return Err(Error::Manifest {
                path: model_path.to_owned(),
                reason: format!(
                    "sha256 is {got}, the manifest says {}: the file changed or is corrupt",
                    self.model.sha256
                ),
            });
        }
        Ok(())
    }
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        labels = ["a", "b"]
        [model]
        name = "m"
        file = "m.onnx"
        sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
        source = "test"
        licence = "MIT"
        [input]
        width = 4
        height = 2
        channels = "rgb"
        normalize = "mean-std"
        mean = [0.5, 0.5, 0.5]
        std = [0.2, 0.2, 0.2]
        fit = "letterbox"
        fill = 3
    "#;

    #[test]
    fn a_complete_manifest_gives_its_preprocessing() {
        let m = Manifest::parse(GOOD).unwrap();
        let p = m.input.preprocess().unwrap();
        assert_eq!(p.shape(), [1, 3, 2, 4]);
        assert_eq!(p.fit, Fit::Letterbox { fill: 3 });
        assert_eq!(m.model.output, OutputKind::Logits);
    }

    #[test]
    fn unknown_names_list_the_alternatives() {
        let bad = GOOD.replace("\"rgb\"", "\"cmyk\"");
        let e = Manifest::parse(&bad).unwrap_err();
        assert!(e.contains("cmyk") && e.contains("rgb, bgr, gray"), "{e}");
    }

    #[test]
    fn mean_std_with_the_wrong_count_is_rejected() {
        let bad = GOOD.replace("mean = [0.5, 0.5, 0.5]", "mean = [0.5]");
        assert!(Manifest::parse(&bad).unwrap_err().contains("mean"));
    }

    #[test]
    fn unknown_keys_and_bad_checksums_are_rejected() {
        assert!(Manifest::parse(&GOOD.replace("licence", "license")).is_err());
        assert!(Manifest::parse(&GOOD.replace("sha256 = \"0", "sha256 = \"z")).is_err());
    }

    #[test]
    fn a_changed_model_fails_verification() {
        let m = Manifest::parse(GOOD).unwrap();
        let e = m.verify_model(b"x", Path::new("m.onnx")).unwrap_err();
        assert!(e.to_string().contains("sha256"), "{e}");
    }
}
