//! The web live view, against a running camera loop: real HTTP clients (our MJPEG client,
//! raw TCP for the misbehaving ones, curl and a slow-client script against `incept camera
//! --web --token-file`) and the page in headless Chromium through chromedriver.

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

/// `incept camera --web` with a token, as a user runs it; killed on drop.
struct Served(Child, SocketAddr);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const TOKEN: &str = "t0k3n-for-the-web-view_test";

fn serve_with_token(dir: &std::path::Path) -> Served {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_incept"))
        .args([
            "camera",
            "--source",
            "test:640x480:yuyv",
            "--fps",
            "30",
            "--model",
        ])
        .arg(common::mini_manifest())
        .args([
            "--sink",
            "jsonl:/dev/null",
            "--web",
            "--bind",
            &addr.to_string(),
        ])
        .arg("--token-file")
        .arg(&token_file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let served = Served(child, addr);
    let deadline = Instant::now() + Duration::from_secs(30);
    while curl(
        addr,
        &["-H", &format!("Authorization: Bearer {TOKEN}")],
        "/frame.jpg",
    )
    .0 != 200
    {
        assert!(Instant::now() < deadline, "the web view does not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    served
}

/// curl against the view: (status, headers) of `path` with `args`.
fn curl(addr: SocketAddr, args: &[&str], path: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args([
            "-s",
            "--path-as-is",
            "-o",
            "/dev/null",
            "-D",
            "-",
            "--max-time",
            "10",
        ])
        .args(args)
        .arg(format!("http://{addr}{path}"))
        .output()
        .expect("curl runs");
    let head = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head)
}

#[test]
fn a_web_view_with_a_token_lets_in_only_requests_that_carry_it() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve_with_token(dir.path());
    let addr = served.1;
    let bearer = format!("Authorization: Bearer {TOKEN}");

    // No token, a wrong one, the wrong scheme: 401 with the challenge, on every path.
    for path in ["/", "/api/latest", "/frame.jpg", "/stream.mjpg", "/nothing"] {
        let (status, head) = curl(addr, &[], path);
        assert_eq!(status, 401, "{path}: {head}");
        assert!(head.contains("WWW-Authenticate: Bearer"), "{head}");
    }
    assert_eq!(
        curl(
            addr,
            &["-H", "Authorization: Bearer t0k3n-for-the-web-view_tesT"],
            "/api/latest"
        )
        .0,
        401
    );
    assert_eq!(
        curl(
            addr,
            &["-H", &format!("Authorization: Basic {TOKEN}")],
            "/api/latest"
        )
        .0,
        401
    );
    assert_eq!(curl(addr, &[], "/api/latest?token=t0k3n").0, 401);
    assert_eq!(
        curl(addr, &["-b", "incept_token=wrong-wrong-wrong-wrong"], "/").0,
        401
    );

    // The header, the query (which sets the cookie) and then the cookie alone.
    assert_eq!(curl(addr, &["-H", &bearer], "/api/latest").0, 200);
    let jar = dir.path().join("cookies");
    let jar = jar.to_str().unwrap();
    let (status, head) = curl(addr, &["-c", jar], &format!("/?token={TOKEN}"));
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("Set-Cookie: incept_token="), "{head}");
    assert!(head.contains("HttpOnly; SameSite=Strict"), "{head}");
    assert_eq!(curl(addr, &["-b", jar], "/api/latest").0, 200);
    assert_eq!(curl(addr, &["-b", jar], "/frame.jpg").0, 200);

    // Path traversal and other paths: nothing but the four pages exists.
    for path in [
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/stream.mjpg/../../../etc/passwd",
        "//etc/passwd",
        "/index.html%00.jpg",
        "/./api/latest",
        "/Cargo.toml",
        "/src/camera/web.rs",
    ] {
        assert_eq!(curl(addr, &["-H", &bearer], path).0, 404, "{path}");
    }
    // Methods, bodies and oversized heads.
    assert_eq!(curl(addr, &["-H", &bearer, "-X", "DELETE"], "/").0, 405);
    assert_eq!(
        curl(addr, &["-H", &bearer, "--data", "x=1", "-X", "GET"], "/").0,
        413
    );
    let big = format!("X-Big: {}", "b".repeat(10_000));
    assert_eq!(curl(addr, &["-H", &bearer, "-H", &big], "/").0, 431);
    let many: Vec<String> = (0..70).map(|i| format!("X-H{i}: v")).collect();
    let mut args = vec!["-H", bearer.as_str()];
    for h in &many {
        args.extend(["-H", h.as_str()]);
    }
    assert_eq!(curl(addr, &args, "/").0, 431);
}

#[test]
fn slow_clients_are_timed_out_and_the_view_serves_again() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve_with_token(dir.path());
    let addr = served.1;
    // 7 slow clients + 1 stream that is never read fill the 8 slots.
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/clients/slow_client.py"
        ))
        .args(["127.0.0.1", &addr.port().to_string(), "7", "5", TOKEN])
        .output()
        .expect("python3 runs");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
    eprintln!("{v}");
    for slow in v["slow"].as_array().unwrap() {
        // The token is checked only once the head is complete: the slow head is cut off first.
        assert_eq!(slow["status"], 408, "{v}");
        assert!(slow["after_s"].as_f64().unwrap() < 8.0, "{v}");
    }
    assert_eq!(v["normal_during"], 503, "the slots are bounded: {v}");
    assert_eq!(v["normal_refilled"], 503, "{v}");
    // Streams nobody reads are dropped once their socket buffers fill and a write times out;
    // then the server answers again (without the token: 401).
    assert_eq!(v["normal_after"], 401, "{v}");
    assert!(
        v["unread_streams_dropped_after_s"].as_f64().unwrap() < 45.0,
        "{v}"
    );
    assert_eq!(
        curl(
            addr,
            &["-H", &format!("Authorization: Bearer {TOKEN}")],
            "/api/latest"
        )
        .0,
        200
    );
}

/// `incept camera --web` bound to every interface with `extra` arguments; returns stderr
/// after checking it failed.
fn exposed_camera_fails(extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_incept"))
        .args([
            "camera",
            "--source",
            "test:64x48",
            "--frames",
            "1",
            "--model",
        ])
        .arg(common::mini_manifest())
        .args(["--web", "--bind", "0.0.0.0:0"])
        .args(extra)
        .env_remove("INCEPT_WEB_TOKEN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{err}");
    err
}

#[test]
fn an_exposed_web_view_without_a_token_refuses_to_start() {
    let err = exposed_camera_fails(&[]);
    assert!(
        err.contains("reachable from the network without authentication"),
        "{err}"
    );
    let err = exposed_camera_fails(&["--token", "short"]);
    assert!(err.contains("needs at least 16"), "{err}");
}
