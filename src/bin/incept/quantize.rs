//! `incept quantize`: calibrate an fp32 ONNX model and compile it to int8 NNEF.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use inception_edge::core::Preprocess;
use inception_edge::dataset::ImageSet;
use inception_edge::Engine;
use inception_edge_compiler::{
    compile, layer_quality, to_nnef_bytes, Agreement, Calibrator, FloatModel, LayerQuality, Options,
};

use super::progress::Progress;
use super::{default_preprocess, find_manifest, QuantizeArgs};

/// Inputs kept in memory for the per-layer SQNR measurement.
const QUALITY_INPUTS: usize = 8;

/// The ONNX file and preprocessing `args` designate.
fn resolve(args: &QuantizeArgs) -> anyhow::Result<(PathBuf, Option<Preprocess>)> {
    match find_manifest(&args.model, &args.pre)? {
        Some((path, m)) => {
            let onnx = m.model_path(&path);
            let bytes = std::fs::read(&onnx)
                .with_context(|| format!("cannot read model {}", onnx.display()))?;
            m.verify_model(&bytes, &onnx)?;
            let pre = m
                .input
                .preprocess()
                .map_err(|r| anyhow::anyhow!("{}: {r}", path.display()))?;
            Ok((onnx, Some(pre)))
        }
        None => Ok((args.model.clone(), None)),
    }
}

pub fn run(args: QuantizeArgs) -> anyhow::Result<ExitCode> {
    let t0 = Instant::now();
    let (onnx, pre) = resolve(&args)?;
    let float = FloatModel::from_onnx_file(&onnx, args.output_node.as_deref())?;
    let shape = float.input_shape();
    let pre = match pre {
        Some(p) => p,
        None => default_preprocess(&shape, &args.pre)?,
    };
    if pre.shape() != shape.as_slice() {
        bail!(
            "the preprocessing produces {:?} but the model takes {shape:?}",
            pre.shape()
        );
    }
    let set = ImageSet::open(&args.calib)?;
    let count = args.limit.unwrap_or(usize::MAX).min(set.len());
    if count == 0 {
        bail!("{}: the calibration set is empty", args.calib.display());
    }
    let options = Options {
        method: args.method,
        per_channel: !args.per_tensor,
        concat_per_branch: args.concat_per_branch,
    };
    eprintln!(
        "model {} ({} ops), input {shape:?}, {count} calibration images from {}",
        onnx.display(),
        float.model.nodes.len(),
        args.calib.display()
    );

    // 1. calibrate
    let mut calibrator = Calibrator::new(&float)?;
    let mut input = vec![0f32; float.input_len()];
    let mut fp32_outputs: Vec<(usize, Vec<f32>)> = Vec::with_capacity(count);
    let mut kept: Vec<Vec<f32>> = Vec::new();
    let mut skipped = Vec::new();
    let mut bar = Progress::new("calibrating", count);
    for i in 0..count {
        let pre_result = set.with_frame(i, |frame| pre.run_f32(frame, &mut input));
        match pre_result.map_err(anyhow::Error::from).and_then(|r| Ok(r?)) {
            Ok(()) => {
                let out = calibrator.observe(&input)?;
                fp32_outputs.push((i, out.into_iter().next().unwrap_or_default()));
                if kept.len() < QUALITY_INPUTS {
                    kept.push(input.clone());
                }
            }
            Err(e) => skipped.push(format!("{}: {e:#}", set.name(i))),
        }
        bar.tick();
    }
    let calib_secs = bar.elapsed();
    for s in &skipped {
        eprintln!("warning: skipped {s}");
    }
    if fp32_outputs.is_empty() {
        bail!(
            "{}: none of the {count} calibration images could be read",
            args.calib.display()
        );
    }
    let tensors = calibrator.tensors();
    let calibration = calibrator.finish()?;

    // 2. compile and write
    let int8 = compile(&float, &calibration, &options)?;
    let blob = to_nnef_bytes(&int8.model)?;
    std::fs::write(&args.output, &blob)
        .with_context(|| format!("cannot write {}", args.output.display()))?;

    // 3. check what was written: reload it and compare with fp32 on the calibration set
    let mut engine = Engine::from_nnef_bytes(&blob, &args.output)?;
    let mut agreement = Agreement::default();
    let mut logits = Vec::new();
    let mut bar = Progress::new("checking", fp32_outputs.len());
    for (i, fp32) in &fp32_outputs {
        set.with_frame(*i, |frame| pre.run_f32(frame, &mut input))??;
        engine.run(&input, &mut logits)?;
        agreement.add(fp32, &logits);
        bar.tick();
    }
    let check_secs = bar.elapsed();
    let layers = layer_quality(&float, &int8, &kept)?;
    let ops = engine.operators();

    // 4. report
    let mut r = String::new();
    writeln!(r, "# int8 compilation report\n")?;
    writeln!(
        r,
        "- model: `{}` → `{}` ({} bytes)",
        onnx.display(),
        args.output.display(),
        blob.len()
    )?;
    writeln!(
        r,
        "- calibration: {} images from `{}` ({} skipped), method {}, {} weights, {tensors} tensors observed, {calib_secs:.1} s",
        fp32_outputs.len(),
        args.calib.display(),
        skipped.len(),
        options.method,
        if options.per_channel { "per-channel" } else { "per-tensor" }
    )?;
    writeln!(
        r,
        "- fp32 vs int8 on the calibration set: top-1 agreement {:.2} % ({}/{}), mean output cosine {:.5} ({check_secs:.1} s)",
        agreement.top1() * 100.0,
        agreement.top1_same,
        agreement.inputs,
        agreement.mean_cosine()
    )?;
    let float_ops: Vec<String> = ops
        .iter()
        .filter(|o| o.float)
        .map(|o| format!("{} ×{}", o.name, o.count))
        .collect();
    writeln!(
        r,
        "- optimized int8 graph: {}; float-valued: {}",
        ops.iter()
            .filter(|o| !o.float)
            .map(|o| format!("{} ×{}", o.name, o.count))
            .collect::<Vec<_>>()
            .join(", "),
        if float_ops.is_empty() {
            "none".to_string()
        } else {
            float_ops.join(", ")
        }
    )?;
    let worst = layers
        .iter()
        .filter(|l| l.kind != "input")
        .min_by(|a, b| a.sqnr_db.total_cmp(&b.sqnr_db));
    let mean = layers
        .iter()
        .map(|l| l.sqnr_db)
        .filter(|v| v.is_finite())
        .sum::<f64>()
        / layers.len().max(1) as f64;
    if let Some(w) = worst {
        writeln!(
            r,
            "- per-layer SQNR over {} images: mean {mean:.1} dB, worst {:.1} dB at `{}`",
            kept.len(),
            w.sqnr_db,
            w.name
        )?;
    }
    let summary = r.clone();
    writeln!(
        r,
        "\n| tensor | kind | calibrated max | scale | SQNR (dB) |\n|---|---|---|---|---|"
    )?;
    for LayerQuality {
        name,
        kind,
        scale,
        amax,
        sqnr_db,
    } in &layers
    {
        writeln!(
            r,
            "| `{name}` | {kind} | {amax:.4} | {scale:.6} | {sqnr_db:.1} |"
        )?;
    }
    print!("{summary}");
    println!("- total {:.1} s", t0.elapsed().as_secs_f64());
    if let Some(path) = &args.report {
        std::fs::write(path, &r).with_context(|| format!("cannot write {}", path.display()))?;
        println!("full report: {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
