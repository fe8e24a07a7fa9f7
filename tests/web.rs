//! The web live view, against a running camera loop: real HTTP clients (our MJPEG client,
//! raw TCP for the misbehaving ones) and the page in headless Chromium through chromedriver.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use inception_edge::camera::mjpeg::MjpegHttp;
use inception_edge::camera::sources::TestPattern;
use inception_edge::camera::web::{WebOptions, WebView};
use inception_edge::camera::{self, LoopConfig, OwnedFrame, Record, Source};
use inception_edge::core::PixelFormat;
use inception_edge::Classifier;

/// Runs the loop (test pattern at 20 fps, the small model) with a web view until `body`
/// returns.
fn with_live_view<T>(options: WebOptions, body: impl FnOnce(SocketAddr) -> T) -> T {
    let view = WebView::start("127.0.0.1:0".parse().unwrap(), options).unwrap();
    let addr = view.addr();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let (view, stop_ref) = (&view, &stop);
        s.spawn(move || {
            let mut source = TestPattern::new(320, 240, PixelFormat::Yuyv, 20.0);
            let mut classifier = Classifier::from_manifest(common::mini_manifest()).unwrap();
            let publish = |f: &OwnedFrame, r: &Record| view.publish(f, r);
            camera::run_tapped(
                &mut source,
                &mut classifier,
                &mut [],
                &LoopConfig::default(),
                stop_ref,
                &mut |_| {},
                Some(&publish),
            );
        });
        let out = body(addr);
        stop.store(true, Ordering::SeqCst);
        out
    })
}

/// One HTTP/1.1 request over a fresh connection; returns (status code, headers, body).
fn http(addr: SocketAddr, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(request).unwrap();
    let mut raw = Vec::new();
    let _ = c.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |p| p + 4);
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head, raw[split..].to_vec())
}

fn get(addr: SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    http(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
}

/// Polls /api/latest until `results` reaches `n`.
fn wait_for_results(addr: SocketAddr, n: u64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, _, body) = get(addr, "/api/latest");
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        if v["results"].as_u64().unwrap_or(0) >= n {
            return v;
        }
        assert!(Instant::now() < deadline, "no results: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_web_view_serves_the_page_the_latest_result_the_frame_and_the_stream() {
    with_live_view(WebOptions::default(), |addr| {
        let v = wait_for_results(addr, 3);
        let top = v["top"].as_array().unwrap();
        assert_eq!(top.len(), 3, "{v}");
        assert!(
            top[0]["label"].as_str().is_some_and(|l| !l.is_empty()),
            "{v}"
        );
        assert!(v["fps"].as_f64().unwrap() > 0.0, "{v}");

        let (status, head, page) = get(addr, "/");
        assert_eq!(status, 200);
        assert!(head.contains("text/html"));
        assert!(String::from_utf8_lossy(&page).contains("/stream.mjpg"));

        let (status, _, jpeg) = get(addr, "/frame.jpg");
        assert_eq!(status, 200);
        let img = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((img.width(), img.height()), (320, 240));

        // the stream, read by the crate's own MJPEG-over-HTTP camera source
        let mut cam = MjpegHttp::new(
            &format!("http://{addr}/stream.mjpg"),
            Duration::from_secs(10),
        )
        .unwrap();
        let mut buf = OwnedFrame::default();
        for _ in 0..3 {
            cam.next(&mut buf).unwrap();
            assert_eq!((buf.width, buf.height), (320, 240));
        }
    });
}

#[test]
fn the_web_view_refuses_what_it_does_not_serve() {
    let options = WebOptions {
        max_clients: 2,
        timeout: Duration::from_millis(500),
        ..WebOptions::default()
    };
    with_live_view(options, |addr| {
        wait_for_results(addr, 1);
        assert_eq!(get(addr, "/etc/passwd").0, 404);
        assert_eq!(get(addr, "/../../etc/passwd").0, 404);
        assert_eq!(
            http(addr, b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").0,
            405
        );
        let huge = format!("GET / HTTP/1.1\r\nX-Pad: {}\r\n\r\n", "a".repeat(20_000));
        assert_eq!(http(addr, huge.as_bytes()).0, 431);
        // a client that never finishes its request is timed out
        let t = Instant::now();
        assert_eq!(http(addr, b"GET / HTTP/1.1\r\n").0, 408);
        assert!(t.elapsed() < Duration::from_secs(5));
        // two stream clients fill the server; a third connection is turned away
        let mut a = TcpStream::connect(addr).unwrap();
        a.write_all(b"GET /stream.mjpg HTTP/1.1\r\n\r\n").unwrap();
        let mut b = TcpStream::connect(addr).unwrap();
        b.write_all(b"GET /stream.mjpg HTTP/1.1\r\n\r\n").unwrap();
        let mut first = [0u8; 12];
        a.read_exact(&mut first).unwrap();
        b.read_exact(&mut first).unwrap();
        assert_eq!(get(addr, "/api/latest").0, 503);
        drop((a, b));
        // once they leave, the server serves again
        let deadline = Instant::now() + Duration::from_secs(10);
        while get(addr, "/api/latest").0 != 200 {
            assert!(Instant::now() < deadline, "the server did not recover");
            std::thread::sleep(Duration::from_millis(100));
        }
    });
}

/// A chromedriver process, killed on drop.
struct Driver(Child, SocketAddr);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn webdriver(
    driver: &Driver,
    method: &str,
    path: &str,
    body: &serde_json::Value,
) -> serde_json::Value {
    let body = body.to_string();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        driver.1,
        body.len()
    );
    let (status, _, reply) = http(driver.1, req.as_bytes());
    let v: serde_json::Value = serde_json::from_slice(&reply)
        .unwrap_or_else(|_| panic!("chromedriver {status}: {}", String::from_utf8_lossy(&reply)));
    assert_eq!(status, 200, "chromedriver: {v}");
    v["value"].clone()
}

#[test]
fn the_page_shows_frames_and_updating_labels_in_headless_chromium() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let chromedriver =
        std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    assert!(
        std::path::Path::new(&chromedriver).exists() && std::path::Path::new(&chromium).exists(),
        "this test needs Debian's chromium and chromium-driver (.ci/install installs them)"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let driver = Driver(child, SocketAddr::from(([127, 0, 0, 1], port)));
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(driver.1).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    with_live_view(WebOptions::default(), |addr| {
        wait_for_results(addr, 1);
        let session = webdriver(
            &driver,
            "POST",
            "/session",
            &serde_json::json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium,
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--window-size=1024,768"]
                }
            }}}),
        );
        let id = session["sessionId"].as_str().unwrap().to_owned();
        webdriver(
            &driver,
            "POST",
            &format!("/session/{id}/url"),
            &serde_json::json!({"url": format!("http://{addr}/")}),
        );
        let read = serde_json::json!({"script":
            "return [document.body.dataset.updates, document.body.dataset.frameWidth, \
             document.getElementById('labels').innerText, document.getElementById('stats').innerText];",
            "args": []});
        let deadline = Instant::now() + Duration::from_secs(30);
        let state = loop {
            let v = webdriver(
                &driver,
                "POST",
                &format!("/session/{id}/execute/sync"),
                &read,
            );
            let updates: u64 = v[0].as_str().unwrap_or("0").parse().unwrap_or(0);
            let width: u64 = v[1].as_str().unwrap_or("0").parse().unwrap_or(0);
            if updates >= 3 && width > 0 {
                break v;
            }
            assert!(
                Instant::now() < deadline,
                "the page did not come alive: {v}"
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        webdriver(
            &driver,
            "DELETE",
            &format!("/session/{id}"),
            &serde_json::json!({}),
        );
        // the frame is shown at its size, labels with percentages, the statistics line
        assert_eq!(state[1], "320", "{state}");
        let labels = state[2].as_str().unwrap();
        assert_eq!(labels.matches('%').count(), 3, "{labels}");
        let stats = state[3].as_str().unwrap();
        assert!(
            stats.contains("fps") && stats.contains("latency"),
            "{stats}"
        );
        println!("page after load: {state}");
    });
}
