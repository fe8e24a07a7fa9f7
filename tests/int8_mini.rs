//! The int8 mini model: bit-exact goldens on every architecture (x86_64 here, aarch64 and
//! armv7 under qemu in CI), compiler determinism, corrupt blobs.
//!
//! Goldens: `cargo run --release --example int8_goldens` rewrites
//! `tests/data/int8/{mini-inception-fmnist.int8.nnef.tgz,mini-golden.json}`.

mod common;

use inception_edge::decode::RgbImage;
use inception_edge::engine::InputKind;
use inception_edge::{Classifier, Engine, Error};

fn blob() -> Vec<u8> {
    std::fs::read(common::data("int8/mini-inception-fmnist.int8.nnef.tgz")).unwrap()
}

fn golden() -> serde_json::Value {
    let text = std::fs::read_to_string(common::data("int8/mini-golden.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn classifier(blob: &[u8]) -> Classifier {
    Classifier::from_manifest_and_model_bytes(common::mini_manifest(), blob).unwrap()
}

#[test]
fn the_committed_int8_model_reproduces_its_golden_logits_bit_for_bit() {
    let golden = golden();
    let mut c = classifier(&blob());
    let images = golden["images"].as_array().unwrap();
    assert_eq!(images.len(), 10);
    for img in images {
        let file = img["file"].as_str().unwrap();
        let rgb = RgbImage::open(common::data("fmnist").join(file)).unwrap();
        c.classify(&rgb.frame().unwrap(), 1).unwrap();
        let want: Vec<u32> = img["bits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap() as u32)
            .collect();
        let got: Vec<u32> = c.logits().iter().map(|v| v.to_bits()).collect();
        assert_eq!(got, want, "{file}: {:?}", c.logits());
    }
}

#[test]
fn the_int8_model_takes_int8_input_with_its_declared_scale() {
    let engine = Engine::from_nnef_bytes(&blob(), "mini").unwrap();
    let InputKind::I8(q) = engine.input_kind() else {
        panic!("an int8 model takes i8 input")
    };
    // Inception normalization maps pixels to [-1, 1]; the input is never clipped: 1/127.
    assert!((q.scale() - 1.0 / 127.0).abs() < 1e-6, "{}", q.scale());
    assert_eq!(q.zero_point(), 0);
    // the only float arithmetic is the final dequantization (then a reshape of its output)
    let float: Vec<_> = engine.operators().into_iter().filter(|o| o.float).collect();
    assert!(
        float
            .iter()
            .all(|o| o.name == "Dequant" || o.name == "IntoShape"),
        "{float:?}"
    );
}

#[test]
fn an_f32_input_is_quantized_exactly_as_the_preprocessing_does() {
    let mut c = classifier(&blob());
    let rgb = RgbImage::open(common::data("fmnist/bag.png")).unwrap();
    let frame = rgb.frame().unwrap();
    c.classify(&frame, 1).unwrap();
    let via_classifier = c.logits().to_vec();
    let mut input = vec![0f32; 28 * 28];
    c.preprocess().run_f32(&frame, &mut input).unwrap();
    let mut engine = Engine::from_nnef_bytes(&blob(), "mini").unwrap();
    let mut out = Vec::new();
    engine.run(&input, &mut out).unwrap();
    assert_eq!(out, via_classifier);
}

#[test]
fn int8_and_fp32_pick_the_same_class_on_the_fixtures() {
    let mut int8 = classifier(&blob());
    let mut fp32 = Classifier::from_manifest(common::mini_manifest()).unwrap();
    let mut same = 0;
    let refs = common::references();
    for r in &refs {
        let frame_src = RgbImage::open(&r.file).unwrap();
        let frame = frame_src.frame().unwrap();
        let a = int8.classify(&frame, 1).unwrap().top[0].class;
        let b = fp32.classify(&frame, 1).unwrap().top[0].class;
        same += usize::from(a == b);
    }
    assert!(same + 1 >= refs.len(), "{same} of {} agree", refs.len());
}

#[test]
fn a_truncated_or_corrupted_blob_is_a_typed_error_not_a_panic() {
    let blob = blob();
    // (the last 8 bytes are gzip's checksum trailer, which the reader does not insist on)
    for cut in [0, 10, blob.len() / 3, blob.len() / 2, blob.len() - 40] {
        let r = Engine::from_nnef_bytes(&blob[..cut], "cut");
        assert!(matches!(r, Err(Error::Model { .. })), "cut at {cut}: {r:?}");
    }
    let mut flipped = blob.clone();
    for i in (20..flipped.len()).step_by(97) {
        flipped[i] ^= 0x5a;
    }
    let r = Engine::from_nnef_bytes(&flipped, "flipped");
    assert!(matches!(r, Err(Error::Model { .. })), "{r:?}");
}

/// The blob is produced on the build host; boards only run it (the test above). fp32 tract
/// kernels differ per architecture in their last bits, so calibration — and so the blob —
/// is reproducible per host architecture, which is what this checks.
#[cfg(target_arch = "x86_64")]
#[test]
fn compiling_the_mini_model_again_gives_the_committed_bytes() {
    use inception_edge::dataset::ImageSet;
    use inception_edge_compiler::{compile, to_nnef_bytes, Calibrator, FloatModel, Options};
    let fp32 = Classifier::from_manifest(common::mini_manifest()).unwrap();
    let float = FloatModel::from_onnx_file(common::mini_model(), None).unwrap();
    let calib = ImageSet::open(common::data("fmnist-v3/calib-200-images-idx3-ubyte.gz")).unwrap();
    let mut calibrator = Calibrator::new(&float).unwrap();
    let mut input = vec![0f32; float.input_len()];
    for i in 0..calib.len() {
        calib
            .with_frame(i, |f| fp32.preprocess().run_f32(f, &mut input))
            .unwrap()
            .unwrap();
        calibrator.observe(&input).unwrap();
    }
    let int8 = compile(&float, &calibrator.finish().unwrap(), &Options::default()).unwrap();
    let again = to_nnef_bytes(&int8.model).unwrap();
    assert_eq!(
        again,
        to_nnef_bytes(&int8.model).unwrap(),
        "two writes differ"
    );
    assert!(
        again == blob(),
        "recompiled blob differs from the committed one"
    );
}

#[test]
fn the_memory_estimate_counts_every_weight_and_the_largest_values() {
    use tract_core::prelude::*;
    let blob = blob();
    let engine = Engine::from_nnef_bytes(&blob, "mini").unwrap();
    let memory = engine.memory();
    // the graph as written: its i8 constants are the weights, its other values activations
    let model = inception_edge_compiler::from_nnef_bytes(&blob, "mini").unwrap();
    let (mut weights, mut largest, mut all) = (0usize, 0usize, 0usize);
    for node in &model.nodes {
        let fact = &node.outputs[0].fact;
        let bytes =
            fact.shape.as_concrete().unwrap().iter().product::<usize>() * fact.datum_type.size_of();
        if let Some(k) = &fact.konst {
            weights += usize::from(k.datum_type().unquantized() == i8::datum_type()) * bytes;
        } else {
            // i32 accumulators may never exist: requantized inside the matrix kernel
            if fact.datum_type != i32::datum_type() {
                largest = largest.max(bytes);
            }
            all += bytes;
        }
    }
    assert!(weights > 10_000, "{weights} bytes of weights");
    // packed panels pad the weights, never drop any; biases and tables come on top
    assert!(memory.constants >= weights, "{memory:?} < {weights}");
    assert!(memory.constants < 2 * weights + 65_536, "{memory:?}");
    // at least the largest int8 or f32 value is alive at some step, never more than all of
    // them (plus the packed patch matrices, at most as large again as everything else)
    assert!(memory.peak_activations >= largest, "{memory:?} < {largest}");
    assert!(memory.peak_activations < 2 * all, "{memory:?} vs {all}");
}
