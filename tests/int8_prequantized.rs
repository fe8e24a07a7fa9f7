//! Models onnxruntime already quantized, imported into the same all-integer graph: its QDQ
//! format, its QOperator format with quantized convolutions, and the QOperator operators we
//! refuse. Fixtures: `python3 tools/ort_prequantized.py` (mini model, committed calibration
//! images; onnxruntime's own int8 logits on the fixture images).

mod common;

use inception_edge::decode::RgbImage;
use inception_edge::manifest::OutputKind;
use inception_edge::{Classifier, Engine};
use inception_edge_compiler::{
    compile, cosine, import_prequantized, is_prequantized, to_nnef_bytes, CompileError, Method,
    Options,
};
use tract_core::ops::matmul::optimized::OptMatMul;
use tract_core::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(common::data(&format!("int8/{name}"))).unwrap()
}

/// Imports, compiles, writes and reloads one pre-quantized model, checks the graph is integer
/// and compares with onnxruntime's own int8 outputs on the fixture images.
fn imports_close_to_onnxruntime(name: &str, key: &str) {
    let bytes = fixture(name);
    assert!(is_prequantized(&bytes));
    let (float, calibration) = import_prequantized(&bytes, name, None).unwrap();
    let options = Options {
        method: Method::MinMax,
        ..Options::default()
    };
    let int8 = compile(&float, &calibration, &options).unwrap();
    let optimized = int8.model.clone().into_optimized().unwrap();
    let mut matmuls = 0;
    for node in &optimized.nodes {
        if let Some(mm) = node.op_as::<OptMatMul>() {
            matmuls += 1;
            assert!(
                mm.mmm
                    .iter()
                    .all(|k| k.internal_type() == i32::datum_type()),
                "{}",
                node.name
            );
        }
    }
    assert_eq!(matmuls, 16, "15 convolutions and the linear head");
    let blob = to_nnef_bytes(&int8.model).unwrap();
    let pre = *Classifier::from_manifest(common::mini_manifest())
        .unwrap()
        .preprocess();
    let engine = Engine::from_nnef_bytes(&blob, name).unwrap();
    let mut c = Classifier::new(engine, pre, vec![], OutputKind::Logits).unwrap();
    let reference = common::read_json(&common::data("int8/mini-ort-reference.json"));
    let images = reference["images"].as_array().unwrap();
    let (mut same, mut cos) = (0, 0.0);
    for img in images {
        let rgb =
            RgbImage::open(common::data("fmnist").join(img["file"].as_str().unwrap())).unwrap();
        let top = c.classify(&rgb.frame().unwrap(), 1).unwrap().top[0].class;
        let want: Vec<f32> = img[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let want_top = inception_edge_compiler::argmax(&want) as u16;
        same += usize::from(top == want_top);
        cos += cosine(c.logits(), &want);
    }
    let mean = cos / images.len() as f64;
    println!(
        "{name}: top-1 same as onnxruntime int8 on {same}/{}, mean cosine {mean:.5}",
        images.len()
    );
    assert!(same + 1 >= images.len(), "{same} of {}", images.len());
    assert!(mean >= 0.99, "{mean}");
}

#[test]
fn an_onnxruntime_qdq_model_imports_into_an_all_integer_graph() {
    imports_close_to_onnxruntime("mini-ort-qdq.onnx", "qdq");
}

#[test]
fn an_onnxruntime_qoperator_conv_model_imports_into_an_all_integer_graph() {
    imports_close_to_onnxruntime("mini-ort-qop-conv.onnx", "qop-conv");
}

#[test]
fn quantized_operators_beyond_qlinearconv_are_refused_by_name() {
    let bytes = fixture("mini-ort-qop-all.onnx");
    let err = import_prequantized(&bytes, "qop-all", None).unwrap_err();
    match &err {
        CompileError::Unsupported { op, .. } => {
            assert!(
                op.starts_with("QLinear") || op.starts_with("QGemm"),
                "{err}"
            )
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(err.to_string().contains("only QLinearConv"), "{err}");
}

#[test]
fn a_float_model_is_not_taken_for_a_pre_quantized_one() {
    assert!(!is_prequantized(
        &std::fs::read(common::mini_model()).unwrap()
    ));
    assert!(!is_prequantized(b"not onnx at all"));
}
