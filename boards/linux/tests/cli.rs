//! `incept-v4l2` as a user runs it, on a machine without a camera or GPIO chip: every
//! failure is one clear line and a non-zero exit.

use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_incept-v4l2"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_missing_camera_is_named_in_the_error() {
    let (ok, err) = run(&["--device", "/dev/video-missing", "--frames", "1"]);
    assert!(!ok);
    assert!(err.contains("cannot open /dev/video-missing"), "{err}");
}

#[test]
fn a_file_that_is_no_camera_is_refused() {
    let (ok, err) = run(&["--device", "/dev/null", "--list-formats"]);
    assert!(!ok);
    assert!(err.contains("not a V4L2 video capture device"), "{err}");
}

#[test]
fn bad_gpio_specs_and_missing_gpio_chips_are_clear_errors() {
    let (ok, err) = run(&["--device", "/dev/null", "--gpio", "17"]);
    assert!(!ok);
    assert!(err.contains("is not N=CLASS:ON[:OFF]"), "{err}");
    let (ok, err) = run(&["--device", "/dev/null", "--gpio", "17=NoSuchClass:0.8"]);
    assert!(!ok);
    assert!(err.contains("no class \"NoSuchClass\""), "{err}");
    let (ok, err) = run(&[
        "--device",
        "/dev/null",
        "--gpio-chip",
        "/dev/gpiochip-missing",
        "--gpio",
        "17=Bag:0.8:0.6",
    ]);
    assert!(!ok);
    assert!(err.contains("GPIO /dev/gpiochip-missing line 17"), "{err}");
}

#[test]
fn frames_in_flight_must_be_at_least_one() {
    let (ok, err) = run(&["--device", "/dev/null", "--in-flight", "0"]);
    assert!(!ok);
    assert!(err.contains("--in-flight"), "{err}");
}
