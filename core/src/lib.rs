#![cfg_attr(not(test), no_std)]
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod camera;
pub mod frame;
pub mod indicator;
pub mod labels;
pub mod postprocess;
pub mod preprocess;
pub mod quant;
pub mod sink;

pub use frame::{Frame, FrameError, PixelFormat};
pub use labels::Labels;
pub use postprocess::{Prediction, TopK};
pub use preprocess::{Channels, Fit, Layout, Normalize, Preprocess, PreprocessError, Resize};
pub use quant::{QuantError, QuantParams};
