//! The engine smoke test, run on every target (x86_64, and aarch64 / armv7 under qemu):
//! tract's logits for the bundled model match onnxruntime's on the committed fixtures.
//!
//! Regenerate the references with `python3 tools/train_mini.py` (which retrains the model).

mod common;

use inception_edge::decode::RgbImage;
use inception_edge::{Classifier, Engine, Error};

/// Named tolerance: tract and onnxruntime sum in different orders; fp32 logits of this model
/// agree to ~1e-6, 1e-4 leaves room for other SIMD kernels on ARM.
const LOGIT_TOLERANCE: f32 = 1e-4;

#[test]
fn tract_logits_match_onnxruntime_on_every_fixture() {
    let mut classifier = Classifier::from_manifest(common::mini_manifest()).unwrap();
    let mut engine = Engine::from_onnx_file(common::mini_model()).unwrap();
    let refs = common::references();
    assert_eq!(refs.len(), 10);
    for r in &refs {
        let img = RgbImage::open(&r.file).unwrap();
        let frame = img.frame().unwrap();
        let mut input = vec![0f32; 28 * 28];
        classifier.preprocess().run_f32(&frame, &mut input).unwrap();
        let mut logits = Vec::new();
        engine.run(&input, &mut logits).unwrap();
        assert_eq!(logits.len(), r.logits.len());
        for (got, want) in logits.iter().zip(&r.logits) {
            assert!(
                (got - want).abs() <= LOGIT_TOLERANCE,
                "{}: {got} vs {want}",
                r.file.display()
            );
        }
        let top = classifier.classify(&frame, 3).unwrap();
        assert_eq!(
            usize::from(top.top[0].class),
            r.argmax(),
            "{}",
            r.file.display()
        );
        let sum: f32 = top.top.iter().map(|p| p.score).sum();
        assert!(sum <= 1.0 + 1e-5 && top.top[0].score >= top.top[1].score);
    }
}

#[test]
fn the_bundled_model_gets_most_fixtures_right() {
    let refs = common::references();
    let correct = refs.iter().filter(|r| r.argmax() == r.label).count();
    assert!(correct >= 8, "only {correct}/10 fixtures correct");
}

#[test]
fn an_input_of_the_wrong_size_is_a_typed_error() {
    let mut engine = Engine::from_onnx_file(common::mini_model()).unwrap();
    assert_eq!(engine.input_shape(), [1, 1, 28, 28]);
    let err = engine.run(&[0.0; 10], &mut Vec::new()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InputSize {
                got: 10,
                expected: 784,
                ..
            }
        ),
        "{err}"
    );
}
