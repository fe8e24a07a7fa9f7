//! The camera loop: a [`Source`] of frames → preprocess → classify → [`Sink`]s, pipelined on
//! threads with bounded queues (see [`run`]).
//!
//! Every frame a source delivers ends as exactly one record: a result, a drop (inference was
//! slower than the camera: the oldest waiting frame gives way, counted) or an error (a corrupt
//! frame, an inference failure). Source faults that deliver no frame — the camera went away,
//! no frame in time — are counted apart, and the loop waits and retries: it never dies of a bad
//! frame or a lost camera. [`Stats`] holds the counts and [`Stats::accounted`] checks them.

use std::time::{Duration, Instant};

use inception_edge_core::camera::ErrorKind;
use inception_edge_core::{Frame, FrameError, PixelFormat};

pub mod mjpeg;
#[cfg(feature = "mqtt")]
pub mod mqtt;
mod pipeline;
pub mod sinks;
pub mod sources;
pub mod web;

pub use pipeline::{run, run_tapped, LoopConfig, Record, Stats, Summary, Tap};
pub use sinks::Sink;

/// A frame owning its pixels; the loop recycles these buffers, so a source should fill
/// `data` in place (`clear` + `extend`) rather than replace it.
#[derive(Debug, Clone)]
pub struct OwnedFrame {
    /// Pixel bytes.
    pub data: Vec<u8>,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Pixel format.
    pub format: PixelFormat,
    /// Sequence number the loop assigns on capture (0, 1, 2, …).
    pub seq: u64,
    /// When the source delivered it.
    pub captured: Instant,
}

impl Default for OwnedFrame {
    fn default() -> Self {
        OwnedFrame {
            data: Vec::new(),
            width: 0,
            height: 0,
            format: PixelFormat::Rgb888,
            seq: 0,
            captured: Instant::now(),
        }
    }
}

impl OwnedFrame {
    /// A validated view of the pixels (fails on a geometry the bytes do not fill).
    pub fn frame(&self) -> Result<Frame<'_>, FrameError> {
        Frame::new(&self.data, self.width, self.height, self.format)
    }
}

/// Why a source delivered no usable frame.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct SourceError {
    /// The portable kind: decides what the loop does (skip, wait and retry, stop).
    pub kind: ErrorKind,
    /// What happened, for the logs.
    pub message: String,
}

impl SourceError {
    /// An error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        SourceError {
            kind,
            message: message.into(),
        }
    }
}

/// What a source's `next` returns.
#[derive(Debug)]
pub enum Capture {
    /// `buf` holds a new frame.
    Frame,
    /// The source is finished (a replay without looping); the loop ends.
    End,
}

/// A source of frames for the loop (a camera, a replay, a stream). Runs on the capture thread.
pub trait Source: Send {
    /// Fills `buf` with the next frame, waiting for it as a camera would. A corrupt frame is
    /// either delivered as is (the loop's preprocessing rejects it) or reported as
    /// [`ErrorKind::CorruptFrame`]; a lost device is [`ErrorKind::Disconnected`] — the loop
    /// retries after a pause, so the source should try to reopen on the next call.
    fn next(&mut self, buf: &mut OwnedFrame) -> Result<Capture, SourceError>;

    /// A one-line description (device, geometry, fps) for the logs.
    fn describe(&self) -> String;
}

impl<S: Source + ?Sized> Source for Box<S> {
    fn next(&mut self, buf: &mut OwnedFrame) -> Result<Capture, SourceError> {
        (**self).next(buf)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// Paces a source to a frame rate: `wait` sleeps until the next frame is due. Late frames do
/// not accumulate a debt (a stalled camera does not burst afterwards).
#[derive(Debug, Clone)]
pub struct Pacer {
    period: Option<Duration>,
    next: Option<Instant>,
}

impl Pacer {
    /// A pacer for `fps` frames per second (`0` or less: as fast as possible).
    pub fn new(fps: f64) -> Self {
        let period = (fps > 0.0 && fps.is_finite()).then(|| Duration::from_secs_f64(1.0 / fps));
        Pacer { period, next: None }
    }

    /// Sleeps until the next frame is due.
    pub fn wait(&mut self) {
        let Some(period) = self.period else { return };
        let now = Instant::now();
        let due = self.next.unwrap_or(now);
        if due > now {
            std::thread::sleep(due - now);
        }
        let base = due.max(now);
        self.next = Some(base + period);
    }
}
