//! The ONNX graph builder shared by the zoo networks: it tracks shapes, counts parameters and
//! multiply-accumulates, and fills weights from a seeded generator or from named tensors.

use std::collections::HashMap;

use tract_onnx::pb::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};

use crate::{CompileError, Result};

/// A tensor of the graph under construction: its ONNX name and its (C, H, W) shape (batch 1).
#[derive(Debug, Clone)]
pub(crate) struct T {
    pub name: String,
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

/// A convolution: output channels, kernel (kh, kw), stride, padding (ph, pw) on both sides.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Conv {
    pub out: usize,
    pub k: (usize, usize),
    pub s: usize,
    pub p: (usize, usize),
}

/// `out` channels, square kernel `k`, stride `s`, padding `p`.
pub(crate) fn cv(out: usize, k: usize, s: usize, p: usize) -> Conv {
    Conv {
        out,
        k: (k, k),
        s,
        p: (p, p),
    }
}

/// `out` channels, kernel `kh`×`kw` with "same" padding, stride 1 (the factorized 1×n / n×1).
pub(crate) fn cv2(out: usize, kh: usize, kw: usize) -> Conv {
    Conv {
        out,
        k: (kh, kw),
        s: 1,
        p: (kh / 2, kw / 2),
    }
}

/// What follows a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Norm {
    /// A bias (GoogLeNet, the residual up-projections).
    Bias,
    /// Batch normalization (scale and shift: 2 parameters per channel), folded into the
    /// exported convolution's weights and bias.
    Bn,
}

/// How weights are produced.
pub(crate) enum Fill<'a> {
    /// Only count: tensors are left empty.
    None,
    /// He-uniform weights and small biases from a SplitMix64 stream.
    Seeded(u64),
    /// Tensors by layer name (`NAME.weight`, `NAME.bias`), already folded.
    Named(&'a HashMap<String, Vec<f32>>),
}

/// The SplitMix64 generator behind seeded weights.
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    /// A stream for `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [−bound, bound).
    pub fn uniform(&mut self, bound: f32) -> f32 {
        let u = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        (2.0 * u - 1.0) * bound
    }
}

/// Builds one ONNX graph.
pub(crate) struct Graph<'a> {
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    fill: Fill<'a>,
    rng: SplitMix64,
    n: usize,
    /// Trainable parameters in the reference convention (BN: scale and shift).
    pub params: u64,
    /// Multiply-accumulates of convolutions and fully connected layers.
    pub macs: u64,
    /// Layer names in order.
    pub layers: Vec<String>,
    pub(crate) used: usize,
}

fn attr_ints(name: &str, v: &[usize]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: v.iter().map(|&x| x as i64).collect(),
        ..Default::default()
    }
}

fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: v,
        ..Default::default()
    }
}

fn attr_float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Float as i32,
        f: v,
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[usize]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| tensor_shape_proto::Dimension {
            value: Some(tensor_shape_proto::dimension::Value::DimValue(d as i64)),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Output size of a window of `k` with stride `s` and paddings `a` + `b` over `n`.
fn out_len(n: usize, k: usize, s: usize, a: usize, b: usize) -> Option<usize> {
    (n + a + b).checked_sub(k).map(|d| d / s + 1)
}

/// The end padding that makes a floor-mode window give the ceil-mode output size (caffe).
fn ceil_pad(n: usize, k: usize, s: usize) -> usize {
    match n.checked_sub(k) {
        Some(d) if d % s != 0 => s - d % s,
        _ => 0,
    }
}

impl<'a> Graph<'a> {
    pub fn new(fill: Fill<'a>) -> Self {
        let rng = SplitMix64::new(match fill {
            Fill::Seeded(seed) => seed,
            _ => 0,
        });
        Graph {
            nodes: Vec::new(),
            inits: Vec::new(),
            fill,
            rng,
            n: 0,
            params: 0,
            macs: 0,
            layers: Vec::new(),
            used: 0,
        }
    }

    fn uniform(&mut self, len: usize, bound: f32) -> Vec<f32> {
        (0..len).map(|_| self.rng.uniform(bound)).collect()
    }

    fn tmp(&mut self) -> String {
        self.n += 1;
        format!("t{}", self.n)
    }

    fn tensor(&mut self, name: String, dims: &[usize], data: Vec<f32>) -> Result<String> {
        let raw = match self.fill {
            Fill::None => Vec::new(),
            _ => {
                if data.len() != dims.iter().product::<usize>() {
                    return Err(CompileError::Spec(format!(
                        "tensor {name}: {} values for shape {dims:?}",
                        data.len()
                    )));
                }
                data.iter().flat_map(|v| v.to_le_bytes()).collect()
            }
        };
        self.inits.push(TensorProto {
            name: name.clone(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: DataType::Float as i32,
            raw_data: raw,
            ..Default::default()
        });
        Ok(name)
    }

    /// Weight and bias of layer `name`, `len` weights with fan-in `fan_in`, `out` biases.
    fn params_of(
        &mut self,
        name: &str,
        len: usize,
        fan_in: usize,
        out: usize,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        match &self.fill {
            Fill::None => Ok((Vec::new(), Vec::new())),
            Fill::Seeded(_) => {
                let w = self.uniform(len, (6.0 / fan_in as f32).sqrt());
                let b = self.uniform(out, 0.1);
                Ok((w, b))
            }
            Fill::Named(map) => {
                let get = |key: String, n: usize| -> Result<Vec<f32>> {
                    let v = map.get(&key).ok_or_else(|| {
                        CompileError::Spec(format!("no tensor {key:?} in the weights"))
                    })?;
                    if v.len() != n {
                        return Err(CompileError::Spec(format!(
                            "tensor {key:?} has {} values, the layer needs {n}",
                            v.len()
                        )));
                    }
                    Ok(v.clone())
                };
                let w = get(format!("{name}.weight"), len)?;
                let b = get(format!("{name}.bias"), out)?;
                self.used += 2;
                Ok((w, b))
            }
        }
    }

    fn node(
        &mut self,
        op: &str,
        inputs: Vec<String>,
        attrs: Vec<AttributeProto>,
        name: &str,
    ) -> String {
        let out = self.tmp();
        self.nodes.push(NodeProto {
            input: inputs,
            output: vec![out.clone()],
            name: if name.is_empty() {
                out.clone()
            } else {
                name.into()
            },
            op_type: op.into(),
            attribute: attrs,
            ..Default::default()
        });
        out
    }

    fn spec_err(what: &str, x: &T) -> CompileError {
        CompileError::Spec(format!(
            "{what}: the input {}x{}x{} is too small for this network",
            x.c, x.h, x.w
        ))
    }

    /// Convolution + (bias | folded BN), optionally ReLU.
    pub fn conv(&mut self, x: &T, name: &str, c: Conv, norm: Norm, relu: bool) -> Result<T> {
        let (kh, kw) = c.k;
        let h = out_len(x.h, kh, c.s, c.p.0, c.p.0).ok_or_else(|| Self::spec_err(name, x))?;
        let w = out_len(x.w, kw, c.s, c.p.1, c.p.1).ok_or_else(|| Self::spec_err(name, x))?;
        let fan_in = x.c * kh * kw;
        self.params += (c.out * fan_in) as u64
            + match norm {
                Norm::Bias => c.out as u64,
                Norm::Bn => 2 * c.out as u64,
            };
        self.macs += (c.out * h * w * fan_in) as u64;
        self.layers.push(name.into());
        let (wd, bd) = self.params_of(name, c.out * fan_in, fan_in, c.out)?;
        let wn = self.tensor(format!("{name}.weight"), &[c.out, x.c, kh, kw], wd)?;
        let bn = self.tensor(format!("{name}.bias"), &[c.out], bd)?;
        let attrs = vec![
            attr_ints("kernel_shape", &[kh, kw]),
            attr_ints("strides", &[c.s, c.s]),
            attr_ints("pads", &[c.p.0, c.p.1, c.p.0, c.p.1]),
        ];
        let mut out = self.node("Conv", vec![x.name.clone(), wn, bn], attrs, name);
        if relu {
            out = self.node("Relu", vec![out], vec![], "");
        }
        Ok(T {
            name: out,
            c: c.out,
            h,
            w,
        })
    }

    /// A pooling window `k` with stride `s` and padding `p`.
    fn pool(
        &mut self,
        op: &str,
        x: &T,
        (k, s, p): (usize, usize, usize),
        ceil: bool,
        extra: Vec<AttributeProto>,
    ) -> Result<T> {
        let end = if ceil {
            p + ceil_pad(x.h + 2 * p, k, s)
        } else {
            p
        };
        let endw = if ceil {
            p + ceil_pad(x.w + 2 * p, k, s)
        } else {
            p
        };
        let h = out_len(x.h, k, s, p, end).ok_or_else(|| Self::spec_err(op, x))?;
        let w = out_len(x.w, k, s, p, endw).ok_or_else(|| Self::spec_err(op, x))?;
        let mut attrs = vec![
            attr_ints("kernel_shape", &[k, k]),
            attr_ints("strides", &[s, s]),
            attr_ints("pads", &[p, p, end, endw]),
        ];
        attrs.extend(extra);
        let out = self.node(op, vec![x.name.clone()], attrs, "");
        Ok(T {
            name: out,
            c: x.c,
            h,
            w,
        })
    }

    /// Max pooling; `ceil` gives caffe's ceil-mode output size (by padding the end).
    pub fn max_pool(&mut self, x: &T, k: usize, s: usize, p: usize, ceil: bool) -> Result<T> {
        self.pool("MaxPool", x, (k, s, p), ceil, vec![])
    }

    /// Average pooling; `include_pad` counts the padding in the divisor (torchvision's default).
    pub fn avg_pool(
        &mut self,
        x: &T,
        k: usize,
        s: usize,
        p: usize,
        include_pad: bool,
    ) -> Result<T> {
        self.pool(
            "AveragePool",
            x,
            (k, s, p),
            false,
            vec![attr_int("count_include_pad", include_pad as i64)],
        )
    }

    /// Concatenation over channels.
    pub fn concat(&mut self, xs: &[T]) -> Result<T> {
        let first = &xs[0];
        if xs.iter().any(|x| x.h != first.h || x.w != first.w) {
            return Err(CompileError::Spec(format!(
                "concat of different grids: {:?}",
                xs.iter().map(|x| (x.h, x.w)).collect::<Vec<_>>()
            )));
        }
        let out = self.node(
            "Concat",
            xs.iter().map(|x| x.name.clone()).collect(),
            vec![attr_int("axis", 1)],
            "",
        );
        Ok(T {
            name: out,
            c: xs.iter().map(|x| x.c).sum(),
            h: first.h,
            w: first.w,
        })
    }

    /// Local response normalization across channels (GoogLeNet).
    pub fn lrn(&mut self, x: &T, size: usize, alpha: f32, beta: f32) -> T {
        let attrs = vec![
            attr_int("size", size as i64),
            attr_float("alpha", alpha),
            attr_float("beta", beta),
            attr_float("bias", 1.0),
        ];
        let out = self.node("LRN", vec![x.name.clone()], attrs, "");
        T {
            name: out,
            ..x.clone()
        }
    }

    /// `relu(x + scale · r)` (or without the ReLU): Inception-ResNet's scaled residual.
    pub fn residual(&mut self, x: &T, r: &T, scale: f32, relu: bool) -> Result<T> {
        if (x.c, x.h, x.w) != (r.c, r.h, r.w) {
            return Err(CompileError::Spec(format!(
                "residual of {}x{}x{} and {}x{}x{}",
                x.c, x.h, x.w, r.c, r.h, r.w
            )));
        }
        let k = self.tmp();
        let k = self.scalar(k, scale)?;
        let scaled = self.node("Mul", vec![r.name.clone(), k], vec![], "");
        let mut out = self.node("Add", vec![x.name.clone(), scaled], vec![], "");
        if relu {
            out = self.node("Relu", vec![out], vec![], "");
        }
        Ok(T {
            name: out,
            ..x.clone()
        })
    }

    fn scalar(&mut self, name: String, v: f32) -> Result<String> {
        self.inits.push(TensorProto {
            name: name.clone(),
            dims: vec![],
            data_type: DataType::Float as i32,
            raw_data: v.to_le_bytes().to_vec(),
            ..Default::default()
        });
        Ok(name)
    }

    /// Global average pooling, flattening and the fully connected classifier `name`.
    pub fn head(&mut self, x: &T, name: &str, classes: usize) -> Result<T> {
        let pooled = self.node("GlobalAveragePool", vec![x.name.clone()], vec![], "");
        // Named so that the trunk can be cut there (`FloatModel::from_proto(.., Some("features"))`).
        let flat = self.node(
            "Flatten",
            vec![pooled],
            vec![attr_int("axis", 1)],
            "features",
        );
        self.params += (classes * x.c + classes) as u64;
        self.macs += (classes * x.c) as u64;
        self.layers.push(name.into());
        let (wd, bd) = match &self.fill {
            Fill::Seeded(_) => {
                let w = self.uniform(classes * x.c, (3.0 / x.c as f32).sqrt());
                (w, vec![0.0; classes])
            }
            _ => self.params_of(name, classes * x.c, x.c, classes)?,
        };
        let wn = self.tensor(format!("{name}.weight"), &[classes, x.c], wd)?;
        let bn = self.tensor(format!("{name}.bias"), &[classes], bd)?;
        let out = self.node(
            "Gemm",
            vec![flat, wn, bn],
            vec![attr_int("transB", 1)],
            name,
        );
        Ok(T {
            name: out,
            c: classes,
            h: 1,
            w: 1,
        })
    }

    /// Finishes the graph: input `input` of shape 1×3×`size`×`size`, output `logits`.
    pub fn finish(mut self, input: &T, logits: &T, graph_name: &str) -> ModelProto {
        // Rename the last node's output to "logits".
        if let Some(last) = self.nodes.last_mut() {
            if last.output[0] == logits.name {
                last.output[0] = "logits".into();
            }
        }
        let graph = GraphProto {
            node: std::mem::take(&mut self.nodes),
            name: graph_name.into(),
            initializer: std::mem::take(&mut self.inits),
            input: vec![value_info(&input.name, &[1, input.c, input.h, input.w])],
            output: vec![value_info("logits", &[1, logits.c])],
            ..Default::default()
        };
        ModelProto {
            ir_version: 7,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            producer_name: "inception-edge zoo".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(graph),
            ..Default::default()
        }
    }
}
