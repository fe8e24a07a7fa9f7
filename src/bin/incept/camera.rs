//! `incept camera`: the classification loop on a frame source.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use inception_edge::camera::mjpeg::{MjpegFile, MjpegHttp};
use inception_edge::camera::mqtt::{Mqtt, MqttTarget};
use inception_edge::camera::sinks::{Blocking, Console, JsonLines};
use inception_edge::camera::sources::{Faulty, Replay, TestPattern};
use inception_edge::camera::web::{self, WebOptions, WebView};
use inception_edge::camera::{self, LoopConfig, Sink, Source, Summary};
use inception_edge::core::PixelFormat;

/// Options of `incept camera`.
#[derive(clap::Args, Debug)]
pub struct CameraArgs {
    /// Frame source: `test:WxH[:yuyv]` (synthetic pattern), `mjpeg:FILE` (an MJPEG file),
    /// `http://HOST[:PORT]/PATH` (an MJPEG-over-HTTP camera), `replay:PATH` or a plain PATH (a
    /// directory of PNG/JPEG images, one image, a quoted glob such as `'shots/*.jpg'`, or an
    /// IDX file, replayed in a loop).
    #[arg(long)]
    source: String,
    /// Where results go: `console`, `jsonl:FILE`, `jsonl:-` (stdout) or
    /// `mqtt://HOST[:PORT]/TOPIC` (JSON messages to an MQTT broker); `block:RATE:MS` is a sink
    /// that blocks MS ms on a RATE fraction of records (testing the loop). Repeatable.
    #[arg(long, default_value = "console")]
    sink: Vec<String>,
    /// The model: `embedded` (default), a manifest, an ONNX or int8 NNEF file.
    #[arg(long, default_value = "embedded")]
    model: PathBuf,
    /// Source frame rate (0: as fast as the source goes).
    #[arg(long, default_value_t = 30.0)]
    fps: f64,
    /// Stop after N frames.
    #[arg(long)]
    frames: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Replay the images once instead of looping.
    #[arg(long)]
    once: bool,
    /// Classes per result.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=10))]
    top: u8,
    /// Frames waiting for inference before the oldest is dropped.
    #[arg(long, default_value_t = 2)]
    queue: usize,
    /// Frames classified at once, each on its own thread sharing the model's weights: more
    /// frames per second on several cores (pair with `--threads 1`), each as slow as alone;
    /// results may then reach the sinks slightly out of capture order.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    in_flight: u32,
    /// Seconds between the rolling statistics lines on stderr.
    #[arg(long, default_value_t = 5.0)]
    stats_every: f64,
    /// Inject faults into the source with this probability per frame (testing the loop).
    #[arg(long)]
    faults: Option<f64>,
    /// Write the final summary as JSON to this file.
    #[arg(long)]
    summary: Option<PathBuf>,
    /// Serve the web live view (the stream with the top-3 labels, fps and latency; JSON at
    /// /api/latest) on `--bind`.
    #[arg(long)]
    web: bool,
    /// Address of the web view. Loopback by default: binding another address exposes the
    /// camera to the network; it then needs a token (a warning is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: std::net::SocketAddr,
    /// The token the web view requires of every request (`/?token=…`, a Bearer header or its
    /// cookie). Required when `--bind` is not loopback. On a shared machine prefer
    /// `--token-file` or the INCEPT_WEB_TOKEN variable: arguments are visible to other users.
    #[arg(long)]
    token: Option<String>,
    /// Read the web view's token from the first line of this file.
    #[arg(long, conflicts_with = "token")]
    token_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    threads: super::ThreadArgs,
    #[command(flatten)]
    pre: super::PreArgs,
}

fn open_source(args: &CameraArgs) -> anyhow::Result<Box<dyn Source>> {
    let s = args.source.as_str();
    let source: Box<dyn Source> = if let Some(geometry) = s.strip_prefix("test:") {
        let mut parts = geometry.split(':');
        let (w, h) = parts
            .next()
            .and_then(|g| g.split_once('x'))
            .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
            .with_context(|| format!("`{s}`: expected test:WIDTHxHEIGHT[:yuyv]"))?;
        let format = match parts.next() {
            None | Some("rgb") => PixelFormat::Rgb888,
            Some("yuyv") => PixelFormat::Yuyv,
            Some(f) => bail!("`{s}`: unknown format {f} (rgb, yuyv)"),
        };
        Box::new(TestPattern::new(w, h, format, args.fps))
    } else if let Some(path) = s.strip_prefix("mjpeg:") {
        Box::new(MjpegFile::open(path.as_ref(), args.fps, !args.once)?)
    } else if s.starts_with("http://") {
        Box::new(MjpegHttp::new(s, Duration::from_secs(5)).map_err(anyhow::Error::msg)?)
    } else {
        let path = s.strip_prefix("replay:").unwrap_or(s);
        Box::new(Replay::open(path.as_ref(), args.fps, !args.once, None)?)
    };
    Ok(match args.faults {
        Some(rate) => Box::new(Faulty::new(source, rate, 1, Duration::from_millis(50))),
        None => source,
    })
}

fn open_sinks(args: &CameraArgs) -> anyhow::Result<Vec<Box<dyn Sink>>> {
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    for s in &args.sink {
        match s.as_str() {
            "console" => sinks.push(Box::new(Console::new(std::io::stdout()))),
            "jsonl:-" => sinks.push(Box::new(JsonLines::new(std::io::stdout()))),
            mqtt if mqtt.starts_with("mqtt://") => {
                let target: MqttTarget = mqtt.parse().map_err(anyhow::Error::msg)?;
                let id = format!("incept-{}", std::process::id());
                let sink = Mqtt::connect(&target, &id, 256)
                    .with_context(|| format!("cannot start the MQTT client for {mqtt}"))?;
                sinks.push(Box::new(sink));
            }
            block if block.starts_with("block:") => {
                let spec = &block["block:".len()..];
                sinks.push(Box::new(Blocking::parse(spec).map_err(anyhow::Error::msg)?));
            }
            other => match other.strip_prefix("jsonl:") {
                Some(path) => {
                    let f = std::fs::File::create(path)
                        .with_context(|| format!("cannot create {path}"))?;
                    sinks.push(Box::new(JsonLines::new(std::io::BufWriter::new(f))));
                }
                None => bail!(
                    "unknown sink `{other}`: console, jsonl:FILE, jsonl:-, mqtt://HOST[:PORT]/TOPIC or block:RATE:MS"
                ),
            },
        }
    }
    Ok(sinks)
}

fn line(s: &Summary) -> String {
    let t = &s.stats;
    format!(
        "[{:.0} s] {:.1} fps, inference {:.1} ms, preprocess {:.2} ms, latency p50 {:.1} / p99 {:.1} ms; frames {} = {} results + {} dropped + {} errors; source faults: {} disconnects, {} timeouts; sinks: {} skipped, {} errors",
        s.elapsed_s,
        s.fps,
        s.inference_ms,
        s.preprocess_ms,
        s.latency_p50_ms,
        s.latency_p99_ms,
        t.captured,
        t.results,
        t.dropped,
        t.errors,
        t.disconnects,
        t.timeouts,
        t.sink_skipped,
        t.sink_errors
    )
}

pub fn run(args: CameraArgs) -> anyhow::Result<ExitCode> {
    args.threads.apply()?;
    let mut classifier = super::load(&args.model, &args.pre)?;
    let mut source = open_source(&args)?;
    let mut sinks = open_sinks(&args)?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("cannot install the signal handler")?;
    }
    let config = LoopConfig {
        queue: args.queue.max(1),
        in_flight: args.in_flight as usize,
        top: usize::from(args.top),
        max_frames: args.frames,
        duration: args.duration.map(Duration::from_secs_f64),
        report_every: Duration::from_secs_f64(args.stats_every.max(0.1)),
        ..LoopConfig::default()
    };
    eprintln!("source: {}", source.describe());
    let web = if args.web {
        let options = WebOptions {
            token: web::token_from(args.token.as_deref(), args.token_file.as_deref())?,
            ..WebOptions::default()
        };
        let view = WebView::start(args.bind, options)
            .with_context(|| format!("cannot serve the web view on {}", args.bind))?;
        eprintln!("{}", view.banner());
        Some(view)
    } else {
        None
    };
    let publish =
        |f: &camera::OwnedFrame, r: &camera::Record| WebView::publish_to(web.as_ref(), f, r);
    let summary = camera::run_tapped(
        source.as_mut(),
        &mut classifier,
        &mut sinks,
        &config,
        &stop,
        &mut |s| eprintln!("{}", line(s)),
        Some(&publish),
    );
    eprintln!("final: {}", line(&summary));
    if !summary.stats.accounted() {
        eprintln!("warning: frames not accounted for: {:?}", summary.stats);
    }
    if let Some(p) = &args.summary {
        std::fs::write(p, serde_json::to_string_pretty(&summary)?)
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
