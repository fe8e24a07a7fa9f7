//! Inception-v3 (Szegedy et al. 2015, "Rethinking the Inception Architecture"), as torchvision
//! defines it (layer names are torchvision's): factorized 1×n / n×1 convolutions, grid
//! reductions between the 35×35, 17×17 and 8×8 grids, batch normalization after every
//! convolution. The auxiliary classifier is left out (inference only).
//!
//! The `Google2015` flavour is Google's original graph (`inception-2015-12-05`), from which
//! torchvision's weights were converted: its average pools leave the padding out of the
//! divisor and the last module's pool branch is a max pool. Same layers, same counts.

use super::graph::{cv, cv2, Graph, Norm, T};
use crate::Result;

/// Which definition of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavour {
    /// torchvision's `inception_v3` (average pools count the padding).
    Torchvision,
    /// Google's 2015 graph (average pools exclude the padding; Mixed_7c pools by max).
    Google2015,
}

/// The pool branch's 3×3 stride-1 pool of a module.
fn branch_pool(g: &mut Graph, x: &T, f: Flavour) -> Result<T> {
    g.avg_pool(x, 3, 1, 1, f == Flavour::Torchvision)
}

fn c(g: &mut Graph, x: &T, name: &str, conv: super::graph::Conv) -> Result<T> {
    g.conv(x, &format!("{name}.conv"), conv, Norm::Bn, true)
}

/// 35×35 module (torchvision `InceptionA`).
fn a(g: &mut Graph, x: &T, m: &str, pool: usize, f: Flavour) -> Result<T> {
    let n = |s: &str| format!("{m}.{s}");
    let b1 = c(g, x, &n("branch1x1"), cv(64, 1, 1, 0))?;
    let b5 = c(g, x, &n("branch5x5_1"), cv(48, 1, 1, 0))?;
    let b5 = c(g, &b5, &n("branch5x5_2"), cv(64, 5, 1, 2))?;
    let d = c(g, x, &n("branch3x3dbl_1"), cv(64, 1, 1, 0))?;
    let d = c(g, &d, &n("branch3x3dbl_2"), cv(96, 3, 1, 1))?;
    let d = c(g, &d, &n("branch3x3dbl_3"), cv(96, 3, 1, 1))?;
    let p = branch_pool(g, x, f)?;
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
fn c7(g: &mut Graph, x: &T, m: &str, w: usize, f: Flavour) -> Result<T> {
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
    let p = branch_pool(g, x, f)?;
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

/// 8×8 module with expanded filter banks (`InceptionE`); `last` is Mixed_7c.
fn e(g: &mut Graph, x: &T, m: &str, f: Flavour, last: bool) -> Result<T> {
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
    let p = if last && f == Flavour::Google2015 {
        g.max_pool(x, 3, 1, 1, false)?
    } else {
        branch_pool(g, x, f)?
    };
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
pub(crate) fn build(g: &mut Graph, x: &T, classes: usize, f: Flavour) -> Result<T> {
    let x = stem(g, x)?;
    let x = g.max_pool(&x, 3, 2, 0, false)?;
    let x = a(g, &x, "Mixed_5b", 32, f)?;
    let x = a(g, &x, "Mixed_5c", 64, f)?;
    let x = a(g, &x, "Mixed_5d", 64, f)?;
    let x = b(g, &x, "Mixed_6a")?;
    let x = c7(g, &x, "Mixed_6b", 128, f)?;
    let x = c7(g, &x, "Mixed_6c", 160, f)?;
    let x = c7(g, &x, "Mixed_6d", 160, f)?;
    let x = c7(g, &x, "Mixed_6e", 192, f)?;
    let x = d(g, &x, "Mixed_7a")?;
    let x = e(g, &x, "Mixed_7b", f, false)?;
    let x = e(g, &x, "Mixed_7c", f, true)?;
    g.head(&x, "fc", classes)
}

/// torchvision's name for a layer of Google's 2015 graph, as the layers are named in
/// `models/inception-v3-fmnist` (`conv`…`conv_4`, `mixed`…`mixed_10`, `head`).
pub(crate) fn google_2015_layer(name: &str) -> Option<String> {
    const STEM: [&str; 5] = [
        "Conv2d_1a_3x3",
        "Conv2d_2a_3x3",
        "Conv2d_2b_3x3",
        "Conv2d_3b_1x1",
        "Conv2d_4a_3x3",
    ];
    const MODULES: [&str; 11] = [
        "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
        "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c",
    ];
    if name == "head" {
        return Some("fc".into());
    }
    if name == "conv" {
        return Some(format!("{}.conv", STEM[0]));
    }
    if let Some(i) = name.strip_prefix("conv_") {
        return STEM
            .get(i.parse::<usize>().ok()?)
            .map(|s| format!("{s}.conv"));
    }
    let (module, layer) = name.split_once('.')?;
    let index = match module {
        "mixed" => 0,
        _ => module.strip_prefix("mixed_")?.parse::<usize>().ok()?,
    };
    let torch = MODULES.get(index)?;
    let branch = match (index, layer) {
        (0..=2, _) => match layer {
            "conv" => "branch1x1",
            "tower.conv" => "branch5x5_1",
            "tower.conv_1" => "branch5x5_2",
            "tower_1.conv" => "branch3x3dbl_1",
            "tower_1.conv_1" => "branch3x3dbl_2",
            "tower_1.conv_2" => "branch3x3dbl_3",
            "tower_2.conv" => "branch_pool",
            _ => return None,
        },
        (3, "conv") => "branch3x3",
        (3, "tower.conv") => "branch3x3dbl_1",
        (3, "tower.conv_1") => "branch3x3dbl_2",
        (3, "tower.conv_2") => "branch3x3dbl_3",
        (4..=7, _) => match layer {
            "conv" => "branch1x1",
            "tower.conv" => "branch7x7_1",
            "tower.conv_1" => "branch7x7_2",
            "tower.conv_2" => "branch7x7_3",
            "tower_1.conv" => "branch7x7dbl_1",
            "tower_1.conv_1" => "branch7x7dbl_2",
            "tower_1.conv_2" => "branch7x7dbl_3",
            "tower_1.conv_3" => "branch7x7dbl_4",
            "tower_1.conv_4" => "branch7x7dbl_5",
            "tower_2.conv" => "branch_pool",
            _ => return None,
        },
        (8, "tower.conv") => "branch3x3_1",
        (8, "tower.conv_1") => "branch3x3_2",
        (8, "tower_1.conv") => "branch7x7x3_1",
        (8, "tower_1.conv_1") => "branch7x7x3_2",
        (8, "tower_1.conv_2") => "branch7x7x3_3",
        (8, "tower_1.conv_3") => "branch7x7x3_4",
        (9 | 10, _) => match layer {
            "conv" => "branch1x1",
            "tower_conv" => "branch3x3_1",
            "tower_mixed_conv" => "branch3x3_2a",
            "tower_mixed_conv_1" => "branch3x3_2b",
            "tower_1_conv" => "branch3x3dbl_1",
            "tower_1_conv_1" => "branch3x3dbl_2",
            "tower_1_mixed_conv" => "branch3x3dbl_3a",
            "tower_1_mixed_conv_1" => "branch3x3dbl_3b",
            "tower_2_conv" => "branch_pool",
            _ => return None,
        },
        _ => return None,
    };
    Some(format!("{torch}.{branch}.conv"))
}
