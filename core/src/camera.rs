//! The camera side of a board: something that fills a buffer with a frame.
//!
//! Follows embedded-hal 1.0's error pattern: drivers define their own error type and map it to
//! a portable [`ErrorKind`] so that generic code (the camera loop) can decide what to do — skip
//! a corrupt frame, wait for a disconnected camera to return — without knowing the driver.
//!
//! # For board authors
//! Implement [`ErrorType`] and [`Camera`] for your driver. `capture` fills the caller's buffer
//! and returns a validated [`Frame`] borrowing it.

use core::fmt;

use crate::frame::{Frame, FrameError};

/// A camera error, convertible to a portable [`ErrorKind`].
pub trait Error: fmt::Debug {
    /// The portable kind of this error.
    fn kind(&self) -> ErrorKind;
}

/// Portable camera error kinds. More may be added: match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ErrorKind {
    /// The camera went away (unplugged, stream closed); it may come back.
    Disconnected,
    /// No frame arrived in time.
    Timeout,
    /// A frame arrived but its data is unusable; the next one may be fine.
    CorruptFrame,
    /// The camera cannot deliver the requested format or geometry.
    Unsupported,
    /// The caller's buffer is too small for a frame.
    BufferTooSmall,
    /// Anything else.
    Other,
}

impl Error for ErrorKind {
    fn kind(&self) -> ErrorKind {
        *self
    }
}

impl Error for core::convert::Infallible {
    fn kind(&self) -> ErrorKind {
        match *self {}
    }
}

impl From<FrameError> for ErrorKind {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::BufferTooSmall { .. } => ErrorKind::BufferTooSmall,
            _ => ErrorKind::CorruptFrame,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Disconnected => "camera disconnected",
            ErrorKind::Timeout => "camera timed out",
            ErrorKind::CorruptFrame => "corrupt frame",
            ErrorKind::Unsupported => "unsupported camera format",
            ErrorKind::BufferTooSmall => "frame buffer too small",
            ErrorKind::Other => "camera error",
        })
    }
}

impl core::error::Error for ErrorKind {}

/// Carries the error type of a [`Camera`].
pub trait ErrorType {
    /// The driver's error type.
    type Error: Error;
}

impl<T: ErrorType + ?Sized> ErrorType for &mut T {
    type Error = T::Error;
}

/// A source of frames.
pub trait Camera: ErrorType {
    /// Captures the next frame into `buf` and returns a view of it.
    fn capture<'b>(&mut self, buf: &'b mut [u8]) -> Result<Frame<'b>, Self::Error>;
}

impl<T: Camera + ?Sized> Camera for &mut T {
    fn capture<'b>(&mut self, buf: &'b mut [u8]) -> Result<Frame<'b>, Self::Error> {
        T::capture(self, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::PixelFormat;

    /// A 2x2 grey camera that fails every other capture.
    struct Flaky(u32);
    impl ErrorType for Flaky {
        type Error = ErrorKind;
    }
    impl Camera for Flaky {
        fn capture<'b>(&mut self, buf: &'b mut [u8]) -> Result<Frame<'b>, ErrorKind> {
            self.0 += 1;
            if self.0.is_multiple_of(2) {
                return Err(ErrorKind::CorruptFrame);
            }
            let n = buf.len().min(4);
            buf[..n].fill(self.0 as u8);
            Ok(Frame::new(buf, 2, 2, PixelFormat::Gray8)?)
        }
    }

    fn grab<C: Camera>(mut c: C, buf: &mut [u8]) -> Result<u8, ErrorKind> {
        let f = c.capture(buf).map_err(|e| e.kind())?;
        Ok(f.gray(0, 0))
    }

    #[test]
    fn cameras_work_through_mutable_references_and_report_kinds() {
        let mut cam = Flaky(0);
        let mut buf = [0u8; 4];
        assert_eq!(grab(&mut cam, &mut buf), Ok(1));
        assert_eq!(grab(&mut cam, &mut buf), Err(ErrorKind::CorruptFrame));
        assert_eq!(grab(&mut cam, &mut buf), Ok(3));
    }

    #[test]
    fn a_short_buffer_maps_to_the_buffer_kind() {
        let mut cam = Flaky(0);
        let mut buf = [0u8; 3];
        assert_eq!(grab(&mut cam, &mut buf), Err(ErrorKind::BufferTooSmall));
    }
}
