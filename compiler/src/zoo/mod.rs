//! The Inception family, built from the papers' module specifications as ONNX graphs: GoogLeNet
//! (v1), BN-Inception (v2), Inception-v3, Inception-v4, Inception-ResNet-v1 and -v2.
//!
//! A network comes with seeded weights (to measure latency before having any, like ncnn's
//! benchncnn) or with weights keyed by layer name, and with its parameter and
//! multiply-accumulate counts. Batch normalization is folded into the convolutions of the
//! exported graph (inference form); the counts follow the reference implementations'
//! convention (trainable parameters: a BN layer has a scale and a shift per channel).
//!
//! ```
//! use inception_edge_compiler::zoo::{Arch, Spec};
//! let net = Arch::InceptionV3.build(&Spec::counts_only(Arch::InceptionV3))?;
//! assert_eq!(net.params, 23_834_568);
//! # Ok::<(), inception_edge_compiler::CompileError>(())
//! ```

use std::collections::HashMap;

use prost::Message;
use tract_onnx::pb::ModelProto;

use crate::{CompileError, FloatModel, Result};

mod bn_inception;
mod googlenet;
mod graph;
mod inception_resnet;
mod inception_v3;
mod inception_v4;
mod materialize;

pub use materialize::materialize;

use graph::{Fill, Graph, T};

/// One of the six networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// GoogLeNet / Inception-v1 (BVLC caffe topology, the ONNX model zoo's `inception_v1`).
    GoogLeNet,
    /// BN-Inception / Inception-v2 (the ONNX model zoo's `inception_v2`).
    BnInception,
    /// Inception-v3 (torchvision's definition, no auxiliary head).
    InceptionV3,
    /// Inception-v4 (timm's definition).
    InceptionV4,
    /// Inception-ResNet-v1 (the paper, with an ImageNet classifier head).
    InceptionResNetV1,
    /// Inception-ResNet-v2 (timm's definition).
    InceptionResNetV2,
}

/// Weights to build a network with.
#[derive(Debug, Clone)]
pub enum Weights {
    /// No values: the graph only carries shapes (counting, listing).
    None,
    /// Deterministic He-uniform weights from a seed.
    Seeded(u64),
    /// Folded tensors keyed `LAYER.weight` / `LAYER.bias` (see [`Network::layers`]); every
    /// layer must be present with the right size.
    Named(HashMap<String, Vec<f32>>),
}

/// What to build.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Output classes of the classifier.
    pub classes: usize,
    /// Input height and width.
    pub size: usize,
    /// Where the weights come from.
    pub weights: Weights,
}

impl Spec {
    /// The architecture's standard input size, 1000 classes, seeded weights (seed 0).
    pub fn seeded(arch: Arch) -> Spec {
        Spec {
            classes: 1000,
            size: arch.input_size(),
            weights: Weights::Seeded(0),
        }
    }

    /// Like [`Spec::seeded`] without weight values (fast; for counts and listings).
    pub fn counts_only(arch: Arch) -> Spec {
        Spec {
            weights: Weights::None,
            ..Spec::seeded(arch)
        }
    }
}

/// A built network.
#[derive(Debug, Clone)]
pub struct Network {
    /// Which architecture.
    pub arch: Arch,
    /// Trainable parameters (reference convention).
    pub params: u64,
    /// Multiply-accumulates of one inference (convolutions and the classifier).
    pub macs: u64,
    /// Input shape, NCHW.
    pub input: [usize; 4],
    /// Number of classes.
    pub classes: usize,
    /// Names of the weighted layers, in order.
    pub layers: Vec<String>,
    /// The ONNX graph (input `input`, output `logits`); weights empty with [`Weights::None`].
    pub proto: ModelProto,
}

impl Arch {
    /// All six, in publication order.
    pub const ALL: [Arch; 6] = [
        Arch::GoogLeNet,
        Arch::BnInception,
        Arch::InceptionV3,
        Arch::InceptionV4,
        Arch::InceptionResNetV1,
        Arch::InceptionResNetV2,
    ];

    /// The command-line name (`googlenet`, `bn-inception`, `inception-v3`, …).
    pub fn name(self) -> &'static str {
        match self {
            Arch::GoogLeNet => "googlenet",
            Arch::BnInception => "bn-inception",
            Arch::InceptionV3 => "inception-v3",
            Arch::InceptionV4 => "inception-v4",
            Arch::InceptionResNetV1 => "inception-resnet-v1",
            Arch::InceptionResNetV2 => "inception-resnet-v2",
        }
    }

    /// Parses a command-line name; also accepts `v1`, `v2`, `v3`, `v4`, `irv1`, `irv2`.
    pub fn from_name(name: &str) -> Option<Arch> {
        let n = name.to_ascii_lowercase();
        Arch::ALL.into_iter().find(|a| {
            a.name() == n
                || matches!(
                    (a, n.as_str()),
                    (Arch::GoogLeNet, "v1" | "inception-v1")
                        | (Arch::BnInception, "v2" | "inception-v2")
                        | (Arch::InceptionV3, "v3")
                        | (Arch::InceptionV4, "v4")
                        | (Arch::InceptionResNetV1, "irv1")
                        | (Arch::InceptionResNetV2, "irv2")
                )
        })
    }

    /// The standard input size (224 for v1/v2, 299 for the others).
    pub fn input_size(self) -> usize {
        match self {
            Arch::GoogLeNet | Arch::BnInception => 224,
            _ => 299,
        }
    }

    /// The smallest input size the network accepts (every grid stays at least 1×1).
    pub fn min_input_size(self) -> usize {
        match self {
            Arch::GoogLeNet | Arch::BnInception => 32,
            _ => 75,
        }
    }

    /// Builds the network.
    pub fn build(self, spec: &Spec) -> Result<Network> {
        self.build_flavour(spec, inception_v3::Flavour::Torchvision)
    }

    fn build_flavour(self, spec: &Spec, flavour: inception_v3::Flavour) -> Result<Network> {
        if spec.classes == 0 {
            return Err(CompileError::Spec(
                "a classifier needs at least 1 class".into(),
            ));
        }
        if spec.size < self.min_input_size() || spec.size > 4096 {
            return Err(CompileError::Spec(format!(
                "{}: input size {} is outside {}..=4096",
                self.name(),
                spec.size,
                self.min_input_size()
            )));
        }
        let fill = match &spec.weights {
            Weights::None => Fill::None,
            Weights::Seeded(s) => Fill::Seeded(*s),
            Weights::Named(map) => Fill::Named(map),
        };
        let mut g = Graph::new(fill);
        let x = T {
            name: "input".into(),
            c: 3,
            h: spec.size,
            w: spec.size,
        };
        let k = spec.classes;
        let logits = match self {
            Arch::GoogLeNet => googlenet::build(&mut g, &x, k)?,
            Arch::BnInception => bn_inception::build(&mut g, &x, k)?,
            Arch::InceptionV3 => inception_v3::build(&mut g, &x, k, flavour)?,
            Arch::InceptionV4 => inception_v4::build(&mut g, &x, k)?,
            Arch::InceptionResNetV1 => {
                inception_resnet::build(&mut g, &x, k, inception_resnet::Version::V1)?
            }
            Arch::InceptionResNetV2 => {
                inception_resnet::build(&mut g, &x, k, inception_resnet::Version::V2)?
            }
        };
        if let Weights::Named(map) = &spec.weights {
            if g.used != map.len() {
                let known: std::collections::HashSet<String> = g
                    .layers
                    .iter()
                    .flat_map(|l| [format!("{l}.weight"), format!("{l}.bias")])
                    .collect();
                let mut extra: Vec<&String> = map.keys().filter(|k| !known.contains(*k)).collect();
                extra.sort();
                return Err(CompileError::Spec(format!(
                    "{} tensors in the weights belong to no layer of {}: {:?}",
                    extra.len(),
                    self.name(),
                    extra.iter().take(5).collect::<Vec<_>>()
                )));
            }
        }
        let (params, macs, layers) = (g.params, g.macs, g.layers.clone());
        let proto = g.finish(&x, &logits, self.name());
        Ok(Network {
            arch: self,
            params,
            macs,
            input: [1, 3, spec.size, spec.size],
            classes: k,
            layers,
            proto,
        })
    }
}

/// Inception-v3 as Google's original 2015 graph (`inception-2015-12-05`, the graph Google's
/// ImageNet weights were trained in and torchvision's were converted from): the layers and
/// counts of [`Arch::InceptionV3`], but the average pools leave the padding out of the
/// divisor and the last module (`Mixed_7c`) pools its pool branch by max. Build it with
/// [`google_v3_weights`] to run Google's weights.
pub fn inception_v3_google(spec: &Spec) -> Result<Network> {
    Arch::InceptionV3.build_flavour(spec, inception_v3::Flavour::Google2015)
}

/// The weights of an ONNX file of Google's 2015 Inception-v3 graph with batch normalization
/// folded (layer names `conv`…`conv_4`, `mixed.tower.conv`…`mixed_10.tower_2_conv`, and an
/// optional classifier `head`, as in `models/inception-v3-fmnist`), renamed to the zoo's
/// torchvision names (`Conv2d_1a_3x3.conv.weight`, …, `fc.weight`) for [`Weights::Named`].
/// Sizes are checked when the network is built; an unknown layer or a non-f32 tensor is an
/// error here.
pub fn google_v3_weights(proto: &ModelProto) -> Result<HashMap<String, Vec<f32>>> {
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| CompileError::Spec("the ONNX model has no graph".into()))?;
    let mut out = HashMap::new();
    for t in &graph.initializer {
        let (layer, kind) = t
            .name
            .rsplit_once('.')
            .filter(|(_, k)| matches!(*k, "weight" | "bias"))
            .ok_or_else(|| {
                CompileError::Spec(format!(
                    "tensor {:?} is not a layer's weight or bias",
                    t.name
                ))
            })?;
        let torch = inception_v3::google_2015_layer(layer).ok_or_else(|| {
            CompileError::Spec(format!(
                "tensor {:?}: {layer:?} is no layer of Google's Inception-v3",
                t.name
            ))
        })?;
        out.insert(format!("{torch}.{kind}"), f32_values(t)?);
    }
    Ok(out)
}

/// The `LAYER.weight` / `LAYER.bias` tensors of an ONNX file keyed by name, for
/// [`Weights::Named`]: an `incept zoo export`, or a checkpoint converted to the zoo's layer
/// names (see [`Network::layers`]). Other initializers (such as residual scales) are left out.
pub fn named_weights(proto: &ModelProto) -> Result<HashMap<String, Vec<f32>>> {
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| CompileError::Spec("the ONNX model has no graph".into()))?;
    graph
        .initializer
        .iter()
        .filter(|t| t.name.ends_with(".weight") || t.name.ends_with(".bias"))
        .map(|t| Ok((t.name.clone(), f32_values(t)?)))
        .collect()
}

/// The values of an f32 initializer.
fn f32_values(t: &tract_onnx::pb::TensorProto) -> Result<Vec<f32>> {
    if t.data_type != tract_onnx::pb::tensor_proto::DataType::Float as i32 {
        return Err(CompileError::Spec(format!(
            "tensor {:?} is not f32 (ONNX type {})",
            t.name, t.data_type
        )));
    }
    Ok(if !t.float_data.is_empty() {
        t.float_data.clone()
    } else {
        t.raw_data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    })
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Network {
    /// The ONNX file's bytes.
    pub fn to_onnx_bytes(&self) -> Vec<u8> {
        self.proto.encode_to_vec()
    }

    /// The fp32 tract model (for running or for the int8 compiler). Needs weights.
    pub fn float_model(&self) -> Result<FloatModel> {
        if matches!(self.proto.graph.as_ref().and_then(|g| g.initializer.first()), Some(t) if t.raw_data.is_empty())
        {
            return Err(CompileError::Spec(format!(
                "{} was built without weights (Weights::None)",
                self.arch
            )));
        }
        FloatModel::from_proto(&self.proto, self.arch.name(), None)
    }
}
