//! Model manifests (TOML): any text gives a typed error or a manifest whose preprocessing
//! can be built.
#![no_main]

use inception_edge_assets::manifest::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(m) = Manifest::parse(text) {
        let _ = m.input.preprocess();
    }
});
