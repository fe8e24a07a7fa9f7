//! inception-edge on any Cortex-A Linux board: a V4L2 camera as a frame source for the
//! camera loop ([`V4l2Camera`]), with format negotiation ([`negotiate`]) and frame decoding
//! ([`decode`]) kept free of device access so they are tested on the host with sample frames.
//!
//! GPIO lines ([`gpio::output_pin`]) drive the loop's output-pin sink.
//!
//! The binary `incept-v4l2` runs the embedded classifier on a V4L2 camera:
//! `incept-v4l2 --device /dev/video0 --size 640x480 --format yuyv --gpio 17=Bag:0.8:0.6`.
#![warn(missing_docs)]
// The V4L2 ioctls and mmap need unsafe: allowed in `sys` and `device` only.
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod cli;
pub mod decode;
#[allow(unsafe_code)]
pub mod device;
pub mod gpio;
pub mod negotiate;
#[allow(unsafe_code)]
pub mod sys;

pub use device::{list_formats, DeviceConfig, DeviceError, V4l2Camera};
pub use negotiate::{CaptureFormat, FourCc, Request};
