//! A complete image classifier: preprocessing (core) + engine (tract) + ranking (core).

use std::time::{Duration, Instant};

use inception_edge_core::postprocess::{top_k, top_k_softmax};
use inception_edge_core::{Frame, Preprocess, PreprocessError, QuantParams, TopK};

use crate::engine::{Engine, InputKind};
use crate::error::{Error, Result};
use crate::manifest::OutputKind;

/// The largest `k` [`Classifier::classify`] returns.
pub const MAX_TOP_K: usize = 10;

/// The result of classifying one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    /// Best classes first, scores are probabilities (a fixed-capacity vector: classifying
    /// allocates nothing outside the model).
    pub top: TopK<MAX_TOP_K>,
    /// Time spent preprocessing the frame.
    pub preprocess: Duration,
    /// Time spent in the model.
    pub inference: Duration,
}

/// A model with its preprocessing and labels; reuses its buffers across frames. Clones share
/// the optimized model (see [`Engine`]).
#[derive(Debug, Clone)]
pub struct Classifier {
    engine: Engine,
    pre: Preprocess,
    labels: Vec<String>,
    output: OutputKind,
    input: Vec<f32>,
    quantized: Vec<i8>,
    logits: Vec<f32>,
}

impl Classifier {
    /// Combines an engine with the preprocessing that feeds it and its labels (may be empty:
    /// classes are then shown by index). Fails when the preprocessing's tensor shape is not
    /// the engine's input shape, or the label count is not the output size.
    pub fn new(
        engine: Engine,
        pre: Preprocess,
        labels: Vec<String>,
        output: OutputKind,
    ) -> Result<Self> {
        let shape = pre.shape();
        if engine.input_shape() != shape {
            return Err(Error::InputShape {
                shape: format!("{:?}", engine.input_shape()),
                reason: format!("the preprocessing produces {shape:?}"),
            });
        }
        let classes: usize = engine.output_shape().iter().product();
        if !labels.is_empty() && labels.len() != classes {
            return Err(Error::InputShape {
                shape: format!("{:?}", engine.input_shape()),
                reason: format!(
                    "the model has {classes} outputs but {} labels were given",
                    labels.len()
                ),
            });
        }
        let (input, quantized) = match engine.input_kind() {
            InputKind::F32 => (vec![0.0; engine.input_len()], Vec::new()),
            InputKind::I8(_) => (Vec::new(), vec![0; engine.input_len()]),
        };
        Ok(Classifier {
            engine,
            pre,
            labels,
            output,
            input,
            quantized,
            logits: Vec::with_capacity(classes),
        })
    }

    /// Loads the model a manifest describes, after checking its sha256.
    #[cfg(feature = "onnx")]
    pub fn from_manifest(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let m = crate::manifest::Manifest::from_file(path)?;
        let model_path = m.model_path(path);
        let bytes = crate::error::read_file(&model_path)?;
        m.verify_model(&bytes, &model_path)?;
        let pre = m.input.preprocess().map_err(|reason| Error::Manifest {
            path: path.to_owned(),
            reason,
        })?;
        let engine = Engine::from_onnx_bytes(&bytes, &model_path)?;
        Self::new(engine, pre, m.labels, m.model.output)
    }

    /// Loads `model` (ONNX or NNEF, e.g. an int8 model compiled from the manifest's model)
    /// with the preprocessing and labels of the manifest at `manifest`. The model file the
    /// manifest names is checked against its sha256 when `model` is that file.
    pub fn from_manifest_and_model(
        manifest: impl AsRef<std::path::Path>,
        model: impl AsRef<std::path::Path>,
    ) -> Result<Self> {
        let (path, model) = (manifest.as_ref(), model.as_ref());
        let m = crate::manifest::Manifest::from_file(path)?;
        let named = m.model_path(path);
        if named.canonicalize().ok() == model.canonicalize().ok() {
            let bytes = crate::error::read_file(&named)?;
            m.verify_model(&bytes, &named)?;
        }
        let pre = m.input.preprocess().map_err(|reason| Error::Manifest {
            path: path.to_owned(),
            reason,
        })?;
        let engine = Engine::from_file(model)?;
        Self::new(engine, pre, m.labels, m.model.output)
    }

    /// Loads an NNEF model from memory (e.g. an int8 model) with the preprocessing and
    /// labels of the manifest at `manifest`.
    pub fn from_manifest_and_model_bytes(
        manifest: impl AsRef<std::path::Path>,
        nnef: &[u8],
    ) -> Result<Self> {
        let path = manifest.as_ref();
        let m = crate::manifest::Manifest::from_file(path)?;
        let pre = m.input.preprocess().map_err(|reason| Error::Manifest {
            path: path.to_owned(),
            reason,
        })?;
        let engine = Engine::from_nnef_bytes(nnef, path)?;
        Self::new(engine, pre, m.labels, m.model.output)
    }

    /// The preprocessing recipe.
    pub fn preprocess(&self) -> &Preprocess {
        &self.pre
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The model's raw output (logits or probabilities, see [`OutputKind`]) from the most
    /// recent [`Classifier::classify`] call; empty before the first.
    pub fn logits(&self) -> &[f32] {
        &self.logits
    }

    /// The class names (empty when the model has none).
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The name of `class`, or `class N` when there is no label.
    pub fn label(&self, class: u16) -> String {
        self.labels
            .get(usize::from(class))
            .cloned()
            .unwrap_or_else(|| format!("class {class}"))
    }

    /// Classifies one frame, returning the `k` (at most [`MAX_TOP_K`]) most probable classes.
    pub fn classify(&mut self, frame: &Frame<'_>, k: usize) -> Result<Classification> {
        let t0 = Instant::now();
        let t1;
        match self.engine.input_kind() {
            InputKind::F32 => {
                self.pre.run_f32(frame, &mut self.input)?;
                t1 = Instant::now();
                self.engine.run(&self.input, &mut self.logits)?;
            }
            InputKind::I8(q) => {
                quantize_frame(&self.pre, frame, q, &mut self.quantized)?;
                t1 = Instant::now();
                self.engine.run_i8(&self.quantized, &mut self.logits)?;
            }
        }
        let t2 = Instant::now();
        let mut top = match self.output {
            OutputKind::Logits => top_k_softmax::<MAX_TOP_K>(&self.logits)?,
            OutputKind::Probabilities => top_k::<MAX_TOP_K>(&self.logits)?,
        };
        top.truncate(k);
        Ok(Classification {
            top,
            preprocess: t1 - t0,
            inference: t2 - t1,
        })
    }
}

/// `pre.run_quantized(frame, q, out)`, compiled for AVX-512 when this CPU has it (the same
/// bytes; see [`Preprocess::run_quantized_avx512`]).
pub fn quantize_frame(
    pre: &Preprocess,
    frame: &Frame<'_>,
    q: QuantParams,
    out: &mut [i8],
) -> std::result::Result<(), PreprocessError> {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: the CPU has every instruction set the function is compiled for.
        #[allow(unsafe_code)]
        return unsafe { pre.run_quantized_avx512(frame, q, out) };
    }
    pre.run_quantized(frame, q, out)
}

/// Whether this CPU runs [`Preprocess::run_quantized_avx512`].
#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    use std::arch::is_x86_feature_detected as has;
    has!("avx512f")
        && has!("avx512bw")
        && has!("avx512vl")
        && has!("avx512dq")
        && has!("avx2")
        && has!("fma")
        && has!("bmi1")
        && has!("bmi2")
        && has!("lzcnt")
        && has!("popcnt")
}

/// The default preprocessing for a model input shape when no manifest says otherwise:
/// NCHW if dimension 1 is 1 or 3 channels, else NHWC if the last one is; 1 channel is grey,
/// 3 are RGB; bilinear, stretched, Inception normalization `(x − 128) / 128`.
pub fn preprocess_for_shape(shape: &[usize]) -> Result<Preprocess> {
    use inception_edge_core::preprocess::{Channels, Layout};
    let bad = |reason: &str| Error::InputShape {
        shape: format!("{shape:?}"),
        reason: reason.into(),
    };
    let &[n, a, b, c] = shape else {
        return Err(bad("an image model needs a rank-4 input"));
    };
    if n != 1 {
        return Err(bad("the batch dimension must be 1"));
    }
    let channels = |n: usize| match n {
        1 => Ok(Channels::Gray),
        3 => Ok(Channels::Rgb),
        _ => Err(bad("the input needs 1 or 3 channels")),
    };
    let (layout, ch, h, w) = if a == 1 || a == 3 {
        (Layout::Nchw, channels(a)?, b, c)
    } else {
        (Layout::Nhwc, channels(c)?, a, b)
    };
    Ok(Preprocess::new(w, h).layout(layout).channels(ch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use inception_edge_core::preprocess::{Channels, Layout};

    #[test]
    fn nchw_and_nhwc_shapes_are_recognised() {
        let p = preprocess_for_shape(&[1, 3, 299, 299]).unwrap();
        assert_eq!(
            (p.layout, p.channels, p.width),
            (Layout::Nchw, Channels::Rgb, 299)
        );
        let p = preprocess_for_shape(&[1, 28, 32, 1]).unwrap();
        assert_eq!(
            (p.layout, p.channels, p.height, p.width),
            (Layout::Nhwc, Channels::Gray, 28, 32)
        );
    }

    #[test]
    fn non_image_shapes_are_refused() {
        assert!(preprocess_for_shape(&[1, 2048]).is_err());
        assert!(preprocess_for_shape(&[2, 3, 8, 8]).is_err());
        assert!(preprocess_for_shape(&[1, 5, 8, 8]).is_err());
    }
}
