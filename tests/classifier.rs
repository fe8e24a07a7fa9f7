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

#[test]
fn the_vector_compiled_preprocessing_writes_the_same_bytes_as_the_portable_one() {
    use inception_edge::classifier::quantize_frame;
    use inception_edge::core::preprocess::{Fit, Layout, Normalize, Resize};
    use inception_edge::core::QuantParams;
    let mut seed = 0x9e37_79b9u32;
    let mut byte = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed >> 24) as u8
    };
    let q = QuantParams::new(1.0 / 127.0, 3).unwrap();
    let mut cases = 0;
    for format in PixelFormat::ALL {
        for (w, h) in [(640, 480), (66, 38), (2, 2)] {
            let Some(stride) = format.min_stride(w) else {
                continue;
            };
            let data: Vec<u8> = (0..format.frame_len(w, h, stride).unwrap())
                .map(|_| byte())
                .collect();
            let frame = Frame::new(&data, w, h, format).unwrap();
            for (fit, resize, layout, channels) in [
                (
                    Fit::CenterCrop,
                    Resize::Bilinear,
                    Layout::Nchw,
                    Channels::Rgb,
                ),
                (Fit::Stretch, Resize::Area, Layout::Nhwc, Channels::Bgr),
                (
                    Fit::Letterbox { fill: 7 },
                    Resize::Bilinear,
                    Layout::Nchw,
                    Channels::Gray,
                ),
            ] {
                let pre = Preprocess::new(299, 299)
                    .fit(fit)
                    .resize(resize)
                    .layout(layout)
                    .channels(channels)
                    .normalize(Normalize::Symmetric);
                let n = pre.output_len().unwrap();
                let (mut portable, mut fast) = (vec![0i8; n], vec![0i8; n]);
                pre.run_quantized(&frame, q, &mut portable).unwrap();
                quantize_frame(&pre, &frame, q, &mut fast).unwrap();
                assert_eq!(portable, fast, "{format:?} {w}x{h} {fit:?} {resize:?}");
                cases += 1;
            }
        }
    }
    assert!(cases >= 3 * PixelFormat::ALL.len());
    // a bad output buffer is the same typed error on both paths
    let frame = Frame::new(&[0u8; 12], 2, 2, PixelFormat::Rgb888).unwrap();
    let pre = Preprocess::new(4, 4);
    assert_eq!(
        quantize_frame(&pre, &frame, q, &mut [0i8; 5]),
        pre.run_quantized(&frame, q, &mut [0i8; 5])
    );
}
