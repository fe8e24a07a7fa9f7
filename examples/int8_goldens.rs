//! Regenerates the int8 goldens of the bundled mini model: compiles
//! `models/mini-inception-fmnist` with the default options on the committed calibration
//! images, writes the blob to `tests/data/int8/mini-inception-fmnist.int8.nnef.tgz` and the
//! int8 logits of the fixture images (as f32 bit patterns) to `tests/data/int8/mini-golden.json`.
//!
//! ```sh
//! cargo run --release --example int8_goldens
//! ```
//! `tests/int8_mini.rs` checks, on every architecture, that the committed blob reproduces
//! the logits bit for bit, and on x86_64 that compiling again gives the same bytes.

use std::path::Path;

use inception_edge::dataset::ImageSet;
use inception_edge::decode::RgbImage;
use inception_edge::{Classifier, Engine};
use inception_edge_compiler::{compile, to_nnef_bytes, Calibrator, FloatModel, Options};

/// Calibration images used for the mini model.
pub const CALIBRATION: &str = "tests/data/fmnist-v3/calib-200-images-idx3-ubyte.gz";

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = root.join("models/mini-inception-fmnist/manifest.toml");
    let fp32 = Classifier::from_manifest(&manifest)?;
    let pre = *fp32.preprocess();
    let float = FloatModel::from_onnx_file(
        root.join("models/mini-inception-fmnist/mini-inception-fmnist.onnx"),
        None,
    )?;
    let calib = ImageSet::open(root.join(CALIBRATION))?;
    let mut calibrator = Calibrator::new(&float)?;
    let mut input = vec![0f32; float.input_len()];
    for i in 0..calib.len() {
        calib.with_frame(i, |f| pre.run_f32(f, &mut input))??;
        calibrator.observe(&input)?;
    }
    let int8 = compile(&float, &calibrator.finish()?, &Options::default())?;
    let blob = to_nnef_bytes(&int8.model)?;
    let dir = root.join("tests/data/int8");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("mini-inception-fmnist.int8.nnef.tgz"), &blob)?;

    let engine = Engine::from_nnef_bytes(&blob, "mini int8")?;
    let mut c = Classifier::new(engine, pre, vec![], Default::default())?;
    let mut files: Vec<_> = std::fs::read_dir(root.join("tests/data/fmnist"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    files.sort();
    let mut images = Vec::new();
    for f in &files {
        let img = RgbImage::open(f)?;
        c.classify(&img.frame()?, 1)?;
        let bits: Vec<u32> = c.logits().iter().map(|v| v.to_bits()).collect();
        images.push(serde_json::json!({
            "file": f.file_name().unwrap().to_str().unwrap(),
            "logits": c.logits(),
            "bits": bits,
        }));
    }
    let json = serde_json::json!({
        "model": "models/mini-inception-fmnist/mini-inception-fmnist.onnx",
        "calibration": CALIBRATION,
        "options": format!("{:?}", Options::default()),
        "blob_bytes": blob.len(),
        "images": images,
    });
    std::fs::write(
        dir.join("mini-golden.json"),
        serde_json::to_string_pretty(&json)? + "\n",
    )?;
    println!(
        "wrote {} bytes of model and {} golden images",
        blob.len(),
        files.len()
    );
    Ok(())
}
