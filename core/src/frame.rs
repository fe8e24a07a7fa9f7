//! Borrowed, stride-aware views of camera frames and the pixel formats they hold.
//!
//! A [`Frame`] never owns pixels: it borrows the buffer a camera filled. Construction checks the
//! geometry once (sizes, stride, buffer length, format alignment) so that every later pixel
//! access is in bounds.
//!
//! Colour conversion rules, all integer and exact as stated:
//! - YUV (YUYV, NV12) is ITU-R BT.601 limited range ("studio swing", what UVC webcams and the
//!   Raspberry Pi camera stack produce), converted with the usual 8-bit fixed-point
//!   coefficients (`298, 409, 100, 208, 516`, rounding by `+128 >> 8`), within ±1 of the
//!   float formula. Chroma is taken from the pixel pair / 2×2 block that holds the pixel
//!   (no chroma interpolation).
//! - RGB565 is little-endian (`R` in the top 5 bits of the 16-bit word); channels expand to 8
//!   bits by exact rounding, `round(v * 255 / 31)` and `round(v * 255 / 63)`.
//! - Grey from colour uses BT.601 luma weights `(77 R + 150 G + 29 B + 128) >> 8`.

use core::fmt;

/// How the pixels of a [`Frame`] are laid out in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PixelFormat {
    /// 3 bytes per pixel: red, green, blue.
    Rgb888,
    /// 3 bytes per pixel: blue, green, red (OpenCV's order).
    Bgr888,
    /// 4 bytes per pixel: red, green, blue, alpha (alpha ignored).
    Rgba8888,
    /// Packed YUV 4:2:2, `Y0 U Y1 V` for each pair of pixels; width must be even.
    Yuyv,
    /// Planar YUV 4:2:0: a full-resolution Y plane, then an interleaved `U V` plane at half
    /// resolution, both with the same stride; width and height must be even.
    Nv12,
    /// 2 bytes per pixel, little-endian `RRRRRGGG GGGBBBBB`.
    Rgb565,
    /// 1 byte per pixel, grey.
    Gray8,
}

impl PixelFormat {
    /// Every pixel format, for exhaustive tests and format negotiation.
    pub const ALL: [PixelFormat; 7] = [
        PixelFormat::Rgb888,
        PixelFormat::Bgr888,
        PixelFormat::Rgba8888,
        PixelFormat::Yuyv,
        PixelFormat::Nv12,
        PixelFormat::Rgb565,
        PixelFormat::Gray8,
    ];

    /// Bytes per pixel in a row of the (first) plane.
    pub const fn bytes_per_pixel(self) -> usize {
        match self {
            PixelFormat::Rgb888 | PixelFormat::Bgr888 => 3,
            PixelFormat::Rgba8888 => 4,
            PixelFormat::Yuyv | PixelFormat::Rgb565 => 2,
            PixelFormat::Nv12 | PixelFormat::Gray8 => 1,
        }
    }

    /// Smallest valid stride in bytes for a row of `width` pixels, if it fits in `usize`.
    pub const fn min_stride(self, width: usize) -> Option<usize> {
        width.checked_mul(self.bytes_per_pixel())
    }

    /// Number of bytes a frame of this format needs with the given row stride, or `None` on
    /// arithmetic overflow. The last row need not be padded to the full stride.
    pub const fn frame_len(self, width: usize, height: usize, stride: usize) -> Option<usize> {
        if height == 0 {
            return Some(0);
        }
        let row = match self.min_stride(width) {
            Some(r) => r,
            None => return None,
        };
        let rows = match self {
            // Y plane of `height` rows then a chroma plane of `height / 2` rows.
            PixelFormat::Nv12 => height + height / 2,
            _ => height,
        };
        match stride.checked_mul(rows - 1) {
            Some(full) => full.checked_add(row),
            None => None,
        }
    }

    /// Short lower-case name (`"yuyv"`, `"rgb888"` …), as used on command lines.
    pub const fn name(self) -> &'static str {
        match self {
            PixelFormat::Rgb888 => "rgb888",
            PixelFormat::Bgr888 => "bgr888",
            PixelFormat::Rgba8888 => "rgba8888",
            PixelFormat::Yuyv => "yuyv",
            PixelFormat::Nv12 => "nv12",
            PixelFormat::Rgb565 => "rgb565",
            PixelFormat::Gray8 => "gray8",
        }
    }
}

impl fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a [`Frame`] could not be built from a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FrameError {
    /// Width or height is zero.
    EmptyFrame,
    /// The format needs an even width (YUYV, NV12) or height (NV12).
    OddDimension {
        /// The format that needs even dimensions.
        format: PixelFormat,
        /// Width given.
        width: usize,
        /// Height given.
        height: usize,
    },
    /// The stride is shorter than one row of pixels.
    StrideTooSmall {
        /// Stride given, in bytes.
        stride: usize,
        /// Smallest stride for this width and format.
        min: usize,
    },
    /// The buffer holds fewer bytes than the geometry needs.
    BufferTooSmall {
        /// Bytes the geometry needs.
        needed: usize,
        /// Bytes in the buffer.
        got: usize,
    },
    /// The geometry overflows `usize` (absurd width, height or stride).
    TooLarge,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FrameError::EmptyFrame => f.write_str("frame has zero width or height"),
            FrameError::OddDimension {
                format,
                width,
                height,
            } => write!(f, "{format} needs even dimensions, got {width}x{height}"),
            FrameError::StrideTooSmall { stride, min } => {
                write!(f, "stride {stride} is below the row size {min}")
            }
            FrameError::BufferTooSmall { needed, got } => {
                write!(f, "frame buffer holds {got} bytes, geometry needs {needed}")
            }
            FrameError::TooLarge => f.write_str("frame geometry overflows the address space"),
        }
    }
}

impl core::error::Error for FrameError {}

/// A borrowed, validated view of one frame's pixels.
///
/// ```
/// use inception_edge_core::frame::{Frame, PixelFormat};
/// let pixels = [255u8, 0, 0, 0, 255, 0]; // two RGB pixels: red, green
/// let frame = Frame::new(&pixels, 2, 1, PixelFormat::Rgb888)?;
/// assert_eq!(frame.rgb(1, 0), [0, 255, 0]);
/// # Ok::<(), inception_edge_core::frame::FrameError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    data: &'a [u8],
    width: usize,
    height: usize,
    stride: usize,
    format: PixelFormat,
}

impl<'a> Frame<'a> {
    /// A frame with tightly packed rows (stride = width × bytes per pixel).
    pub fn new(
        data: &'a [u8],
        width: usize,
        height: usize,
        format: PixelFormat,
    ) -> Result<Self, FrameError> {
        let stride = format.min_stride(width).ok_or(FrameError::TooLarge)?;
        Self::with_stride(data, width, height, stride, format)
    }

    /// A frame whose rows start `stride` bytes apart (padding at row ends is ignored).
    pub fn with_stride(
        data: &'a [u8],
        width: usize,
        height: usize,
        stride: usize,
        format: PixelFormat,
    ) -> Result<Self, FrameError> {
        if width == 0 || height == 0 {
            return Err(FrameError::EmptyFrame);
        }
        let odd = match format {
            PixelFormat::Yuyv => !width.is_multiple_of(2),
            PixelFormat::Nv12 => !width.is_multiple_of(2) || !height.is_multiple_of(2),
            _ => false,
        };
        if odd {
            return Err(FrameError::OddDimension {
                format,
                width,
                height,
            });
        }
        let min = format.min_stride(width).ok_or(FrameError::TooLarge)?;
        if stride < min {
            return Err(FrameError::StrideTooSmall { stride, min });
        }
        let needed = format
            .frame_len(width, height, stride)
            .ok_or(FrameError::TooLarge)?;
        if data.len() < needed {
            return Err(FrameError::BufferTooSmall {
                needed,
                got: data.len(),
            });
        }
        Ok(Frame {
            data,
            width,
            height,
            stride,
            format,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Row stride in bytes.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Pixel format.
    pub fn format(&self) -> PixelFormat {
        self.format
    }

    /// The borrowed bytes (at least as many as the geometry needs).
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The pixel at (`x`, `y`) as 8-bit RGB. Coordinates are clamped to the frame, so any
    /// input is safe; callers inside the frame get exactly that pixel.
    #[inline]
    pub fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        let x = x.min(self.width - 1);
        let y = y.min(self.height - 1);
        let row = y * self.stride;
        let d = self.data;
        match self.format {
            PixelFormat::Rgb888 => {
                let i = row + 3 * x;
                [d[i], d[i + 1], d[i + 2]]
            }
            PixelFormat::Bgr888 => {
                let i = row + 3 * x;
                [d[i + 2], d[i + 1], d[i]]
            }
            PixelFormat::Rgba8888 => {
                let i = row + 4 * x;
                [d[i], d[i + 1], d[i + 2]]
            }
            PixelFormat::Gray8 => {
                let g = d[row + x];
                [g, g, g]
            }
            PixelFormat::Rgb565 => {
                let i = row + 2 * x;
                rgb565_to_rgb(u16::from_le_bytes([d[i], d[i + 1]]))
            }
            PixelFormat::Yuyv => {
                let pair = row + 4 * (x / 2);
                let luma = d[row + 2 * x];
                yuv_to_rgb(luma, d[pair + 1], d[pair + 3])
            }
            PixelFormat::Nv12 => {
                let luma = d[row + x];
                let uv = self.stride * self.height + (y / 2) * self.stride + (x & !1);
                yuv_to_rgb(luma, d[uv], d[uv + 1])
            }
        }
    }

    /// The pixel at (`x`, `y`) as 8-bit grey (BT.601 luma of the RGB value; exact for
    /// [`PixelFormat::Gray8`]). Coordinates are clamped like [`Frame::rgb`].
    #[inline]
    pub fn gray(&self, x: usize, y: usize) -> u8 {
        if self.format == PixelFormat::Gray8 {
            let x = x.min(self.width - 1);
            let y = y.min(self.height - 1);
            return self.data[y * self.stride + x];
        }
        let [r, g, b] = self.rgb(x, y);
        luma(r, g, b)
    }
}

/// BT.601 limited-range YUV to RGB in 8-bit fixed point.
#[inline]
pub fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    Chroma::new(u, v).rgb(y)
}

/// The chroma terms of [`yuv_to_rgb`] for one (U, V) pair, to convert the lumas that share it
/// (a YUYV macropixel, an NV12 2×2 block) without recomputing them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chroma {
    r: i32,
    g: i32,
    b: i32,
}

impl Chroma {
    /// The terms of `u`, `v`.
    #[inline(always)]
    pub(crate) fn new(u: u8, v: u8) -> Self {
        let d = i32::from(u) - 128;
        let e = i32::from(v) - 128;
        Chroma {
            r: 409 * e,
            g: -100 * d - 208 * e,
            b: 516 * d,
        }
    }

    /// RGB of luma `y` with these chroma terms.
    #[inline(always)]
    pub(crate) fn rgb(self, y: u8) -> [u8; 3] {
        let c = 298 * (i32::from(y) - 16);
        let clamp = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
        [clamp(c + self.r), clamp(c + self.g), clamp(c + self.b)]
    }
}

/// Little-endian RGB565 word to 8-bit RGB with exact rounding of each channel.
#[inline]
pub fn rgb565_to_rgb(v: u16) -> [u8; 3] {
    let r5 = u32::from(v >> 11);
    let g6 = u32::from((v >> 5) & 0x3f);
    let b5 = u32::from(v & 0x1f);
    // (v * 527 + 23) >> 6 == round(v * 255 / 31) for v in 0..32, (v * 259 + 33) >> 6 ==
    // round(v * 255 / 63) for v in 0..64 (checked exhaustively in the tests).
    [
        ((r5 * 527 + 23) >> 6) as u8,
        ((g6 * 259 + 33) >> 6) as u8,
        ((b5 * 527 + 23) >> 6) as u8,
    ]
}

/// BT.601 luma of an RGB pixel, `(77 R + 150 G + 29 B + 128) >> 8`.
#[inline]
pub fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((77 * u32::from(r) + 150 * u32::from(g) + 29 * u32::from(b) + 128) >> 8) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn zero_sized_frames_are_rejected() {
        assert_eq!(
            Frame::new(&[], 0, 4, PixelFormat::Gray8),
            Err(FrameError::EmptyFrame)
        );
        assert_eq!(
            Frame::new(&[0; 4], 4, 0, PixelFormat::Gray8),
            Err(FrameError::EmptyFrame)
        );
    }

    #[test]
    fn yuyv_with_an_odd_width_is_rejected() {
        let e = Frame::new(&[0; 64], 3, 2, PixelFormat::Yuyv).unwrap_err();
        assert!(matches!(e, FrameError::OddDimension { width: 3, .. }));
    }

    #[test]
    fn nv12_with_an_odd_height_is_rejected() {
        let e = Frame::new(&[0; 64], 4, 3, PixelFormat::Nv12).unwrap_err();
        assert!(matches!(e, FrameError::OddDimension { height: 3, .. }));
    }

    #[test]
    fn a_stride_shorter_than_a_row_is_rejected() {
        let e = Frame::with_stride(&[0; 64], 4, 2, 11, PixelFormat::Rgb888).unwrap_err();
        assert_eq!(
            e,
            FrameError::StrideTooSmall {
                stride: 11,
                min: 12
            }
        );
    }

    #[test]
    fn a_short_buffer_is_rejected_with_both_sizes() {
        let e = Frame::new(&[0; 10], 2, 2, PixelFormat::Rgb888).unwrap_err();
        assert_eq!(
            e,
            FrameError::BufferTooSmall {
                needed: 12,
                got: 10
            }
        );
        // NV12 needs 1.5 planes.
        let e = Frame::new(&[0; 16], 4, 4, PixelFormat::Nv12).unwrap_err();
        assert_eq!(
            e,
            FrameError::BufferTooSmall {
                needed: 24,
                got: 16
            }
        );
    }

    #[test]
    fn absurd_geometry_reports_overflow_instead_of_wrapping() {
        let e = Frame::new(&[0; 4], usize::MAX / 2, 2, PixelFormat::Rgb888).unwrap_err();
        assert_eq!(e, FrameError::TooLarge);
        let e = Frame::with_stride(&[0; 4], 1, usize::MAX, usize::MAX / 2, PixelFormat::Gray8)
            .unwrap_err();
        assert_eq!(e, FrameError::TooLarge);
    }

    #[test]
    fn the_last_row_need_not_be_padded_to_the_stride() {
        let f = Frame::with_stride(&[1, 2, 0, 0, 3, 4], 2, 2, 4, PixelFormat::Gray8).unwrap();
        assert_eq!(f.gray(0, 1), 3);
        assert_eq!(f.gray(1, 1), 4);
    }

    #[test]
    fn errors_display_their_numbers() {
        extern crate std;
        use std::string::ToString;
        let s = FrameError::BufferTooSmall {
            needed: 12,
            got: 10,
        }
        .to_string();
        assert!(s.contains("12") && s.contains("10"), "{s}");
    }

    #[test]
    fn rgb565_expansion_is_the_exactly_rounded_ratio() {
        for v in 0u32..32 {
            let want = ((v as f64) * 255.0 / 31.0).round() as u8;
            assert_eq!(rgb565_to_rgb((v as u16) << 11)[0], want, "r5={v}");
            assert_eq!(rgb565_to_rgb(v as u16)[2], want, "b5={v}");
        }
        for v in 0u32..64 {
            let want = ((v as f64) * 255.0 / 63.0).round() as u8;
            assert_eq!(rgb565_to_rgb((v as u16) << 5)[1], want, "g6={v}");
        }
    }

    #[test]
    fn every_format_reads_the_same_colour_at_the_same_place() {
        let rgb = [10u8, 20, 30];
        // 0x0a0f is r5=1 g6=16 b5=15 -> (8, 65, 123)
        let frames: [(&[u8], PixelFormat, [u8; 3]); 4] = [
            (&[10, 20, 30, 10, 20, 30], PixelFormat::Rgb888, rgb),
            (&[30, 20, 10, 30, 20, 10], PixelFormat::Bgr888, rgb),
            (&[10, 20, 30, 0, 10, 20, 30, 0], PixelFormat::Rgba8888, rgb),
            (&[0, 0, 0x0f, 0x0a], PixelFormat::Rgb565, [8, 65, 123]),
        ];
        for (data, fmt, want) in frames {
            let f = Frame::new(data, 2, 1, fmt).unwrap();
            assert_eq!(f.rgb(1, 0), want, "{fmt}");
        }
    }

    #[test]
    fn yuyv_and_nv12_share_chroma_between_neighbours() {
        // Two pixels, Y0=81 Y1=145, U=90 V=240 (BT.601 red-ish).
        let yuyv = [81u8, 90, 145, 240];
        let f = Frame::new(&yuyv, 2, 1, PixelFormat::Yuyv).unwrap();
        let nv12 = [81u8, 145, 81, 145, 90, 240];
        let g = Frame::new(&nv12, 2, 2, PixelFormat::Nv12).unwrap();
        assert_eq!(f.rgb(0, 0), yuv_to_rgb(81, 90, 240));
        assert_eq!(f.rgb(1, 0), yuv_to_rgb(145, 90, 240));
        assert_eq!(g.rgb(1, 1), f.rgb(1, 0));
    }

    #[test]
    fn out_of_range_coordinates_clamp_to_the_edge() {
        let f = Frame::new(&[1, 2, 3, 4], 2, 2, PixelFormat::Gray8).unwrap();
        assert_eq!(f.gray(99, 99), 4);
        assert_eq!(f.rgb(usize::MAX, 0), [2, 2, 2]);
    }

    /// Float BT.601 limited-range reference.
    fn yuv_ref(y: u8, u: u8, v: u8) -> [f64; 3] {
        let c = 1.164_383_56 * (f64::from(y) - 16.0);
        let d = f64::from(u) - 128.0;
        let e = f64::from(v) - 128.0;
        [
            c + 1.596_026_79 * e,
            c - 0.391_762_29 * d - 0.812_967_65 * e,
            c + 2.017_232_14 * d,
        ]
    }

    proptest! {
        /// Tolerance: ±1 of the float formula clamped to 0..=255 (8-bit coefficients).
        #[test]
        fn yuv_conversion_is_within_one_of_the_float_formula(y: u8, u: u8, v: u8) {
            let got = yuv_to_rgb(y, u, v);
            let want = yuv_ref(y, u, v);
            for c in 0..3 {
                let w = want[c].clamp(0.0, 255.0);
                prop_assert!((f64::from(got[c]) - w).abs() <= 1.0, "c={} got={} want={}", c, got[c], w);
            }
        }

        /// Tolerance: ±0.5 + 1 of the float luma (integer weights sum to 256).
        #[test]
        fn luma_is_within_one_of_the_float_bt601_weights(r: u8, g: u8, b: u8) {
            let want = 0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b);
            prop_assert!((f64::from(luma(r, g, b)) - want).abs() <= 1.0);
        }

        #[test]
        fn any_valid_geometry_reads_every_pixel_without_panicking(
            fi in 0usize..7, w in 1usize..9, h in 1usize..9, pad in 0usize..5, extra in 0usize..3
        ) {
            let fmt = PixelFormat::ALL[fi];
            let (w, h) = match fmt {
                PixelFormat::Yuyv => (w * 2, h),
                PixelFormat::Nv12 => (w * 2, h * 2),
                _ => (w, h),
            };
            let stride = fmt.min_stride(w).unwrap() + pad;
            let len = fmt.frame_len(w, h, stride).unwrap();
            let buf = [7u8; 1024];
            let f = Frame::with_stride(&buf[..len + extra], w, h, stride, fmt).unwrap();
            for y in 0..h { for x in 0..w { let _ = f.rgb(x, y); let _ = f.gray(x, y); } }
            if len > 0 {
                prop_assert!(Frame::with_stride(&buf[..len - 1], w, h, stride, fmt).is_err());
            }
        }
    }
}
