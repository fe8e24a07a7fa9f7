//! Heap allocations per frame, counted by a global allocator: in the steady state, capture,
//! preprocessing, post-processing, the loop's queues and its sinks allocate nothing. The only
//! allocations left per frame are the model's own (tract's), measured here apart and
//! subtracted exactly.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use inception_edge::camera::sinks::{Console, JsonLines};
use inception_edge::camera::sources::TestPattern;
use inception_edge::camera::{self, LoopConfig, OwnedFrame, Sink, Source};
use inception_edge::core::PixelFormat;
use inception_edge::Classifier;

/// Counts every allocation and reallocation of the process.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call unchanged to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The count is process-wide: tests measuring it take turns.
static EXCLUSIVE: Mutex<()> = Mutex::new(());

fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::SeqCst)
}

fn mini() -> Classifier {
    Classifier::from_manifest(common::mini_manifest()).unwrap()
}

/// A 640×480 YUYV frame from the test pattern.
fn yuyv_frame() -> OwnedFrame {
    let mut buf = OwnedFrame::default();
    TestPattern::new(640, 480, PixelFormat::Yuyv, 0.0)
        .next(&mut buf)
        .unwrap();
    buf
}

/// Allocations of one call of `f`, after `warm` calls to reach the steady state; every one of
/// `runs` calls must allocate the same number.
fn allocations_per_call(warm: usize, runs: usize, mut f: impl FnMut()) -> u64 {
    for _ in 0..warm {
        f();
    }
    let counts: Vec<u64> = (0..runs)
        .map(|_| {
            let before = allocations();
            f();
            allocations() - before
        })
        .collect();
    assert!(
        counts.iter().all(|&c| c == counts[0]),
        "allocations vary between calls: {counts:?}"
    );
    counts[0]
}

/// Allocations of the model alone (tract) for one inference, on the classifier's engine.
fn model_allocations(classifier: &Classifier) -> u64 {
    let mut engine = classifier.engine().clone();
    let mut logits = Vec::with_capacity(engine.output_shape().iter().product());
    if let inception_edge::engine::InputKind::I8(_) = engine.input_kind() {
        let input = vec![0i8; engine.input_len()];
        allocations_per_call(3, 5, || engine.run_i8(&input, &mut logits).unwrap())
    } else {
        let input = vec![0f32; engine.input_len()];
        allocations_per_call(3, 5, || engine.run(&input, &mut logits).unwrap())
    }
}

#[test]
fn classifying_a_yuyv_frame_allocates_only_inside_the_model_fp32_and_int8() {
    let _turn = EXCLUSIVE.lock().unwrap_or_else(|e| e.into_inner());
    let frame = yuyv_frame();
    for (name, mut classifier) in [
        ("mini fp32", mini()),
        ("embedded int8", Classifier::embedded().unwrap()),
    ] {
        let model = model_allocations(&classifier);
        let f = frame.frame().unwrap();
        let classify = allocations_per_call(3, 5, || {
            let c = classifier.classify(&f, 5).unwrap();
            assert_eq!(c.top.len(), 5);
        });
        println!("{name}: {classify} allocations per classify, {model} of them in the model");
        assert_eq!(
            classify,
            model,
            "{name}: preprocessing and top-k allocated {} times",
            classify as i64 - model as i64
        );
    }
}

#[test]
fn the_camera_loop_allocates_nothing_per_frame_outside_the_model() {
    let _turn = EXCLUSIVE.lock().unwrap_or_else(|e| e.into_inner());
    let mut classifier = mini();
    let model = model_allocations(&classifier);
    // As fast as the source can go: inference is the bottleneck, so frames are also dropped,
    // and every record (result or drop) goes through two sinks.
    let mut source = TestPattern::new(640, 480, PixelFormat::Yuyv, 0.0);
    let mut sinks: Vec<Box<dyn Sink>> = vec![
        Box::new(Console::new(std::io::sink())),
        Box::new(JsonLines::new(std::io::BufWriter::new(std::io::sink()))),
    ];
    let config = LoopConfig {
        duration: Some(Duration::from_secs(4)),
        report_every: Duration::from_millis(250),
        ..LoopConfig::default()
    };
    let stop = AtomicBool::new(false);
    // (allocations, results, captured) at each progress report
    let mut marks: Vec<(u64, u64, u64)> = Vec::with_capacity(64);
    let summary = camera::run(
        &mut source,
        &mut classifier,
        &mut sinks,
        &config,
        &stop,
        &mut |s| {
            if marks.len() < marks.capacity() {
                marks.push((allocations(), s.stats.results, s.stats.captured));
            }
        },
    );
    assert!(summary.stats.accounted(), "{:?}", summary.stats);
    assert!(marks.len() >= 8, "only {} progress reports", marks.len());
    // Steady state: from the third report on (threads started, buffers grown).
    let (first, last) = (marks[2], marks[marks.len() - 1]);
    let (allocs, results, captured) = (last.0 - first.0, last.1 - first.1, last.2 - first.2);
    assert!(results >= 20, "only {results} results in the window");
    let outside = allocs as i64 - (results * model) as i64;
    println!(
        "steady state: {captured} frames captured, {results} classified, {allocs} allocations, \
         {model} per inference in the model, {outside} outside it"
    );
    assert_eq!(
        outside,
        0,
        "{captured} frames ({results} classified) allocated {allocs} times; the model \
         accounts for {}",
        results * model
    );
}
