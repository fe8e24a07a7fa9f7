//! The accuracy harness (`inception_edge::eval`, `incept eval`): data forms, label matching,
//! unreadable images, reports, plots, and the threshold check with its bless round trip.
//! Runs on the small model so it stays fast.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use inception_edge::eval::suite::{Status, SuiteFile};
use inception_edge::eval::{evaluate, load_variants, Dataset, EvalError, Options};

fn incept(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_incept"));
    for a in args {
        cmd.arg(a);
    }
    cmd.current_dir(common::root());
    cmd.output().expect("incept runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn fixtures() -> PathBuf {
    common::data("fmnist-v3/test-1000-images-idx3-ubyte.gz")
}

fn fp32() -> Vec<inception_edge::eval::Variant> {
    load_variants(&common::mini_manifest(), &["fp32"]).unwrap()
}

fn opts() -> Options {
    Options {
        threads: 2,
        ..Options::default()
    }
}

/// A directory of class folders holding the ten labelled PNG fixtures.
fn class_folders(dir: &Path, name: impl Fn(&str) -> String) {
    for r in common::references() {
        let label = inception_edge::Manifest::from_file(common::mini_manifest())
            .unwrap()
            .labels[r.label]
            .clone();
        let class = dir.join(name(&label));
        std::fs::create_dir_all(&class).unwrap();
        std::fs::copy(&r.file, class.join(r.file.file_name().unwrap())).unwrap();
    }
}

#[test]
fn an_idx_file_finds_its_labels_and_the_report_counts_every_image() {
    let mut data = Dataset::open(fixtures()).unwrap();
    data.limit(200);
    let report = evaluate(&data, &fp32(), &opts(), &|_, _| {}).unwrap();
    let v = &report.variants[0];
    assert_eq!((report.images, v.evaluated), (200, 200));
    assert_eq!(v.correct_top1 as f64 / 200.0, v.top1);
    assert!(v.top1 > 0.8 && v.topk >= v.top1, "{} {}", v.top1, v.topk);
    let per_class: usize = v.per_class.iter().map(|c| c.total).sum();
    let confusion: u32 = v.confusion.iter().flatten().sum();
    assert_eq!((per_class, confusion as usize), (200, 200));
    let diagonal: u32 = (0..10).map(|c| v.confusion[c][c]).sum();
    assert_eq!(diagonal as usize, v.correct_top1);
    assert!(v.latency.p50 > 0.0 && v.latency.max >= v.latency.p90);
    let md = report.to_markdown();
    assert!(
        md.contains("| fp32 | 200 |") && md.contains("Ankle boot"),
        "{md}"
    );
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["results"].as_array().unwrap().len(), 200);
}

#[test]
fn threads_do_not_change_the_results() {
    let mut data = Dataset::open(fixtures()).unwrap();
    data.limit(64);
    let variants = fp32();
    let one = evaluate(
        &data,
        &variants,
        &Options {
            threads: 1,
            ..opts()
        },
        &|_, _| {},
    )
    .unwrap();
    let two = evaluate(
        &data,
        &variants,
        &Options {
            threads: 2,
            ..opts()
        },
        &|_, _| {},
    )
    .unwrap();
    let tops = |r: &inception_edge::eval::Report| -> Vec<Vec<(u16, f32)>> {
        r.results
            .iter()
            .map(|i| i.predictions[0].top.clone())
            .collect()
    };
    assert_eq!(tops(&one), tops(&two));
}

#[test]
fn class_folders_match_labels_ignoring_case_and_punctuation() {
    let dir = tempfile::tempdir().unwrap();
    class_folders(dir.path(), |l| l.to_lowercase().replace('/', "_"));
    let data = Dataset::open(dir.path()).unwrap();
    assert_eq!(data.len(), 10);
    assert!(dir.path().join("t-shirt_top").is_dir());
    let report = evaluate(&data, &fp32(), &opts(), &|_, _| {}).unwrap();
    assert_eq!(report.variants[0].evaluated, 10);
    assert!(report.variants[0].correct_top1 >= 8);
}

#[test]
fn unknown_labels_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let png = &common::references()[0].file;
    std::fs::copy(png, dir.path().join("a.png")).unwrap();
    std::fs::write(
        dir.path().join("labels.csv"),
        "path,label\na.png,Hat\na.png,Sneaker\na.png,Scarf\n",
    )
    .unwrap();
    let data = Dataset::open(dir.path().join("labels.csv")).unwrap();
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let err = evaluate(&data, &fp32(), &opts(), &|_, _| {
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap_err();
    assert!(matches!(err, EvalError::UnknownLabels { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("Hat, Scarf") && msg.contains("Sneaker") && !msg.contains("Hat, Sneaker"),
        "{msg}"
    );
    assert_eq!(calls.into_inner(), 0, "no image ran");
}

#[test]
fn unreadable_images_are_listed_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    class_folders(dir.path(), |l| l.replace('/', "-"));
    std::fs::write(
        dir.path().join("Bag/broken.png"),
        b"\x89PNG\r\n\x1a\nnot really",
    )
    .unwrap();
    std::fs::write(dir.path().join("Coat/empty.jpg"), b"").unwrap();
    let data = Dataset::open(dir.path()).unwrap();
    let report = evaluate(&data, &fp32(), &opts(), &|_, _| {}).unwrap();
    assert_eq!(report.images, 12);
    assert_eq!(report.variants[0].evaluated, 10);
    let names: Vec<&str> = report.unreadable.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["Bag/broken.png", "Coat/empty.jpg"]);
    let md = report.to_markdown();
    assert!(
        md.contains("## Unreadable images (2)") && md.contains("Bag/broken.png"),
        "{md}"
    );
}

#[test]
fn malformed_datasets_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, "path,label\nonly-a-path\n").unwrap();
    let other = dir.path().join("data.bin");
    std::fs::write(&other, b"123").unwrap();
    for (path, needle) in [
        (empty.as_path(), "no PNG/JPEG images"),
        (csv.as_path(), "line 2"),
        (other.as_path(), "images-idx3"),
        (Path::new("/nonexistent/x"), "no such file"),
    ] {
        let err = Dataset::open(path).unwrap_err();
        assert!(matches!(err, EvalError::Dataset { .. }), "{err}");
        assert!(err.to_string().contains(needle), "{err}");
    }
    // an IDX image file whose label file holds a different count
    let images = dir.path().join("x-images-idx3-ubyte");
    let mut idx = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28];
    idx.extend(vec![0u8; 2 * 28 * 28]);
    std::fs::write(&images, idx).unwrap();
    std::fs::write(
        dir.path().join("x-labels-idx1-ubyte"),
        [0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3],
    )
    .unwrap();
    let err = Dataset::open(&images).unwrap_err();
    assert!(err.to_string().contains("3 labels for 2 images"), "{err}");
}

#[test]
fn unknown_variants_and_nnef_without_manifest_are_usage_errors() {
    let err = load_variants(&common::mini_manifest(), &["fp16"]).unwrap_err();
    assert!(err.to_string().contains("unknown variant `fp16`"), "{err}");
    let nnef = common::data("int8/mini-inception-fmnist.int8.nnef.tgz");
    let err = load_variants(&nnef, &["int8"]).unwrap_err();
    assert!(err.to_string().contains("--manifest"), "{err}");
}

/// A thresholds file for the small model with absolute paths, in `dir`.
fn suite_file(dir: &Path, baseline: &str) -> PathBuf {
    let path = dir.join("accuracy.toml");
    let text = format!(
        "# kept through --bless\ntolerance = 0.004\n\n[[suite]]\nname = \"mini\"\nmodel = {:?}\nvariants = [\"fp32\", \"int8\"]\nint8 = \"compile\"\ndata = {:?}\nlimit = 300\ntop = 3\ngolden = {:?}\nmax_int8_drop = 0.01 # hand-set\nmin_agreement = 0.95\n{baseline}",
        common::mini_manifest(),
        fixtures(),
        common::data("fmnist"),
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_regression_fails_the_check_with_a_readable_diff_and_bless_rewrites_only_baselines() {
    let dir = tempfile::tempdir().unwrap();
    let path = suite_file(
        dir.path(),
        "\n[suite.baseline]\nimages = 300\ntop1 = { fp32 = 0.99, int8 = 0.5 }\ntopk = { fp32 = 0.99, int8 = 0.99 }\nagreement = 0.999\n",
    );
    let file = SuiteFile::open(&path).unwrap();
    let runs = file.run(&opts(), &|_, _, _| {}).unwrap();
    let check = file.check(&runs);
    let diff = check.render();
    assert!(!check.passed(), "{diff}");
    let failed: Vec<&str> = check.failures().map(|l| l.metric.as_str()).collect();
    assert!(failed.contains(&"fp32 top-1"), "{diff}");
    assert!(failed.contains(&"int8/fp32 top-1 agreement"), "{diff}");
    assert!(
        check
            .lines
            .iter()
            .any(|l| l.metric == "int8 top-1" && l.status == Status::Improved),
        "{diff}"
    );
    // no pinned golden outputs yet: every one is a failure, shown as a diff
    assert!(
        failed.iter().any(|m| m.starts_with("bag.png fp32 top-3")),
        "{diff}"
    );
    assert!(
        diff.contains("99.00 %") && diff.contains("FAILED"),
        "{diff}"
    );

    file.bless(&runs).unwrap();
    let blessed = std::fs::read_to_string(&path).unwrap();
    assert!(blessed.contains("# kept through --bless") && blessed.contains("# hand-set"));
    assert!(blessed.contains("[suite.golden_topk]"), "{blessed}");
    let again = SuiteFile::open(&path).unwrap();
    let check = again.check(&runs);
    assert!(check.passed(), "{}", check.render());
}

#[test]
fn the_cli_check_exits_one_on_a_regression_and_zero_after_bless() {
    let dir = tempfile::tempdir().unwrap();
    let path = suite_file(dir.path(), "");
    let out = incept(&[&"eval", &"--check", &path, &"--threads", &"2"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("run --bless"),
        "{}",
        text(&out.stdout)
    );
    let out = incept(&[&"eval", &"--check", &path, &"--bless"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = incept(&[
        &"eval",
        &"--check",
        &path,
        &"--out",
        &dir.path().join("out"),
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("accuracy check passed"));
    assert!(dir.path().join("out/mini-report.md").is_file());
}

#[test]
fn the_cli_writes_markdown_json_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("report");
    let json = dir.path().join("r.json");
    let out = incept(&[
        &"eval",
        &"--model",
        &common::mini_manifest(),
        &"--data",
        &fixtures(),
        &"--compare",
        &"fp32,int8",
        &"--limit",
        &"100",
        &"--out",
        &out_dir,
        &"--json",
        &json,
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains("| fp32 | 100 |") && stdout.contains("| int8 | 100 |"),
        "{stdout}"
    );
    assert!(stdout.contains("## Agreement"), "{stdout}");
    let report = common::read_json(&json);
    assert_eq!(report["variants"].as_array().unwrap().len(), 2);
    for png in ["per-class.png", "confusion-fp32.png", "confusion-int8.png"] {
        let img = image::open(out_dir.join(png)).unwrap_or_else(|e| panic!("{png}: {e}"));
        assert!(img.width() >= 480 && img.height() >= 480, "{png}");
        // something was drawn: not a blank page
        let rgb = img.to_rgb8();
        let colored = rgb.pixels().filter(|p| p.0 != [255, 255, 255]).count();
        assert!(colored > 10_000, "{png}: {colored} non-white pixels");
    }
    assert!(out_dir.join("report.md").is_file() && out_dir.join("report.json").is_file());
}

#[test]
fn the_cli_names_a_missing_dataset_and_unknown_labels() {
    let out = incept(&[
        &"eval",
        &"--model",
        &common::mini_manifest(),
        &"--data",
        &"/nonexistent/set",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("/nonexistent/set"),
        "{}",
        text(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("Hat")).unwrap();
    std::fs::copy(&common::references()[0].file, dir.path().join("Hat/a.png")).unwrap();
    let out = incept(&[
        &"eval",
        &"--model",
        &common::mini_manifest(),
        &"--data",
        &dir.path(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("Hat") && err.contains("Ankle boot"), "{err}");
}

#[test]
fn an_unlabelled_folder_gets_predictions_and_agreement_but_no_accuracy() {
    let out = incept(&[
        &"eval",
        &"--model",
        &common::mini_manifest(),
        &"--data",
        &common::data("fmnist"),
        &"--compare",
        &"fp32,int8",
    ]);
    let md = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        md.contains("— (no labels)") && md.contains("## Predictions (top-1)"),
        "{md}"
    );
    assert!(
        md.contains("| bag.png | Bag (") && md.contains("## Agreement"),
        "{md}"
    );
    assert!(!md.contains("Per-class"), "{md}");
}

#[test]
fn an_onnx_file_without_manifest_is_evaluated_with_class_indices() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("model.onnx");
    std::fs::copy(common::mini_model(), &onnx).unwrap();
    let variants = load_variants(&onnx, &["fp32"]).unwrap();
    let mut data = Dataset::open(fixtures()).unwrap();
    data.limit(100);
    let report = evaluate(&data, &variants, &opts(), &|_, _| {}).unwrap();
    assert_eq!(report.classes[9], "class 9");
    assert!(report.variants[0].top1 > 0.8, "{}", report.variants[0].top1);
    let err = load_variants(&onnx, &["fp32", "int8"]).unwrap_err();
    assert!(err.to_string().contains("--manifest"), "{err}");
}
