//! `incept-v4l2`: the embedded classifier on a V4L2 camera (USB webcam, the Pi's CSI camera
//! through its V4L2 node), results to the console or JSON lines, Ctrl-C for a summary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use inception_edge::camera::sinks::{Console, JsonLines};
use inception_edge::camera::{self, LoopConfig, Sink};
use inception_edge::Classifier;
use inception_edge_linux::negotiate::describe;
use inception_edge_linux::{list_formats, CaptureFormat, DeviceConfig, Request, V4l2Camera};

/// Classify frames from a V4L2 camera with the model embedded in this binary.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// The video device.
    #[arg(long, default_value = "/dev/video0")]
    device: PathBuf,
    /// Frame size WxH (the nearest size the camera offers is used).
    #[arg(long, default_value = "640x480", value_parser = parse_size)]
    size: (u32, u32),
    /// Capture format: yuyv or mjpeg (default: yuyv if offered, else mjpeg).
    #[arg(long)]
    format: Option<CaptureFormat>,
    /// Frames per second asked of the camera.
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Where results go: `console`, `jsonl:FILE` or `jsonl:-`. Repeatable.
    #[arg(long, default_value = "console")]
    sink: Vec<String>,
    /// Stop after N frames.
    #[arg(long)]
    frames: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Classes per result.
    #[arg(long, default_value_t = 3)]
    top: usize,
    /// List the formats and sizes the device offers, then exit.
    #[arg(long)]
    list_formats: bool,
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once('x')
        .ok_or_else(|| format!("size {s:?} is not WxH"))?;
    let p = |v: &str| {
        v.parse::<u32>()
            .ok()
            .filter(|&v| v > 0)
            .ok_or_else(|| format!("size {s:?} is not WxH"))
    };
    Ok((p(w)?, p(h)?))
}

fn sink(spec: &str) -> Result<Box<dyn Sink>, String> {
    match spec {
        "console" => Ok(Box::new(Console::new(std::io::stdout()))),
        "jsonl:-" => Ok(Box::new(JsonLines::new(std::io::stdout()))),
        s if s.starts_with("jsonl:") => {
            let f = std::fs::File::create(&s[6..]).map_err(|e| format!("{}: {e}", &s[6..]))?;
            Ok(Box::new(JsonLines::new(std::io::BufWriter::new(f))))
        }
        s => Err(format!("unknown sink {s:?} (console, jsonl:FILE, jsonl:-)")),
    }
}

fn run(args: Args) -> Result<(), String> {
    if args.list_formats {
        let offers = list_formats(&args.device).map_err(|e| e.to_string())?;
        println!("{}: {}", args.device.display(), describe(&offers));
        return Ok(());
    }
    let mut sinks = args
        .sink
        .iter()
        .map(|s| sink(s))
        .collect::<Result<Vec<_>, _>>()?;
    let mut config = DeviceConfig::new(&args.device);
    config.request = Request {
        format: args.format,
        width: args.size.0,
        height: args.size.1,
    };
    config.fps = args.fps;
    let mut camera = V4l2Camera::open(config).map_err(|e| e.to_string())?;
    let mut classifier = Classifier::embedded().map_err(|e| e.to_string())?;
    eprintln!(
        "source: {}",
        inception_edge::camera::Source::describe(&camera)
    );
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop)).map_err(|e| e.to_string())?;
    }
    let loop_config = LoopConfig {
        top: args.top.clamp(1, 10),
        max_frames: args.frames,
        duration: args.duration.map(Duration::from_secs_f64),
        ..LoopConfig::default()
    };
    let summary = camera::run(
        &mut camera,
        &mut classifier,
        &mut sinks,
        &loop_config,
        &stop,
        &mut |s| {
            eprintln!(
                "{:.1} fps, inference {:.1} ms, latency p50 {:.1} ms, dropped {}, errors {}",
                s.fps, s.inference_ms, s.latency_p50_ms, s.stats.dropped, s.stats.errors
            )
        },
    );
    eprintln!(
        "done: {} frames, {} classified, {} dropped, {} errors, {} disconnects, {:.1} fps",
        summary.stats.captured,
        summary.stats.results,
        summary.stats.dropped,
        summary.stats.errors,
        summary.stats.disconnects,
        summary.fps
    );
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
