//! Frame → model input: geometry (stretch, center-crop, letterbox), resampling (bilinear,
//! area), channel order, layout, normalization and optional direct quantization, written into a
//! caller-provided buffer with no allocation.
//!
//! # Numerics
//! - Colour conversion is integer (see [`crate::frame`]).
//! - **Bilinear** uses half-pixel centres (`src = (dst + 0.5) · S/D − 0.5`, clamped to the
//!   edge, as OpenCV, PIL and ONNX `Resize` with `half_pixel`), with the coordinate in Q11 fixed
//!   point: the sampled value is within 0.5 (on the 0–255 scale) of the same formula in exact
//!   arithmetic.
//! - **Area** is the exact box average of every source pixel the output pixel covers, weighted
//!   by the covered fraction, summed in integers and converted to `f32` once.
//! - Normalization is one `f32` affine map per channel, `x = v · a + b`, where `v` is the
//!   resampled value on the 0–255 scale.
//! - Quantized output is `clamp(round_half_even(x / scale) + zero_point)` of that same `x`, so
//!   [`Preprocess::run_quantized`] is bit-identical to quantizing the output of
//!   [`Preprocess::run_f32`] with [`QuantParams::quantize`].

use core::fmt;

use crate::frame::{luma, yuv_to_rgb, Chroma, Frame, PixelFormat};
use crate::quant::{QuantError, QuantInt, QuantParams};

/// Resampling filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Resize {
    /// Bilinear interpolation with half-pixel centres.
    #[default]
    Bilinear,
    /// Box filter over the covered source area (best for downscaling camera frames).
    Area,
}

/// How the frame's aspect ratio is fitted to the model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Fit {
    /// Scale each axis independently to fill the input (aspect ratio not kept).
    #[default]
    Stretch,
    /// Keep the aspect ratio: crop the largest centred region of the input's aspect ratio.
    CenterCrop,
    /// Keep the aspect ratio: scale the whole frame to fit and pad the rest with `fill`
    /// (a pixel value on the 0–255 scale, before normalization).
    Letterbox {
        /// Pixel value of the padding, all channels.
        fill: u8,
    },
}

/// Memory layout of the model input tensor (batch 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Layout {
    /// `[1, C, H, W]`, planar (ONNX / PyTorch convention).
    #[default]
    Nchw,
    /// `[1, H, W, C]`, interleaved (TensorFlow convention).
    Nhwc,
}

/// Channels the model expects, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Channels {
    /// Red, green, blue.
    #[default]
    Rgb,
    /// Blue, green, red (Caffe-trained models).
    Bgr,
    /// One grey channel (BT.601 luma).
    Gray,
}

impl Channels {
    /// Number of channels.
    pub const fn count(self) -> usize {
        match self {
            Channels::Rgb | Channels::Bgr => 3,
            Channels::Gray => 1,
        }
    }
}

/// Map from the 0–255 pixel value `v` to the model's input value `x`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Normalize {
    /// `x = v` (0…255).
    Raw,
    /// `x = v / 255` (0…1).
    Unit,
    /// `x = (v − 128) / 128`, Google's Inception-v3 graph convention (−1…0.992).
    #[default]
    Inception,
    /// `x = v / 127.5 − 1` (−1…1), TF-slim's Inception preprocessing.
    Symmetric,
    /// `x = (v / 255 − mean[c]) / std[c]` per channel (torchvision convention). For
    /// [`Channels::Gray`] only index 0 is used.
    MeanStd {
        /// Per-channel mean on the 0–1 scale, in the order of [`Channels`].
        mean: [f32; 3],
        /// Per-channel standard deviation on the 0–1 scale, must be finite and non-zero.
        std: [f32; 3],
    },
}

impl Normalize {
    /// Per-channel `(a, b)` with `x = v · a + b`, or `None` when the parameters are unusable.
    fn affine(&self) -> Option<[(f32, f32); 3]> {
        let same = |a: f32, b: f32| Some([(a, b); 3]);
        match *self {
            Normalize::Raw => same(1.0, 0.0),
            Normalize::Unit => same(1.0 / 255.0, 0.0),
            Normalize::Inception => same(1.0 / 128.0, -1.0),
            Normalize::Symmetric => same(1.0 / 127.5, -1.0),
            Normalize::MeanStd { mean, std } => {
                let mut out = [(0.0, 0.0); 3];
                for c in 0..3 {
                    let (m, s) = (mean[c], std[c]);
                    if !(m.is_finite() && s.is_finite() && s != 0.0) {
                        return None;
                    }
                    out[c] = (1.0 / (255.0 * s), -m / s);
                }
                Some(out)
            }
        }
    }
}

/// Why a frame could not be preprocessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PreprocessError {
    /// The configured output has zero width or height.
    EmptyOutput,
    /// The output buffer's length does not match `channels × height × width`.
    OutputSize {
        /// Elements the configuration writes.
        needed: usize,
        /// Elements in the buffer.
        got: usize,
    },
    /// A `MeanStd` normalization has a zero or non-finite value.
    InvalidNormalization,
    /// The quantization parameters do not fit the output type.
    Quant(QuantError),
    /// The output geometry overflows `usize`.
    TooLarge,
}

impl fmt::Display for PreprocessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PreprocessError::EmptyOutput => f.write_str("model input has zero width or height"),
            PreprocessError::OutputSize { needed, got } => write!(
                f,
                "input buffer holds {got} elements, the model input needs {needed}"
            ),
            PreprocessError::InvalidNormalization => {
                f.write_str("normalization std must be finite and non-zero, mean finite")
            }
            PreprocessError::Quant(e) => write!(f, "input quantization: {e}"),
            PreprocessError::TooLarge => f.write_str("model input size overflows"),
        }
    }
}

impl core::error::Error for PreprocessError {}

impl From<QuantError> for PreprocessError {
    fn from(e: QuantError) -> Self {
        PreprocessError::Quant(e)
    }
}

/// An axis-aligned rectangle in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rect {
    /// Left edge.
    pub x: usize,
    /// Top edge.
    pub y: usize,
    /// Width (≥ 1).
    pub w: usize,
    /// Height (≥ 1).
    pub h: usize,
}

/// A complete preprocessing recipe for one model input.
///
/// ```
/// use inception_edge_core::frame::{Frame, PixelFormat};
/// use inception_edge_core::preprocess::{Fit, Layout, Preprocess};
///
/// let pixels = [128u8; 64 * 48 * 3];
/// let frame = Frame::new(&pixels, 64, 48, PixelFormat::Rgb888)?;
/// let pre = Preprocess::new(32, 32).fit(Fit::CenterCrop).layout(Layout::Nchw);
/// let mut input = [0f32; 3 * 32 * 32];
/// pre.run_f32(&frame, &mut input)?;
/// assert!(input.iter().all(|&x| x == 0.0)); // (128 − 128) / 128
/// # Ok::<(), Box<dyn core::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Preprocess {
    /// Model input width.
    pub width: usize,
    /// Model input height.
    pub height: usize,
    /// Resampling filter.
    pub resize: Resize,
    /// Aspect-ratio handling.
    pub fit: Fit,
    /// Tensor layout.
    pub layout: Layout,
    /// Channel order.
    pub channels: Channels,
    /// Value normalization.
    pub normalize: Normalize,
}

impl Preprocess {
    /// A `width × height` RGB NCHW input, bilinear, stretched, Inception-normalized.
    pub const fn new(width: usize, height: usize) -> Self {
        Preprocess {
            width,
            height,
            resize: Resize::Bilinear,
            fit: Fit::Stretch,
            layout: Layout::Nchw,
            channels: Channels::Rgb,
            normalize: Normalize::Inception,
        }
    }

    /// Sets the resampling filter.
    pub const fn resize(mut self, resize: Resize) -> Self {
        self.resize = resize;
        self
    }

    /// Sets the aspect-ratio handling.
    pub const fn fit(mut self, fit: Fit) -> Self {
        self.fit = fit;
        self
    }

    /// Sets the tensor layout.
    pub const fn layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// Sets the channel order.
    pub const fn channels(mut self, channels: Channels) -> Self {
        self.channels = channels;
        self
    }

    /// Sets the normalization.
    pub const fn normalize(mut self, normalize: Normalize) -> Self {
        self.normalize = normalize;
        self
    }

    /// Number of elements the input tensor holds (`C × H × W`), or `None` on overflow.
    pub const fn output_len(&self) -> Option<usize> {
        match self.width.checked_mul(self.height) {
            Some(p) => p.checked_mul(self.channels.count()),
            None => None,
        }
    }

    /// Shape of the input tensor with batch 1, in the configured layout.
    pub const fn shape(&self) -> [usize; 4] {
        let c = self.channels.count();
        match self.layout {
            Layout::Nchw => [1, c, self.height, self.width],
            Layout::Nhwc => [1, self.height, self.width, c],
        }
    }

    /// Where the frame's pixels come from (`src`, in frame pixels) and where they land
    /// (`dst`, in input pixels) for a `frame_w × frame_h` frame. Pixels outside `dst` are
    /// padding.
    pub fn mapping(&self, frame_w: usize, frame_h: usize) -> (Rect, Rect) {
        let full = |w, h| Rect { x: 0, y: 0, w, h };
        let (frame, input) = (full(frame_w, frame_h), full(self.width, self.height));
        match self.fit {
            Fit::Stretch => (frame, input),
            Fit::CenterCrop => (
                centered_fit(frame_w, frame_h, self.width, self.height),
                input,
            ),
            Fit::Letterbox { .. } => (
                frame,
                centered_fit(self.width, self.height, frame_w, frame_h),
            ),
        }
    }

    /// Writes the normalized `f32` input tensor for `frame` into `out`.
    ///
    /// Inlinable (as [`Preprocess::run_quantized`]), so a caller can compile it for the vector
    /// instructions of the CPU it runs on (`#[target_feature]`); the results are the same bytes.
    #[inline(always)]
    pub fn run_f32(&self, frame: &Frame<'_>, out: &mut [f32]) -> Result<(), PreprocessError> {
        let len = out.len();
        self.run(frame, len, F32Out(out))
    }

    /// Writes the quantized input tensor for `frame` into `out` (`i8` or `u8`), bit-identical
    /// to quantizing [`Preprocess::run_f32`]'s output with `q`.
    #[inline(always)]
    pub fn run_quantized<T: QuantInt>(
        &self,
        frame: &Frame<'_>,
        q: QuantParams,
        out: &mut [T],
    ) -> Result<(), PreprocessError> {
        let q = q.check_for::<T>()?;
        let len = out.len();
        self.run(frame, len, QuantOut { out, q })
    }

    /// [`Preprocess::run_quantized`] compiled for AVX-512 (F, BW, VL, DQ, with AVX2, FMA,
    /// BMI1/2, LZCNT, POPCNT): the same bytes, about 1.4× faster on a Zen 4 core.
    /// `inception-edge`'s classifier picks it at run time. (Compiled for AVX2 alone, the same
    /// code ran 1.7× slower than the baseline build there, so there is no AVX2 variant.)
    ///
    /// # Safety
    ///
    /// The CPU must have every instruction set listed above (check each with
    /// `is_x86_feature_detected!`); calling it elsewhere is undefined behaviour.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,bmi1,bmi2,lzcnt,popcnt")]
    pub fn run_quantized_avx512<T: QuantInt>(
        &self,
        frame: &Frame<'_>,
        q: QuantParams,
        out: &mut [T],
    ) -> Result<(), PreprocessError> {
        self.run_quantized(frame, q, out)
    }

    /// Checks the recipe against an output of `out_len` elements; returns the per-channel
    /// affine map of the normalization.
    fn check(&self, out_len: usize) -> Result<[(f32, f32); 3], PreprocessError> {
        if self.width == 0 || self.height == 0 {
            return Err(PreprocessError::EmptyOutput);
        }
        let needed = self.output_len().ok_or(PreprocessError::TooLarge)?;
        if out_len != needed {
            return Err(PreprocessError::OutputSize {
                needed,
                got: out_len,
            });
        }
        self.normalize
            .affine()
            .ok_or(PreprocessError::InvalidNormalization)
    }

    /// Shared driver: validates, maps geometry, picks the pixel reader for the frame's format
    /// once (so the per-pixel loop has no format dispatch) and hands runs of values to `emit`.
    #[inline(always)]
    fn run(
        &self,
        frame: &Frame<'_>,
        out_len: usize,
        emit: impl Emit,
    ) -> Result<(), PreprocessError> {
        let affine = self.check(out_len)?;
        let (d, stride) = (frame.data(), frame.stride());
        match (self.channels, frame.format()) {
            (Channels::Gray, PixelFormat::Gray8) => {
                self.resample(frame, affine, GrayOf(Gray8 { d, stride }), emit)
            }
            (Channels::Gray, _) => self.resample(frame, affine, GrayOf(Any(frame)), emit),
            (_, PixelFormat::Yuyv) => self.resample(frame, affine, Yuyv { d, stride }, emit),
            (_, PixelFormat::Nv12) => {
                let chroma = stride * frame.height();
                self.resample(frame, affine, Nv12 { d, stride, chroma }, emit)
            }
            (_, PixelFormat::Rgb888) => self.resample(frame, affine, Rgb888 { d, stride }, emit),
            _ => self.resample(frame, affine, Any(frame), emit),
        }
        Ok(())
    }

    /// The resampling loop for one pixel reader. Resampled pixels of an output row are
    /// gathered per channel in chunks of [`CHUNK`], then normalized and stored a channel run at
    /// a time, so the store loop is contiguous (NCHW) and compiles to vector code.
    #[inline(always)]
    fn resample(
        &self,
        frame: &Frame<'_>,
        affine: [(f32, f32); 3],
        pixels: impl Pixels,
        mut emit: impl Emit,
    ) {
        let (src, dst) = self.mapping(frame.width(), frame.height());
        let fill = match self.fit {
            Fit::Letterbox { fill } => f32::from(fill),
            _ => 0.0,
        };
        let nc = self.channels.count();
        let plane = self.width * self.height;
        // Output index of channel c at pixel p: p * pixel_step + c * channel_step.
        let (pixel_step, channel_step) = match self.layout {
            Layout::Nchw => (1, plane),
            Layout::Nhwc => (nc, 1),
        };
        // Channel c of the output reads RGB index order[c].
        let order = if self.channels == Channels::Bgr {
            [2, 1, 0]
        } else {
            [0, 1, 2]
        };
        let fetch = |x: usize, y: usize| pixels.rgb(src.x + x, src.y + y);
        let mut chunk = [[0f32; CHUNK]; 3];
        for oy in 0..self.height {
            let row_inside = oy >= dst.y && oy < dst.y + dst.h;
            let dy = oy.wrapping_sub(dst.y);
            let (y0, fy) = if row_inside && self.resize == Resize::Bilinear {
                bilinear_coord(dy, src.h, dst.h)
            } else {
                (0, 0)
            };
            let y1 = (y0 + 1).min(src.h - 1);
            let mut xs = BilinearAxis::new(src.w, dst.w);
            let mut first = 0;
            while first < self.width {
                let n = (self.width - first).min(CHUNK);
                for ox in first..first + n {
                    let k = ox - first;
                    let inside = row_inside && ox >= dst.x && ox < dst.x + dst.w;
                    let v = if !inside {
                        [fill; 3]
                    } else if self.resize == Resize::Bilinear {
                        let (x0, fx) = xs.next();
                        let x1 = (x0 + 1).min(src.w - 1);
                        let [p00, p01] = pixels.pair(src.x + x0, src.x + x1, src.y + y0);
                        let [p10, p11] = pixels.pair(src.x + x0, src.x + x1, src.y + y1);
                        mix([p00, p01, p10, p11], fx as u32, fy as u32)
                    } else {
                        area(&fetch, src.w, src.h, dst.w, dst.h, ox - dst.x, dy)
                    };
                    chunk[0][k] = v[0];
                    chunk[1][k] = v[1];
                    chunk[2][k] = v[2];
                }
                let base = (oy * self.width + first) * pixel_step;
                for c in 0..nc {
                    let start = base + c * channel_step;
                    emit.run(start, pixel_step, affine[c], &chunk[order[c]][..n]);
                }
                first += n;
            }
        }
    }
}

/// Output pixels gathered per channel before they are normalized and stored.
const CHUNK: usize = 64;

/// Stores normalized values: `v[k] · a + b` at index `start + k · step` of the input tensor.
trait Emit {
    fn run(&mut self, start: usize, step: usize, affine: (f32, f32), v: &[f32]);
}

/// `f32` input tensor.
struct F32Out<'o>(&'o mut [f32]);

impl Emit for F32Out<'_> {
    #[inline(always)]
    fn run(&mut self, start: usize, step: usize, (a, b): (f32, f32), v: &[f32]) {
        store(self.0, start, step, v, |x| x * a + b);
    }
}

/// Quantized input tensor.
struct QuantOut<'o, T> {
    out: &'o mut [T],
    q: QuantParams,
}

impl<T: QuantInt> Emit for QuantOut<'_, T> {
    #[inline(always)]
    fn run(&mut self, start: usize, step: usize, (a, b): (f32, f32), v: &[f32]) {
        let q = self.q;
        store(self.out, start, step, v, |x| q.quantize(x * a + b));
    }
}

/// `out[start + k · step] = f(v[k])`; the contiguous case is a plain slice loop the compiler
/// vectorizes. Indices are in range by construction (the output length was checked).
#[inline(always)]
fn store<T>(out: &mut [T], start: usize, step: usize, v: &[f32], f: impl Fn(f32) -> T) {
    if step == 1 {
        let dst = &mut out[start..start + v.len()];
        for (o, &x) in dst.iter_mut().zip(v) {
            *o = f(x);
        }
    } else {
        for (o, &x) in out[start..].iter_mut().step_by(step).zip(v) {
            *o = f(x);
        }
    }
}

/// Bilinear blend of `[p00, p01, p10, p11]` with Q11 fractions: the integer sums of
/// `bilinear`, in `u32` (255 · 2¹¹ · 2¹¹ < 2³²).
#[inline(always)]
fn mix(p: [[u8; 3]; 4], fx: u32, fy: u32) -> [f32; 3] {
    let one = ONE as u32;
    let mut v = [0f32; 3];
    for c in 0..3 {
        let top = u32::from(p[0][c]) * (one - fx) + u32::from(p[1][c]) * fx;
        let bot = u32::from(p[2][c]) * (one - fx) + u32::from(p[3][c]) * fx;
        let sum = top * (one - fy) + bot * fy;
        v[c] = sum as f32 * (1.0 / (ONE * ONE) as f32);
    }
    v
}

/// Reads pixels of a frame as RGB; one implementation per common camera format so the
/// resampling loop is compiled without a per-pixel format match. Coordinates are inside the
/// frame (`mapping` guarantees it); the arithmetic is that of [`Frame::rgb`].
trait Pixels {
    fn rgb(&self, x: usize, y: usize) -> [u8; 3];

    /// Pixels `x0` and `x1` of row `y` (a reader may share work between neighbours).
    #[inline(always)]
    fn pair(&self, x0: usize, x1: usize, y: usize) -> [[u8; 3]; 2] {
        [self.rgb(x0, y), self.rgb(x1, y)]
    }
}

/// Any format, through [`Frame::rgb`].
struct Any<'f, 'a>(&'f Frame<'a>);

impl Pixels for Any<'_, '_> {
    #[inline(always)]
    fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        self.0.rgb(x, y)
    }
}

/// The grey value of another reader's pixel in all three channels (as [`Frame::gray`]).
struct GrayOf<P>(P);

impl<P: Pixels> Pixels for GrayOf<P> {
    #[inline(always)]
    fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        let [r, g, b] = self.0.rgb(x, y);
        let l = luma(r, g, b);
        [l, l, l]
    }
}

struct Gray8<'a> {
    d: &'a [u8],
    stride: usize,
}

impl Pixels for Gray8<'_> {
    #[inline(always)]
    fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        let g = self.d[y * self.stride + x];
        [g, g, g]
    }
}

struct Yuyv<'a> {
    d: &'a [u8],
    stride: usize,
}

impl Pixels for Yuyv<'_> {
    #[inline(always)]
    fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        let row = y * self.stride;
        let pair = row + 4 * (x / 2);
        yuv_to_rgb(self.d[row + 2 * x], self.d[pair + 1], self.d[pair + 3])
    }

    /// Neighbours in one YUYV macropixel share their chroma terms.
    #[inline(always)]
    fn pair(&self, x0: usize, x1: usize, y: usize) -> [[u8; 3]; 2] {
        if !x0.is_multiple_of(2) || x1 != x0 + 1 {
            return [self.rgb(x0, y), self.rgb(x1, y)];
        }
        let i = y * self.stride + 2 * x0;
        let (chroma, y0, y1) = (
            Chroma::new(self.d[i + 1], self.d[i + 3]),
            self.d[i],
            self.d[i + 2],
        );
        [chroma.rgb(y0), chroma.rgb(y1)]
    }
}

struct Nv12<'a> {
    d: &'a [u8],
    stride: usize,
    chroma: usize,
}

impl Pixels for Nv12<'_> {
    #[inline(always)]
    fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        let uv = self.chroma + (y / 2) * self.stride + (x & !1);
        yuv_to_rgb(self.d[y * self.stride + x], self.d[uv], self.d[uv + 1])
    }
}

struct Rgb888<'a> {
    d: &'a [u8],
    stride: usize,
}

impl Pixels for Rgb888<'_> {
    #[inline(always)]
    fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        let i = y * self.stride + 3 * x;
        [self.d[i], self.d[i + 1], self.d[i + 2]]
    }
}

/// The source coordinates of consecutive output indices along one axis, stepped without a
/// division per index; equal to [`bilinear_coord`] at every index.
struct BilinearAxis {
    quotient: u64,
    remainder: u64,
    step_quotient: u64,
    step_remainder: u64,
    denominator: u64,
    max: u64,
}

impl BilinearAxis {
    fn new(src: usize, dst: usize) -> Self {
        // bilinear_coord(o) = ((2o + 1) · src · ONE) / (2 · dst) − ONE / 2, clamped.
        let denominator = 2 * dst as u64;
        let first = src as u64 * ONE;
        let step = 2 * first;
        BilinearAxis {
            quotient: first / denominator,
            remainder: first % denominator,
            step_quotient: step / denominator,
            step_remainder: step % denominator,
            denominator,
            max: (src as u64).saturating_sub(1) * ONE,
        }
    }

    /// (index, Q11 fraction) of the next output index.
    #[inline(always)]
    fn next(&mut self) -> (usize, u64) {
        let s = self.quotient.saturating_sub(ONE / 2).min(self.max);
        self.quotient += self.step_quotient;
        self.remainder += self.step_remainder;
        if self.remainder >= self.denominator {
            self.remainder -= self.denominator;
            self.quotient += 1;
        }
        ((s >> FRAC) as usize, s & (ONE - 1))
    }
}

#[cfg(test)]
impl Preprocess {
    /// The straightforward per-pixel driver the fast one must match bit for bit.
    #[cfg(test)]
    fn run_reference(
        &self,
        frame: &Frame<'_>,
        out_len: usize,
        mut emit: impl FnMut(usize, f32),
    ) -> Result<(), PreprocessError> {
        let affine = self.check(out_len)?;
        let (src, dst) = self.mapping(frame.width(), frame.height());
        let fill = match self.fit {
            Fit::Letterbox { fill } => f32::from(fill),
            _ => 0.0,
        };
        let nc = self.channels.count();
        let plane = self.width * self.height;
        let gray = self.channels == Channels::Gray;
        let fetch = |x: usize, y: usize| -> [u8; 3] {
            if gray {
                let g = frame.gray(src.x + x, src.y + y);
                [g, g, g]
            } else {
                frame.rgb(src.x + x, src.y + y)
            }
        };
        for oy in 0..self.height {
            for ox in 0..self.width {
                let inside = ox >= dst.x && ox < dst.x + dst.w && oy >= dst.y && oy < dst.y + dst.h;
                let v = if inside {
                    let (dx, dy) = (ox - dst.x, oy - dst.y);
                    match self.resize {
                        Resize::Bilinear => bilinear(&fetch, src.w, src.h, dst.w, dst.h, dx, dy),
                        Resize::Area => area(&fetch, src.w, src.h, dst.w, dst.h, dx, dy),
                    }
                } else {
                    [fill; 3]
                };
                for (c, &(a, b)) in affine.iter().enumerate().take(nc) {
                    // Channel c of the output reads RGB index `k`.
                    let k = if self.channels == Channels::Bgr {
                        2 - c
                    } else {
                        c
                    };
                    let x = v[k] * a + b;
                    let i = match self.layout {
                        Layout::Nchw => c * plane + oy * self.width + ox,
                        Layout::Nhwc => (oy * self.width + ox) * nc + c,
                    };
                    emit(i, x);
                }
            }
        }
        Ok(())
    }
}

/// The largest rectangle of aspect ratio `aw : ah` centred in an `outer_w × outer_h` one
/// (sides rounded to the nearest pixel, at least 1).
fn centered_fit(outer_w: usize, outer_h: usize, aw: usize, ah: usize) -> Rect {
    let (ow, oh, aw, ah) = (outer_w as u128, outer_h as u128, aw as u128, ah as u128);
    // Rounded `a * b / c`, at least 1 and at most `max`.
    let scaled =
        |a: u128, b: u128, c: u128, max: usize| (((a * b + c / 2) / c) as usize).clamp(1, max);
    if ow * ah > oh * aw {
        let w = scaled(oh, aw, ah, outer_w);
        Rect {
            x: (outer_w - w) / 2,
            y: 0,
            w,
            h: outer_h,
        }
    } else {
        let h = scaled(ow, ah, aw, outer_h);
        Rect {
            x: 0,
            y: (outer_h - h) / 2,
            w: outer_w,
            h,
        }
    }
}

/// Fractional bits of bilinear coordinates.
const FRAC: u32 = 11;
const ONE: u64 = 1 << FRAC;

/// Half-pixel-centre source coordinate of output index `o` as (index, Q11 fraction).
#[inline]
fn bilinear_coord(o: usize, src: usize, dst: usize) -> (usize, u64) {
    let num = (2 * o as u64 + 1) * src as u64 * ONE;
    let s = (num / (2 * dst as u64)).saturating_sub(ONE / 2);
    let max = (src as u64 - 1) * ONE;
    let s = s.min(max);
    ((s >> FRAC) as usize, s & (ONE - 1))
}

#[cfg(test)]
#[inline]
fn bilinear(
    fetch: &impl Fn(usize, usize) -> [u8; 3],
    sw: usize,
    sh: usize,
    dw: usize,
    dh: usize,
    dx: usize,
    dy: usize,
) -> [f32; 3] {
    let (x0, fx) = bilinear_coord(dx, sw, dw);
    let (y0, fy) = bilinear_coord(dy, sh, dh);
    let x1 = (x0 + 1).min(sw - 1);
    let y1 = (y0 + 1).min(sh - 1);
    let (p00, p01, p10, p11) = (fetch(x0, y0), fetch(x1, y0), fetch(x0, y1), fetch(x1, y1));
    let mut v = [0f32; 3];
    for c in 0..3 {
        let top = u64::from(p00[c]) * (ONE - fx) + u64::from(p01[c]) * fx;
        let bot = u64::from(p10[c]) * (ONE - fx) + u64::from(p11[c]) * fx;
        let sum = top * (ONE - fy) + bot * fy;
        v[c] = sum as f32 * (1.0 / (ONE * ONE) as f32);
    }
    v
}

/// Source index range and per-index weight of output `o` along one axis for the box filter,
/// in units of `1 / dst` source pixels; weights sum to `src`.
#[inline]
fn area_span(o: usize, src: usize, dst: usize) -> (usize, usize) {
    let start = o * src;
    let end = (o + 1) * src;
    (start / dst, (end - 1) / dst)
}

#[inline]
fn area_weight(i: usize, o: usize, src: usize, dst: usize) -> u64 {
    let lo = (o * src).max(i * dst);
    let hi = ((o + 1) * src).min((i + 1) * dst);
    (hi - lo) as u64
}

#[inline]
fn area(
    fetch: &impl Fn(usize, usize) -> [u8; 3],
    sw: usize,
    sh: usize,
    dw: usize,
    dh: usize,
    dx: usize,
    dy: usize,
) -> [f32; 3] {
    let (x0, x1) = area_span(dx, sw, dw);
    let (y0, y1) = area_span(dy, sh, dh);
    let mut acc = [0u64; 3];
    for y in y0..=y1 {
        let wy = area_weight(y, dy, sh, dh);
        for x in x0..=x1 {
            let w = wy * area_weight(x, dx, sw, dw);
            let p = fetch(x, y);
            for c in 0..3 {
                acc[c] += u64::from(p[c]) * w;
            }
        }
    }
    let denom = (sw as u64 * sh as u64) as f32;
    [
        acc[0] as f32 / denom,
        acc[1] as f32 / denom,
        acc[2] as f32 / denom,
    ]
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::frame::PixelFormat;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    fn gradient(w: usize, h: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                v.extend_from_slice(&[(x * 7 + y) as u8, (y * 5) as u8, (x * y) as u8]);
            }
        }
        v
    }

    #[test]
    fn a_wrong_output_length_is_rejected_with_both_sizes() {
        let px = gradient(4, 4);
        let f = Frame::new(&px, 4, 4, PixelFormat::Rgb888).unwrap();
        let mut out = [0f32; 10];
        let e = Preprocess::new(2, 2).run_f32(&f, &mut out).unwrap_err();
        assert_eq!(
            e,
            PreprocessError::OutputSize {
                needed: 12,
                got: 10
            }
        );
    }

    #[test]
    fn a_zero_sized_output_is_rejected() {
        let px = gradient(4, 4);
        let f = Frame::new(&px, 4, 4, PixelFormat::Rgb888).unwrap();
        let e = Preprocess::new(0, 2).run_f32(&f, &mut []).unwrap_err();
        assert_eq!(e, PreprocessError::EmptyOutput);
    }

    #[test]
    fn an_output_size_that_overflows_is_rejected() {
        let px = gradient(4, 4);
        let f = Frame::new(&px, 4, 4, PixelFormat::Rgb888).unwrap();
        let pre = Preprocess::new(usize::MAX / 2, 3);
        assert_eq!(pre.output_len(), None);
        assert_eq!(pre.run_f32(&f, &mut []), Err(PreprocessError::TooLarge));
    }

    #[test]
    fn a_zero_std_is_rejected() {
        let px = gradient(4, 4);
        let f = Frame::new(&px, 4, 4, PixelFormat::Rgb888).unwrap();
        let pre = Preprocess::new(2, 2).normalize(Normalize::MeanStd {
            mean: [0.5; 3],
            std: [0.2, 0.0, 0.2],
        });
        let e = pre.run_f32(&f, &mut [0.0; 12]).unwrap_err();
        assert_eq!(e, PreprocessError::InvalidNormalization);
    }

    #[test]
    fn a_zero_point_outside_the_output_type_is_rejected() {
        let px = gradient(4, 4);
        let f = Frame::new(&px, 4, 4, PixelFormat::Rgb888).unwrap();
        let q = QuantParams::new(0.01, 200).unwrap();
        let e = Preprocess::new(2, 2)
            .run_quantized::<i8>(&f, q, &mut [0; 12])
            .unwrap_err();
        assert_eq!(e, PreprocessError::Quant(QuantError::ZeroPointOutOfRange));
    }

    #[test]
    fn same_size_bilinear_is_the_identity() {
        let px = gradient(5, 3);
        let f = Frame::new(&px, 5, 3, PixelFormat::Rgb888).unwrap();
        let pre = Preprocess::new(5, 3)
            .normalize(Normalize::Raw)
            .layout(Layout::Nhwc);
        let mut out = vec![0f32; 45];
        pre.run_f32(&f, &mut out).unwrap();
        let want: Vec<f32> = px.iter().map(|&p| f32::from(p)).collect();
        assert_eq!(out, want);
        let area = pre.resize(Resize::Area);
        area.run_f32(&f, &mut out).unwrap();
        assert_eq!(out, want);
    }

    #[test]
    fn nchw_and_nhwc_hold_the_same_values_transposed() {
        let px = gradient(6, 4);
        let f = Frame::new(&px, 6, 4, PixelFormat::Rgb888).unwrap();
        let pre = Preprocess::new(3, 2);
        let mut a = vec![0f32; 18];
        let mut b = vec![0f32; 18];
        pre.run_f32(&f, &mut a).unwrap();
        pre.layout(Layout::Nhwc).run_f32(&f, &mut b).unwrap();
        for c in 0..3 {
            for p in 0..6 {
                assert_eq!(a[c * 6 + p], b[p * 3 + c]);
            }
        }
    }

    #[test]
    fn bgr_reverses_the_channel_planes() {
        let px = gradient(4, 4);
        let f = Frame::new(&px, 4, 4, PixelFormat::Rgb888).unwrap();
        let pre = Preprocess::new(4, 4).normalize(Normalize::Raw);
        let mut rgb = vec![0f32; 48];
        let mut bgr = vec![0f32; 48];
        pre.run_f32(&f, &mut rgb).unwrap();
        pre.channels(Channels::Bgr).run_f32(&f, &mut bgr).unwrap();
        assert_eq!(rgb[..16], bgr[32..]);
        assert_eq!(rgb[32..], bgr[..16]);
    }

    #[test]
    fn center_crop_takes_the_middle_of_a_wide_frame() {
        let pre = Preprocess::new(10, 10).fit(Fit::CenterCrop);
        let (src, dst) = pre.mapping(640, 480);
        assert_eq!(
            src,
            Rect {
                x: 80,
                y: 0,
                w: 480,
                h: 480
            }
        );
        assert_eq!(
            dst,
            Rect {
                x: 0,
                y: 0,
                w: 10,
                h: 10
            }
        );
        let (src, _) = pre.mapping(300, 500);
        assert_eq!(
            src,
            Rect {
                x: 0,
                y: 100,
                w: 300,
                h: 300
            }
        );
    }

    #[test]
    fn letterbox_pads_with_the_fill_value() {
        // 4x2 white frame into 4x4: rows 0 and 3 are padding.
        let px = [255u8; 4 * 2];
        let f = Frame::new(&px, 4, 2, PixelFormat::Gray8).unwrap();
        let pre = Preprocess::new(4, 4)
            .fit(Fit::Letterbox { fill: 7 })
            .channels(Channels::Gray)
            .normalize(Normalize::Raw);
        let mut out = [0f32; 16];
        pre.run_f32(&f, &mut out).unwrap();
        assert_eq!(&out[..4], &[7.0; 4]);
        assert_eq!(&out[4..12], &[255.0; 8]);
        assert_eq!(&out[12..], &[7.0; 4]);
        // A tall frame is padded left and right.
        let (src, dst) = pre.mapping(2, 4);
        assert_eq!(
            src,
            Rect {
                x: 0,
                y: 0,
                w: 2,
                h: 4
            }
        );
        assert_eq!(
            dst,
            Rect {
                x: 1,
                y: 0,
                w: 2,
                h: 4
            }
        );
    }

    #[test]
    fn inception_normalization_maps_128_to_zero_and_quantizes_exactly() {
        let px = [0u8, 128, 255, 64];
        let f = Frame::new(&px, 4, 1, PixelFormat::Gray8).unwrap();
        let pre = Preprocess::new(4, 1).channels(Channels::Gray);
        let mut out = [0f32; 4];
        pre.run_f32(&f, &mut out).unwrap();
        assert_eq!(out, [-1.0, 0.0, 127.0 / 128.0, -0.5]);
        let q = QuantParams::new(1.0 / 128.0, 0).unwrap();
        let mut qi = [0i8; 4];
        pre.run_quantized(&f, q, &mut qi).unwrap();
        assert_eq!(qi, [-128, 0, 127, -64]);
    }

    #[test]
    fn area_downscale_by_two_averages_blocks_exactly() {
        let px = [0u8, 10, 20, 30, 40, 50, 60, 71];
        let f = Frame::new(&px, 4, 2, PixelFormat::Gray8).unwrap();
        let pre = Preprocess::new(2, 1)
            .channels(Channels::Gray)
            .normalize(Normalize::Raw)
            .resize(Resize::Area);
        let mut out = [0f32; 2];
        pre.run_f32(&f, &mut out).unwrap();
        assert_eq!(
            out,
            [
                (0.0 + 10.0 + 40.0 + 50.0) / 4.0,
                (20.0 + 30.0 + 60.0 + 71.0) / 4.0
            ]
        );
    }

    /// Float reference for bilinear with half-pixel centres.
    fn bilinear_ref(
        img: &[u8],
        w: usize,
        h: usize,
        ow: usize,
        oh: usize,
        ox: usize,
        oy: usize,
    ) -> f64 {
        let sx = ((ox as f64 + 0.5) * w as f64 / ow as f64 - 0.5).clamp(0.0, (w - 1) as f64);
        let sy = ((oy as f64 + 0.5) * h as f64 / oh as f64 - 0.5).clamp(0.0, (h - 1) as f64);
        let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
        let (fx, fy) = (sx - x0 as f64, sy - y0 as f64);
        let p = |x: usize, y: usize| f64::from(img[y * w + x]);
        (p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx) * (1.0 - fy)
            + (p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx) * fy
    }

    /// Float reference for the area filter.
    fn area_ref(img: &[u8], w: usize, h: usize, ow: usize, oh: usize, ox: usize, oy: usize) -> f64 {
        let (x0, x1) = (
            ox as f64 * w as f64 / ow as f64,
            (ox + 1) as f64 * w as f64 / ow as f64,
        );
        let (y0, y1) = (
            oy as f64 * h as f64 / oh as f64,
            (oy + 1) as f64 * h as f64 / oh as f64,
        );
        let mut acc = 0.0;
        for y in 0..h {
            let wy = ((y + 1) as f64).min(y1) - (y as f64).max(y0);
            if wy <= 0.0 {
                continue;
            }
            for x in 0..w {
                let wx = ((x + 1) as f64).min(x1) - (x as f64).max(x0);
                if wx <= 0.0 {
                    continue;
                }
                acc += f64::from(img[y * w + x]) * wx * wy;
            }
        }
        acc / ((x1 - x0) * (y1 - y0))
    }

    fn gray_image() -> impl Strategy<Value = (usize, usize, Vec<u8>)> {
        (1usize..24, 1usize..24).prop_flat_map(|(w, h)| {
            (
                Just(w),
                Just(h),
                proptest::collection::vec(any::<u8>(), w * h),
            )
        })
    }

    proptest! {
        /// Tolerance: 0.5 on the 0–255 scale (Q11 coordinates, see the module docs).
        #[test]
        fn bilinear_matches_the_float_reference((w, h, img) in gray_image(), ow in 1usize..20, oh in 1usize..20) {
            let f = Frame::new(&img, w, h, PixelFormat::Gray8).unwrap();
            let pre = Preprocess::new(ow, oh).channels(Channels::Gray).normalize(Normalize::Raw);
            let mut out = vec![0f32; ow * oh];
            pre.run_f32(&f, &mut out).unwrap();
            for oy in 0..oh { for ox in 0..ow {
                let want = bilinear_ref(&img, w, h, ow, oh, ox, oy);
                let got = f64::from(out[oy * ow + ox]);
                prop_assert!((got - want).abs() <= 0.5, "({},{}) got {} want {}", ox, oy, got, want);
            }}
        }

        /// Tolerance: 1e-3 (exact integer sums, one f32 division).
        #[test]
        fn area_matches_the_float_reference((w, h, img) in gray_image(), ow in 1usize..20, oh in 1usize..20) {
            let f = Frame::new(&img, w, h, PixelFormat::Gray8).unwrap();
            let pre = Preprocess::new(ow, oh).channels(Channels::Gray).normalize(Normalize::Raw).resize(Resize::Area);
            let mut out = vec![0f32; ow * oh];
            pre.run_f32(&f, &mut out).unwrap();
            for oy in 0..oh { for ox in 0..ow {
                let want = area_ref(&img, w, h, ow, oh, ox, oy);
                let got = f64::from(out[oy * ow + ox]);
                prop_assert!((got - want).abs() <= 1e-3 * want.max(1.0), "({},{}) got {} want {}", ox, oy, got, want);
            }}
        }

        #[test]
        fn quantized_output_is_bit_identical_to_quantizing_the_float_output(
            (w, h, img) in gray_image(), ow in 1usize..150, oh in 1usize..6,
            scale in 1e-3f32..0.1, zp in -20i32..20, fit in 0u8..3, area in any::<bool>(), norm in 0u8..5,
        ) {
            let f = Frame::new(&img, w, h, PixelFormat::Gray8).unwrap();
            let normalize = [Normalize::Raw, Normalize::Unit, Normalize::Inception, Normalize::Symmetric,
                Normalize::MeanStd { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }][norm as usize];
            let fit = [Fit::Stretch, Fit::CenterCrop, Fit::Letterbox { fill: 9 }][fit as usize];
            let pre = Preprocess::new(ow, oh).channels(Channels::Gray).normalize(normalize).fit(fit)
                .resize(if area { Resize::Area } else { Resize::Bilinear });
            let q = QuantParams::new(scale, zp).unwrap();
            let mut xf = vec![0f32; ow * oh];
            let mut xq = vec![0i8; ow * oh];
            pre.run_f32(&f, &mut xf).unwrap();
            pre.run_quantized(&f, q, &mut xq).unwrap();
            for (a, b) in xf.iter().zip(&xq) {
                prop_assert_eq!(q.quantize::<i8>(*a), *b);
            }
        }

        /// Tolerance: 1e-5 relative (one f32 affine map).
        #[test]
        fn normalizations_match_their_formulas(v: u8) {
            let f32v = f32::from(v);
            let px = [v];
            let f = Frame::new(&px, 1, 1, PixelFormat::Gray8).unwrap();
            let cases: [(Normalize, f64); 5] = [
                (Normalize::Raw, f64::from(v)),
                (Normalize::Unit, f64::from(v) / 255.0),
                (Normalize::Inception, (f64::from(v) - 128.0) / 128.0),
                (Normalize::Symmetric, f64::from(v) / 127.5 - 1.0),
                (Normalize::MeanStd { mean: [0.5; 3], std: [0.25; 3] }, (f64::from(v) / 255.0 - 0.5) / 0.25),
            ];
            for (n, want) in cases {
                let mut out = [0f32];
                Preprocess::new(1, 1).channels(Channels::Gray).normalize(n).run_f32(&f, &mut out).unwrap();
                prop_assert!((f64::from(out[0]) - want).abs() <= 1e-5 * want.abs().max(1.0), "{:?} {} {}", n, f32v, out[0]);
            }
        }

        #[test]
        fn every_pixel_format_and_geometry_preprocesses_without_panicking(
            fi in 0usize..7, w in 1usize..12, h in 1usize..12, ow in 1usize..10, oh in 1usize..10,
            fit in 0u8..3, area in any::<bool>(), gray in any::<bool>(), nhwc in any::<bool>(),
        ) {
            let fmt = PixelFormat::ALL[fi];
            let (w, h) = (w * 2, h * 2);
            let buf = vec![200u8; fmt.frame_len(w, h, fmt.min_stride(w).unwrap()).unwrap()];
            let f = Frame::new(&buf, w, h, fmt).unwrap();
            let fit = [Fit::Stretch, Fit::CenterCrop, Fit::Letterbox { fill: 0 }][fit as usize];
            let pre = Preprocess::new(ow, oh).fit(fit)
                .resize(if area { Resize::Area } else { Resize::Bilinear })
                .channels(if gray { Channels::Gray } else { Channels::Rgb })
                .layout(if nhwc { Layout::Nhwc } else { Layout::Nchw });
            let mut out = vec![f32::NAN; pre.output_len().unwrap()];
            pre.run_f32(&f, &mut out).unwrap();
            prop_assert!(out.iter().all(|x| x.is_finite()));
        }

        #[test]
        fn the_fast_driver_is_bit_identical_to_the_per_pixel_reference(
            fi in 0usize..7, w in 1usize..40, h in 1usize..40, pad in 0usize..9, seed: u32,
            ow in 1usize..140, oh in 1usize..20, fit in 0u8..3, area in any::<bool>(),
            channels in 0u8..3, nhwc in any::<bool>(), fill: u8,
        ) {
            let fmt = PixelFormat::ALL[fi];
            let Some(min) = fmt.min_stride(w) else { return Ok(()) };
            let stride = min + pad;
            let Some(len) = fmt.frame_len(w, h, stride) else { return Ok(()) };
            let mut x = seed | 1;
            let buf: Vec<u8> = (0..len).map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 24) as u8
            }).collect();
            let Ok(f) = Frame::with_stride(&buf, w, h, stride, fmt) else { return Ok(()) };
            let fit = [Fit::Stretch, Fit::CenterCrop, Fit::Letterbox { fill }][fit as usize];
            let pre = Preprocess::new(ow, oh).fit(fit)
                .resize(if area { Resize::Area } else { Resize::Bilinear })
                .channels([Channels::Rgb, Channels::Bgr, Channels::Gray][channels as usize])
                .layout(if nhwc { Layout::Nhwc } else { Layout::Nchw });
            let n = pre.output_len().unwrap();
            let (mut fast, mut slow) = (vec![f32::NAN; n], vec![f32::NAN; n]);
            pre.run_f32(&f, &mut fast).unwrap();
            pre.run_reference(&f, n, |i, v| slow[i] = v).unwrap();
            for (i, (a, b)) in fast.iter().zip(&slow).enumerate() {
                prop_assert_eq!(a.to_bits(), b.to_bits(), "element {}: {} vs {}", i, a, b);
            }
        }
    }

    #[test]
    fn the_stepped_bilinear_axis_equals_the_divided_coordinates() {
        for src in 1..200 {
            for dst in 1..200 {
                let mut axis = BilinearAxis::new(src, dst);
                for o in 0..dst {
                    assert_eq!(
                        axis.next(),
                        bilinear_coord(o, src, dst),
                        "{src} -> {dst} at {o}"
                    );
                }
            }
        }
    }
}
