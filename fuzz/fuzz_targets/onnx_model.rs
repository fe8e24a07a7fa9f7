//! ONNX import: any bytes give a typed error or an engine that runs one inference (or fails
//! it with a typed error).
//!
//! The engine runs tract behind a guard that turns a tract panic into a typed `Model` error
//! (tract 0.23.9 panics on some malformed graphs, e.g. `tract-onnx/src/model.rs:187` and
//! `tract-core/src/ops/cnn/padding.rs:116`). libFuzzer's panic hook would abort on those
//! before the guard sees them, so this target puts back a hook that only prints: a panic the
//! guard contains is fine, and one that escapes to the caller still aborts (libfuzzer-sys
//! catches it at the target's edge) and is reported as a crash.
#![no_main]

use inception_edge::Engine;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        drop(std::panic::take_hook());
        std::panic::set_hook(Box::new(|info| eprintln!("contained? {info}")));
    });
    if let Ok(mut engine) = Engine::from_onnx_bytes(data, "fuzz.onnx") {
        if engine.input_len() <= 1 << 20 {
            let input = vec![0.25f32; engine.input_len()];
            let mut out = Vec::new();
            let _ = engine.run(&input, &mut out);
        }
    }
});
