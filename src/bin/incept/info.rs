//! `incept info`: what model this binary embeds, and whether it passes its self-test.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use inception_edge::embedded::{self, model};
use inception_edge::Manifest;

/// Prints the embedded model's facts, boots it and reports the self-test; fails (exit 1)
/// when the model does not load or its self-test fails.
pub fn run() -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let manifest = Manifest::parse(model::MANIFEST)
        .map_err(|e| anyhow::anyhow!("the embedded manifest does not parse: {e}"))?;
    writeln!(out, "embedded model   {}", model::NAME)?;
    writeln!(out, "source           {}", manifest.model.source)?;
    writeln!(out, "licence          {}", manifest.model.licence)?;
    writeln!(out, "onnx sha256      {}", model::MODEL_SHA256)?;
    writeln!(
        out,
        "int8 blob        {} bytes, sha256 {}",
        model::BLOB_LEN,
        model::BLOB_SHA256
    )?;
    writeln!(
        out,
        "compiled by      inception-edge-compiler {} (tract {}), for {}",
        model::COMPILER,
        inception_edge::build_info::TRACT_VERSION,
        inception_edge::build_info::TARGET
    )?;
    writeln!(out, "calibration      {}", model::CALIBRATION)?;
    let p = model::PREPROCESS;
    writeln!(
        out,
        "input            {}x{} {:?} {:?}, {:?} resize, {:?}, {:?} normalization",
        p.width, p.height, p.channels, p.layout, p.resize, p.fit, p.normalize
    )?;
    writeln!(
        out,
        "input int8       scale {:e}, zero point {}",
        model::INPUT_SCALE,
        model::INPUT_ZERO_POINT
    )?;
    writeln!(
        out,
        "labels           {} ({})",
        model::LABELS.len(),
        model::LABELS.join(", ")
    )?;
    if let Some(a) = &manifest.accuracy {
        writeln!(
            out,
            "fp32 accuracy    top-1 {:.2} % on {} ({} images)",
            a.top1 * 100.0,
            a.dataset,
            a.images
        )?;
    }
    out.flush()?;
    let t = Instant::now();
    match embedded::boot_blob(model::BLOB) {
        Ok((classifier, boot)) => {
            let ops = classifier.engine().operators();
            let count = |float: bool| -> usize {
                ops.iter()
                    .filter(|o| o.float == float)
                    .map(|o| o.count)
                    .sum()
            };
            writeln!(
                out,
                "operators        {} int8/integer, {} float",
                count(false),
                count(true)
            )?;
            for float in [false, true] {
                let list: Vec<String> = ops
                    .iter()
                    .filter(|o| o.float == float)
                    .map(|o| format!("{} {}", o.name, o.count))
                    .collect();
                if !list.is_empty() {
                    let kind = if float { "float" } else { "integer" };
                    writeln!(out, "  {kind:<14} {}", list.join(", "))?;
                }
            }
            writeln!(
                out,
                "self-test        passed: {} logits bit-identical to the build's ({}), load {:.0} ms, run {:.0} ms, boot {:.0} ms",
                model::SELFTEST_LOGITS.len(),
                model::SELFTEST_SOURCE,
                boot.load.as_secs_f64() * 1e3,
                boot.self_test.as_secs_f64() * 1e3,
                t.elapsed().as_secs_f64() * 1e3,
            )?;
            writeln!(
                out,
                "blob pages       {:.1} of {:.1} MiB dropped from the resident set once read",
                boot.released as f64 / (1024.0 * 1024.0),
                model::BLOB.len() as f64 / (1024.0 * 1024.0),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            writeln!(out, "self-test        FAILED: {e}")?;
            Ok(ExitCode::FAILURE)
        }
    }
}
