//! Residual connections (Inception-ResNet's scaled residual blocks) in int8: the residual
//! scale folds into the convolution, the addition is an integer `QAdd`, the ReLU its clamp.
//! Model: `tests/data/models/residual.onnx` (seeded weights, `python3 tools/make_fixtures.py`).

mod common;

use inception_edge::Engine;
use inception_edge_compiler::{compile, cosine, to_nnef_bytes, Calibrator, FloatModel, Options};

fn inputs(seed: u64, n: usize, len: usize) -> Vec<Vec<f32>> {
    common::seeded_inputs(seed, n, len)
}

#[test]
fn a_scaled_residual_block_runs_in_int8_close_to_fp32() {
    let float = FloatModel::from_onnx_file(common::data("models/residual.onnx"), None).unwrap();
    let mut calibrator = Calibrator::new(&float).unwrap();
    for x in inputs(1, 32, float.input_len()) {
        calibrator.observe(&x).unwrap();
    }
    let int8 = compile(&float, &calibrator.finish().unwrap(), &Options::default()).unwrap();
    let ops: Vec<String> = int8
        .model
        .clone()
        .into_optimized()
        .unwrap()
        .nodes
        .iter()
        .map(|n| n.op.name().to_string())
        .collect();
    assert!(ops.iter().any(|o| o == "QAdd"), "{ops:?}");
    assert!(
        !ops.iter().any(|o| o == "Add" || o == "Mul"),
        "float arithmetic left: {ops:?}"
    );
    let blob = to_nnef_bytes(&int8.model).unwrap();
    let mut q = Engine::from_nnef_bytes(&blob, "residual int8").unwrap();
    let mut f = Engine::from_typed(float.model.clone(), "residual").unwrap();
    let (mut a, mut b) = (vec![], vec![]);
    let mut sum = 0.0;
    let tests = inputs(2, 16, float.input_len());
    for x in &tests {
        f.run(x, &mut a).unwrap();
        q.run(x, &mut b).unwrap();
        sum += cosine(&a, &b);
    }
    let mean = sum / tests.len() as f64;
    println!("mean logit cosine int8 vs fp32: {mean:.5}");
    assert!(mean >= 0.99, "{mean}");
}
