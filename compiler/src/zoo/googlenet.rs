//! GoogLeNet (Inception-v1, Szegedy et al. 2014, Table 1), as BVLC's caffe model and the ONNX
//! model zoo define it: 5×5 branches, LRN after the first two convolutions, ceil-mode pooling,
//! convolutions with biases and no batch normalization.

use super::graph::{cv, Graph, Norm, T};
use crate::Result;

/// One inception module: 1×1 | 1×1→3×3 | 1×1→5×5 | 3×3 max pool→1×1.
fn inception(g: &mut Graph, x: &T, name: &str, c: [usize; 6]) -> Result<T> {
    let b = Norm::Bias;
    let n = |s: &str| format!("inception_{name}/{s}");
    let b1 = g.conv(x, &n("1x1"), cv(c[0], 1, 1, 0), b, true)?;
    let r3 = g.conv(x, &n("3x3_reduce"), cv(c[1], 1, 1, 0), b, true)?;
    let b3 = g.conv(&r3, &n("3x3"), cv(c[2], 3, 1, 1), b, true)?;
    let r5 = g.conv(x, &n("5x5_reduce"), cv(c[3], 1, 1, 0), b, true)?;
    let b5 = g.conv(&r5, &n("5x5"), cv(c[4], 5, 1, 2), b, true)?;
    let p = g.max_pool(x, 3, 1, 1, false)?;
    let bp = g.conv(&p, &n("pool_proj"), cv(c[5], 1, 1, 0), b, true)?;
    g.concat(&[b1, b3, b5, bp])
}

/// The whole network on `x`.
pub(crate) fn build(g: &mut Graph, x: &T, classes: usize) -> Result<T> {
    let b = Norm::Bias;
    let x = g.conv(x, "conv1/7x7_s2", cv(64, 7, 2, 3), b, true)?;
    let x = g.max_pool(&x, 3, 2, 0, true)?;
    let x = g.lrn(&x, 5, 1e-4, 0.75);
    let x = g.conv(&x, "conv2/3x3_reduce", cv(64, 1, 1, 0), b, true)?;
    let x = g.conv(&x, "conv2/3x3", cv(192, 3, 1, 1), b, true)?;
    let x = g.lrn(&x, 5, 1e-4, 0.75);
    let mut x = g.max_pool(&x, 3, 2, 0, true)?;
    x = inception(g, &x, "3a", [64, 96, 128, 16, 32, 32])?;
    x = inception(g, &x, "3b", [128, 128, 192, 32, 96, 64])?;
    x = g.max_pool(&x, 3, 2, 0, true)?;
    x = inception(g, &x, "4a", [192, 96, 208, 16, 48, 64])?;
    x = inception(g, &x, "4b", [160, 112, 224, 24, 64, 64])?;
    x = inception(g, &x, "4c", [128, 128, 256, 24, 64, 64])?;
    x = inception(g, &x, "4d", [112, 144, 288, 32, 64, 64])?;
    x = inception(g, &x, "4e", [256, 160, 320, 32, 128, 128])?;
    x = g.max_pool(&x, 3, 2, 0, true)?;
    x = inception(g, &x, "5a", [256, 160, 320, 32, 128, 128])?;
    x = inception(g, &x, "5b", [384, 192, 384, 48, 128, 128])?;
    g.head(&x, "loss3/classifier", classes)
}
