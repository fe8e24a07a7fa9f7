//! ONNX import: any bytes give a typed error or an engine that runs one inference (or fails
//! it with a typed error).
#![no_main]

use inception_edge::Engine;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut engine) = Engine::from_onnx_bytes(data, "fuzz.onnx") {
        if engine.input_len() <= 1 << 20 {
            let input = vec![0.25f32; engine.input_len()];
            let mut out = Vec::new();
            let _ = engine.run(&input, &mut out);
        }
    }
});
