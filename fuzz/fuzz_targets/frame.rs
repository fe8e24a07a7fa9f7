//! Frame constructors and preprocessing geometry: any size, stride, pixel format, output
//! geometry, fit, filter, layout and channels over any bytes must give a typed error or a
//! filled output, never a panic.
#![no_main]

use inception_edge_core::preprocess::{Channels, Fit, Layout, Normalize, Preprocess, Resize};
use inception_edge_core::quant::QuantParams;
use inception_edge_core::{Frame, PixelFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 12 {
        return;
    }
    let (h, pixels) = data.split_at(12);
    let width = usize::from(u16::from_le_bytes([h[0], h[1]])) % 2048;
    let height = usize::from(u16::from_le_bytes([h[2], h[3]])) % 2048;
    let pad = usize::from(h[4]);
    let format = PixelFormat::ALL[usize::from(h[5]) % PixelFormat::ALL.len()];
    let out_w = 1 + usize::from(h[6]) % 64;
    let out_h = 1 + usize::from(h[7]) % 64;
    let fit = match h[8] % 3 {
        0 => Fit::Stretch,
        1 => Fit::CenterCrop,
        _ => Fit::Letterbox { fill: h[9] },
    };
    let resize = if h[8] & 0x80 == 0 { Resize::Bilinear } else { Resize::Area };
    let layout = if h[9] & 1 == 0 { Layout::Nchw } else { Layout::Nhwc };
    let channels = match h[10] % 3 {
        0 => Channels::Rgb,
        1 => Channels::Bgr,
        _ => Channels::Gray,
    };
    let pre = Preprocess::new(out_w, out_h)
        .fit(fit)
        .resize(resize)
        .layout(layout)
        .channels(channels)
        .normalize(Normalize::Inception);
    let frame = match format.min_stride(width) {
        Some(s) if h[11] & 1 == 1 => Frame::with_stride(pixels, width, height, s + pad, format),
        _ => Frame::new(pixels, width, height, format),
    };
    let Ok(frame) = frame else { return };
    let Some(len) = pre.output_len() else { return };
    let mut f = vec![0f32; len];
    let _ = pre.run_f32(&frame, &mut f);
    let mut q = vec![0i8; len];
    if let Ok(params) = QuantParams::new(0.0078125, i32::from(h[11] as i8)) {
        let _ = pre.run_quantized(&frame, params, &mut q);
    }
    // A wrong output length is an error, not a panic.
    let _ = pre.run_f32(&frame, &mut f[..len - 1]);
});
