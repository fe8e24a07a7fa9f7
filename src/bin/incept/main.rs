//! `incept`: the inception-edge command-line tool.

// One unsafe call: glibc's `mallopt`, in `ThreadArgs::apply`.
#![deny(unsafe_code)]

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use inception_edge::classifier::{preprocess_for_shape, MAX_TOP_K};
use inception_edge::core::preprocess::{Fit, Normalize, Resize};
use inception_edge::decode::RgbImage;
use inception_edge::manifest::{Manifest, OutputKind};
use inception_edge::{Classifier, Engine};

mod bench;
mod camera;
mod deploy;
mod eval;
mod info;
mod progress;
mod quantize;
mod zoo;

/// Int8 Inception image classifiers on tract, for ARM Cortex-A boards.
#[derive(Parser, Debug)]
#[command(name = "incept", version, long_version = LONG_VERSION, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// `--version` output: crate version, pinned tract version, target triple.
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (tract ",
    env!("INCEPT_TRACT_VERSION"),
    ", ",
    env!("INCEPT_TARGET"),
    ")"
);

#[derive(Subcommand, Debug)]
enum Command {
    /// Classify image files (PNG, JPEG) with an ONNX model and print the top classes.
    ///
    /// Preprocessing and labels come from the `manifest.toml` beside the model when there is
    /// one (see models/); otherwise from the model's input shape and the options below.
    Classify(ClassifyArgs),
    /// Calibrate an fp32 ONNX model on sample images and compile it to an int8 NNEF model.
    ///
    /// A model onnxruntime already quantized (QDQ, or QOperator with QLinearConv) is imported
    /// with its own quantization parameters instead.
    ///
    /// Every convolution and linear layer runs on tract's integer kernels; the only float
    /// operation left is the final dequantization. Prints a report: per-layer SQNR and the
    /// top-1 agreement with fp32 on the calibration set.
    Quantize(QuantizeArgs),
    /// Show the model embedded in this binary at build time (manifest, checksums, calibration,
    /// operators int8 vs float) and run its boot self-test; exits 1 if the self-test fails.
    Info,
    /// Measure accuracy on labelled images: top-1/top-k per variant (fp32, int8), their
    /// agreement, per-class accuracy, confusion matrices, worst images, latency; markdown,
    /// JSON and PNG plots. `--check FILE` fails on a regression against committed baselines.
    Eval(eval::EvalArgs),
    /// Run the classification loop on a frame source (test pattern, image replay): capture,
    /// preprocess, classify and publish, pipelined on threads; a slow model drops the oldest
    /// frame (counted), a bad frame or a lost source never stops the loop. Ctrl-C stops it
    /// with a final summary.
    Camera(camera::CameraArgs),
    /// Measure inference speed on this machine: latency min/median/p90/max, throughput, peak
    /// memory and the time share of each operator, on a camera-sized test frame.
    Bench(bench::BenchArgs),
    /// Build the firmware for a board and write it as a tarball for offline flashing: the
    /// binary, its systemd unit (restarts on failure), the service's arguments, an atomic
    /// installer with rollback (`install.sh`), checksums and notes (BUNDLE.txt).
    Bundle(deploy::BundleArgs),
    /// Build, bundle and install the firmware on a board over SSH (key authentication), restart
    /// its service and run the self-test there. `--dry-run` prints each step.
    Deploy(deploy::DeployArgs),
    /// The Inception family built from the papers' module specifications (GoogLeNet,
    /// BN-Inception, Inception-v3, v4, Inception-ResNet-v1, v2): `list` their parameters and
    /// MACs, `export` one as ONNX with seeded weights. `incept bench --arch NAME` times one.
    Zoo(zoo::ZooArgs),
}

#[derive(clap::Args, Debug)]
struct QuantizeArgs {
    /// The fp32 model: an ONNX file or a model manifest (`manifest.toml`).
    model: PathBuf,
    /// Calibration images: a directory of PNG/JPEG files or an IDX image file (.gz or not).
    /// Optional for a model another tool already quantized (onnxruntime QDQ, or QOperator
    /// with QLinearConv): its own parameters are used, the images only measure agreement.
    #[arg(long)]
    calib: Option<PathBuf>,
    /// Use only the first N calibration images.
    #[arg(long)]
    limit: Option<usize>,
    /// Calibration method: minmax, percentile (99.99 %), percentile:P, entropy (KL) or mse.
    #[arg(long, default_value = "percentile")]
    method: inception_edge_compiler::Method,
    /// One weight scale per layer instead of one per output channel.
    #[arg(long)]
    per_tensor: bool,
    /// Let each branch of a concatenation keep its own scale (folded into the weights of
    /// the layers reading it) instead of one scale shared by the concatenation.
    #[arg(long)]
    concat_per_branch: bool,
    /// Lower convolutions to tract's own quantized convolution instead of inception-edge's
    /// im2col and a 1×1 convolution (same outputs, slower; for comparison).
    #[arg(long)]
    tract_im2col: bool,
    /// Keep each output channel's own weight scale instead of snapping a layer's scales to
    /// whole multiples of one (the requantizations then run as a separate operator instead
    /// of inside tract's matrix kernel; slower, for comparison).
    #[arg(long)]
    unsnapped_scales: bool,
    /// Make this node (by name) the model's only output, e.g. a classifier's features.
    #[arg(long)]
    output_node: Option<String>,
    /// Where to write the int8 model (`.nnef.tgz`).
    #[arg(short, long)]
    output: PathBuf,
    /// Also write the full report (markdown) here.
    #[arg(long)]
    report: Option<PathBuf>,
    #[command(flatten)]
    pre: PreArgs,
}

#[derive(clap::Args, Debug)]
struct ClassifyArgs {
    /// The model: an ONNX file, an int8 NNEF file from `incept quantize`, a model manifest
    /// (`manifest.toml`), or `embedded` for the int8 model built into this binary (booted
    /// with its self-test; see `incept info`).
    model: PathBuf,
    /// Images to classify.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Number of classes to show per image.
    #[arg(short = 'k', long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=MAX_TOP_K as i64))]
    top: u8,
    /// Also print the model's raw output values (shortest exact decimal form, so outputs
    /// can be compared bit for bit across machines).
    #[arg(long)]
    logits: bool,
    #[command(flatten)]
    threads: ThreadArgs,
    #[command(flatten)]
    pre: PreArgs,
}

/// How many threads an inference uses.
#[derive(clap::Args, Debug)]
struct ThreadArgs {
    /// Threads per inference (default: all cores): matrix products and the int8 operators
    /// split their work between them; the outputs are the same for any count.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
}

impl ThreadArgs {
    /// Sets the process-wide inference thread count; returns it.
    fn apply(&self) -> anyhow::Result<usize> {
        let threads = match self.threads {
            Some(n) => n as usize,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if threads > 1 {
            one_malloc_arena();
        }
        inception_edge::engine::set_threads(threads)?;
        Ok(threads)
    }
}

/// Makes every thread allocate from glibc's main heap. By default each thread that allocates
/// gets an arena of its own: the pool's threads would hold the inference's values in theirs
/// while the main heap keeps the space freed after loading (measured on Inception-v3 with two
/// threads: 118 MiB peak resident against 96 MiB, at the same speed).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn one_malloc_arena() {
    // SAFETY: `mallopt` only sets a tunable of the allocator; `M_ARENA_MAX` accepts any
    // positive count, and no allocation is in flight on another thread yet (the pool's
    // threads start after this).
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Other C libraries have no per-thread arenas to limit.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn one_malloc_arena() {}

/// Where preprocessing and labels come from.
#[derive(clap::Args, Debug)]
struct PreArgs {
    /// A manifest to use instead of the one beside the model.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// Ignore any manifest: take the preprocessing from the options below.
    #[arg(long, conflicts_with = "manifest")]
    no_manifest: bool,
    /// Label file, one class name per line (without a manifest).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Input normalization (without a manifest).
    #[arg(long, value_enum, default_value_t = NormArg::Inception)]
    normalize: NormArg,
    /// Aspect-ratio handling (without a manifest).
    #[arg(long, value_enum, default_value_t = FitArg::CenterCrop)]
    fit: FitArg,
    /// Resampling filter (without a manifest).
    #[arg(long, value_enum, default_value_t = ResizeArg::Bilinear)]
    resize: ResizeArg,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum NormArg {
    /// x
    Raw,
    /// x / 255
    Unit,
    /// (x - 128) / 128
    Inception,
    /// x / 127.5 - 1
    Symmetric,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum FitArg {
    Stretch,
    CenterCrop,
    Letterbox,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ResizeArg {
    Bilinear,
    Area,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Classify(args) => classify(args),
        Command::Quantize(args) => quantize::run(args),
        Command::Info => info::run(),
        Command::Eval(args) => eval::run(args),
        Command::Camera(args) => camera::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Bundle(args) => deploy::bundle(args),
        Command::Zoo(args) => zoo::run(args),
        Command::Deploy(args) => deploy::deploy(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The manifest to use for `model`, if any.
fn find_manifest(model: &Path, args: &PreArgs) -> anyhow::Result<Option<(PathBuf, Manifest)>> {
    if args.no_manifest {
        return Ok(None);
    }
    if let Some(p) = &args.manifest {
        return Ok(Some((p.clone(), Manifest::from_file(p)?)));
    }
    Ok(Manifest::for_model(model)?)
}

/// The `model` argument that names the embedded model.
const EMBEDDED: &str = "embedded";

fn load(model: &Path, args: &PreArgs) -> anyhow::Result<Classifier> {
    if model == Path::new(EMBEDDED) && !model.exists() {
        return Ok(Classifier::embedded()?);
    }
    if let Some((path, _)) = find_manifest(model, args)? {
        if model.extension().is_some_and(|e| e == "toml") {
            return Ok(Classifier::from_manifest(&path)?);
        }
        return Ok(Classifier::from_manifest_and_model(&path, model)?);
    }
    let engine = Engine::from_file(model)?;
    let pre = default_preprocess(engine.input_shape(), args)?;
    let labels = read_labels(args)?;
    Ok(Classifier::new(engine, pre, labels, OutputKind::Logits)?)
}

/// Preprocessing from the input shape and the command-line options (no manifest).
fn default_preprocess(
    shape: &[usize],
    args: &PreArgs,
) -> anyhow::Result<inception_edge::core::Preprocess> {
    let normalize = match args.normalize {
        NormArg::Raw => Normalize::Raw,
        NormArg::Unit => Normalize::Unit,
        NormArg::Inception => Normalize::Inception,
        NormArg::Symmetric => Normalize::Symmetric,
    };
    let fit = match args.fit {
        FitArg::Stretch => Fit::Stretch,
        FitArg::CenterCrop => Fit::CenterCrop,
        FitArg::Letterbox => Fit::Letterbox { fill: 128 },
    };
    let resize = match args.resize {
        ResizeArg::Bilinear => Resize::Bilinear,
        ResizeArg::Area => Resize::Area,
    };
    Ok(preprocess_for_shape(shape)?
        .normalize(normalize)
        .fit(fit)
        .resize(resize))
}

/// The label file given on the command line, if any.
fn read_labels(args: &PreArgs) -> anyhow::Result<Vec<String>> {
    Ok(match &args.labels {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("cannot read labels {}", p.display()))?
            .lines()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect(),
        None => Vec::new(),
    })
}

/// Whether `e` is a write to a closed pipe (`incept … | head`): the reader is gone, so stop
/// quietly rather than report an error.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

fn classify(args: ClassifyArgs) -> anyhow::Result<ExitCode> {
    args.threads.apply()?;
    let t = Instant::now();
    let mut classifier = load(&args.model, &args.pre)?;
    let shape = classifier.engine().input_shape().to_vec();
    let mut out = io::stdout().lock();
    let header = writeln!(
        out,
        "model {} loaded in {:.0} ms, input {:?}",
        args.model.display(),
        t.elapsed().as_secs_f64() * 1e3,
        shape
    );
    if header.is_err() {
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = 0usize;
    for path in &args.images {
        match classify_one(
            &mut classifier,
            path,
            usize::from(args.top),
            args.logits,
            &mut out,
        ) {
            Ok(()) => {}
            Err(e) if is_broken_pipe(&e) => return Ok(ExitCode::SUCCESS),
            Err(e) => {
                failed += 1;
                eprintln!("error: {e:#}");
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} images failed", args.images.len());
    }
    Ok(ExitCode::SUCCESS)
}

fn classify_one(
    classifier: &mut Classifier,
    path: &Path,
    k: usize,
    logits: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let img = RgbImage::open(path)?;
    let frame = img.frame()?;
    let result = classifier
        .classify(&frame, k)
        .with_context(|| format!("classifying {}", path.display()))?;
    writeln!(
        out,
        "{} ({}x{}): inference {:.2} ms, preprocess {:.2} ms",
        path.display(),
        img.width(),
        img.height(),
        result.inference.as_secs_f64() * 1e3,
        result.preprocess.as_secs_f64() * 1e3,
    )?;
    for (rank, p) in result.top.iter().enumerate() {
        writeln!(
            out,
            "  {}. {:<24} {:6.2} %",
            rank + 1,
            classifier.label(p.class),
            p.score * 100.0
        )?;
    }
    if logits {
        writeln!(out, "  logits {:?}", classifier.logits())?;
    }
    Ok(())
}
