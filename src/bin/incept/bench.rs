//! `incept bench`: inference latency (min / median / p90 / max), throughput, peak memory and a
//! per-operator profile of one model on this machine.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use inception_edge::camera::sources::TestPattern;
use inception_edge::camera::{OwnedFrame, Source};
use inception_edge::core::PixelFormat;
use inception_edge::OperatorTime;

use crate::progress::Progress;

/// Options of `incept bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The model: `embedded` (the int8 model built into this binary), a manifest, an ONNX file
    /// or an int8 NNEF file.
    #[arg(default_value = "embedded")]
    model: PathBuf,
    /// Time a zoo network with seeded weights instead of a model file (googlenet,
    /// bn-inception, inception-v3, inception-v4, inception-resnet-v1, inception-resnet-v2),
    /// in fp32, or in int8 with `--int8`.
    #[arg(long, value_parser = super::zoo::parse_arch)]
    arch: Option<inception_edge::zoo::Arch>,
    /// With `--arch`: compile the network to int8 first (calibrated on 8 seeded images).
    #[arg(long, requires = "arch")]
    int8: bool,
    #[command(flatten)]
    zoo: super::zoo::SpecArgs,
    /// Timed inferences.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Untimed inferences before the timed ones.
    #[arg(long, default_value_t = 3)]
    warmup: u32,
    /// Inferences timed node by node for the per-operator profile (0: no profile).
    #[arg(long, default_value_t = 3)]
    profile_runs: u32,
    #[command(flatten)]
    threads: super::ThreadArgs,
    /// Also time this many inferences in flight at once (after the latency runs), each on
    /// its own thread and its own copy of the engine's state, all sharing the model's
    /// weights: the throughput of a pipeline that keeps that many frames in flight. Each
    /// stream runs `--runs` inferences; with `--threads` above 1 they share the pool.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    streams: u32,
    /// Print one JSON object on stdout instead of the text report.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pre: super::PreArgs,
}

/// Latency statistics of the timed runs, in milliseconds.
#[derive(Debug, serde::Serialize)]
struct Latency {
    min: f64,
    median: f64,
    p90: f64,
    max: f64,
    mean: f64,
}

impl Latency {
    /// Statistics of a non-empty set of durations (nearest-rank percentiles).
    fn of(times: &[Duration]) -> Latency {
        let mut ms: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let rank = |p: f64| ms[((p * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
        Latency {
            min: ms[0],
            median: rank(0.5),
            p90: rank(0.9),
            max: ms[ms.len() - 1],
            mean: ms.iter().sum::<f64>() / ms.len() as f64,
        }
    }
}

/// One operator kind in the profile.
#[derive(Debug, serde::Serialize)]
struct OpShare {
    op: String,
    nodes: usize,
    ms: f64,
    share: f64,
}

/// Everything `incept bench` measures.
#[derive(Debug, serde::Serialize)]
struct Report {
    model: String,
    target: &'static str,
    tract: &'static str,
    input: Vec<usize>,
    int8: bool,
    threads: usize,
    warmup: u32,
    runs: u32,
    load_ms: f64,
    latency_ms: Latency,
    preprocess_ms: f64,
    throughput_per_s: f64,
    peak_rss_kib: Option<u64>,
    /// Resident after the runs: anonymous (heap) and file-backed (the binary, with an
    /// embedded model) memory.
    rss_anon_kib: Option<u64>,
    rss_file_kib: Option<u64>,
    /// The plan's constants and its largest set of live values (`Engine::memory`).
    plan_constants_bytes: usize,
    plan_peak_activations_bytes: usize,
    profile: Vec<OpShare>,
    /// With `--streams` above 1: the inferences in flight at once, their combined
    /// throughput and the latency of each inference while they ran.
    streams: Option<Streams>,
}

/// The `--streams` measurement.
#[derive(Debug, serde::Serialize)]
struct Streams {
    streams: u32,
    /// Inferences finished per second, all streams together (wall clock).
    throughput_per_s: f64,
    /// Latency of each inference while the streams ran.
    latency_ms: Latency,
}

/// Runs the benchmark and prints its report.
pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let threads = args.threads.apply()?;
    let t0 = Instant::now();
    let (mut classifier, name) = match args.arch {
        Some(arch) => (
            zoo_classifier(arch, &args.zoo, args.int8, &args.pre)?,
            format!("{arch} (zoo, seed {})", args.zoo.seed),
        ),
        None => (
            super::load(&args.model, &args.pre)?,
            args.model.display().to_string(),
        ),
    };
    let load = t0.elapsed();
    let pre = *classifier.preprocess();
    // A camera-sized frame (the synthetic test pattern of `incept camera --source test:…`),
    // preprocessed as the model wants it, as in the camera loop.
    let mut owned = OwnedFrame::default();
    TestPattern::new(640, 480, PixelFormat::Yuyv, 0.0)
        .next(&mut owned)
        .map_err(|e| anyhow::anyhow!("test pattern: {e}"))?;
    let frame = owned.frame().context("test pattern frame")?;

    let streamed = if args.streams > 1 {
        args.streams * args.runs
    } else {
        0
    };
    let total = (args.warmup + args.runs + args.profile_runs + streamed) as usize;
    let mut progress = Progress::new("benchmarking", total);
    let (mut latency, mut preprocess) = (Vec::new(), Vec::new());
    for i in 0..args.warmup + args.runs {
        let c = classifier.classify(&frame, 1)?;
        if i >= args.warmup {
            latency.push(c.inference);
            preprocess.push(c.preprocess);
        }
        progress.tick();
    }
    let profile = if args.profile_runs > 0 {
        let mut input = vec![0f32; pre.output_len().unwrap_or(0)];
        pre.run_f32(&frame, &mut input)?;
        let mut engine = classifier.engine().clone();
        let times = engine.profile(&input, args.profile_runs as usize)?;
        for _ in 0..args.profile_runs {
            progress.tick();
        }
        shares(&times)
    } else {
        Vec::new()
    };

    let streams = if args.streams > 1 {
        let mut input = vec![0f32; pre.output_len().unwrap_or(0)];
        pre.run_f32(&frame, &mut input)?;
        Some(run_streams(
            classifier.engine(),
            &input,
            args.streams,
            args.runs,
            &mut progress,
        )?)
    } else {
        None
    };

    let engine = classifier.engine();
    let memory = engine.memory();
    let stats = Latency::of(&latency);
    let report = Report {
        model: name,
        target: inception_edge::build_info::TARGET,
        tract: inception_edge::build_info::TRACT_VERSION,
        input: engine.input_shape().to_vec(),
        int8: engine.input_kind() != inception_edge::engine::InputKind::F32,
        threads,
        warmup: args.warmup,
        runs: args.runs,
        load_ms: load.as_secs_f64() * 1e3,
        throughput_per_s: 1e3 / stats.mean,
        latency_ms: stats,
        preprocess_ms: Latency::of(&preprocess).median,
        peak_rss_kib: status_kib("VmHWM:"),
        rss_anon_kib: status_kib("RssAnon:"),
        rss_file_kib: status_kib("RssFile:"),
        plan_constants_bytes: memory.constants,
        plan_peak_activations_bytes: memory.peak_activations,
        profile,
        streams,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `streams` copies of `engine` at once, one thread each, `runs` inferences of `input`
/// apiece (after one untimed warm-up each), and measures their combined throughput.
fn run_streams(
    engine: &inception_edge::Engine,
    input: &[f32],
    streams: u32,
    runs: u32,
    progress: &mut Progress,
) -> anyhow::Result<Streams> {
    let (tx, rx) = std::sync::mpsc::channel::<Duration>();
    // every stream starts timing together, once all are warm
    let start = std::sync::Barrier::new(streams as usize + 1);
    let (wall, latency) = std::thread::scope(|scope| -> anyhow::Result<_> {
        let workers: Vec<_> = (0..streams)
            .map(|_| {
                let (mut engine, tx, start) = (engine.clone(), tx.clone(), &start);
                scope.spawn(move || -> inception_edge::Result<()> {
                    let mut output = Vec::new();
                    let warm = engine.run(input, &mut output);
                    start.wait();
                    warm?;
                    for _ in 0..runs {
                        let t = Instant::now();
                        engine.run(input, &mut output)?;
                        // the receiver lives until every stream is joined
                        let _ = tx.send(t.elapsed());
                    }
                    Ok(())
                })
            })
            .collect();
        drop(tx);
        start.wait();
        let t0 = Instant::now();
        let mut latency = Vec::new();
        for t in rx.iter() {
            latency.push(t);
            progress.tick();
        }
        let wall = t0.elapsed();
        for worker in workers {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("a stream panicked"))??;
        }
        Ok((wall, latency))
    })?;
    anyhow::ensure!(!latency.is_empty(), "no stream finished an inference");
    Ok(Streams {
        streams,
        throughput_per_s: latency.len() as f64 / wall.as_secs_f64(),
        latency_ms: Latency::of(&latency),
    })
}

/// A zoo network with seeded weights as a classifier, fp32 or compiled to int8.
fn zoo_classifier(
    arch: inception_edge::zoo::Arch,
    spec: &super::zoo::SpecArgs,
    int8: bool,
    pre: &super::PreArgs,
) -> anyhow::Result<inception_edge::Classifier> {
    use inception_edge::Engine;
    use inception_edge_compiler::{compile, to_nnef_bytes, Calibrator, Options};
    let net = arch.build(&spec.spec(arch))?;
    let float = net.float_model()?;
    let engine = if int8 {
        let mut calibrator = Calibrator::new(&float)?;
        let mut state = spec.seed ^ 0x5DEE_CE66;
        for _ in 0..8 {
            let image: Vec<f32> = (0..float.input_len())
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
                })
                .collect();
            calibrator.observe(&image)?;
        }
        let model = compile(&float, &calibrator.finish()?, &Options::default())?;
        Engine::from_nnef_bytes(&to_nnef_bytes(&model.model)?, arch.name())?
    } else {
        Engine::from_typed(float.model, arch.name())?
    };
    let shape = engine.input_shape().to_vec();
    let pre = super::default_preprocess(&shape, pre)?;
    Ok(inception_edge::Classifier::new(
        engine,
        pre,
        Vec::new(),
        inception_edge::manifest::OutputKind::Logits,
    )?)
}

/// Each operator kind's time and share of the profiled inference.
fn shares(times: &[OperatorTime]) -> Vec<OpShare> {
    let total: f64 = times.iter().map(|t| t.time.as_secs_f64()).sum();
    times
        .iter()
        .map(|t| OpShare {
            op: t.name.clone(),
            nodes: t.nodes,
            ms: t.time.as_secs_f64() * 1e3,
            share: if total > 0.0 {
                t.time.as_secs_f64() / total
            } else {
                0.0
            },
        })
        .collect()
}

fn print_text(r: &Report) {
    let l = &r.latency_ms;
    println!(
        "model       {} ({}, input {:?}), tract {} on {}",
        r.model,
        if r.int8 { "int8" } else { "fp32" },
        r.input,
        r.tract,
        r.target
    );
    println!("load        {:.0} ms", r.load_ms);
    println!(
        "latency     min {:.2} / median {:.2} / p90 {:.2} / max {:.2} ms (mean {:.2}) over {} runs after {} warm-up, {} thread(s)",
        l.min, l.median, l.p90, l.max, l.mean, r.runs, r.warmup, r.threads
    );
    println!("throughput  {:.2} inferences/s", r.throughput_per_s);
    if let Some(s) = &r.streams {
        let l = &s.latency_ms;
        println!(
            "streams     {} in flight: {:.2} inferences/s together ({:.2}x one at a time), each median {:.2} / p90 {:.2} ms",
            s.streams,
            s.throughput_per_s,
            s.throughput_per_s / r.throughput_per_s,
            l.median,
            l.p90
        );
    }
    println!(
        "preprocess  {:.2} ms per 640x480 YUYV frame (median)",
        r.preprocess_ms
    );
    match r.peak_rss_kib {
        Some(kib) => println!("peak RSS    {:.1} MiB", kib as f64 / 1024.0),
        None => println!("peak RSS    unknown on this system"),
    }
    let mib = |b: f64| b / (1024.0 * 1024.0);
    println!(
        "memory      plan: constants {:.1} MiB + largest set of live values {:.1} MiB",
        mib(r.plan_constants_bytes as f64),
        mib(r.plan_peak_activations_bytes as f64)
    );
    if let (Some(anon), Some(file)) = (r.rss_anon_kib, r.rss_file_kib) {
        println!(
            "            resident after the runs: {:.1} MiB anonymous, {:.1} MiB file-backed (the binary and what it embeds)",
            anon as f64 / 1024.0,
            file as f64 / 1024.0
        );
    }
    if !r.profile.is_empty() {
        println!("profile     time per inference by operator:");
        for op in &r.profile {
            println!(
                "  {:<22} {:>4} nodes {:>9.2} ms {:>6.1} %",
                op.op,
                op.nodes,
                op.ms,
                op.share * 100.0
            );
        }
    }
}

/// A `kB` field of `/proc/self/status` (`VmHWM:`, the peak resident set; `RssAnon:`,
/// `RssFile:`), where Linux gives it.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
