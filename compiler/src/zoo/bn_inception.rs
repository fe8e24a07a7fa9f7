//! BN-Inception (Inception-v2 of Ioffe & Szegedy 2015, Figure 5 of the paper), as the ONNX
//! model zoo's caffe2 model defines it: batch normalization after every convolution, the 5×5
//! branch replaced by two 3×3, stride-2 modules 3c and 4e with a max-pool pass-through. The
//! widths are the caffe2 model's (4c and 4d project their pool branch to 96 channels, so every
//! 14×14 module outputs 576); layer names are the caffe2 model's too.

use super::graph::{cv, Graph, Norm, T};
use crate::Result;

/// Pooling branch of a module.
#[derive(Clone, Copy)]
enum Pool {
    /// 3×3 average pool then a 1×1 projection.
    Avg(usize),
    /// 3×3 max pool then a 1×1 projection.
    Max(usize),
    /// Stride-2 3×3 max pool, passed through unprojected.
    Pass,
}

/// One module: `[1×1, 3×3 reduce, 3×3, double 3×3 reduce, double 3×3]` (1×1 = 0: absent).
fn module(g: &mut Graph, x: &T, name: &str, c: [usize; 5], pool: Pool) -> Result<T> {
    let bn = Norm::Bn;
    let n = |s: &str| format!("inception_{name}/{s}");
    let s = if matches!(pool, Pool::Pass) { 2 } else { 1 };
    let mut out = Vec::new();
    if c[0] > 0 {
        out.push(g.conv(x, &n("1x1"), cv(c[0], 1, 1, 0), bn, true)?);
    }
    let r = g.conv(x, &n("3x3_reduce"), cv(c[1], 1, 1, 0), bn, true)?;
    out.push(g.conv(&r, &n("3x3"), cv(c[2], 3, s, 1), bn, true)?);
    let r = g.conv(x, &n("double3x3_reduce"), cv(c[3], 1, 1, 0), bn, true)?;
    let d = g.conv(&r, &n("double3x3a"), cv(c[4], 3, 1, 1), bn, true)?;
    out.push(g.conv(&d, &n("double3x3b"), cv(c[4], 3, s, 1), bn, true)?);
    out.push(match pool {
        Pool::Avg(p) => {
            let q = g.avg_pool(x, 3, 1, 1, true)?;
            g.conv(&q, &n("pool_proj"), cv(p, 1, 1, 0), bn, true)?
        }
        Pool::Max(p) => {
            let q = g.max_pool(x, 3, 1, 1, false)?;
            g.conv(&q, &n("pool_proj"), cv(p, 1, 1, 0), bn, true)?
        }
        Pool::Pass => g.max_pool(x, 3, 2, 0, true)?,
    });
    g.concat(&out)
}

/// The whole network on `x`.
pub(crate) fn build(g: &mut Graph, x: &T, classes: usize) -> Result<T> {
    let bn = Norm::Bn;
    let x = g.conv(x, "conv1/7x7_s2", cv(64, 7, 2, 3), bn, true)?;
    let x = g.max_pool(&x, 3, 2, 0, true)?;
    let x = g.conv(&x, "conv2/3x3_reduce", cv(64, 1, 1, 0), bn, true)?;
    let x = g.conv(&x, "conv2/3x3", cv(192, 3, 1, 1), bn, true)?;
    let mut x = g.max_pool(&x, 3, 2, 0, true)?;
    use Pool::*;
    for (name, c, pool) in [
        ("3a", [64, 64, 64, 64, 96], Avg(32)),
        ("3b", [64, 64, 96, 64, 96], Avg(64)),
        ("3c", [0, 128, 160, 64, 96], Pass),
        ("4a", [224, 64, 96, 96, 128], Avg(128)),
        ("4b", [192, 96, 128, 96, 128], Avg(128)),
        ("4c", [160, 128, 160, 128, 160], Avg(96)),
        ("4d", [96, 128, 192, 160, 192], Avg(96)),
        ("4e", [0, 128, 192, 192, 256], Pass),
        ("5a", [352, 192, 320, 160, 224], Avg(128)),
        ("5b", [352, 192, 320, 192, 224], Max(128)),
    ] {
        x = module(g, &x, name, c, pool)?;
    }
    g.head(&x, "fc", classes)
}
