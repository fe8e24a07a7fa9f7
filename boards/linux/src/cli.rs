//! The command line of the board binaries (`incept-v4l2`, `incept-pi`): the embedded
//! classifier on a V4L2 camera, results to the console, JSON lines and GPIO lines, Ctrl-C
//! for a summary.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use inception_edge::camera::sinks::{Action, Console, JsonLines, Pins};
use inception_edge::camera::web::{WebOptions, WebView};
use inception_edge::camera::{self, LoopConfig, Sink};
use inception_edge::Classifier;

use crate::gpio::output_pin;
use crate::negotiate::describe;
use crate::{list_formats, CaptureFormat, DeviceConfig, Request, V4l2Camera};

/// Options of the camera binaries.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The video device.
    #[arg(long, default_value = "/dev/video0")]
    pub device: PathBuf,
    /// Frame size WxH (the nearest size the camera offers is used).
    #[arg(long, default_value = "640x480", value_parser = parse_size)]
    pub size: (u32, u32),
    /// Capture format: yuyv or mjpeg (default: yuyv if offered, else mjpeg).
    #[arg(long)]
    pub format: Option<CaptureFormat>,
    /// Frames per second asked of the camera.
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// Where results go: `console`, `jsonl:FILE` or `jsonl:-`. Repeatable.
    #[arg(long, default_value = "console")]
    pub sink: Vec<String>,
    /// Light GPIO line N while a class is seen: `N=CLASS:ON[:OFF]` (label or index, score
    /// thresholds with hysteresis), e.g. `17=Bag:0.8:0.6`. Repeatable.
    #[arg(long)]
    pub gpio: Vec<String>,
    /// The GPIO chip of `--gpio` lines.
    #[arg(long, default_value = "/dev/gpiochip0")]
    pub gpio_chip: PathBuf,
    /// Stop after N frames.
    #[arg(long)]
    pub frames: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Classes per result.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=10))]
    pub top: u8,
    /// Frames classified at once, each on its own thread (one core each) sharing the model's
    /// weights: frames per second grow with the cores, each frame takes as long as alone, and
    /// results may reach the sinks slightly out of capture order.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub in_flight: u32,
    /// List the formats and sizes the device offers, then exit.
    #[arg(long)]
    pub list_formats: bool,
    /// Boot the embedded model (load, optimize, golden self-test), print the result and exit:
    /// status 0 if its logits match the build host's bit for bit, 1 if not. Needs no camera;
    /// `incept deploy` runs it on the board after installing.
    #[arg(long)]
    pub self_test: bool,
    /// Serve the web live view on `--bind` (the stream, top-3 labels, fps, latency).
    #[arg(long)]
    pub web: bool,
    /// Address of the web view: loopback by default; `0.0.0.0:8080` to watch from another
    /// machine (it then needs a token; a warning is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: std::net::SocketAddr,
    /// The token the web view requires of every request (`/?token=…`, a Bearer header or its
    /// cookie). Required when `--bind` is not loopback. On a shared machine prefer
    /// `--token-file` or the INCEPT_WEB_TOKEN variable: arguments are visible to other users.
    #[arg(long)]
    pub token: Option<String>,
    /// Read the web view's token from the first line of this file.
    #[arg(long, conflicts_with = "token")]
    pub token_file: Option<std::path::PathBuf>,
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

/// Boots the embedded model and prints one line: what was booted, the blob's digest, the load
/// and self-test times, the architecture.
fn self_test() -> Result<(), String> {
    use inception_edge::embedded::{boot_blob, model};
    let (_, boot) = boot_blob(model::BLOB).map_err(|e| format!("self-test failed: {e}"))?;
    println!(
        "self-test passed: {} (blob sha256 {}) on {}: load {:.0} ms, self-test {:.0} ms",
        model::NAME,
        &model::BLOB_SHA256[..16],
        std::env::consts::ARCH,
        boot.load.as_secs_f64() * 1e3,
        boot.self_test.as_secs_f64() * 1e3
    );
    Ok(())
}

/// Runs the camera loop as `args` say; returns a message for the user on failure.
pub fn run(args: &Args) -> Result<(), String> {
    if args.self_test {
        return self_test();
    }
    if args.list_formats {
        let offers = list_formats(&args.device).map_err(|e| e.to_string())?;
        println!("{}: {}", args.device.display(), describe(&offers));
        return Ok(());
    }
    let mut classifier = Classifier::embedded().map_err(|e| e.to_string())?;
    let mut sinks = args
        .sink
        .iter()
        .map(|s| sink(s))
        .collect::<Result<Vec<_>, _>>()?;
    if !args.gpio.is_empty() {
        let mut pins = Vec::new();
        for spec in &args.gpio {
            let (line, action) = spec
                .split_once('=')
                .ok_or_else(|| format!("--gpio {spec:?} is not N=CLASS:ON[:OFF]"))?;
            let line: u32 = line
                .parse()
                .map_err(|_| format!("--gpio {spec:?}: {line:?} is not a line number"))?;
            let action = Action::parse(action, classifier.labels())?;
            let pin = output_pin(&args.gpio_chip, line, "incept").map_err(|e| e.to_string())?;
            pins.push((pin, action));
        }
        let pins = Pins::new(pins, Some(Box::new(std::io::stderr()))).map_err(|e| e.to_string())?;
        sinks.push(Box::new(pins));
    }
    let mut config = DeviceConfig::new(&args.device);
    config.request = Request {
        format: args.format,
        width: args.size.0,
        height: args.size.1,
    };
    config.fps = args.fps;
    let mut camera = V4l2Camera::open(config).map_err(|e| e.to_string())?;
    eprintln!(
        "source: {}",
        inception_edge::camera::Source::describe(&camera)
    );
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop)).map_err(|e| e.to_string())?;
    }
    let loop_config = LoopConfig {
        top: usize::from(args.top),
        in_flight: args.in_flight as usize,
        max_frames: args.frames,
        duration: args.duration.map(Duration::from_secs_f64),
        ..LoopConfig::default()
    };
    let web = if args.web {
        let token = inception_edge::camera::web::token_from(
            args.token.as_deref(),
            args.token_file.as_deref(),
        )
        .map_err(|e| e.to_string())?;
        let options = WebOptions {
            token,
            ..WebOptions::default()
        };
        let view = WebView::start(args.bind, options)
            .map_err(|e| format!("cannot serve the web view on {}: {e}", args.bind))?;
        eprintln!("{}", view.banner());
        Some(view)
    } else {
        None
    };
    let publish =
        |f: &camera::OwnedFrame, r: &camera::Record| WebView::publish_to(web.as_ref(), f, r);
    let summary = camera::run_tapped(
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
        Some(&publish),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_width_x_height() {
        assert_eq!(parse_size("640x480"), Ok((640, 480)));
        for bad in ["640", "0x480", "640x", "axb", "640x480x3"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_sinks_are_refused() {
        assert!(sink("mqtt").is_err());
        assert!(sink("jsonl:/nonexistent-dir/x.jsonl").is_err());
    }
}
