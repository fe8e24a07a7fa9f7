//! Classifier construction refuses inconsistent parts with typed errors.

mod common;

use inception_edge::core::preprocess::{Channels, Preprocess};
use inception_edge::core::{Frame, PixelFormat};
use inception_edge::manifest::OutputKind;
use inception_edge::{Classifier, Engine, Error};

fn engine() -> Engine {
    Engine::from_onnx_file(common::mini_model()).unwrap()
}

#[test]
fn preprocessing_for_another_input_size_is_refused() {
    let pre = Preprocess::new(32, 32).channels(Channels::Gray);
    let err = Classifier::new(engine(), pre, vec![], OutputKind::Logits).unwrap_err();
    assert!(matches!(err, Error::InputShape { .. }), "{err}");
    assert!(err.to_string().contains("[1, 1, 32, 32]"), "{err}");
}

#[test]
fn rgb_preprocessing_for_a_grey_model_is_refused() {
    let pre = Preprocess::new(28, 28);
    let err = Classifier::new(engine(), pre, vec![], OutputKind::Logits).unwrap_err();
    assert!(matches!(err, Error::InputShape { .. }), "{err}");
}

#[test]
fn a_label_count_other_than_the_class_count_is_refused() {
    let pre = Preprocess::new(28, 28).channels(Channels::Gray);
    let labels = vec!["a".to_string(); 3];
    let err = Classifier::new(engine(), pre, labels, OutputKind::Logits).unwrap_err();
    assert!(err.to_string().contains("10 outputs but 3 labels"), "{err}");
}

#[test]
fn frames_of_any_size_and_format_are_classified_into_probabilities() {
    let mut c = Classifier::from_manifest(common::mini_manifest()).unwrap();
    let yuyv = vec![128u8; 64 * 48 * 2];
    let rgb565 = vec![0x55u8; 33 * 17 * 2];
    for frame in [
        Frame::new(&yuyv, 64, 48, PixelFormat::Yuyv).unwrap(),
        Frame::new(&rgb565, 33, 17, PixelFormat::Rgb565).unwrap(),
    ] {
        let r = c.classify(&frame, 10).unwrap();
        assert_eq!(r.top.len(), 10);
        let total: f32 = r.top.iter().map(|p| p.score).sum();
        assert!((total - 1.0).abs() < 1e-4, "{total}");
        assert!(r.top.windows(2).all(|w| w[0].score >= w[1].score));
    }
    assert_eq!(c.label(9), "Ankle boot");
    assert_eq!(c.label(99), "class 99");
}

#[test]
fn a_manifest_that_does_not_exist_is_an_io_error_naming_it() {
    let err = Classifier::from_manifest("models/nope/manifest.toml").unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(
        err.to_string().contains("models/nope/manifest.toml"),
        "{err}"
    );
}
