//! The loop's threads: capture → (bounded frame queue, drop oldest) → classify → (bounded
//! record queue, drop when full) → sinks.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, TrySendError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use inception_edge_core::camera::ErrorKind;
use serde::Serialize;

use super::{Capture, OwnedFrame, Sink, Source};
use crate::classifier::MAX_TOP_K;
use crate::Classifier;

/// How the loop runs.
#[derive(Debug, Clone)]
pub struct LoopConfig {
    /// Frames waiting for inference; when full the oldest is dropped (counted).
    pub queue: usize,
    /// Records waiting for the sinks; when full a record skips the sinks (counted).
    pub sink_queue: usize,
    /// Classes per result.
    pub top: usize,
    /// Stop after this many frames from the source (`None`: until stopped or the source ends).
    pub max_frames: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// First pause after the source disconnects; doubles up to `retry_max`.
    pub retry: Duration,
    /// Longest pause between reconnection attempts.
    pub retry_max: Duration,
    /// How often the progress callback gets a summary.
    pub report_every: Duration,
    /// Frames classified at once, each on its own thread with its own clone of the classifier
    /// (clones share the model's weights): more frames per second on several cores, each
    /// taking as long as one alone. With more than one, records reach the sinks in the order
    /// frames finish, which is not always the order they were captured (`seq` is).
    pub in_flight: usize,
}

impl Default for LoopConfig {
    fn default() -> Self {
        LoopConfig {
            queue: 2,
            sink_queue: 64,
            top: 3,
            max_frames: None,
            duration: None,
            retry: Duration::from_millis(100),
            retry_max: Duration::from_secs(2),
            report_every: Duration::from_secs(5),
            in_flight: 1,
        }
    }
}

/// What became of one frame.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "record", rename_all = "snake_case")]
// Records travel by value through a preallocated channel; boxing the large variant would cost
// an allocation per frame.
#[allow(clippy::large_enum_variant)]
pub enum Record {
    /// The frame was classified.
    Result {
        /// Frame sequence number.
        seq: u64,
        /// Top classes, best first: (class index, label, probability). Fixed capacity and
        /// shared labels: a result record allocates nothing.
        top: heapless::Vec<(u16, Arc<str>, f32), MAX_TOP_K>,
        /// Preprocessing time, ms.
        preprocess_ms: f64,
        /// Inference time, ms.
        inference_ms: f64,
        /// Capture to result, ms (queueing included).
        latency_ms: f64,
    },
    /// The frame gave way to a newer one (inference slower than the camera).
    Dropped {
        /// Frame sequence number.
        seq: u64,
    },
    /// The frame could not be classified (corrupt, wrong geometry, inference failure).
    Error {
        /// Frame sequence number.
        seq: u64,
        /// Why.
        error: String,
    },
}

/// Counts kept by the loop.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Frames the source delivered (or reported corrupt).
    pub captured: u64,
    /// Frames classified.
    pub results: u64,
    /// Frames dropped because inference was busy.
    pub dropped: u64,
    /// Frames that failed (corrupt, inference error).
    pub errors: u64,
    /// Times the source was found disconnected.
    pub disconnects: u64,
    /// Times the source had no frame in time.
    pub timeouts: u64,
    /// Other source failures without a frame.
    pub source_errors: u64,
    /// Records that skipped the sinks because they were behind.
    pub sink_skipped: u64,
    /// Sink calls that failed.
    pub sink_errors: u64,
}

impl Stats {
    /// Whether every captured frame is accounted for (call after [`run`] returns).
    pub fn accounted(&self) -> bool {
        self.captured == self.results + self.dropped + self.errors
    }
}

/// A snapshot of the loop: counts, rates and latencies.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// The counts.
    pub stats: Stats,
    /// Seconds since the start.
    pub elapsed_s: f64,
    /// Results per second since the start.
    pub fps: f64,
    /// Mean inference time, ms.
    pub inference_ms: f64,
    /// Mean preprocessing time, ms.
    pub preprocess_ms: f64,
    /// Median capture-to-result latency over the last results, ms.
    pub latency_p50_ms: f64,
    /// 99th percentile of the same, ms.
    pub latency_p99_ms: f64,
}

/// Latencies kept for the percentiles.
const WINDOW: usize = 1024;

struct Shared {
    queue: Mutex<VecDeque<OwnedFrame>>,
    ready: Condvar,
    pool: Mutex<Vec<OwnedFrame>>,
    capture_done: AtomicBool,
    stats: Mutex<Stats>,
    timing: Mutex<Timing>,
}

struct Timing {
    inference: f64,
    preprocess: f64,
    latencies: VecDeque<f64>,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            inference: 0.0,
            preprocess: 0.0,
            latencies: VecDeque::with_capacity(WINDOW),
        }
    }
}

fn bump(shared: &Shared, f: impl FnOnce(&mut Stats)) {
    if let Ok(mut s) = shared.stats.lock() {
        f(&mut s);
    }
}

fn summary(shared: &Shared, start: Instant) -> Summary {
    let stats = shared.stats.lock().map(|s| s.clone()).unwrap_or_default();
    let elapsed = start.elapsed().as_secs_f64();
    // Sorted on the stack: a summary allocates nothing either.
    let mut window = [0f64; WINDOW];
    let (inference, preprocess, n) = shared
        .timing
        .lock()
        .map(|t| {
            for (slot, &l) in window.iter_mut().zip(&t.latencies) {
                *slot = l;
            }
            (t.inference, t.preprocess, t.latencies.len())
        })
        .unwrap_or_default();
    let lat = &mut window[..n];
    lat.sort_unstable_by(f64::total_cmp);
    let pick = |p: f64| -> f64 {
        if lat.is_empty() {
            0.0
        } else {
            lat[((p * (lat.len() - 1) as f64).round() as usize).min(lat.len() - 1)]
        }
    };
    let n = stats.results.max(1) as f64;
    Summary {
        fps: stats.results as f64 / elapsed.max(1e-9),
        inference_ms: inference / n,
        preprocess_ms: preprocess / n,
        latency_p50_ms: pick(0.5),
        latency_p99_ms: pick(0.99),
        elapsed_s: elapsed,
        stats,
    }
}

/// Runs the loop until `stop` is set, the source ends, or a limit of `config` is reached;
/// returns the final summary. `progress` gets a summary every `config.report_every`.
///
/// Threads: the caller's thread classifies (with `config.in_flight - 1` more classifying
/// threads beside it); one thread captures; one feeds the sinks.
pub fn run(
    source: &mut dyn Source,
    classifier: &mut Classifier,
    sinks: &mut [Box<dyn Sink>],
    config: &LoopConfig,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&Summary),
) -> Summary {
    run_tapped(source, classifier, sinks, config, stop, progress, None)
}

/// A look at each classified frame with its record, on the classifying thread before the
/// frame's buffer is reused (the web view copies the latest frame here). Keep it short: it
/// delays the next inference.
pub type Tap<'a> = &'a (dyn Fn(&OwnedFrame, &Record) + Sync);

/// [`run`] with a [`Tap`] on every classified frame.
pub fn run_tapped(
    source: &mut dyn Source,
    classifier: &mut Classifier,
    sinks: &mut [Box<dyn Sink>],
    config: &LoopConfig,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&Summary),
    tap: Option<Tap<'_>>,
) -> Summary {
    let start = Instant::now();
    let in_flight = config.in_flight.max(1);
    let shared = Shared {
        queue: Mutex::new(VecDeque::with_capacity(config.queue.max(1) + 1)),
        ready: Condvar::new(),
        // queued frames, one being captured, one in each classifying thread
        pool: Mutex::new(
            (0..config.queue.max(1) + 1 + in_flight)
                .map(|_| OwnedFrame::default())
                .collect(),
        ),
        capture_done: AtomicBool::new(false),
        stats: Mutex::new(Stats::default()),
        timing: Mutex::new(Timing::default()),
    };
    let labels: Vec<Arc<str>> = (0..classifier.engine().output_shape().iter().product::<usize>())
        .map(|c| Arc::from(classifier.label(c as u16)))
        .collect();
    let (tx, rx) = sync_channel::<Record>(config.sink_queue.max(1));
    let helpers: Vec<Classifier> = (1..in_flight).map(|_| classifier.clone()).collect();
    std::thread::scope(|scope| {
        let shared = &shared;
        let labels = &labels[..];
        let errors = tx.clone();
        scope.spawn(move || capture(source, shared, config, stop, start, errors));
        for mut helper in helpers {
            let tx = tx.clone();
            scope.spawn(move || {
                classify_frames(&mut helper, shared, config, labels, &tx, tap, None);
            });
        }
        let sink_thread = scope.spawn(move || {
            for record in rx {
                for sink in sinks.iter_mut() {
                    if sink.publish(&record).is_err() {
                        bump(shared, |s| s.sink_errors += 1);
                    }
                }
            }
            for sink in sinks.iter_mut() {
                if sink.finish().is_err() {
                    bump(shared, |s| s.sink_errors += 1);
                }
            }
        });
        classify_frames(
            classifier,
            shared,
            config,
            labels,
            &tx,
            tap,
            Some((progress, start)),
        );
        drop(tx);
        let _ = sink_thread.join();
    });
    summary(&shared, start)
}

/// The progress callback of [`run`] and the loop's start.
type Progress<'a> = (&'a mut dyn FnMut(&Summary), Instant);

/// One classifying thread: takes frames from the queue until it is empty and the capture has
/// ended, classifies each, shows it to `tap` and sends its record to the sinks. `report`: the
/// progress callback and the loop's start, on the caller's thread only.
fn classify_frames(
    classifier: &mut Classifier,
    shared: &Shared,
    config: &LoopConfig,
    labels: &[Arc<str>],
    tx: &std::sync::mpsc::SyncSender<Record>,
    tap: Option<Tap<'_>>,
    mut report: Option<Progress<'_>>,
) {
    let mut last_report = Instant::now();
    loop {
        let frame = {
            let Ok(mut q) = shared.queue.lock() else {
                return;
            };
            loop {
                if let Some(f) = q.pop_front() {
                    break Some(f);
                }
                if shared.capture_done.load(Ordering::Acquire) {
                    break None;
                }
                q = match shared.ready.wait_timeout(q, Duration::from_millis(50)) {
                    Ok((q, _)) => q,
                    Err(_) => return,
                };
            }
        };
        let Some(frame) = frame else { return };
        let record = classify(classifier, &frame, config.top, labels, shared);
        if let Some(tap) = tap {
            tap(&frame, &record);
        }
        if let Ok(mut pool) = shared.pool.lock() {
            pool.push(frame);
        }
        match tx.try_send(record) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => bump(shared, |s| s.sink_skipped += 1),
            Err(TrySendError::Disconnected(_)) => {}
        }
        if let Some((progress, start)) = &mut report {
            if last_report.elapsed() >= config.report_every {
                last_report = Instant::now();
                progress(&summary(shared, *start));
            }
        }
    }
}

fn classify(
    classifier: &mut Classifier,
    frame: &OwnedFrame,
    top: usize,
    labels: &[Arc<str>],
    shared: &Shared,
) -> Record {
    let seq = frame.seq;
    let outcome = frame
        .frame()
        .map_err(crate::Error::from)
        .and_then(|f| classifier.classify(&f, top));
    match outcome {
        Ok(c) => {
            let latency_ms = frame.captured.elapsed().as_secs_f64() * 1e3;
            let (pre, inf) = (
                c.preprocess.as_secs_f64() * 1e3,
                c.inference.as_secs_f64() * 1e3,
            );
            bump(shared, |s| s.results += 1);
            if let Ok(mut t) = shared.timing.lock() {
                t.inference += inf;
                t.preprocess += pre;
                if t.latencies.len() == WINDOW {
                    t.latencies.pop_front();
                }
                t.latencies.push_back(latency_ms);
            }
            Record::Result {
                seq,
                top: c
                    .top
                    .iter()
                    .filter_map(|p| {
                        let label = labels.get(usize::from(p.class))?;
                        Some((p.class, Arc::clone(label), p.score))
                    })
                    .collect(),
                preprocess_ms: pre,
                inference_ms: inf,
                latency_ms,
            }
        }
        Err(e) => {
            bump(shared, |s| s.errors += 1);
            Record::Error {
                seq,
                error: e.to_string(),
            }
        }
    }
}

/// The capture thread: pulls frames from the source into the queue, dropping the oldest
/// waiting frame when inference is behind; waits and retries when the source is lost.
fn capture(
    source: &mut dyn Source,
    shared: &Shared,
    config: &LoopConfig,
    stop: &AtomicBool,
    start: Instant,
    records: std::sync::mpsc::SyncSender<Record>,
) {
    let mut seq = 0u64;
    let mut backoff = config.retry;
    let finish = |shared: &Shared| {
        shared.capture_done.store(true, Ordering::Release);
        shared.ready.notify_all();
    };
    loop {
        if stop.load(Ordering::Relaxed)
            || config.max_frames.is_some_and(|m| seq >= m)
            || config.duration.is_some_and(|d| start.elapsed() >= d)
        {
            break;
        }
        let mut buf = shared
            .pool
            .lock()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_default();
        match source.next(&mut buf) {
            Ok(Capture::Frame) => {
                backoff = config.retry;
                buf.seq = seq;
                seq += 1;
                bump(shared, |s| s.captured += 1);
                let Ok(mut q) = shared.queue.lock() else {
                    break;
                };
                if q.len() >= config.queue.max(1) {
                    if let Some(old) = q.pop_front() {
                        bump(shared, |s| s.dropped += 1);
                        if records.try_send(Record::Dropped { seq: old.seq }).is_err() {
                            bump(shared, |s| s.sink_skipped += 1);
                        }
                        if let Ok(mut pool) = shared.pool.lock() {
                            pool.push(old);
                        }
                    }
                }
                q.push_back(buf);
                drop(q);
                shared.ready.notify_one();
            }
            Ok(Capture::End) => break,
            Err(e) => {
                if let Ok(mut pool) = shared.pool.lock() {
                    pool.push(buf);
                }
                match e.kind {
                    ErrorKind::CorruptFrame => {
                        // a frame arrived but was unusable: it is accounted for as an error
                        bump(shared, |s| {
                            s.captured += 1;
                            s.errors += 1;
                        });
                        let record = Record::Error {
                            seq,
                            error: e.to_string(),
                        };
                        seq += 1;
                        if records.try_send(record).is_err() {
                            bump(shared, |s| s.sink_skipped += 1);
                        }
                    }
                    ErrorKind::Disconnected => {
                        bump(shared, |s| s.disconnects += 1);
                        sleep_unless_stopped(backoff, stop);
                        backoff = (backoff * 2).min(config.retry_max);
                    }
                    ErrorKind::Timeout => bump(shared, |s| s.timeouts += 1),
                    _ => {
                        bump(shared, |s| s.source_errors += 1);
                        sleep_unless_stopped(backoff, stop);
                        backoff = (backoff * 2).min(config.retry_max);
                    }
                }
            }
        }
    }
    finish(shared);
}

fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let end = Instant::now() + d;
    while Instant::now() < end && !stop.load(Ordering::Relaxed) {
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(20)));
    }
}
