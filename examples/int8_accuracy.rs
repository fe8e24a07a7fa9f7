//! Accuracy of the int8 compiler on the Inception-v3 Fashion-MNIST classifier, per
//! calibration method: fp32 and int8 top-1 on the 1,000 test fixtures, agreement, logit cosine.
//!
//! ```sh
//! cargo run --release --example int8_accuracy -- [METHOD ...] [--calib N] [--test N] [--per-tensor] [--concat-per-branch] [--unsnapped-scales]
//! ```
//! Methods: minmax, percentile, percentile:P, entropy, mse (default: all but mse).

use std::time::Instant;

use anyhow::Context;
use inception_edge::core::{Frame, PixelFormat};
use inception_edge::dataset::ImageSet;
use inception_edge::{Classifier, Engine};
use inception_edge_compiler::{
    compile, to_nnef_bytes, Agreement, Calibrator, FloatModel, Method, Options,
};

fn main() -> anyhow::Result<()> {
    let mut methods = Vec::new();
    let (mut n_calib, mut n_test, mut per_channel) = (200usize, 1000usize, true);
    let (mut concat_per_branch, mut fusable_scales) = (false, true);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--calib" => n_calib = args.next().context("--calib N")?.parse()?,
            "--test" => n_test = args.next().context("--test N")?.parse()?,
            "--per-tensor" => per_channel = false,
            "--concat-per-branch" => concat_per_branch = true,
            "--unsnapped-scales" => fusable_scales = false,
            m => methods.push(m.parse::<Method>().map_err(anyhow::Error::msg)?),
        }
    }
    if methods.is_empty() {
        methods = vec![Method::MinMax, Method::Percentile(99.99), Method::Entropy];
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = root.join("models/inception-v3-fmnist/manifest.toml");
    let data = root.join("tests/data/fmnist-v3");
    let calib = ImageSet::open(data.join("calib-200-images-idx3-ubyte.gz"))?;
    let test = ImageSet::open(data.join("test-1000-images-idx3-ubyte.gz"))?;
    let labels = std::fs::read(data.join("test-1000-labels-idx1-ubyte.gz"))?;
    let labels = {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&labels[..]).read_to_end(&mut out)?;
        out[8..].to_vec()
    };
    let n_test = n_test.min(test.len());

    let mut fp32 = Classifier::from_manifest(&manifest)?;
    let float = FloatModel::from_onnx_file(
        root.join("models/inception-v3-fmnist/inception-v3-fmnist.onnx"),
        None,
    )?;
    let pre = *fp32.preprocess();
    let mut input = vec![0f32; float.input_len()];
    let t = Instant::now();
    let mut calibrator = Calibrator::new(&float)?;
    for i in 0..n_calib.min(calib.len()) {
        calib.with_frame(i, |f| pre.run_f32(f, &mut input))??;
        calibrator.observe(&input)?;
    }
    let calibration = calibrator.finish()?;
    eprintln!(
        "calibrated on {n_calib} images in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let mut fp32_logits = Vec::new();
    let mut fp32_correct = 0;
    for (i, &label) in labels.iter().enumerate().take(n_test) {
        let top = test.with_frame(i, |f: &Frame<'_>| fp32.classify(f, 1))??;
        fp32_correct += usize::from(usize::from(top.top[0].class) == usize::from(label));
        fp32_logits.push(fp32.logits().to_vec());
    }
    println!(
        "fp32: top-1 {:.2} % on {n_test}",
        100.0 * fp32_correct as f64 / n_test as f64
    );
    for method in methods {
        let int8 = compile(
            &float,
            &calibration,
            &Options {
                method,
                per_channel,
                concat_per_branch,
                fusable_scales,
                ..Options::default()
            },
        )?;
        let blob = to_nnef_bytes(&int8.model)?;
        let engine = Engine::from_nnef_bytes(&blob, "int8")?;
        let mut c = Classifier::new(engine, pre, vec![], Default::default())?;
        let (mut correct, mut agree) = (0, Agreement::default());
        let t = Instant::now();
        for i in 0..n_test {
            let top = test.with_frame(i, |f| c.classify(f, 1))??;
            correct += usize::from(usize::from(top.top[0].class) == usize::from(labels[i]));
            agree.add(&fp32_logits[i], c.logits());
        }
        println!(
            "int8 {method} ({}): top-1 {:.2} %, agreement with fp32 {:.2} %, mean logit cosine {:.5}, {:.1} ms/image",
            if per_channel { "per-channel" } else { "per-tensor" },
            100.0 * correct as f64 / n_test as f64,
            100.0 * agree.top1(),
            agree.mean_cosine(),
            t.elapsed().as_secs_f64() * 1e3 / n_test as f64
        );
    }
    let _ = (PixelFormat::Gray8,);
    Ok(())
}
