//! `incept eval`: accuracy of a model's variants on a labelled image set, and the regression
//! check against a thresholds file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{bail, Context};
use inception_edge::eval::suite::SuiteFile;
use inception_edge::eval::{self, evaluate, Dataset, Options, Report};

use super::progress::Progress;

/// Options of `incept eval`.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["model", "check"])))]
pub struct EvalArgs {
    /// The model: a manifest (`manifest.toml`) or the ONNX file it names, an int8 NNEF file
    /// from `incept quantize` (with --manifest), or `embedded` for the model built into this
    /// binary.
    #[arg(long, requires = "data")]
    model: Option<PathBuf>,
    /// Labelled images: a directory of class folders (`DIR/<label>/*.png|jpg`), a CSV file
    /// (`path,label`), or an IDX image file with its label file beside it. Labels are class
    /// names (case and punctuation ignored) or class indices.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Variants to evaluate, comma-separated; the first is the reference for agreement.
    /// fp32: the ONNX model in tract; int8: the model compiled as build.rs does (or the
    /// embedded / NNEF model itself). Default: fp32 for ONNX, int8 for embedded and NNEF.
    #[arg(long, value_delimiter = ',')]
    compare: Vec<String>,
    /// Top-k accuracy to report besides top-1.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=10))]
    top: u8,
    /// Evaluate only N images (the first N of an IDX file, N evenly spaced ones otherwise).
    #[arg(long)]
    limit: Option<usize>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// How many of the most confidently wrong images to list per variant.
    #[arg(long, default_value_t = 10)]
    worst: usize,
    /// The manifest giving preprocessing and labels (for an NNEF model, or an ONNX file
    /// without a manifest beside it).
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// Where the embedded model's fp32 source is looked up (`DIR/<name>/manifest.toml`).
    #[arg(long, default_value = "models")]
    models_dir: PathBuf,
    /// Write report.md, report.json and the PNG plots (per-class accuracy, confusion
    /// matrices) into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write the JSON report (per-image results included) to this file (`-`: stdout, instead
    /// of the markdown).
    #[arg(long)]
    json: Option<PathBuf>,
    /// With --out: skip the PNG plots.
    #[arg(long)]
    no_plots: bool,
    /// Run the suites of a thresholds file (e.g. tests/accuracy.toml) and exit 1 on any
    /// regression, printing a diff of every checked value.
    #[arg(long, conflicts_with_all = ["model", "data", "compare", "limit", "manifest"])]
    check: Option<PathBuf>,
    /// With --check: rewrite the file's baselines and golden outputs from this run (on
    /// purpose: commit the diff with the reason).
    #[arg(long, requires = "check")]
    bless: bool,
}

fn progress_bar(total: usize) -> Mutex<Progress> {
    Mutex::new(Progress::new("evaluating", total))
}

fn tick(bar: &Mutex<Progress>) {
    if let Ok(mut b) = bar.lock() {
        b.tick();
    }
}

fn options(args: &EvalArgs) -> Options {
    let mut o = Options {
        top: usize::from(args.top),
        worst: args.worst,
        ..Options::default()
    };
    if let Some(t) = args.threads {
        o.threads = t.max(1);
    }
    o
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Writes report.md, report.json and the plots into `dir`.
fn write_outputs(report: &Report, dir: &Path, plots: bool, prefix: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write(
        &dir.join(format!("{prefix}report.md")),
        &report.to_markdown(),
    )?;
    write(&dir.join(format!("{prefix}report.json")), &report.to_json())?;
    if plots {
        let plot_dir = if prefix.is_empty() {
            dir.to_owned()
        } else {
            dir.join(prefix.trim_end_matches('-'))
        };
        match eval::plot::all(report, &plot_dir) {
            Ok(files) => {
                for f in files {
                    eprintln!("wrote {}", f.display());
                }
            }
            // the numbers matter more than the pictures: say so and keep the reports
            Err(e) => eprintln!("warning: plots not written: {e}"),
        }
    }
    eprintln!("wrote {}", dir.join(format!("{prefix}report.md")).display());
    Ok(())
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    if let Some(file) = &args.check {
        return check(&args, file);
    }
    let (Some(model), Some(data)) = (&args.model, &args.data) else {
        bail!("give --model and --data, or --check FILE");
    };
    let mut dataset = Dataset::open(data)?;
    if let Some(n) = args.limit {
        dataset.limit(n);
    }
    let compare: Vec<&str> = if args.compare.is_empty() {
        let s = model.to_string_lossy();
        if s == eval::EMBEDDED || s.contains(".nnef") {
            vec!["int8"]
        } else {
            vec!["fp32"]
        }
    } else {
        args.compare.iter().map(String::as_str).collect()
    };
    eprintln!("loading {} ({})…", model.display(), compare.join(", "));
    let variants =
        eval::load_variants_with(model, &compare, args.manifest.as_deref(), &args.models_dir)?;
    let opts = options(&args);
    eprintln!(
        "{} images from {}, {} threads",
        dataset.len(),
        data.display(),
        opts.threads.min(dataset.len())
    );
    let bar = progress_bar(dataset.len());
    let report = evaluate(&dataset, &variants, &opts, &|_, _| tick(&bar))?;
    match args.json.as_deref() {
        Some(p) if p == Path::new("-") => println!("{}", report.to_json()),
        Some(p) => {
            write(p, &report.to_json())?;
            print!("{}", report.to_markdown());
        }
        None => print!("{}", report.to_markdown()),
    }
    if let Some(dir) = &args.out {
        write_outputs(&report, dir, !args.no_plots, "")?;
    }
    if !report.unreadable.is_empty() {
        eprintln!(
            "warning: {} of {} images could not be used (listed in the report)",
            report.unreadable.len(),
            report.images
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn check(args: &EvalArgs, file: &Path) -> anyhow::Result<ExitCode> {
    let suites = SuiteFile::open(file)?;
    let opts = options(args);
    let bar: Mutex<Option<(String, Progress)>> = Mutex::new(None);
    let runs = suites.run(&opts, &|suite, _done, total| {
        if let Ok(mut b) = bar.lock() {
            if b.as_ref().is_none_or(|(s, _)| s != suite) {
                eprintln!("suite {suite}: {total} images");
                *b = Some((suite.to_owned(), Progress::new("evaluating", total)));
            }
            if let Some((_, p)) = b.as_mut() {
                p.tick();
            }
        }
    })?;
    if let Some(dir) = &args.out {
        for r in &runs {
            let prefix = format!("{}-", slug(&r.name));
            write_outputs(&r.report, dir, !args.no_plots, &prefix)?;
        }
    }
    let outcome = suites.check(&runs);
    print!("{}", outcome.render());
    if args.bless {
        suites.bless(&runs)?;
        println!(
            "blessed: baselines in {} rewritten from this run (review and commit the diff)",
            file.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    Ok(if outcome.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}
