//! `incept-fw`: the lean firmware image — the embedded int8 model on tract-nnef, nothing else
//! (no ONNX, no protobuf, no command-line framework).
//!
//! ```text
//! incept-fw [--logits] [IMAGE ...]
//! ```
//!
//! Boots the embedded model (load, optimize, golden self-test; exit 2 if the self-test fails),
//! then classifies each PNG/JPEG image given and prints its top 3 classes. An image that
//! cannot be read is reported and skipped (exit 1 at the end).

#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::Instant;

use inception_edge::decode::RgbImage;
use inception_edge::embedded::{self, model};

fn main() -> ExitCode {
    let start = Instant::now();
    let mut logits = false;
    let mut images = Vec::new();
    for arg in std::env::args_os().skip(1) {
        match arg.to_str() {
            Some("--logits") => logits = true,
            Some("-h" | "--help") => {
                println!("usage: incept-fw [--logits] [IMAGE ...]\nBoots the embedded model {} (self-test), then classifies the images.", model::NAME);
                return ExitCode::SUCCESS;
            }
            _ => images.push(std::path::PathBuf::from(arg)),
        }
    }
    let (mut classifier, boot) = match embedded::boot_blob(model::BLOB) {
        Ok(booted) => booted,
        Err(e) => {
            eprintln!("boot failed: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "booted {} (blob sha256 {}): load {:.0} ms, self-test passed in {:.0} ms",
        model::NAME,
        &model::BLOB_SHA256[..16],
        boot.load.as_secs_f64() * 1e3,
        boot.self_test.as_secs_f64() * 1e3
    );
    let mut failed = 0;
    for path in &images {
        let result = RgbImage::open(path)
            .map_err(inception_edge::Error::from)
            .and_then(|img| {
                let frame = img.frame()?;
                classifier.classify(&frame, 3)
            });
        match result {
            Ok(c) => {
                let top: Vec<String> = c
                    .top
                    .iter()
                    .map(|p| format!("{} {:.1} %", classifier.label(p.class), p.score * 100.0))
                    .collect();
                println!(
                    "{}: {} ({:.1} ms, {:.0} ms since start)",
                    path.display(),
                    top.join(", "),
                    c.inference.as_secs_f64() * 1e3,
                    start.elapsed().as_secs_f64() * 1e3
                );
                if logits {
                    println!("  logits {:?}", classifier.logits());
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("{}: {e}", path.display());
            }
        }
    }
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
