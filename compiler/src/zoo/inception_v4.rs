//! Inception-v4 (Szegedy et al. 2016, "Inception-v4, Inception-ResNet and the Impact of
//! Residual Connections", Figures 3–9), as timm defines it (layer names are timm's): the stem,
//! 4 × Inception-A, Reduction-A, 7 × Inception-B, Reduction-B, 3 × Inception-C.

use super::graph::{cv, cv2, Conv, Graph, Norm, T};
use crate::Result;

pub(crate) fn c(g: &mut Graph, x: &T, name: &str, conv: Conv) -> Result<T> {
    g.conv(x, &format!("{name}.conv"), conv, Norm::Bn, true)
}

fn stem(g: &mut Graph, x: &T) -> Result<T> {
    let x = c(g, x, "features.0", cv(32, 3, 2, 0))?;
    let x = c(g, &x, "features.1", cv(32, 3, 1, 0))?;
    let x = c(g, &x, "features.2", cv(64, 3, 1, 1))?;
    // Mixed_3a
    let p = g.max_pool(&x, 3, 2, 0, false)?;
    let q = c(g, &x, "features.3.conv", cv(96, 3, 2, 0))?;
    let x = g.concat(&[p, q])?;
    // Mixed_4a
    let a = c(g, &x, "features.4.branch0.0", cv(64, 1, 1, 0))?;
    let a = c(g, &a, "features.4.branch0.1", cv(96, 3, 1, 0))?;
    let b = c(g, &x, "features.4.branch1.0", cv(64, 1, 1, 0))?;
    let b = c(g, &b, "features.4.branch1.1", cv2(64, 1, 7))?;
    let b = c(g, &b, "features.4.branch1.2", cv2(64, 7, 1))?;
    let b = c(g, &b, "features.4.branch1.3", cv(96, 3, 1, 0))?;
    let x = g.concat(&[a, b])?;
    // Mixed_5a
    let a = c(g, &x, "features.5.conv", cv(192, 3, 2, 0))?;
    let p = g.max_pool(&x, 3, 2, 0, false)?;
    g.concat(&[a, p])
}

fn block_a(g: &mut Graph, x: &T, m: &str) -> Result<T> {
    let n = |s: &str| format!("{m}.{s}");
    let b0 = c(g, x, &n("branch0"), cv(96, 1, 1, 0))?;
    let b1 = c(g, x, &n("branch1.0"), cv(64, 1, 1, 0))?;
    let b1 = c(g, &b1, &n("branch1.1"), cv(96, 3, 1, 1))?;
    let b2 = c(g, x, &n("branch2.0"), cv(64, 1, 1, 0))?;
    let b2 = c(g, &b2, &n("branch2.1"), cv(96, 3, 1, 1))?;
    let b2 = c(g, &b2, &n("branch2.2"), cv(96, 3, 1, 1))?;
    let p = g.avg_pool(x, 3, 1, 1, false)?;
    let b3 = c(g, &p, &n("branch3.1"), cv(96, 1, 1, 0))?;
    g.concat(&[b0, b1, b2, b3])
}

fn reduction_a(g: &mut Graph, x: &T, m: &str) -> Result<T> {
    let n = |s: &str| format!("{m}.{s}");
    let b0 = c(g, x, &n("branch0"), cv(384, 3, 2, 0))?;
    let b1 = c(g, x, &n("branch1.0"), cv(192, 1, 1, 0))?;
    let b1 = c(g, &b1, &n("branch1.1"), cv(224, 3, 1, 1))?;
    let b1 = c(g, &b1, &n("branch1.2"), cv(256, 3, 2, 0))?;
    let b2 = g.max_pool(x, 3, 2, 0, false)?;
    g.concat(&[b0, b1, b2])
}

fn block_b(g: &mut Graph, x: &T, m: &str) -> Result<T> {
    let n = |s: &str| format!("{m}.{s}");
    let b0 = c(g, x, &n("branch0"), cv(384, 1, 1, 0))?;
    let b1 = c(g, x, &n("branch1.0"), cv(192, 1, 1, 0))?;
    let b1 = c(g, &b1, &n("branch1.1"), cv2(224, 1, 7))?;
    let b1 = c(g, &b1, &n("branch1.2"), cv2(256, 7, 1))?;
    let b2 = c(g, x, &n("branch2.0"), cv(192, 1, 1, 0))?;
    let b2 = c(g, &b2, &n("branch2.1"), cv2(192, 7, 1))?;
    let b2 = c(g, &b2, &n("branch2.2"), cv2(224, 1, 7))?;
    let b2 = c(g, &b2, &n("branch2.3"), cv2(224, 7, 1))?;
    let b2 = c(g, &b2, &n("branch2.4"), cv2(256, 1, 7))?;
    let p = g.avg_pool(x, 3, 1, 1, false)?;
    let b3 = c(g, &p, &n("branch3.1"), cv(128, 1, 1, 0))?;
    g.concat(&[b0, b1, b2, b3])
}

fn reduction_b(g: &mut Graph, x: &T, m: &str) -> Result<T> {
    let n = |s: &str| format!("{m}.{s}");
    let b0 = c(g, x, &n("branch0.0"), cv(192, 1, 1, 0))?;
    let b0 = c(g, &b0, &n("branch0.1"), cv(192, 3, 2, 0))?;
    let b1 = c(g, x, &n("branch1.0"), cv(256, 1, 1, 0))?;
    let b1 = c(g, &b1, &n("branch1.1"), cv2(256, 1, 7))?;
    let b1 = c(g, &b1, &n("branch1.2"), cv2(320, 7, 1))?;
    let b1 = c(g, &b1, &n("branch1.3"), cv(320, 3, 2, 0))?;
    let b2 = g.max_pool(x, 3, 2, 0, false)?;
    g.concat(&[b0, b1, b2])
}

fn block_c(g: &mut Graph, x: &T, m: &str) -> Result<T> {
    let n = |s: &str| format!("{m}.{s}");
    let b0 = c(g, x, &n("branch0"), cv(256, 1, 1, 0))?;
    let b1 = c(g, x, &n("branch1_0"), cv(384, 1, 1, 0))?;
    let b1a = c(g, &b1, &n("branch1_1a"), cv2(256, 1, 3))?;
    let b1b = c(g, &b1, &n("branch1_1b"), cv2(256, 3, 1))?;
    let b2 = c(g, x, &n("branch2_0"), cv(384, 1, 1, 0))?;
    let b2 = c(g, &b2, &n("branch2_1"), cv2(448, 3, 1))?;
    let b2 = c(g, &b2, &n("branch2_2"), cv2(512, 1, 3))?;
    let b2a = c(g, &b2, &n("branch2_3a"), cv2(256, 1, 3))?;
    let b2b = c(g, &b2, &n("branch2_3b"), cv2(256, 3, 1))?;
    let p = g.avg_pool(x, 3, 1, 1, false)?;
    let b3 = c(g, &p, &n("branch3.1"), cv(256, 1, 1, 0))?;
    g.concat(&[b0, b1a, b1b, b2a, b2b, b3])
}

/// The whole network on `x`.
pub(crate) fn build(g: &mut Graph, x: &T, classes: usize) -> Result<T> {
    let mut x = stem(g, x)?;
    let mut i = 6;
    for _ in 0..4 {
        x = block_a(g, &x, &format!("features.{i}"))?;
        i += 1;
    }
    x = reduction_a(g, &x, &format!("features.{i}"))?;
    i += 1;
    for _ in 0..7 {
        x = block_b(g, &x, &format!("features.{i}"))?;
        i += 1;
    }
    x = reduction_b(g, &x, &format!("features.{i}"))?;
    i += 1;
    for _ in 0..3 {
        x = block_c(g, &x, &format!("features.{i}"))?;
        i += 1;
    }
    g.head(&x, "last_linear", classes)
}
