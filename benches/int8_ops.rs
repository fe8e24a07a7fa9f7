//! The int8 operators inception-edge swaps in for tract's at load time, each against tract's
//! own on the same input in the same run, and the whole embedded model. Shapes are
//! Inception-v3's. Run with `cargo bench --bench int8_ops`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use inception_edge::embedded::selftest_frame;
use inception_edge::Classifier;
use inception_edge_ops::{PackI8K4, QIm2col, QIm2colPack, QMaxPool};
use tract_core::internal::*;
use tract_core::ops::cnn::{MaxPool, PaddingSpec, PoolSpec};
use tract_core::ops::nn::DataFormat;
use tract_core::tract_linalg::pack::PackedI8K4;

/// A deterministic i8 tensor.
fn tensor(shape: &[usize]) -> Tensor {
    let mut x = 0x2545_f491_u32;
    let len = shape.iter().product();
    let v: Vec<i8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as i8
        })
        .collect();
    Tensor::from_shape(shape, &v).expect("tensor")
}

/// Packing the patches of Inception-v3's second convolution (3×3 on 32×149×149: a 288 ×
/// 21,609 matrix) into the panels of the x86_64 VNNI kernel.
fn packing(c: &mut Criterion) {
    let format = PackedI8K4::new(16);
    let image = tensor(&[1, 32, 149, 149]);
    let im2col = QIm2col {
        kernel: [3, 3],
        strides: [1, 1],
        dilations: [1, 1],
        pads: [0; 4],
        pad: -128,
        flat: true,
    };
    let patches = im2col.eval_tensor(&image).expect("im2col");
    let ours = PackI8K4 {
        format: format.clone(),
        k_axis: 1,
        mn_axis: 3,
    };
    let fused = QIm2colPack {
        im2col: im2col.clone(),
        format: format.clone(),
        label: None,
    };
    let mut group = c.benchmark_group("pack 288x21609 i8 (v3 conv 2)");
    group.sample_size(20);
    group.bench_function("tract PackedI8K4::pack_view", |b| {
        b.iter(|| black_box(format.pack_view(&patches.view(), 1, 3).expect("pack")))
    });
    group.bench_function("inception-edge PackI8K4", |b| {
        b.iter(|| black_box(ours.pack(black_box(&patches)).expect("pack")))
    });
    group.bench_function("QIm2col then tract's packer", |b| {
        b.iter(|| {
            let p = im2col.eval_tensor(black_box(&image)).expect("im2col");
            black_box(format.pack_view(&p.view(), 1, 3).expect("pack"))
        })
    });
    group.bench_function("inception-edge QIm2colPack (fused)", |b| {
        b.iter(|| black_box(fused.pack(black_box(&image)).expect("pack")))
    });
    group.finish();
}

/// Inception-v3's first max pool (3×3, stride 2, on 64×147×147).
fn max_pool(c: &mut Criterion) {
    let x = tensor(&[1, 64, 147, 147]);
    let mut model = TypedModel::default();
    let input = model.add_source("x", i8::fact(x.shape())).expect("source");
    let pool = MaxPool {
        pool_spec: PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: tvec![3, 3],
            padding: PaddingSpec::Valid,
            dilations: None,
            strides: Some(tvec![2, 2]),
            input_channels: 64,
            output_channels: 64,
        },
        with_index_outputs: None,
    };
    let y = model.wire_node("pool", pool, &[input]).expect("pool");
    model.select_output_outlets(&y).expect("output");
    let tract = model
        .into_optimized()
        .expect("optimize")
        .into_runnable()
        .expect("plan");
    let ours = QMaxPool {
        kernel: [3, 3],
        strides: [2, 2],
        dilations: [1, 1],
        pads: [0; 4],
    };
    let mut group = c.benchmark_group("max pool 3x3/2 on 64x147x147 i8 (v3 pool 1)");
    group.bench_function("tract OptMaxPool", |b| {
        b.iter(|| black_box(tract.run(tvec![x.clone().into_tvalue()]).expect("run")))
    });
    group.bench_function("inception-edge QMaxPool", |b| {
        b.iter(|| black_box(ours.eval_tensor(black_box(&x)).expect("pool")))
    });
    group.finish();
}

/// The embedded int8 model (Inception-v3 by default) on its self-test frame, one thread.
fn whole_model(c: &mut Criterion) {
    let mut classifier = Classifier::embedded().expect("embedded model");
    let frame = selftest_frame().expect("frame");
    let mut group = c.benchmark_group("embedded int8 model, 1 thread");
    group.sample_size(20);
    group.bench_function("classify self-test frame", |b| {
        b.iter(|| black_box(classifier.classify(black_box(&frame), 5).expect("classify")))
    });
    group.finish();
}

criterion_group!(benches, packing, max_pool, whole_model);
criterion_main!(benches);
