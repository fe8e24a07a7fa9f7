//! Integer operators that tract lacks, used by inception-edge's int8 graphs, and the NNEF
//! extension (`inception_edge`) that writes and reads them.
//!
//! An int8 graph produced by `inception-edge-compiler` is made of tract's own `Conv` (int8
//! inputs and weights, i32 accumulators), `MaxPool`, `TypedConcat` and axis ops, plus the
//! operators of this crate:
//!
//! - [`Requant`]: i32 accumulators (or i8 values) → i8, one fixed-point multiplier per channel,
//!   zero point and clamp (a folded ReLU is the clamp's lower bound);
//! - [`Dequant`]: i32/i8 → f32 with one scale per channel (the graph's final dequantize);
//! - [`QLrn`]: local response normalization of an int8 tensor (GoogLeNet), requantized;
//! - [`QAdd`]: the sum of two int8 tensors on their own scales (residual connections);
//! - [`QAvgPool`]: int8 average pooling, the output on the input's scale, rounding half away
//!   from zero; with the pooling window over the whole plane it is a global average pool;
//! - [`QIm2col`]: the patches of a `kh×kw` convolution as the channels of a 1×1 one, which
//!   tract's quantized 1×1 convolution multiplies much faster than its own quantized im2col
//!   path runs; `flat`, all output pixels on one row, so that tract runs the convolution as
//!   one matrix product rather than one per image row.
//!
//! At load time, [`RequantFusion`] finds, before tract's optimizer, each [`Requant`] of a
//! convolution's accumulators whose multipliers allow it, and writes it, after the optimizer,
//! into the convolution's matrix kernel (i8 stored straight from the accumulators).
//! [`fuse_requant`] is the same rewrite in tract's operators, for its optimizer to fuse.
//!
//! At load time, after tract's optimizer, [`fast_ops`] swaps in operators that exist only in
//! the runtime (never in an NNEF file) for tract's own where they do the same thing faster:
//!
//! - [`QIm2colPack`]: the patches written straight into the panels of tract's int8 matrix
//!   kernels, in place of [`QIm2col`] followed by tract's byte-by-byte packer;
//! - [`PackI8K4`]: that packing alone, for a matrix no [`QIm2col`] produced;
//! - [`QMaxPool`]: separable int8 max pooling, in place of tract's;
//!
//! and it folds the small values tract's optimizer left to be computed from constants at
//! every inference (the weight sums of a zero-point correction, through a cast of the whole
//! weight matrix).
//!
//! Every operator is exact integer arithmetic (the `f32` of [`Dequant`] is one IEEE
//! multiplication per element; [`QAvgPool`]'s `f32` division is exact, tested for every sum),
//! so outputs are bit-identical on every architecture and with any number of threads: with a
//! tract thread pool installed, the operators split their planes, rows or panels between its
//! threads, never the terms of a sum.
//!
//! Load an int8 NNEF model with [`nnef`], which is tract's NNEF framework with this
//! extension registered.
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

mod add;
mod avgpool;
mod fixed;
mod fold;
mod fuse;
mod im2col;
mod lrn;
mod maxpool;
mod nnef;
mod pack;
mod requant;
mod shift;
mod simd;
#[cfg(test)]
mod testing;

pub use add::QAdd;
pub use avgpool::QAvgPool;
pub use fixed::{FixedMultiplier, FixedPointError};
pub use fuse::{accumulator_bounds, fuse_requant, RequantFusion};
pub use im2col::{window_pads, QIm2col};
pub use lrn::{PowTable, QLrn};
pub use maxpool::QMaxPool;
pub use nnef::{nnef, registry, EXTENSION};
pub use pack::{fast_ops, PackI8K4, QIm2colPack};
pub use requant::{Dequant, Requant};
pub use simd::settle_vector_state;

/// Model property holding the input scale (f32): `x_f32 ≈ x_i8 · scale`.
pub const PROP_INPUT_SCALE: &str = "inception_edge.input_scale";
/// Model property holding the input zero point (i32, always 0: symmetric).
pub const PROP_INPUT_ZERO_POINT: &str = "inception_edge.input_zero_point";
/// Model property naming the calibration method (string).
pub const PROP_METHOD: &str = "inception_edge.calibration";
/// Model property: 1 for per-channel weights, 0 for per-tensor (i64).
pub const PROP_PER_CHANNEL: &str = "inception_edge.per_channel";
/// Model property: the compiler version that wrote the model (string).
pub const PROP_COMPILER: &str = "inception_edge.compiler";

/// Splits `shape` around `axis` into (outer, channels, inner) element counts.
pub(crate) fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let channels = shape[axis];
    let inner = shape[axis + 1..].iter().product();
    (outer, channels, inner)
}
