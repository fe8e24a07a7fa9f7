//! The camera loop on host sources: accounting of every frame under injected faults, drops
//! when inference is slower than the camera, slow sinks, and the `incept camera` command.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use inception_edge::camera::sinks::JsonLines;
use inception_edge::camera::sources::{Faulty, Replay, TestPattern};
use inception_edge::camera::{self, Capture, LoopConfig, OwnedFrame, Record, Sink, Source};
use inception_edge::core::PixelFormat;
use inception_edge::Classifier;

fn mini() -> Classifier {
    Classifier::from_manifest(common::mini_manifest()).unwrap()
}

fn fixtures() -> Replay {
    Replay::open(&common::data("fmnist"), 0.0, true, None).unwrap()
}

/// A sink that keeps every record in memory (shared with the test).
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<Record>>>);

impl Sink for Collect {
    fn publish(&mut self, record: &Record) -> std::io::Result<()> {
        self.0.lock().unwrap().push(record.clone());
        Ok(())
    }
}

/// A sink that takes its time.
struct Slow(Duration);

impl Sink for Slow {
    fn publish(&mut self, _: &Record) -> std::io::Result<()> {
        std::thread::sleep(self.0);
        Ok(())
    }
}

/// The frame numbers of `records`, in order.
fn sorted_seqs(records: &[Record]) -> Vec<u64> {
    let mut seqs: Vec<u64> = records
        .iter()
        .map(|r| match r {
            Record::Result { seq, .. } | Record::Dropped { seq } | Record::Error { seq, .. } => {
                *seq
            }
        })
        .collect();
    seqs.sort_unstable();
    seqs
}

/// Runs the loop with the small model until the source or a limit of `config` ends it.
fn run_loop(
    source: &mut dyn Source,
    sinks: &mut [Box<dyn Sink>],
    config: &LoopConfig,
) -> camera::Summary {
    let stop = AtomicBool::new(false);
    camera::run(source, &mut mini(), sinks, config, &stop, &mut |_| {})
}

fn fast_retry() -> LoopConfig {
    LoopConfig {
        retry: Duration::ZERO,
        retry_max: Duration::ZERO,
        sink_queue: 1 << 16,
        ..LoopConfig::default()
    }
}

#[test]
fn a_thousand_injected_faults_leave_every_frame_accounted_for() {
    let mut source = Faulty::new(fixtures(), 0.5, 7, Duration::ZERO);
    let faults = source.counts();
    let collected = Collect::default();
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(collected.clone())];
    // a queue long enough that nothing is dropped: every corrupt frame must surface as an
    // error record (drops are covered below)
    let config = LoopConfig {
        max_frames: Some(2500),
        queue: 4096,
        ..fast_retry()
    };
    let summary = run_loop(&mut source, &mut sinks, &config);
    let s = &summary.stats;
    let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    assert!(faults.total() >= 1000, "{} faults injected", faults.total());
    assert_eq!(s.captured, 2500);
    assert!(s.accounted(), "{s:?}");
    assert_eq!(
        s.errors,
        n(&faults.corrupt_delivered) + n(&faults.corrupt_reported),
        "{s:?}"
    );
    assert_eq!(s.disconnects, n(&faults.disconnects));
    assert_eq!(s.timeouts, n(&faults.timeouts));
    assert!(s.results > 0 && n(&faults.stalls) > 0);
    assert_eq!(s.dropped, 0);
    // the sink saw one record per frame, by kind
    let records = collected.0.lock().unwrap();
    assert_eq!(s.sink_skipped, 0);
    assert_eq!(records.len() as u64, s.captured);
    let count = |f: fn(&Record) -> bool| records.iter().filter(|r| f(r)).count() as u64;
    assert_eq!(count(|r| matches!(r, Record::Result { .. })), s.results);
    assert_eq!(count(|r| matches!(r, Record::Dropped { .. })), s.dropped);
    assert_eq!(count(|r| matches!(r, Record::Error { .. })), s.errors);
    let seqs = sorted_seqs(&records);
    assert_eq!(
        seqs,
        (0..2500).collect::<Vec<_>>(),
        "each frame exactly once"
    );
}

#[test]
fn a_camera_faster_than_inference_drops_the_oldest_frames() {
    // the fp32 mini model takes well under a millisecond; make inference the bottleneck by a
    // source far faster than it (no pacing, tiny frames) and a queue of one
    let mut source = TestPattern::new(8, 8, PixelFormat::Rgb888, 0.0);
    let collected = Collect::default();
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(collected.clone())];
    let config = LoopConfig {
        queue: 1,
        max_frames: Some(20_000),
        ..fast_retry()
    };
    let summary = run_loop(&mut source, &mut sinks, &config);
    let s = &summary.stats;
    assert!(s.accounted(), "{s:?}");
    assert!(s.dropped > 0 && s.results > 0, "{s:?}");
    // results come out in capture order
    let records = collected.0.lock().unwrap();
    let results: Vec<u64> = records
        .iter()
        .filter_map(|r| match r {
            Record::Result { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect();
    assert!(results.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn frames_in_flight_on_several_threads_are_each_classified_or_dropped_exactly_once() {
    let mut source = TestPattern::new(8, 8, PixelFormat::Rgb888, 0.0);
    let collected = Collect::default();
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(collected.clone())];
    let config = LoopConfig {
        queue: 2,
        in_flight: 3,
        max_frames: Some(5_000),
        ..fast_retry()
    };
    // The threads the frames were classified on. Each holds its first frame until a second
    // thread has classified one, so two frames are surely in flight at once, however the
    // threads are scheduled (a capture far faster than them drops all but a few frames).
    let threads = (
        Mutex::new(std::collections::HashSet::new()),
        std::sync::Condvar::new(),
    );
    let tap = |_: &OwnedFrame, _: &Record| {
        let (ids, changed) = &threads;
        let mut ids = ids.lock().unwrap();
        ids.insert(std::thread::current().id());
        changed.notify_all();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while ids.len() < 2 && std::time::Instant::now() < deadline {
            ids = changed
                .wait_timeout(ids, Duration::from_millis(50))
                .unwrap()
                .0;
        }
    };
    let stop = AtomicBool::new(false);
    let summary = camera::run_tapped(
        &mut source,
        &mut mini(),
        &mut sinks,
        &config,
        &stop,
        &mut |_| {},
        Some(&tap),
    );
    let s = &summary.stats;
    assert_eq!(s.captured, 5_000);
    assert!(s.accounted(), "{s:?}");
    assert!(s.results > 0 && s.errors == 0, "{s:?}");
    assert!(threads.0.lock().unwrap().len() >= 2, "{s:?}");
    let records = collected.0.lock().unwrap();
    let seqs = sorted_seqs(&records);
    assert_eq!(seqs, (0..5_000).collect::<Vec<_>>(), "each frame once");
    // the clones classify as one classifier alone does: the same pattern frames again
    let results: std::collections::HashMap<u64, (u16, u32)> = records
        .iter()
        .filter_map(|r| match r {
            Record::Result { seq, top, .. } => Some((*seq, (top[0].0, top[0].2.to_bits()))),
            _ => None,
        })
        .collect();
    let (mut alone, mut again) = (mini(), TestPattern::new(8, 8, PixelFormat::Rgb888, 0.0));
    let mut buf = OwnedFrame::default();
    for seq in 0..5_000u64 {
        assert!(matches!(again.next(&mut buf), Ok(Capture::Frame)));
        if let Some(&(class, p)) = results.get(&seq) {
            let c = alone.classify(&buf.frame().unwrap(), 1).unwrap();
            let (class0, p0) = (c.top[0].class, c.top[0].score.to_bits());
            assert_eq!((class, p), (class0, p0), "frame {seq}");
        }
    }
}

#[test]
fn a_slow_sink_skips_records_but_never_slows_the_loop() {
    let mut source = fixtures();
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(Slow(Duration::from_millis(5)))];
    let config = LoopConfig {
        sink_queue: 4,
        max_frames: Some(600),
        ..fast_retry()
    };
    let summary = run_loop(&mut source, &mut sinks, &config);
    let s = &summary.stats;
    assert!(s.accounted(), "{s:?}");
    assert_eq!(s.captured, 600);
    assert!(s.sink_skipped > 0, "{s:?}");
    assert!(
        summary.elapsed_s < 600.0 * 0.005,
        "the loop waited for the sink: {} s",
        summary.elapsed_s
    );
}

/// A source that fails for good after a few frames, then says it ended.
struct Vanishing {
    inner: Replay,
    left: u32,
    errors: u32,
}

impl Source for Vanishing {
    fn next(&mut self, buf: &mut OwnedFrame) -> Result<Capture, camera::SourceError> {
        if self.left > 0 {
            self.left -= 1;
            return self.inner.next(buf);
        }
        if self.errors > 0 {
            self.errors -= 1;
            return Err(camera::SourceError::new(
                inception_edge::core::camera::ErrorKind::Other,
                "device error",
            ));
        }
        Ok(Capture::End)
    }
    fn describe(&self) -> String {
        "vanishing".into()
    }
}

#[test]
fn the_loop_ends_with_the_source_and_on_stop() {
    let mut source = Vanishing {
        inner: fixtures(),
        left: 5,
        errors: 3,
    };
    let stop = AtomicBool::new(false);
    let summary = camera::run(
        &mut source,
        &mut mini(),
        &mut [],
        &fast_retry(),
        &stop,
        &mut |_| {},
    );
    assert_eq!(
        (summary.stats.captured, summary.stats.source_errors),
        (5, 3)
    );
    assert!(summary.stats.accounted());
    // a stop already requested: nothing is captured
    let stop = AtomicBool::new(true);
    let summary = camera::run(
        &mut fixtures(),
        &mut mini(),
        &mut [],
        &fast_retry(),
        &stop,
        &mut |_| {},
    );
    assert_eq!(summary.stats.captured, 0);
}

#[test]
fn json_lines_hold_one_parseable_record_per_frame() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let out = std::io::BufWriter::new(file.reopen().unwrap());
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(JsonLines::new(out))];
    let config = LoopConfig {
        max_frames: Some(30),
        ..fast_retry()
    };
    let stop = AtomicBool::new(false);
    let mut source = Replay::open(&common::data("fmnist"), 0.0, true, None).unwrap();
    let summary = camera::run(
        &mut source,
        &mut mini(),
        &mut sinks,
        &config,
        &stop,
        &mut |_| {},
    );
    drop(sinks);
    let text = std::fs::read_to_string(file.path()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, summary.stats.captured);
    let first = lines.iter().find(|l| l["record"] == "result").unwrap();
    assert_eq!(first["top"].as_array().unwrap().len(), 3);
    let _ = std::io::stdout().flush();
}

#[test]
fn a_replay_of_an_empty_or_missing_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(Replay::open(dir.path(), 30.0, true, None).is_err());
    assert!(Replay::open(&dir.path().join("missing"), 30.0, true, None).is_err());
}

#[test]
fn a_replay_of_a_glob_plays_the_matching_photos_in_name_order() {
    let pattern = common::data("photos").join("[c-h]*.png");
    let mut source = Replay::open(&pattern, 0.0, false, None).unwrap();
    assert_eq!(source.len(), 3);
    let mut sizes = Vec::new();
    let mut buf = OwnedFrame::default();
    while let Ok(Capture::Frame) = source.next(&mut buf) {
        sizes.push((buf.width, buf.height));
    }
    // chelsea, coffee, horse in that order, each as a one-image replay gives it.
    let alone: Vec<_> = ["chelsea.png", "coffee.png", "horse.png"]
        .iter()
        .map(|name| {
            let path = common::data("photos").join(name);
            let mut one = Replay::open(&path, 0.0, false, None).unwrap();
            assert_eq!(one.len(), 1);
            one.next(&mut buf).unwrap();
            (buf.width, buf.height)
        })
        .collect();
    assert_eq!(sizes, alone);
    assert_ne!(alone[0], alone[1]);
    assert!(Replay::open(&common::data("photos").join("*.bmp"), 0.0, true, None).is_err());
}

#[test]
fn test_patterns_are_valid_frames_in_both_formats() {
    for format in [PixelFormat::Rgb888, PixelFormat::Yuyv] {
        let mut p = TestPattern::new(64, 48, format, 0.0);
        let mut buf = OwnedFrame::default();
        for _ in 0..3 {
            assert!(matches!(p.next(&mut buf).unwrap(), Capture::Frame));
            let f = buf.frame().unwrap();
            assert_eq!((f.width(), f.height(), f.format()), (64, 48, format));
        }
    }
}

#[test]
fn incept_camera_runs_a_replay_and_prints_a_final_summary() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_incept"))
        .args(["camera", "--model"])
        .arg(common::mini_manifest())
        .arg("--source")
        .arg(common::data("fmnist"))
        .args([
            "--fps",
            "200",
            "--frames",
            "50",
            "--faults",
            "0.2",
            "--summary",
        ])
        .arg(&summary)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("final:") && stderr.contains("frames 50 ="),
        "{stderr}"
    );
    let s = common::read_json(&summary);
    let st = &s["stats"];
    let get = |k: &str| st[k].as_u64().unwrap();
    assert_eq!(
        get("captured"),
        get("results") + get("dropped") + get("errors")
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("#0") || stdout.contains("error"),
        "{stdout}"
    );
}

#[test]
fn incept_camera_refuses_an_unknown_source_or_sink() {
    for args in [
        vec!["camera", "--source", "test:axb"],
        vec!["camera", "--source", "test:64x48", "--sink", "mqtt"],
        vec!["camera", "--source", "/nonexistent/dir"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_incept"))
            .args(&args)
            .args(["--model"])
            .arg(common::mini_manifest())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
    }
}

/// A pin that records its levels and can be made to fail.
#[derive(Clone, Default)]
struct Led {
    levels: Arc<Mutex<Vec<bool>>>,
    broken: bool,
}

#[derive(Debug)]
struct LedError;

impl embedded_hal::digital::Error for LedError {
    fn kind(&self) -> embedded_hal::digital::ErrorKind {
        embedded_hal::digital::ErrorKind::Other
    }
}

impl embedded_hal::digital::ErrorType for Led {
    type Error = LedError;
}

impl embedded_hal::digital::OutputPin for Led {
    fn set_low(&mut self) -> Result<(), LedError> {
        if self.broken {
            return Err(LedError);
        }
        self.levels.lock().unwrap().push(false);
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), LedError> {
        if self.broken {
            return Err(LedError);
        }
        self.levels.lock().unwrap().push(true);
        Ok(())
    }
}

fn result(seq: u64, class: u16, score: f32) -> Record {
    let mut top = heapless::Vec::new();
    top.push((class, Arc::from("Bag"), score)).unwrap();
    Record::Result {
        seq,
        top,
        preprocess_ms: 1.0,
        inference_ms: 1.0,
        latency_ms: 1.0,
    }
}

#[test]
fn a_pin_action_switches_with_hysteresis_and_logs_each_transition() {
    use inception_edge::camera::sinks::{Action, Pins};
    let labels: Vec<String> = ["Shirt", "Bag"].iter().map(|s| s.to_string()).collect();
    let action = Action::parse("Bag:0.8:0.6", &labels).unwrap();
    assert_eq!(
        action,
        Action {
            class: 1,
            on: 0.8,
            off: 0.6
        }
    );
    let led = Led::default();
    let log = Arc::new(Mutex::new(Vec::new()));
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut pins = Pins::new([(led.clone(), action)], Some(Box::new(Shared(log.clone())))).unwrap();
    // scores hovering around one threshold must not flicker the pin
    for (seq, score) in [0.5, 0.85, 0.75, 0.65, 0.79, 0.55, 0.7, 0.81]
        .into_iter()
        .enumerate()
    {
        pins.publish(&result(seq as u64, 1, score)).unwrap();
    }
    // the class leaving the top-k counts as score 0
    pins.publish(&result(8, 0, 0.99)).unwrap();
    pins.publish(&Record::Dropped { seq: 9 }).unwrap();
    assert_eq!(*led.levels.lock().unwrap(), [true, false, true, false]);
    let log = String::from_utf8(log.lock().unwrap().clone()).unwrap();
    assert_eq!(
        log,
        "#1 on 1 Bag 0.850\n#5 off 1 Bag 0.550\n#7 on 1 Bag 0.810\n#8 off 1  0.000\n"
    );
}

#[test]
fn bad_action_specs_are_refused_with_the_reason() {
    use inception_edge::camera::sinks::Action;
    let labels: Vec<String> = ["Shirt", "Bag"].iter().map(|s| s.to_string()).collect();
    for (spec, want) in [
        ("Bag", "not CLASS:ON[:OFF]"),
        ("Hat:0.8", "no class \"Hat\""),
        ("7:0.8", "out of range"),
        ("Bag:0.5:0.8", "OFF <= ON"),
        ("Bag:1.5", "OFF <= ON"),
        ("Bag:x", "not CLASS:ON[:OFF]"),
    ] {
        let e = Action::parse(spec, &labels).unwrap_err();
        assert!(e.contains(want), "{spec}: {e}");
    }
    assert_eq!(Action::parse("1:0.5", &labels).unwrap().off, 0.4);
}

#[test]
fn a_failing_pin_is_counted_as_a_sink_error_and_the_loop_goes_on() {
    use inception_edge::camera::sinks::{Action, Pins};
    let broken = Led {
        broken: true,
        ..Led::default()
    };
    // class 0 at threshold 0: every result tries to light the pin
    let pins = Pins::new(
        [(
            broken,
            Action {
                class: 0,
                on: 0.0,
                off: 0.0,
            },
        )],
        None,
    )
    .unwrap();
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(pins)];
    let config = LoopConfig {
        max_frames: Some(20),
        ..fast_retry()
    };
    let s = run_loop(&mut fixtures(), &mut sinks, &config);
    assert!(s.stats.accounted());
    assert!(s.stats.results > 0);
    assert_eq!(s.stats.sink_errors, s.stats.results, "{:?}", s.stats);
}

fn sample_jpeg() -> Vec<u8> {
    std::fs::read(common::data("camera/chelsea-320x240.mjpg")).unwrap()
}

#[test]
fn an_mjpeg_file_is_split_into_its_frames_and_replayed() {
    use inception_edge::camera::mjpeg::MjpegFile;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mjpg");
    let jpeg = sample_jpeg();
    let mut clip = [jpeg.clone(), jpeg.clone(), jpeg].concat();
    clip.extend_from_slice(&[0xff, 0xd8, 0xff]); // a truncated last frame is ignored
    std::fs::write(&path, &clip).unwrap();
    let mut source = MjpegFile::open(&path, 0.0, false).unwrap();
    assert_eq!(source.len(), 3);
    let s = run_loop(
        &mut source,
        &mut [],
        &LoopConfig {
            queue: 8,
            ..fast_retry()
        },
    );
    assert_eq!((s.stats.captured, s.stats.results), (3, 3), "{:?}", s.stats);
    // not MJPEG at all
    std::fs::write(&path, b"GIF89a....").unwrap();
    let e = MjpegFile::open(&path, 0.0, false).unwrap_err().to_string();
    assert!(e.contains("not an MJPEG file"), "{e}");
}

/// Reads an HTTP request up to its blank line.
fn read_request(conn: &mut std::net::TcpStream) {
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !seen.ends_with(b"\r\n\r\n") && std::io::Read::read(conn, &mut byte).unwrap_or(0) == 1 {
        seen.push(byte[0]);
    }
}

/// Serves `connections` MJPEG-over-HTTP streams of `frames` parts each on 127.0.0.1, then
/// stops; returns the URL.
fn mjpeg_server(connections: usize, frames: usize) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/stream", listener.local_addr().unwrap());
    let jpeg = sample_jpeg();
    std::thread::spawn(move || {
        for _ in 0..connections {
            let Ok((mut conn, _)) = listener.accept() else {
                return;
            };
            read_request(&mut conn);
            let _ = conn.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n",
            );
            for i in 0..frames {
                // every other part without Content-Length, as some cameras send them
                let head = if i % 2 == 0 {
                    format!(
                        "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                        jpeg.len()
                    )
                } else {
                    "--frame\r\nContent-Type: image/jpeg\r\n\r\n".to_string()
                };
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(&jpeg);
                let _ = conn.write_all(b"\r\n");
            }
        }
    });
    url
}

#[test]
fn an_mjpeg_http_camera_streams_frames_and_is_reconnected_after_it_drops() {
    use inception_edge::camera::mjpeg::MjpegHttp;
    let url = mjpeg_server(3, 4);
    let mut source = MjpegHttp::new(&url, Duration::from_secs(5)).unwrap();
    let config = LoopConfig {
        queue: 16,
        max_frames: Some(12),
        duration: Some(Duration::from_secs(60)),
        ..fast_retry()
    };
    let s = run_loop(&mut source, &mut [], &config);
    assert!(s.stats.accounted(), "{:?}", s.stats);
    assert_eq!(
        (s.stats.captured, s.stats.results),
        (12, 12),
        "{:?}",
        s.stats
    );
    // the server closed the stream after each 4 frames: two reconnections
    assert_eq!(s.stats.disconnects, 2, "{:?}", s.stats);
}

#[test]
fn an_http_server_that_is_no_mjpeg_camera_is_reported() {
    use inception_edge::camera::mjpeg::MjpegHttp;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for body in [
            &b"HTTP/1.1 404 Not Found\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>",
        ] {
            let Ok((mut conn, _)) = listener.accept() else {
                return;
            };
            read_request(&mut conn);
            let _ = conn.write_all(body);
        }
    });
    let mut source = MjpegHttp::new(&url, Duration::from_secs(5)).unwrap();
    let mut buf = OwnedFrame::default();
    let e = source.next(&mut buf).unwrap_err();
    assert!(e.message.contains("404"), "{e}");
    let e = source.next(&mut buf).unwrap_err();
    assert!(e.message.contains("not an MJPEG stream"), "{e}");
    assert!(MjpegHttp::new("rtsp://cam/", Duration::from_secs(1)).is_err());
}
