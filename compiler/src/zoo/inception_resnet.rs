//! Inception-ResNet-v1 and -v2 (Szegedy et al. 2016, Figures 3, 7, 10–19): inception blocks
//! whose concatenated branches are projected back by a 1×1 convolution (with bias, no batch
//! normalization), scaled (0.17, 0.10, 0.20) and added to the block's input. v2 follows timm's
//! `inception_resnet_v2` (layer names are timm's); v1 follows the paper and TF-slim /
//! facenet's `InceptionResnetV1`, with an ImageNet classifier head.

use super::graph::{cv, cv2, Graph, Norm, T};
use super::inception_v4::c;
use crate::Result;

/// Which network.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V1,
    V2,
}

fn up(g: &mut Graph, x: &T, m: &str, out: usize) -> Result<T> {
    g.conv(
        x,
        &format!("{m}.conv2d"),
        cv(out, 1, 1, 0),
        Norm::Bias,
        false,
    )
}

/// 35×35 residual block (`Block35`).
fn block35(g: &mut Graph, x: &T, m: &str, v: Version) -> Result<T> {
    let n = |s: &str| format!("{m}.{s}");
    let (d1, d2) = match v {
        Version::V1 => (32, 32),
        Version::V2 => (48, 64),
    };
    let b0 = c(g, x, &n("branch0"), cv(32, 1, 1, 0))?;
    let b1 = c(g, x, &n("branch1.0"), cv(32, 1, 1, 0))?;
    let b1 = c(g, &b1, &n("branch1.1"), cv(32, 3, 1, 1))?;
    let b2 = c(g, x, &n("branch2.0"), cv(32, 1, 1, 0))?;
    let b2 = c(g, &b2, &n("branch2.1"), cv(d1, 3, 1, 1))?;
    let b2 = c(g, &b2, &n("branch2.2"), cv(d2, 3, 1, 1))?;
    let cat = g.concat(&[b0, b1, b2])?;
    let r = up(g, &cat, m, x.c)?;
    g.residual(x, &r, 0.17, true)
}

/// 17×17 residual block (`Block17`).
fn block17(g: &mut Graph, x: &T, m: &str, v: Version) -> Result<T> {
    let n = |s: &str| format!("{m}.{s}");
    let (b, r1, r2) = match v {
        Version::V1 => (128, 128, 128),
        Version::V2 => (192, 160, 192),
    };
    let b0 = c(g, x, &n("branch0"), cv(b, 1, 1, 0))?;
    let b1 = c(g, x, &n("branch1.0"), cv(128, 1, 1, 0))?;
    let b1 = c(g, &b1, &n("branch1.1"), cv2(r1, 1, 7))?;
    let b1 = c(g, &b1, &n("branch1.2"), cv2(r2, 7, 1))?;
    let cat = g.concat(&[b0, b1])?;
    let r = up(g, &cat, m, x.c)?;
    g.residual(x, &r, 0.10, true)
}

/// 8×8 residual block (`Block8`); the last one has scale 1 and no ReLU.
fn block8(g: &mut Graph, x: &T, m: &str, v: Version, last: bool) -> Result<T> {
    let n = |s: &str| format!("{m}.{s}");
    let (r1, r2) = match v {
        Version::V1 => (192, 192),
        Version::V2 => (224, 256),
    };
    let b0 = c(g, x, &n("branch0"), cv(192, 1, 1, 0))?;
    let b1 = c(g, x, &n("branch1.0"), cv(192, 1, 1, 0))?;
    let b1 = c(g, &b1, &n("branch1.1"), cv2(r1, 1, 3))?;
    let b1 = c(g, &b1, &n("branch1.2"), cv2(r2, 3, 1))?;
    let cat = g.concat(&[b0, b1])?;
    let r = up(g, &cat, m, x.c)?;
    if last {
        g.residual(x, &r, 1.0, false)
    } else {
        g.residual(x, &r, 0.20, true)
    }
}

/// Reduction-A (`Mixed_6a`): `[3×3/2 k | 1×1 l → 3×3 m → 3×3/2 n | max pool]`.
fn reduction_a(g: &mut Graph, x: &T, k: [usize; 4]) -> Result<T> {
    let b0 = c(g, x, "mixed_6a.branch0", cv(k[0], 3, 2, 0))?;
    let b1 = c(g, x, "mixed_6a.branch1.0", cv(k[1], 1, 1, 0))?;
    let b1 = c(g, &b1, "mixed_6a.branch1.1", cv(k[2], 3, 1, 1))?;
    let b1 = c(g, &b1, "mixed_6a.branch1.2", cv(k[3], 3, 2, 0))?;
    let p = g.max_pool(x, 3, 2, 0, false)?;
    g.concat(&[b0, b1, p])
}

/// Reduction-B (`Mixed_7a`).
fn reduction_b(g: &mut Graph, x: &T, k: [usize; 3]) -> Result<T> {
    let b0 = c(g, x, "mixed_7a.branch0.0", cv(256, 1, 1, 0))?;
    let b0 = c(g, &b0, "mixed_7a.branch0.1", cv(384, 3, 2, 0))?;
    let b1 = c(g, x, "mixed_7a.branch1.0", cv(256, 1, 1, 0))?;
    let b1 = c(g, &b1, "mixed_7a.branch1.1", cv(k[0], 3, 2, 0))?;
    let b2 = c(g, x, "mixed_7a.branch2.0", cv(256, 1, 1, 0))?;
    let b2 = c(g, &b2, "mixed_7a.branch2.1", cv(k[1], 3, 1, 1))?;
    let b2 = c(g, &b2, "mixed_7a.branch2.2", cv(k[2], 3, 2, 0))?;
    let p = g.max_pool(x, 3, 2, 0, false)?;
    g.concat(&[b0, b1, b2, p])
}

/// v2's `Mixed_5b` (the 35×35 module before the residual blocks).
fn mixed_5b(g: &mut Graph, x: &T) -> Result<T> {
    let b0 = c(g, x, "mixed_5b.branch0", cv(96, 1, 1, 0))?;
    let b1 = c(g, x, "mixed_5b.branch1.0", cv(48, 1, 1, 0))?;
    let b1 = c(g, &b1, "mixed_5b.branch1.1", cv(64, 5, 1, 2))?;
    let b2 = c(g, x, "mixed_5b.branch2.0", cv(64, 1, 1, 0))?;
    let b2 = c(g, &b2, "mixed_5b.branch2.1", cv(96, 3, 1, 1))?;
    let b2 = c(g, &b2, "mixed_5b.branch2.2", cv(96, 3, 1, 1))?;
    let p = g.avg_pool(x, 3, 1, 1, false)?;
    let b3 = c(g, &p, "mixed_5b.branch3.1", cv(64, 1, 1, 0))?;
    g.concat(&[b0, b1, b2, b3])
}

/// The whole network on `x`.
pub(crate) fn build(g: &mut Graph, x: &T, classes: usize, v: Version) -> Result<T> {
    let x = c(g, x, "conv2d_1a", cv(32, 3, 2, 0))?;
    let x = c(g, &x, "conv2d_2a", cv(32, 3, 1, 0))?;
    let x = c(g, &x, "conv2d_2b", cv(64, 3, 1, 1))?;
    let x = g.max_pool(&x, 3, 2, 0, false)?;
    let x = c(g, &x, "conv2d_3b", cv(80, 1, 1, 0))?;
    let x = c(g, &x, "conv2d_4a", cv(192, 3, 1, 0))?;
    let (n35, n17, n8) = match v {
        Version::V1 => (5, 10, 5),
        Version::V2 => (10, 20, 9),
    };
    let mut x = match v {
        Version::V1 => c(g, &x, "conv2d_4b", cv(256, 3, 2, 0))?,
        Version::V2 => {
            let x = g.max_pool(&x, 3, 2, 0, false)?;
            mixed_5b(g, &x)?
        }
    };
    for i in 0..n35 {
        x = block35(g, &x, &format!("repeat.{i}"), v)?;
    }
    x = match v {
        Version::V1 => reduction_a(g, &x, [384, 192, 192, 256])?,
        Version::V2 => reduction_a(g, &x, [384, 256, 256, 384])?,
    };
    for i in 0..n17 {
        x = block17(g, &x, &format!("repeat_1.{i}"), v)?;
    }
    x = match v {
        Version::V1 => reduction_b(g, &x, [256, 256, 256])?,
        Version::V2 => reduction_b(g, &x, [288, 288, 320])?,
    };
    for i in 0..n8 {
        x = block8(g, &x, &format!("repeat_2.{i}"), v, false)?;
    }
    x = block8(g, &x, "block8", v, true)?;
    if v == Version::V2 {
        x = c(g, &x, "conv2d_7b", cv(1536, 1, 1, 0))?;
    }
    g.head(&x, "classif", classes)
}
