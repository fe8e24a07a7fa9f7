//! Single-thread latency of the int8 compiler's output against tract fp32 on Inception-v3,
//! one input, one run of this program (medians of `--runs`), with a per-operator profile.
//!
//! ```sh
//! python3 tools/ort_int8.py --bench --out /tmp/ort     # onnxruntime fp32/int8 + QDQ model
//! cargo run --release --example int8_bench -- [--runs 10] [--qdq /tmp/ort/v3-int8-minmax.onnx]
//! ```
//! `--qdq` also times stock tract on onnxruntime's QDQ int8 model.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use inception_edge::dataset::ImageSet;
use inception_edge::Classifier;
use inception_edge_compiler::{compile, quantize_input, Calibrator, FloatModel, Options};
use tract_onnx::prelude::*;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(plan: &Arc<TypedRunnableModel>, input: &Tensor, runs: usize) -> anyhow::Result<Duration> {
    let mut state = plan.spawn()?;
    for _ in 0..2 {
        state.run(tvec!(input.clone().into_tvalue()))?;
    }
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        state.run(tvec!(input.clone().into_tvalue()))?;
        times.push(t.elapsed());
    }
    Ok(median(times))
}

fn profile(
    plan: &Arc<TypedRunnableModel>,
    input: &Tensor,
) -> anyhow::Result<Vec<(String, Duration)>> {
    let mut state = plan.spawn()?;
    let mut prof: BTreeMap<String, Duration> = BTreeMap::new();
    let runs = 5;
    for _ in 0..runs {
        state.run_plan_with_eval(
            tvec!(input.clone().into_tvalue()),
            |ctx, st, node, inputs| {
                let t = Instant::now();
                let r = tract_core::plan::eval(ctx, st, node, inputs);
                *prof.entry(node.op.name().to_string()).or_default() += t.elapsed() / runs;
                r
            },
        )?;
    }
    let mut v: Vec<_> = prof.into_iter().collect();
    v.sort_by_key(|x| std::cmp::Reverse(x.1));
    Ok(v)
}

fn main() -> anyhow::Result<()> {
    let mut runs = 10;
    let mut qdq = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().context("--runs N")?.parse()?,
            "--qdq" => qdq = Some(args.next().context("--qdq FILE")?),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = root.join("models/inception-v3-fmnist/manifest.toml");
    let onnx = root.join("models/inception-v3-fmnist/inception-v3-fmnist.onnx");
    let pre = *Classifier::from_manifest(&manifest)?.preprocess();
    let float = FloatModel::from_onnx_file(&onnx, None)?;
    let calib = ImageSet::open(root.join("tests/data/fmnist-v3/calib-200-images-idx3-ubyte.gz"))?;
    let mut input = vec![0f32; float.input_len()];
    let mut calibrator = Calibrator::new(&float)?;
    for i in 0..50 {
        calib.with_frame(i, |f| pre.run_f32(f, &mut input))??;
        calibrator.observe(&input)?;
    }
    let calibration = calibrator.finish()?;
    let test = ImageSet::open(root.join("tests/data/fmnist-v3/test-1000-images-idx3-ubyte.gz"))?;
    test.with_frame(0, |f| pre.run_f32(f, &mut input))??;
    let shape = float.input_shape();
    let f32_input = Tensor::from_shape(&shape, &input)?;

    let fp32 = float.model.clone().into_optimized()?.into_runnable()?;
    let mut rows = vec![("tract fp32", time(&fp32, &f32_input, runs)?)];
    let mut profiles = Vec::new();
    let mut outputs = Vec::new();
    for (label, per_channel, own_im2col) in [
        ("ours int8 per-channel", true, true),
        ("ours int8 per-tensor", false, true),
        ("ours int8 per-channel, tract's int8 im2col", true, false),
    ] {
        let int8 = compile(
            &float,
            &calibration,
            &Options {
                per_channel,
                own_im2col,
                ..Options::default()
            },
        )?;
        let q = Tensor::from_shape(&shape, &quantize_input(&input, int8.input_scale))?;
        // as `Engine` runs it: tract's optimizer, then our int8 operators swapped in
        let mut optimized = int8.model.into_optimized()?;
        inception_edge_ops::fast_ops(&mut optimized)?;
        let plan = optimized.into_runnable()?;
        rows.push((label, time(&plan, &q, runs)?));
        if per_channel {
            profiles.push((label, profile(&plan, &q)?));
        }
        if per_channel {
            let mut out = plan.run(tvec!(q.clone().into_tvalue()))?;
            outputs.push(out.remove(0).into_tensor());
        }
    }
    anyhow::ensure!(
        outputs[0] == outputs[1],
        "our im2col changed the int8 outputs: {:?} vs {:?}",
        outputs[0],
        outputs[1]
    );
    println!("our im2col and tract's give bit-identical int8 outputs");
    if let Some(path) = qdq {
        let mut m = tract_onnx::onnx().model_for_path(&path)?;
        m.set_input_fact(0, f32::fact(&shape).into())?;
        let plan = m.into_typed()?.into_optimized()?.into_runnable()?;
        rows.push((
            "stock tract, onnxruntime QDQ int8 model",
            time(&plan, &f32_input, runs)?,
        ));
    }
    profiles.push(("tract fp32", profile(&fp32, &f32_input)?));
    let base = rows[0].1.as_secs_f64();
    println!("Inception-v3 299x299, 1 thread, median of {runs}:");
    for (label, t) in &rows {
        println!(
            "  {label:<42} {:8.1} ms  {:.2}x tract fp32",
            t.as_secs_f64() * 1e3,
            t.as_secs_f64() / base
        );
    }
    for (label, p) in profiles {
        println!("profile of {label}:");
        for (op, d) in p.iter().take(8) {
            println!("  {op:<20} {:7.2} ms", d.as_secs_f64() * 1e3);
        }
    }
    Ok(())
}
