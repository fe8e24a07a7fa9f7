//! Captured buffers to frames (pure: the same code runs on buffers from the driver and on the
//! committed sample frames).

use std::time::Instant;

use inception_edge::camera::mjpeg::decode_jpeg;
use inception_edge::camera::{OwnedFrame, SourceError};
use inception_edge::core::camera::ErrorKind;
use inception_edge::core::PixelFormat;

use crate::negotiate::CaptureFormat;

/// The geometry the driver reported for the negotiated format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// The format.
    pub format: CaptureFormat,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Bytes per row of a YUYV frame (≥ 2 × width; ignored for MJPEG).
    pub bytes_per_line: usize,
}

fn corrupt(message: String) -> SourceError {
    SourceError::new(ErrorKind::CorruptFrame, message)
}

/// Copies or decodes one captured buffer into `buf`: YUYV rows are copied without their row
/// padding (no allocation once `buf` has grown), MJPEG is decoded to RGB888. A short or
/// undecodable buffer is a [`ErrorKind::CorruptFrame`] error; `buf` then holds no frame.
pub fn decode(bytes: &[u8], geometry: &Geometry, buf: &mut OwnedFrame) -> Result<(), SourceError> {
    buf.data.clear();
    match geometry.format {
        CaptureFormat::Yuyv => {
            let row = geometry.width * 2;
            let stride = geometry.bytes_per_line.max(row);
            let needed = stride * geometry.height.saturating_sub(1) + row;
            if geometry.width == 0 || geometry.height == 0 || bytes.len() < needed {
                return Err(corrupt(format!(
                    "short YUYV frame: {} bytes for {}x{} (needs {needed})",
                    bytes.len(),
                    geometry.width,
                    geometry.height
                )));
            }
            for y in 0..geometry.height {
                buf.data
                    .extend_from_slice(&bytes[y * stride..y * stride + row]);
            }
            buf.width = geometry.width;
            buf.height = geometry.height;
            buf.format = PixelFormat::Yuyv;
        }
        CaptureFormat::Mjpeg => return decode_jpeg(bytes, buf),
    }
    buf.captured = Instant::now();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yuyv(width: usize, height: usize, bytes_per_line: usize) -> Geometry {
        Geometry {
            format: CaptureFormat::Yuyv,
            width,
            height,
            bytes_per_line,
        }
    }

    #[test]
    fn padded_yuyv_rows_are_copied_without_their_padding() {
        // 2x2 pixels, rows padded to 8 bytes
        let bytes = [1, 2, 3, 4, 0xee, 0xee, 0xee, 0xee, 5, 6, 7, 8];
        let mut buf = OwnedFrame::default();
        decode(&bytes, &yuyv(2, 2, 8), &mut buf).unwrap();
        assert_eq!(buf.data, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            (buf.width, buf.height, buf.format),
            (2, 2, PixelFormat::Yuyv)
        );
        assert!(buf.frame().is_ok());
    }

    #[test]
    fn a_short_yuyv_buffer_is_a_corrupt_frame() {
        let mut buf = OwnedFrame::default();
        let e = decode(&[0; 11], &yuyv(2, 2, 8), &mut buf).unwrap_err();
        assert_eq!(e.kind, ErrorKind::CorruptFrame);
        assert!(e.message.contains("needs 12"), "{e}");
        let e = decode(&[], &yuyv(0, 0, 0), &mut buf).unwrap_err();
        assert_eq!(e.kind, ErrorKind::CorruptFrame);
    }

    #[test]
    fn garbage_instead_of_jpeg_is_a_corrupt_frame() {
        let g = Geometry {
            format: CaptureFormat::Mjpeg,
            width: 640,
            height: 480,
            bytes_per_line: 0,
        };
        let mut buf = OwnedFrame::default();
        for bytes in [&[][..], &[0xff, 0xd8, 0xff][..], &[0x42; 1000][..]] {
            let e = decode(bytes, &g, &mut buf).unwrap_err();
            assert_eq!(e.kind, ErrorKind::CorruptFrame, "{e}");
        }
    }
}
