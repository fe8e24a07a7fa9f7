//! Matrix products on a thread pool give the same outputs as on one thread. A test binary of
//! its own: the thread count is process-wide.
#![cfg(feature = "threads")]

mod common;

use inception_edge::engine::set_threads;
use inception_edge::{Engine, Error};

/// A deterministic input in [-1, 1).
fn input(len: usize) -> Vec<f32> {
    let mut x = 0x1234_5678u32;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 8) as f32 / (1 << 23) as f32 - 1.0
        })
        .collect()
}

fn outputs(engine: &mut Engine, threads: usize) -> Vec<u32> {
    set_threads(threads).unwrap();
    let x = input(engine.input_len());
    let mut out = Vec::new();
    engine.run(&x, &mut out).unwrap();
    out.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn two_threads_give_bit_identical_outputs_fp32_and_int8() {
    let v3 = common::root().join("models/inception-v3-fmnist/inception-v3-fmnist.onnx");
    let mut engines = vec![Engine::from_onnx_file(v3).unwrap()];
    #[cfg(feature = "embed")]
    engines.push(
        inception_edge::Classifier::embedded()
            .unwrap()
            .engine()
            .clone(),
    );
    for engine in &mut engines {
        let one = outputs(engine, 1);
        let two = outputs(engine, 2);
        assert_eq!(one, two);
        assert_eq!(outputs(engine, 1), one);
    }
    assert!(matches!(
        set_threads(0),
        Err(Error::Threads { threads: 0, .. })
    ));
}
