//! The MJPEG-over-HTTP multipart parser and the JPEG length scanner of MJPEG files: any byte
//! stream gives parts or typed errors, never a panic or an endless loop.
#![no_main]

use inception_edge::camera::mjpeg::{jpeg_len, MultipartReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = jpeg_len(data);
    let mut reader = MultipartReader::new(data, "frame");
    let mut jpeg = Vec::new();
    // Every part consumes input, so this ends; the cap guards against a parser that would not.
    for _ in 0..data.len() + 2 {
        if reader.next_part(&mut jpeg).is_err() {
            break;
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = s.parse::<inception_edge::camera::mjpeg::HttpUrl>();
    }
});
