//! Frame sources for development and tests: a synthetic test pattern, a replay of image files
//! or an IDX set at a chosen frame rate, and a fault injector that wraps any source.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use inception_edge_assets::dataset::ImageSet;
use inception_edge_core::camera::ErrorKind;
use inception_edge_core::PixelFormat;

use super::{Capture, OwnedFrame, Pacer, Source, SourceError};

/// A moving colour gradient, generated in place (no allocation once the buffer has grown).
#[derive(Debug)]
pub struct TestPattern {
    width: usize,
    height: usize,
    format: PixelFormat,
    pacer: Pacer,
    fps: f64,
    tick: u64,
}

impl TestPattern {
    /// A `width`×`height` pattern in RGB888 or YUYV (other formats: RGB888) at `fps`
    /// (0: as fast as possible).
    pub fn new(width: usize, height: usize, format: PixelFormat, fps: f64) -> Self {
        let format = match format {
            PixelFormat::Yuyv => PixelFormat::Yuyv,
            _ => PixelFormat::Rgb888,
        };
        TestPattern {
            width: width.max(2) & !1,
            height: height.max(1),
            format,
            pacer: Pacer::new(fps),
            fps,
            tick: 0,
        }
    }
}

impl Source for TestPattern {
    fn next(&mut self, buf: &mut OwnedFrame) -> Result<Capture, SourceError> {
        self.pacer.wait();
        let (w, h, t) = (self.width, self.height, self.tick as usize);
        self.tick += 1;
        buf.data.clear();
        match self.format {
            PixelFormat::Yuyv => {
                for y in 0..h {
                    for x in (0..w).step_by(2) {
                        let luma = ((x + y + t) & 0xff) as u8;
                        buf.data.extend_from_slice(&[
                            luma,
                            (x & 0xff) as u8,
                            luma,
                            (y & 0xff) as u8,
                        ]);
                    }
                }
            }
            _ => {
                for y in 0..h {
                    for x in 0..w {
                        buf.data.extend_from_slice(&[
                            ((x + t) & 0xff) as u8,
                            ((y + t) & 0xff) as u8,
                            ((x + y) & 0xff) as u8,
                        ]);
                    }
                }
            }
        }
        buf.width = w;
        buf.height = h;
        buf.format = self.format;
        buf.captured = Instant::now();
        Ok(Capture::Frame)
    }

    fn describe(&self) -> String {
        format!(
            "test pattern {}x{} {:?} at {} fps",
            self.width,
            self.height,
            self.format,
            if self.fps > 0.0 {
                format!("{}", self.fps)
            } else {
                "max".into()
            }
        )
    }
}

/// A replay of images (a directory of PNG/JPEG files, decoded once at open, or an IDX file)
/// at a chosen frame rate, looping or not.
#[derive(Debug)]
pub struct Replay {
    origin: String,
    frames: Vec<(Vec<u8>, usize, usize, PixelFormat)>,
    pacer: Pacer,
    fps: f64,
    looping: bool,
    next: usize,
}

impl Replay {
    /// Opens `path` (see [`ImageSet::open`]); at most `limit` images are kept. Images that
    /// cannot be decoded are an error here, before the loop starts.
    pub fn open(
        path: &std::path::Path,
        fps: f64,
        looping: bool,
        limit: Option<usize>,
    ) -> crate::Result<Self> {
        let set = ImageSet::open(path)?;
        let n = limit.unwrap_or(usize::MAX).min(set.len());
        let mut frames = Vec::with_capacity(n);
        for i in 0..n {
            frames.push(set.with_frame(i, |f| {
                (f.data().to_vec(), f.width(), f.height(), f.format())
            })?);
        }
        Ok(Replay {
            origin: path.display().to_string(),
            frames,
            pacer: Pacer::new(fps),
            fps,
            looping,
            next: 0,
        })
    }

    /// Number of distinct images.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether there are none (never, for an opened replay).
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

impl Source for Replay {
    fn next(&mut self, buf: &mut OwnedFrame) -> Result<Capture, SourceError> {
        if self.next >= self.frames.len() {
            if !self.looping || self.frames.is_empty() {
                return Ok(Capture::End);
            }
            self.next = 0;
        }
        self.pacer.wait();
        let (data, w, h, format) = &self.frames[self.next];
        self.next += 1;
        buf.data.clear();
        buf.data.extend_from_slice(data);
        buf.width = *w;
        buf.height = *h;
        buf.format = *format;
        buf.captured = Instant::now();
        Ok(Capture::Frame)
    }

    fn describe(&self) -> String {
        format!(
            "replay of {} ({} images{}) at {} fps",
            self.origin,
            self.frames.len(),
            if self.looping { ", looping" } else { "" },
            if self.fps > 0.0 {
                format!("{}", self.fps)
            } else {
                "max".into()
            }
        )
    }
}

/// Counts of the faults a [`Faulty`] source injected, shared with whoever checks them.
#[derive(Debug, Default)]
pub struct FaultCounts {
    /// Frames delivered with corrupted geometry (the loop's preprocessing must reject them).
    pub corrupt_delivered: AtomicU64,
    /// Frames reported as corrupt by the source.
    pub corrupt_reported: AtomicU64,
    /// Calls answered with "disconnected".
    pub disconnects: AtomicU64,
    /// Calls answered with "timeout".
    pub timeouts: AtomicU64,
    /// Frames delivered after a stall.
    pub stalls: AtomicU64,
}

impl FaultCounts {
    /// All faults injected.
    pub fn total(&self) -> u64 {
        [
            &self.corrupt_delivered,
            &self.corrupt_reported,
            &self.disconnects,
            &self.timeouts,
            &self.stalls,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }
}

/// Wraps a source and injects faults on a deterministic pseudo-random schedule: corrupt frames
/// (delivered with a wrong geometry, or reported), disconnections lasting a few calls,
/// timeouts, and stalls. `rate` is the probability of a fault per call.
#[derive(Debug)]
pub struct Faulty<S> {
    inner: S,
    rate: f64,
    stall: Duration,
    state: u64,
    down_for: u32,
    counts: Arc<FaultCounts>,
}

impl<S: Source> Faulty<S> {
    /// Wraps `inner`; `seed` fixes the schedule, `stall` is how long a stall lasts.
    pub fn new(inner: S, rate: f64, seed: u64, stall: Duration) -> Self {
        Faulty {
            inner,
            rate: rate.clamp(0.0, 1.0),
            stall,
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            down_for: 0,
            counts: Arc::new(FaultCounts::default()),
        }
    }

    /// The injected-fault counters.
    pub fn counts(&self) -> Arc<FaultCounts> {
        Arc::clone(&self.counts)
    }

    fn random(&mut self) -> f64 {
        // xorshift64*
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        (self.state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl<S: Source> Source for Faulty<S> {
    fn next(&mut self, buf: &mut OwnedFrame) -> Result<Capture, SourceError> {
        let c = &self.counts;
        if self.down_for > 0 {
            self.down_for -= 1;
            c.disconnects.fetch_add(1, Ordering::Relaxed);
            return Err(SourceError::new(
                ErrorKind::Disconnected,
                "injected: camera unplugged",
            ));
        }
        if self.random() >= self.rate {
            return self.inner.next(buf);
        }
        let which = self.random();
        if which < 0.3 {
            let r = self.inner.next(buf)?;
            if let Capture::Frame = r {
                // a frame whose bytes do not fill its geometry
                buf.height += 1 + buf.height / 2;
                self.counts
                    .corrupt_delivered
                    .fetch_add(1, Ordering::Relaxed);
            }
            Ok(r)
        } else if which < 0.5 {
            self.counts.corrupt_reported.fetch_add(1, Ordering::Relaxed);
            Err(SourceError::new(
                ErrorKind::CorruptFrame,
                "injected: bad frame",
            ))
        } else if which < 0.65 {
            self.down_for = 1 + (self.random() * 3.0) as u32;
            self.counts.disconnects.fetch_add(1, Ordering::Relaxed);
            Err(SourceError::new(
                ErrorKind::Disconnected,
                "injected: camera unplugged",
            ))
        } else if which < 0.8 {
            self.counts.timeouts.fetch_add(1, Ordering::Relaxed);
            Err(SourceError::new(
                ErrorKind::Timeout,
                "injected: no frame in time",
            ))
        } else {
            std::thread::sleep(self.stall);
            self.counts.stalls.fetch_add(1, Ordering::Relaxed);
            self.inner.next(buf)
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} with faults injected ({:.0} %)",
            self.inner.describe(),
            self.rate * 100.0
        )
    }
}
