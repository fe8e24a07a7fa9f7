//! PNG/JPEG decoding into frames: any bytes give a typed error or an image whose frame is
//! valid.
#![no_main]

use inception_edge_assets::decode::RgbImage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(img) = RgbImage::decode(data, std::path::Path::new("fuzz")) {
        let _ = img.frame();
    }
});
