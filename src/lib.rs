#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
// Unsafe calls are allowed only where they are made: the AVX-512 preprocessing (in
// `classifier`) and the page release of a read model (`madvise`, in `pages`).
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

#[cfg(feature = "camera")]
pub mod camera;
pub mod classifier;
#[cfg(feature = "image")]
pub use inception_edge_assets::dataset;
#[cfg(feature = "image")]
pub use inception_edge_assets::decode;
pub use inception_edge_assets::manifest;
#[cfg(feature = "embed")]
pub mod embedded;
pub mod engine;
pub mod error;
#[cfg(feature = "eval")]
pub mod eval;
mod pages;

pub use classifier::{Classification, Classifier};
pub use engine::{Engine, MemoryUse, OperatorTime};
pub use error::{Error, Result};
/// The Inception family (GoogLeNet … Inception-ResNet-v2) as ONNX graphs with seeded or named
/// weights, parameter and MAC counts: `incept zoo`, `incept bench --arch`.
#[cfg(feature = "onnx")]
pub use inception_edge_compiler::zoo;
/// The `no_std` half: frames, preprocessing, quantization, top-k, board traits.
pub use inception_edge_core as core;
pub use manifest::Manifest;

/// Build facts baked in by `build.rs`.
pub mod build_info {
    /// The target triple this crate was built for.
    pub const TARGET: &str = env!("INCEPT_TARGET");
    /// The exact tract version this crate is pinned to.
    pub const TRACT_VERSION: &str = env!("INCEPT_TRACT_VERSION");
}
