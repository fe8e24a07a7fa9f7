//! Preprocessing of a camera frame into the model input: the per-frame CPU cost outside
//! inference. Run with `cargo bench --bench preprocess`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use inception_edge_core::{
    Fit, Frame, Layout, Normalize, PixelFormat, Preprocess, QuantParams, Resize,
};

/// A deterministic textured frame (not constant, so no branch sees only one value).
fn frame_bytes(len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_u32;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let pre = Preprocess::new(299, 299)
        .resize(Resize::Bilinear)
        .fit(Fit::CenterCrop)
        .layout(Layout::Nchw)
        .normalize(Normalize::Inception);
    let q = QuantParams::new(1.0 / 127.0, 0).expect("quant params");
    let mut out = vec![0i8; pre.output_len().unwrap_or(0)];
    let mut group = c.benchmark_group("preprocess 640x480 -> 299x299 int8");
    group.throughput(Throughput::Elements(1));
    for (name, format, bpp) in [
        ("yuyv", PixelFormat::Yuyv, 2.0),
        ("nv12", PixelFormat::Nv12, 1.5),
        ("rgb888", PixelFormat::Rgb888, 3.0),
        ("rgb565", PixelFormat::Rgb565, 2.0),
        ("gray8", PixelFormat::Gray8, 1.0),
    ] {
        let data = frame_bytes((640.0 * 480.0 * bpp) as usize);
        let frame = Frame::new(&data, 640, 480, format).expect("frame");
        group.bench_function(name, |b| {
            b.iter(|| {
                black_box(&pre)
                    .run_quantized(black_box(&frame), black_box(q), &mut out)
                    .expect("preprocess");
                black_box(&out);
            })
        });
    }
    // What the classifier runs: compiled for AVX-512 where the CPU has it.
    let data = frame_bytes(640 * 480 * 2);
    let frame = Frame::new(&data, 640, 480, PixelFormat::Yuyv).expect("frame");
    group.bench_function("yuyv, as the classifier runs it", |b| {
        b.iter(|| {
            inception_edge::classifier::quantize_frame(
                black_box(&pre),
                black_box(&frame),
                black_box(q),
                &mut out,
            )
            .expect("preprocess");
            black_box(&out);
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
