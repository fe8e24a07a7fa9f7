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
    compile, import_prequantized, is_prequantized, layer_quality, to_nnef_bytes, Agreement,
    Calibration, Calibrator, FloatModel, LayerQuality, Method, Options,
};

use super::progress::Progress;
use super::{default_preprocess, find_manifest, QuantizeArgs};

/// Inputs kept in memory for the per-layer SQNR measurement.
const QUALITY_INPUTS: usize = 8;

/// The ONNX file and preprocessing `args` designate: a manifest's model (checked against its
/// sha256), or the given ONNX file with the preprocessing of a manifest when there is one.
fn resolve(args: &QuantizeArgs) -> anyhow::Result<(PathBuf, Option<Preprocess>)> {
    match find_manifest(&args.model, &args.pre)? {
        Some((path, m)) => {
            let named = m.model_path(&path);
            let is_toml = args.model.extension().is_some_and(|e| e == "toml");
            let onnx = if is_toml {
                named.clone()
            } else {
                args.model.clone()
            };
            if onnx.canonicalize().ok() == named.canonicalize().ok() {
                let bytes = std::fs::read(&onnx)
                    .with_context(|| format!("cannot read model {}", onnx.display()))?;
                m.verify_model(&bytes, &onnx)?;
            }
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
    let bytes =
        std::fs::read(&onnx).with_context(|| format!("cannot read model {}", onnx.display()))?;
    let origin = onnx.display().to_string();
    let output = args.output_node.as_deref();
    // a model another tool quantized brings its own parameters: import them
    let (float, imported) = if is_prequantized(&bytes) {
        let (float, calibration) = import_prequantized(&bytes, &origin, output)?;
        eprintln!(
            "{origin} is pre-quantized: using its quantization parameters for {} tensors",
            calibration.stats.len()
        );
        (float, Some(calibration))
    } else {
        (FloatModel::from_onnx_bytes(&bytes, &origin, output)?, None)
    };
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
    let options = Options {
        method: if imported.is_some() {
            Method::MinMax
        } else {
            args.method
        },
        per_channel: !args.per_tensor,
        concat_per_branch: args.concat_per_branch,
        own_im2col: !args.tract_im2col,
        fusable_scales: !args.unsnapped_scales,
    };
    let calib_path = match (&args.calib, &imported) {
        (Some(p), _) => p.clone(),
        (None, Some(calibration)) => return imported_only(&args, &float, calibration, &options),
        (None, None) => bail!("--calib is needed: {origin} is not pre-quantized"),
    };
    let set = ImageSet::open(&calib_path)?;
    let count = args.limit.unwrap_or(usize::MAX).min(set.len());
    if count == 0 {
        bail!("{}: the calibration set is empty", calib_path.display());
    }
    eprintln!(
        "model {} ({} ops), input {shape:?}, {count} calibration images from {}",
        onnx.display(),
        float.model.nodes.len(),
        calib_path.display()
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
            calib_path.display()
        );
    }
    let tensors = calibrator.tensors();
    let is_imported = imported.is_some();
    let calibration = match imported {
        Some(c) => c,
        None => calibrator.finish()?,
    };
    // An imported model's reference is the model itself run in float by stock tract (its
    // quantize/dequantize pairs included: onnxruntime drops ReLUs its ranges imply).
    let mut reference = if is_imported {
        Some(Engine::from_onnx_bytes(&bytes, &onnx)?)
    } else {
        None
    };

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
    let mut expected = Vec::new();
    for (i, fp32) in &fp32_outputs {
        set.with_frame(*i, |frame| pre.run_f32(frame, &mut input))??;
        engine.run(&input, &mut logits)?;
        match &mut reference {
            Some(r) => {
                r.run(&input, &mut expected)?;
                agreement.add(&expected, &logits);
            }
            None => agreement.add(fp32, &logits),
        }
        bar.tick();
    }
    let check_secs = bar.elapsed();
    // per-layer SQNR compares with the float graph, which an imported model only approximates
    let layers = if is_imported {
        Vec::new()
    } else {
        layer_quality(&float, &int8, &kept)?
    };
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
        calib_path.display(),
        skipped.len(),
        options.method,
        if options.per_channel { "per-channel" } else { "per-tensor" }
    )?;
    writeln!(
        r,
        "- {} vs int8 on the calibration set: top-1 agreement {:.2} % ({}/{}), mean output cosine {:.5} ({check_secs:.1} s)",
        if is_imported { "the original model (stock tract)" } else { "fp32" },
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
        let amax = match *kind {
            "avgpool" => "(its input's)".to_string(),
            _ => format!("{amax:.4}"),
        };
        writeln!(
            r,
            "| `{name}` | {kind} | {amax} | {scale:.6} | {sqnr_db:.1} |"
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

/// A pre-quantized model without images: compile, write, reload, and say what it became.
fn imported_only(
    args: &QuantizeArgs,
    float: &FloatModel,
    calibration: &Calibration,
    options: &Options,
) -> anyhow::Result<ExitCode> {
    let int8 = compile(float, calibration, options)?;
    let blob = to_nnef_bytes(&int8.model)?;
    std::fs::write(&args.output, &blob)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let engine = Engine::from_nnef_bytes(&blob, &args.output)?;
    println!(
        "- model: `{}` → `{}` ({} bytes), imported quantization parameters",
        args.model.display(),
        args.output.display(),
        blob.len()
    );
    let ops: Vec<String> = engine
        .operators()
        .iter()
        .map(|o| {
            format!(
                "{}{} ×{}",
                o.name,
                if o.float { " (float)" } else { "" },
                o.count
            )
        })
        .collect();
    println!("- optimized int8 graph: {}", ops.join(", "));
    println!("- no --calib images: agreement with fp32 not measured");
    Ok(ExitCode::SUCCESS)
}
