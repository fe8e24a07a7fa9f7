//! int8 NNEF blobs (what build.rs embeds and `incept classify` loads): any bytes give a typed
//! error or an engine that runs one inference (or fails it with a typed error).
#![no_main]

use inception_edge::Engine;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        drop(std::panic::take_hook());
        std::panic::set_hook(Box::new(|info| eprintln!("contained? {info}")));
    });
    if let Ok(mut engine) = Engine::from_nnef_bytes(data, "fuzz.nnef.tar") {
        if engine.input_len() <= 1 << 20 {
            let input = vec![0.25f32; engine.input_len()];
            let mut out = Vec::new();
            let _ = engine.run(&input, &mut out);
        }
    }
});
