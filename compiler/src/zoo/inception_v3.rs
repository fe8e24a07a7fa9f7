//! Inception-v3 (Szegedy et al. 2015, "Rethinking the Inception Architecture"), as torchvision
//! defines it (layer names are torchvision's): factorized 1×n / n×1 convolutions, grid
//! reductions between the 35×35, 17×17 and 8×8 grids, batch normalization after every
//! convolution. The auxiliary classifier is left out (inference only).

use super::graph::{cv, cv2, Graph, Norm, T};
use crate::Result;

fn c(g: &mut Graph, x: &T, name: &str, conv: super::graph::Conv) -> Result<T> {
    g.conv(x, &format!("{name}.conv"), conv, Norm::Bn, true)
}

/// 35×35 module (torchvision `InceptionA`).
fn a(g: &mut Graph, x: &T, m: &str, pool: usize) -> Result<T> {
    let n = |s: &str| format!("{m}.{s}");
    let b1 = c(g, x, &n("branch1x1"), cv(64, 1, 1, 0))?;
    let b5 = c(g, x, &n("branch5x5_1"), cv(48, 1, 1, 0))?;
    let b5 = c(g, &b5, &n("branch5x5_2"), cv(64, 5, 1, 2))?;
    let d = c(g, x, &n("branch3x3dbl_1"), cv(64, 1, 1, 0))?;
    let d = c(g, &d, &n("branch3x3dbl_2"), cv(96, 3, 1, 1))?;
    let d = c(g, &d, &n("branch3x3dbl_3"), cv(96, 3, 1, 1))?;
    let p = g.avg_pool(x, 3, 1, 1, true)?;
    let p = c(g, &p, &n("branch_pool"), cv(pool, 1, 1, 0))?;
    g.concat(&[b1, b5, d, p])
}

/// 35→17 grid reduction (`InceptionB`).
fn b(g: &mut Graph, x: &T, m: &str) -> Result<T> {
    let n = |s: &str| format!("{m}.{s}");
    let b3 = c(g, x, &n("branch3x3"), cv(384, 3, 2, 0))?;
    let d = c(g, x, &n("branch3x3dbl_1"), cv(64, 1, 1, 0))?;
    let d = c(g, &d, &n("branch3x3dbl_2"), cv(96, 3, 1, 1))?;
    let d = c(g, &d, &n("branch3x3dbl_3"), cv(96, 3, 2, 0))?;
    let p = g.max_pool(x, 3, 2, 0, false)?;
    g.concat(&[b3, d, p])
}

/// 17×17 module with 7×7 factorized into 1×7 and 7×1 (`InceptionC`).
fn c7(g: &mut Graph, x: &T, m: &str, w: usize) -> Result<T> {
    let n = |s: &str| format!("{m}.{s}");
    let b1 = c(g, x, &n("branch1x1"), cv(192, 1, 1, 0))?;
    let b7 = c(g, x, &n("branch7x7_1"), cv(w, 1, 1, 0))?;
    let b7 = c(g, &b7, &n("branch7x7_2"), cv2(w, 1, 7))?;
    let b7 = c(g, &b7, &n("branch7x7_3"), cv2(192, 7, 1))?;
    let d = c(g, x, &n("branch7x7dbl_1"), cv(w, 1, 1, 0))?;
    let d = c(g, &d, &n("branch7x7dbl_2"), cv2(w, 7, 1))?;
    let d = c(g, &d, &n("branch7x7dbl_3"), cv2(w, 1, 7))?;
    let d = c(g, &d, &n("branch7x7dbl_4"), cv2(w, 7, 1))?;
    let d = c(g, &d, &n("branch7x7dbl_5"), cv2(192, 1, 7))?;
    let p = g.avg_pool(x, 3, 1, 1, true)?;
    let p = c(g, &p, &n("branch_pool"), cv(192, 1, 1, 0))?;
    g.concat(&[b1, b7, d, p])
}

/// 17→8 grid reduction (`InceptionD`).
fn d(g: &mut Graph, x: &T, m: &str) -> Result<T> {
    let n = |s: &str| format!("{m}.{s}");
    let b3 = c(g, x, &n("branch3x3_1"), cv(192, 1, 1, 0))?;
    let b3 = c(g, &b3, &n("branch3x3_2"), cv(320, 3, 2, 0))?;
    let b7 = c(g, x, &n("branch7x7x3_1"), cv(192, 1, 1, 0))?;
    let b7 = c(g, &b7, &n("branch7x7x3_2"), cv2(192, 1, 7))?;
    let b7 = c(g, &b7, &n("branch7x7x3_3"), cv2(192, 7, 1))?;
    let b7 = c(g, &b7, &n("branch7x7x3_4"), cv(192, 3, 2, 0))?;
    let p = g.max_pool(x, 3, 2, 0, false)?;
    g.concat(&[b3, b7, p])
}

/// 8×8 module with expanded filter banks (`InceptionE`).
fn e(g: &mut Graph, x: &T, m: &str) -> Result<T> {
    let n = |s: &str| format!("{m}.{s}");
    let b1 = c(g, x, &n("branch1x1"), cv(320, 1, 1, 0))?;
    let b3 = c(g, x, &n("branch3x3_1"), cv(384, 1, 1, 0))?;
    let b3a = c(g, &b3, &n("branch3x3_2a"), cv2(384, 1, 3))?;
    let b3b = c(g, &b3, &n("branch3x3_2b"), cv2(384, 3, 1))?;
    let b3 = g.concat(&[b3a, b3b])?;
    let d = c(g, x, &n("branch3x3dbl_1"), cv(448, 1, 1, 0))?;
    let d = c(g, &d, &n("branch3x3dbl_2"), cv(384, 3, 1, 1))?;
    let da = c(g, &d, &n("branch3x3dbl_3a"), cv2(384, 1, 3))?;
    let db = c(g, &d, &n("branch3x3dbl_3b"), cv2(384, 3, 1))?;
    let d = g.concat(&[da, db])?;
    let p = g.avg_pool(x, 3, 1, 1, true)?;
    let p = c(g, &p, &n("branch_pool"), cv(192, 1, 1, 0))?;
    g.concat(&[b1, b3, d, p])
}

/// The stem shared with Inception-ResNet-v1/v2 up to the 192-channel 3×3 (torchvision names).
pub(crate) fn stem(g: &mut Graph, x: &T) -> Result<T> {
    let x = c(g, x, "Conv2d_1a_3x3", cv(32, 3, 2, 0))?;
    let x = c(g, &x, "Conv2d_2a_3x3", cv(32, 3, 1, 0))?;
    let x = c(g, &x, "Conv2d_2b_3x3", cv(64, 3, 1, 1))?;
    let x = g.max_pool(&x, 3, 2, 0, false)?;
    let x = c(g, &x, "Conv2d_3b_1x1", cv(80, 1, 1, 0))?;
    c(g, &x, "Conv2d_4a_3x3", cv(192, 3, 1, 0))
}

/// The whole network on `x`.
pub(crate) fn build(g: &mut Graph, x: &T, classes: usize) -> Result<T> {
    let x = stem(g, x)?;
    let x = g.max_pool(&x, 3, 2, 0, false)?;
    let x = a(g, &x, "Mixed_5b", 32)?;
    let x = a(g, &x, "Mixed_5c", 64)?;
    let x = a(g, &x, "Mixed_5d", 64)?;
    let x = b(g, &x, "Mixed_6a")?;
    let x = c7(g, &x, "Mixed_6b", 128)?;
    let x = c7(g, &x, "Mixed_6c", 160)?;
    let x = c7(g, &x, "Mixed_6d", 160)?;
    let x = c7(g, &x, "Mixed_6e", 192)?;
    let x = d(g, &x, "Mixed_7a")?;
    let x = e(g, &x, "Mixed_7b")?;
    let x = e(g, &x, "Mixed_7c")?;
    g.head(&x, "fc", classes)
}
