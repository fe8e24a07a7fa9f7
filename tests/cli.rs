//! The `incept` binary as a user runs it: output on success, clear errors and non-zero exits
//! on bad input, never a panic.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn incept(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_incept"));
    for a in args {
        cmd.arg(a);
    }
    cmd.output().expect("incept runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Fails the test if the process panicked or succeeded; returns stderr.
fn failure(out: &Output) -> String {
    let err = text(&out.stderr);
    assert!(
        !out.status.success(),
        "expected failure, got success:\n{err}"
    );
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn classify_prints_the_top_five_labels_with_latency() {
    let refs = common::references();
    let boot = refs
        .iter()
        .find(|r| r.file.ends_with("ankle-boot.png"))
        .unwrap();
    let out = incept(&[&"classify", &common::mini_model(), &boot.file]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("inference"), "{stdout}");
    let ranks: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with(char::is_numeric))
        .collect();
    assert_eq!(ranks.len(), 5, "{stdout}");
    let labels = [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ];
    assert!(ranks[0].contains(labels[boot.argmax()]), "{stdout}");
}

#[test]
fn classify_accepts_a_manifest_and_a_top_count() {
    let out = incept(&[
        &"classify",
        &common::mini_manifest(),
        &common::data("fmnist/bag.png"),
        &"--top",
        &"2",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ranks = text(&out.stdout)
        .lines()
        .filter(|l| l.trim_start().starts_with(char::is_numeric))
        .count();
    assert_eq!(ranks, 2);
}

#[test]
fn classify_prints_the_same_values_on_one_thread_or_two_and_refuses_zero() {
    let run = |threads: &str| {
        let out = incept(&[
            &"classify",
            &common::mini_manifest(),
            &common::data("fmnist/bag.png"),
            &"--logits",
            &"--threads",
            &threads,
        ]);
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    };
    let values = |stdout: &str| {
        stdout
            .lines()
            .filter(|l| !l.contains(" ms"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (ok1, one, err1) = run("1");
    let (ok2, two, err2) = run("2");
    assert!(ok1 && ok2, "{err1}{err2}");
    assert!(one.contains("logits ["), "{one}");
    assert_eq!(values(&one), values(&two));
    let (ok0, _, err0) = run("0");
    assert!(!ok0 && err0.contains("--threads"), "{err0}");
}

#[test]
fn a_model_without_manifest_runs_with_index_labels() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.onnx");
    std::fs::copy(common::mini_model(), &model).unwrap();
    let out = incept(&[&"classify", &model, &common::data("fmnist/trouser.png")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("class "),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_missing_model_file_is_named_in_the_error() {
    let out = incept(&[
        &"classify",
        &"no/such/model.onnx",
        &common::data("fmnist/bag.png"),
    ]);
    let err = failure(&out);
    assert!(err.contains("no/such/model.onnx"), "{err}");
}

#[test]
fn a_corrupt_model_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("garbage.onnx");
    std::fs::write(&model, b"this is not a protobuf \xff\xfe\x00\x01").unwrap();
    let err = failure(&incept(&[
        &"classify",
        &model,
        &common::data("fmnist/bag.png"),
    ]));
    assert!(
        err.contains("garbage.onnx") && err.contains("not a usable model"),
        "{err}"
    );
}

#[test]
fn a_truncated_model_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("truncated.onnx");
    let bytes = std::fs::read(common::mini_model()).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();
    let err = failure(&incept(&[
        &"classify",
        &model,
        &common::data("fmnist/bag.png"),
    ]));
    assert!(err.contains("truncated.onnx"), "{err}");
}

#[test]
fn a_model_changed_behind_its_manifest_fails_the_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let src = common::mini_model();
    let mut bytes = std::fs::read(&src).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0x40; // flip one bit in the weights
    std::fs::write(dir.path().join("mini-inception-fmnist.onnx"), &bytes).unwrap();
    std::fs::copy(common::mini_manifest(), dir.path().join("manifest.toml")).unwrap();
    let model = dir.path().join("mini-inception-fmnist.onnx");
    let err = failure(&incept(&[
        &"classify",
        &model,
        &common::data("fmnist/bag.png"),
    ]));
    assert!(err.contains("sha256"), "{err}");
}

#[test]
fn models_whose_input_is_not_one_image_are_refused() {
    for (file, why) in [
        ("rank2-input.onnx", "rank-4"),
        ("five-channel-input.onnx", "1 or 3 channels"),
        ("batch4-input.onnx", "batch"),
    ] {
        let model = common::data("models").join(file);
        let err = failure(&incept(&[
            &"classify",
            &model,
            &common::data("fmnist/bag.png"),
        ]));
        assert!(err.contains(why), "{file}: {err}");
    }
}

#[test]
fn an_undecodable_image_is_named_and_the_other_images_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.png");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let good = common::data("fmnist/sneaker.png");
    let out = incept(&[
        &"classify",
        &common::mini_model(),
        &bad,
        &good,
        &Path::new("missing.jpg"),
    ]);
    let err = failure(&out);
    assert!(
        err.contains("broken.png") && err.contains("missing.jpg"),
        "{err}"
    );
    assert!(err.contains("2 of 3 images failed"), "{err}");
    assert!(
        text(&out.stdout).contains("sneaker.png"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn help_lists_only_working_subcommands() {
    let out = incept(&[&"--help"]);
    let help = text(&out.stdout);
    assert!(out.status.success());
    for present in [
        "classify", "quantize", "info", "eval", "camera", "bench", "bundle", "deploy", "zoo",
    ] {
        assert!(help.contains(present), "{help}");
    }
}

#[test]
fn version_names_the_pinned_tract() {
    let out = incept(&[&"--version"]);
    assert!(
        text(&out.stdout).contains("tract 0.23.9"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_top_count_beyond_ten_is_a_usage_error() {
    let out = incept(&[
        &"classify",
        &common::mini_model(),
        &common::data("fmnist/bag.png"),
        &"-k",
        &"11",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_closed_stdout_ends_the_run_quietly_without_a_panic() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_incept"))
        .arg("classify")
        .arg(common::mini_model())
        .args(std::iter::repeat_n(common::data("fmnist/bag.png"), 50))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away, as with `| head`
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.status.success(), "{err}");
}

fn calib_idx() -> std::path::PathBuf {
    common::data("fmnist-v3/calib-200-images-idx3-ubyte.gz")
}

#[test]
fn quantize_writes_an_int8_model_that_classify_runs() {
    let dir = tempfile::tempdir().unwrap();
    let blob = dir.path().join("mini.int8.nnef.tgz");
    let report = dir.path().join("report.md");
    let out = incept(&[
        &"quantize",
        &common::mini_manifest(),
        &"--calib",
        &calib_idx(),
        &"--limit",
        &"50",
        &"-o",
        &blob,
        &"--report",
        &report,
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", text(&out.stderr));
    assert!(stdout.contains("top-1 agreement"), "{stdout}");
    assert!(stdout.contains("float-valued: Dequant"), "{stdout}");
    assert!(
        text(&out.stderr).contains("calibrating"),
        "no progress shown"
    );
    assert!(std::fs::read_to_string(&report)
        .unwrap()
        .contains("| SQNR (dB) |"));
    let boot = common::data("fmnist/ankle-boot.png");
    let out = incept(&[
        &"classify",
        &blob,
        &"--manifest",
        &common::mini_manifest(),
        &boot,
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("1. Ankle boot"), "{stdout}");
}

#[test]
fn quantize_with_an_empty_calibration_directory_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = incept(&[
        &"quantize",
        &common::mini_manifest(),
        &"--calib",
        &dir.path(),
        &"-o",
        &dir.path().join("x.tgz"),
    ]);
    let err = failure(&out);
    assert!(err.contains("no images"), "{err}");
    assert!(!dir.path().join("x.tgz").exists());
}

#[test]
fn quantize_with_only_unreadable_images_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.png"), b"not a png").unwrap();
    let out = incept(&[
        &"quantize",
        &common::mini_manifest(),
        &"--calib",
        &dir.path(),
        &"-o",
        &dir.path().join("x.tgz"),
    ]);
    let err = failure(&out);
    assert!(err.contains("broken.png"), "{err}");
    assert!(err.contains("none of the 1 calibration images"), "{err}");
}

#[test]
fn quantize_names_the_node_it_cannot_lower() {
    let dir = tempfile::tempdir().unwrap();
    let out = incept(&[
        &"quantize",
        &common::data("models/sigmoid-head.onnx"),
        &"--calib",
        &calib_idx(),
        &"-o",
        &dir.path().join("x.tgz"),
    ]);
    let err = failure(&out);
    assert!(err.contains("\"gate\""), "{err}");
    assert!(err.contains("Sigmoid"), "{err}");
}

#[test]
fn quantize_refuses_an_unknown_calibration_method() {
    let out = incept(&[
        &"quantize",
        &common::mini_manifest(),
        &"--calib",
        &calib_idx(),
        &"--method",
        &"kl",
        &"-o",
        &"x.tgz",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown calibration method"));
}

#[test]
fn quantize_imports_a_pre_quantized_model_without_calibration_images() {
    let dir = tempfile::tempdir().unwrap();
    let blob = dir.path().join("qdq.int8.nnef.tgz");
    let out = incept(&[
        &"quantize",
        &common::data("int8/mini-ort-qdq.onnx"),
        &"--manifest",
        &common::mini_manifest(),
        &"-o",
        &blob,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("is pre-quantized"));
    assert!(text(&out.stdout).contains("imported quantization parameters"));
    let out = incept(&[
        &"classify",
        &blob,
        &"--manifest",
        &common::mini_manifest(),
        &common::data("fmnist/ankle-boot.png"),
    ]);
    assert!(
        text(&out.stdout).contains("1. Ankle boot"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn quantize_without_calibration_images_needs_a_pre_quantized_model() {
    let out = incept(&[&"quantize", &common::mini_manifest(), &"-o", &"x.tgz"]);
    let err = failure(&out);
    assert!(err.contains("--calib is needed"), "{err}");
}

#[test]
fn info_shows_the_embedded_model_and_its_passing_self_test() {
    use inception_edge::embedded::model;
    let out = incept(&[&"info"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains(model::NAME), "{stdout}");
    assert!(stdout.contains(model::BLOB_SHA256), "{stdout}");
    assert!(stdout.contains(model::MODEL_SHA256), "{stdout}");
    assert!(stdout.contains("self-test        passed"), "{stdout}");
    let ops = stdout
        .lines()
        .find(|l| l.starts_with("operators"))
        .expect("an operators line");
    assert!(
        ops.contains("int8/integer") && ops.contains("float"),
        "{ops}"
    );
}

#[test]
fn classify_embedded_uses_the_model_built_into_the_binary() {
    let img = common::data("fmnist/bag.png");
    let out = incept(&[&"classify", &"embedded", &img, &"-k", &"1"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("1. Bag"), "{stdout}");
}

fn firmware(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_incept-fw"));
    for a in args {
        cmd.arg(a);
    }
    cmd.output().expect("incept-fw runs")
}

#[test]
fn the_firmware_boots_then_classifies_and_reports_unreadable_images_without_stopping() {
    let missing = Path::new("no/such/image.png");
    let out = firmware(&[&missing, &common::data("fmnist/sneaker.png")]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.starts_with("booted ") && stdout.contains("self-test passed"),
        "{stdout}"
    );
    assert!(stdout.contains("sneaker.png: Sneaker"), "{stdout}");
    assert!(stderr.contains("no/such/image.png"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bench_reports_ordered_latencies_memory_and_a_profile_that_adds_up() {
    let out = incept(&[
        &"bench",
        &common::mini_manifest(),
        &"--runs",
        &"5",
        &"--warmup",
        &"1",
        &"--profile-runs",
        &"2",
        &"--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let l = &r["latency_ms"];
    let ms = |k: &str| l[k].as_f64().unwrap_or_else(|| panic!("latency {k}: {r}"));
    assert!(ms("min") > 0.0, "{r}");
    assert!(ms("min") <= ms("median") && ms("median") <= ms("p90") && ms("p90") <= ms("max"));
    assert!(ms("min") <= ms("mean") && ms("mean") <= ms("max"));
    let throughput = r["throughput_per_s"].as_f64().unwrap();
    assert!((throughput * ms("mean") / 1e3 - 1.0).abs() < 1e-9, "{r}");
    assert_eq!(r["runs"], 5);
    assert_eq!(r["int8"], false);
    assert_eq!(r["input"], serde_json::json!([1, 1, 28, 28]), "{r}");
    assert!(r["peak_rss_kib"].as_u64().unwrap() > 1024, "{r}");
    let profile = r["profile"].as_array().unwrap();
    assert!(!profile.is_empty(), "{r}");
    let share: f64 = profile.iter().map(|p| p["share"].as_f64().unwrap()).sum();
    assert!((share - 1.0).abs() < 1e-6, "shares add to {share}");
    let ms: Vec<f64> = profile.iter().map(|p| p["ms"].as_f64().unwrap()).collect();
    assert!(ms.windows(2).all(|w| w[0] >= w[1]), "longest first: {ms:?}");
    let ops: Vec<&str> = profile.iter().map(|p| p["op"].as_str().unwrap()).collect();
    assert!(
        ops.iter()
            .any(|op| op.contains("Conv") || op.contains("MatMul")),
        "{ops:?}"
    );
}

#[test]
fn bench_of_the_embedded_int8_model_prints_the_text_report() {
    let out = incept(&[
        &"bench",
        &"--runs",
        &"2",
        &"--warmup",
        &"0",
        &"--profile-runs",
        &"1",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for line in [
        "(int8",
        "latency     min",
        "throughput",
        "peak RSS",
        "profile",
        "Requant",
    ] {
        assert!(stdout.contains(line), "no {line:?} in\n{stdout}");
    }
}

#[test]
fn bench_with_streams_times_inferences_in_flight_together() {
    let out = incept(&[
        &"bench",
        &common::mini_manifest(),
        &"--runs",
        &"6",
        &"--profile-runs",
        &"0",
        &"--streams",
        &"3",
        &"--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let s = &r["streams"];
    assert_eq!(s["streams"], 3, "{r}");
    assert!(s["throughput_per_s"].as_f64().unwrap() > 0.0, "{r}");
    let l = &s["latency_ms"];
    let ms = |k: &str| l[k].as_f64().unwrap_or_else(|| panic!("latency {k}: {r}"));
    assert!(ms("min") > 0.0 && ms("min") <= ms("median") && ms("median") <= ms("max"));
    // one stream: no streams measurement; the text report names it only when there is one
    let out = incept(&[
        &"bench",
        &common::mini_manifest(),
        &"--runs",
        &"2",
        &"--json",
    ]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(r["streams"].is_null(), "{r}");
    let out = incept(&[
        &"bench",
        &common::mini_manifest(),
        &"--runs",
        &"2",
        &"--streams",
        &"2",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("streams     2 in flight:"), "{stdout}");
}

#[test]
fn bench_refuses_zero_runs_zero_streams_and_a_missing_model() {
    let out = incept(&[&"bench", &"--runs", &"0"]);
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
    let err = text(&out.stderr);
    assert!(err.contains("--runs"), "{err}");
    let out = incept(&[&"bench", &"--streams", &"0"]);
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
    assert!(text(&out.stderr).contains("--streams"));
    let err = failure(&incept(&[&"bench", &"no/such/model.onnx"]));
    assert!(err.contains("no/such/model.onnx"), "{err}");
}

#[test]
fn zoo_list_shows_the_six_networks_with_their_counts() {
    let out = incept(&[&"zoo", &"list", &"--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 6);
    let v3 = rows.iter().find(|r| r["name"] == "inception-v3").unwrap();
    assert_eq!(v3["params"], 23_834_568);
    assert_eq!(v3["input"], 299);
    let table = text(&incept(&[&"zoo", &"list"]).stdout);
    assert!(
        table.contains("inception-resnet-v2") && table.contains("55843464"),
        "{table}"
    );
}

#[test]
fn zoo_export_writes_an_onnx_file_that_classify_runs() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("v1.onnx");
    let out = incept(&[
        &"zoo",
        &"export",
        &"bn-inception",
        &"--size",
        &"96",
        &"--classes",
        &"10",
        &"-o",
        &onnx,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let note = text(&out.stderr);
    assert!(note.contains("bn-inception: 10180234 parameters"), "{note}");
    assert!(std::fs::metadata(&onnx).unwrap().len() > 40_000_000);
    let image = &common::references()[0].file;
    let out = incept(&[&"classify", &onnx, image]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn zoo_export_takes_weights_by_layer_name_and_googles_inception_v3() {
    let dir = tempfile::tempdir().unwrap();
    let path = |n: &str| dir.path().join(n);
    let export = |args: &[&dyn AsRef<std::ffi::OsStr>]| {
        let mut all: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"zoo", &"export"];
        all.extend_from_slice(args);
        incept(&all)
    };
    // an export read back by layer name gives the same file, classes from the file
    let (a, b) = (path("a.onnx"), path("b.onnx"));
    let size: &dyn AsRef<std::ffi::OsStr> = &"107";
    let out = export(&[&"irv1", &"--size", size, &"--classes", &"7", &"-o", &a]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = export(&[&"irv1", &"--size", size, &"--weights", &a, &"-o", &b]);
    let note = text(&out.stderr);
    assert!(out.status.success() && note.contains("7 classes"), "{note}");
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    // Google's 2015 graph with its own names
    let google = common::root().join("models/inception-v3-fmnist/inception-v3-fmnist.onnx");
    let v3 = path("v3.onnx");
    let out = export(&[&"v3", &"--weights", &google, &"--google-2015", &"-o", &v3]);
    let note = text(&out.stderr);
    assert!(
        out.status.success() && note.contains("10 classes"),
        "{note}"
    );
    let image = &common::references()[0].file;
    let out = incept(&[&"classify", &v3, image]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // wrong files and combinations: exit 1, nothing written
    let bad = path("bad.onnx");
    let err = failure(&export(&[&"v3", &"--weights", &google, &"-o", &bad]));
    assert!(
        err.contains("no tensor") || err.contains("belong to no layer"),
        "{err}"
    );
    let err = failure(&export(&[
        &"v4",
        &"--weights",
        &google,
        &"--google-2015",
        &"-o",
        &bad,
    ]));
    assert!(err.contains("inception-v3"), "{err}");
    let text_file = path("notes.onnx");
    std::fs::write(&text_file, "not a model").unwrap();
    let err = failure(&export(&[&"v3", &"--weights", &text_file, &"-o", &bad]));
    assert!(err.contains("not an ONNX model"), "{err}");
    let err = failure(&export(&[
        &"v3",
        &"--weights",
        &path("none.onnx"),
        &"-o",
        &bad,
    ]));
    assert!(err.contains("cannot read"), "{err}");
    assert!(!bad.exists());
    let out = export(&[&"v3", &"--google-2015", &"-o", &bad]);
    assert_eq!(out.status.code(), Some(2), "--google-2015 needs --weights");
}

#[test]
fn zoo_export_and_bench_refuse_unknown_networks_and_bad_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("x.onnx");
    // command-line errors (clap: exit 2), then a build error (exit 1)
    let usage = |out: Output| {
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        err
    };
    let err = usage(incept(&[&"zoo", &"export", &"resnet50", &"-o", &onnx]));
    assert!(
        err.contains("unknown network") && err.contains("inception-v4"),
        "{err}"
    );
    let err = failure(&incept(&[
        &"zoo", &"export", &"v3", &"--size", &"20", &"-o", &onnx,
    ]));
    assert!(err.contains("input size 20"), "{err}");
    assert!(!onnx.exists());
    let err = usage(incept(&[&"bench", &"--arch", &"alexnet"]));
    assert!(err.contains("unknown network"), "{err}");
    let err = usage(incept(&[&"bench", &"--int8"]));
    assert!(err.contains("--arch"), "{err}");
}

#[test]
fn bench_times_a_zoo_network_in_int8() {
    let out = incept(&[
        &"bench",
        &"--arch",
        &"irv1",
        &"--int8",
        &"--size",
        &"107",
        &"--classes",
        &"10",
        &"--runs",
        &"2",
        &"--warmup",
        &"0",
        &"--profile-runs",
        &"1",
        &"--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["int8"], true);
    assert!(r["model"]
        .as_str()
        .unwrap()
        .starts_with("inception-resnet-v1"));
    assert_eq!(r["input"], serde_json::json!([1, 3, 107, 107]));
    let ops: Vec<&str> = r["profile"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["op"].as_str().unwrap())
        .collect();
    assert!(ops.contains(&"QAdd"), "{ops:?}");
}
