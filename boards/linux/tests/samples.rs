//! The capture path on the committed sample frames (tests/data/camera, made by
//! tools/make_camera_samples.py the way a UVC camera encodes frames): decoding, then the
//! camera loop with the embedded classifier, and the device errors a user meets first.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use inception_edge::camera::{self, Capture, LoopConfig, OwnedFrame, Sink, Source, SourceError};
use inception_edge::core::camera::ErrorKind;
use inception_edge::core::PixelFormat;
use inception_edge::Classifier;
use inception_edge_linux::decode::{decode, Geometry};
use inception_edge_linux::{CaptureFormat, DeviceConfig, DeviceError, V4l2Camera};

fn sample(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/camera")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The RGB frame the samples encode.
fn reference() -> image::RgbImage {
    image::load_from_memory(&sample("chelsea-320x240.png"))
        .unwrap()
        .to_rgb8()
}

const YUYV: Geometry = Geometry {
    format: CaptureFormat::Yuyv,
    width: 320,
    height: 240,
    bytes_per_line: 640,
};

const MJPEG: Geometry = Geometry {
    format: CaptureFormat::Mjpeg,
    width: 320,
    height: 240,
    bytes_per_line: 0,
};

/// Peak signal-to-noise ratio of a decoded frame against the reference, in dB.
fn psnr(frame: &OwnedFrame) -> f64 {
    let f = frame.frame().unwrap();
    let r = reference();
    let mut se = 0f64;
    for (x, y, p) in r.enumerate_pixels() {
        let got = f.rgb(x as usize, y as usize);
        for c in 0..3 {
            se += (f64::from(got[c]) - f64::from(p[c])).powi(2);
        }
    }
    let mse = se / (320.0 * 240.0 * 3.0);
    10.0 * (255.0f64 * 255.0 / mse).log10()
}

#[test]
fn the_yuyv_sample_decodes_to_the_photo_it_encodes() {
    let mut buf = OwnedFrame::default();
    decode(&sample("chelsea-320x240.yuyv"), &YUYV, &mut buf).unwrap();
    assert_eq!(
        (buf.width, buf.height, buf.format),
        (320, 240, PixelFormat::Yuyv)
    );
    let db = psnr(&buf);
    println!("YUYV sample: PSNR {db:.1} dB against the photo");
    // 4:2:2 chroma and 8-bit YUV rounding only
    assert!(db > 30.0, "PSNR {db:.1} dB");
}

#[test]
fn the_mjpeg_sample_decodes_to_the_photo_it_encodes() {
    let mut buf = OwnedFrame::default();
    decode(&sample("chelsea-320x240.mjpg"), &MJPEG, &mut buf).unwrap();
    assert_eq!(
        (buf.width, buf.height, buf.format),
        (320, 240, PixelFormat::Rgb888)
    );
    let db = psnr(&buf);
    println!("MJPEG sample: PSNR {db:.1} dB against the photo");
    assert!(db > 30.0, "PSNR {db:.1} dB");
}

#[test]
fn a_truncated_mjpeg_frame_is_a_corrupt_frame_not_a_panic() {
    let jpeg = sample("chelsea-320x240.mjpg");
    let mut buf = OwnedFrame::default();
    for cut in [0, 2, 100, jpeg.len() / 2] {
        if let Err(e) = decode(&jpeg[..cut], &MJPEG, &mut buf) {
            assert_eq!(e.kind, ErrorKind::CorruptFrame, "{e}");
        }
    }
    // a truncated header is never a frame
    assert!(decode(&jpeg[..100], &MJPEG, &mut buf).is_err());
}

/// Replays buffers as the driver would hand them over, through the same decoding.
struct Driver {
    buffers: Vec<(Vec<u8>, Geometry)>,
    next: usize,
}

impl Source for Driver {
    fn next(&mut self, buf: &mut OwnedFrame) -> Result<Capture, SourceError> {
        let Some((bytes, g)) = self.buffers.get(self.next) else {
            return Ok(Capture::End);
        };
        self.next += 1;
        decode(bytes, g, buf).map(|()| Capture::Frame)
    }
    fn describe(&self) -> String {
        "sample frames".into()
    }
}

#[test]
fn sample_frames_run_through_the_camera_loop_and_a_damaged_one_is_an_error_record() {
    let jpeg = sample("chelsea-320x240.mjpg");
    let yuyv = sample("chelsea-320x240.yuyv");
    let buffers = vec![
        (yuyv.clone(), YUYV),
        (jpeg.clone(), MJPEG),
        (jpeg[..200].to_vec(), MJPEG),
        (yuyv[..1000].to_vec(), YUYV),
        (yuyv, YUYV),
        (jpeg, MJPEG),
    ];
    let mut source = Driver { buffers, next: 0 };
    let mut classifier = Classifier::embedded().unwrap();
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    let config = LoopConfig {
        queue: 16,
        ..LoopConfig::default()
    };
    let stop = AtomicBool::new(false);
    let s = camera::run(
        &mut source,
        &mut classifier,
        &mut sinks,
        &config,
        &stop,
        &mut |_| {},
    );
    assert!(s.stats.accounted(), "{:?}", s.stats);
    assert_eq!(
        (s.stats.captured, s.stats.results, s.stats.errors),
        (6, 4, 2),
        "{:?}",
        s.stats
    );
}

#[test]
fn a_missing_device_and_a_non_camera_are_clear_errors() {
    let e = V4l2Camera::open(DeviceConfig::new("/dev/video-does-not-exist"))
        .err()
        .unwrap();
    assert!(matches!(e, DeviceError::Open { .. }), "{e}");
    assert!(e.to_string().contains("/dev/video-does-not-exist"), "{e}");
    // a real ioctl on a file that is no camera
    let e = V4l2Camera::open(DeviceConfig::new("/dev/null"))
        .err()
        .unwrap();
    assert!(matches!(e, DeviceError::NotCapture { .. }), "{e}");
    assert!(e.to_string().contains("VIDIOC_QUERYCAP"), "{e}");
}
