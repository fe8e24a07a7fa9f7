//! The web live view: a small HTTP server showing the camera with the current top-3 labels,
//! confidences, fps and latency.
//!
//! | path | what |
//! |---|---|
//! | `/` | the page (plain HTML + a few lines of JavaScript, nothing fetched from elsewhere) |
//! | `/stream.mjpg` | the frames as an MJPEG stream (`multipart/x-mixed-replace`) |
//! | `/frame.jpg` | the latest frame |
//! | `/api/latest` | the latest result as JSON |
//!
//! It binds 127.0.0.1 unless told otherwise; bound to any other address it needs a token
//! ([`WebOptions::token`]) and refuses to start without one. With a token, every request must
//! carry it: `Authorization: Bearer TOKEN`, the `incept_token` cookie, or `?token=TOKEN`
//! (which also sets the cookie, so a browser opened on `/?token=TOKEN` keeps working); it is
//! compared in constant time, and anything else gets 401. Requests are limited in size (8 KiB
//! of headers, 64 header lines, no body) and time (5 s to send them); at most
//! [`WebOptions::max_clients`] connections are served at once (others get 503). Only these
//! paths exist: no file is ever served from disk.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{OwnedFrame, Record};
use crate::classifier::MAX_TOP_K;

/// Limits of the server.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// Connections served at once (page, API and stream clients together).
    pub max_clients: usize,
    /// Longest wait for a client to send its request, and for a write to go through.
    pub timeout: Duration,
    /// JPEG quality of the stream (1–100).
    pub quality: u8,
    /// The token every request must carry (see the module docs); required when the view is
    /// bound to anything but loopback. At least [`MIN_TOKEN_LEN`] characters of
    /// `A–Z a–z 0–9 . _ ~ -`.
    pub token: Option<String>,
}

/// Shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// Name of the cookie that carries the token.
const COOKIE: &str = "incept_token";

/// Checks a token's length and characters (URL- and header-safe, so it needs no escaping).
pub fn check_token(token: &str) -> std::io::Result<()> {
    let bad = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
    if token.len() < MIN_TOKEN_LEN {
        return Err(bad(format!(
            "the web view's token is {} characters; it needs at least {MIN_TOKEN_LEN} \
             (e.g. `head -c 18 /dev/urandom | base64 | tr +/ -_`)",
            token.len()
        )));
    }
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
    {
        return Err(bad(
            "the web view's token may hold only A-Z a-z 0-9 . _ ~ -".into(),
        ));
    }
    Ok(())
}

/// The token from the command line: `--token` itself, else the first line of `--token-file`,
/// else the `INCEPT_WEB_TOKEN` environment variable; `None` if none is given.
pub fn token_from(
    token: Option<&str>,
    file: Option<&std::path::Path>,
) -> std::io::Result<Option<String>> {
    let token = match (token, file) {
        (Some(t), _) => Some(t.to_owned()),
        (None, Some(f)) => {
            let text = std::fs::read_to_string(f).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot read the token file {}: {e}", f.display()),
                )
            })?;
            Some(text.lines().next().unwrap_or("").trim().to_owned())
        }
        (None, None) => std::env::var("INCEPT_WEB_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
    };
    if let Some(t) = &token {
        check_token(t)?;
    }
    Ok(token)
}

/// Compares `given` with `expected` in time that depends on `expected`'s length only.
fn same_token(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = given.len() ^ expected.len();
    for (i, e) in expected.iter().enumerate() {
        let g = given.get(i).copied().unwrap_or(!*e);
        diff |= usize::from(std::hint::black_box(g ^ e));
    }
    diff == 0
}

impl Default for WebOptions {
    fn default() -> Self {
        WebOptions {
            max_clients: 8,
            timeout: Duration::from_secs(5),
            quality: 80,
            token: None,
        }
    }
}

/// The latest classified frame and its result.
struct Latest {
    seq: u64,
    frame: OwnedFrame,
    top: heapless::Vec<(u16, Arc<str>, f32), MAX_TOP_K>,
    inference_ms: f64,
    latency_ms: f64,
    /// Times of the recent results (for the fps shown).
    times: [Option<Instant>; 16],
    jpeg: Arc<Vec<u8>>,
    jpeg_seq: Option<u64>,
    results: u64,
}

struct State {
    latest: Mutex<Latest>,
    changed: Condvar,
    clients: AtomicUsize,
    stop: AtomicBool,
    options: WebOptions,
}

/// A running web view; stops when dropped.
pub struct WebView {
    state: Arc<State>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl WebView {
    /// Binds `addr` and starts serving (use port 0 for any free port; see [`WebView::addr`]).
    ///
    /// Fails without binding if `addr` is not loopback and there is no token, or if the token
    /// is too short or holds other characters than [`check_token`] allows.
    pub fn start(addr: SocketAddr, options: WebOptions) -> std::io::Result<WebView> {
        match &options.token {
            Some(t) => check_token(t)?,
            None if is_exposed(&addr) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!(
                        "the web view on {addr} would be reachable from the network without \
                         authentication: give it a token (--token-file FILE, the \
                         INCEPT_WEB_TOKEN variable, or --token), or bind 127.0.0.1"
                    ),
                ))
            }
            None => {}
        }
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            latest: Mutex::new(Latest {
                seq: 0,
                frame: OwnedFrame::default(),
                top: heapless::Vec::new(),
                inference_ms: 0.0,
                latency_ms: 0.0,
                times: [None; 16],
                jpeg: Arc::new(Vec::new()),
                jpeg_seq: None,
                results: 0,
            }),
            changed: Condvar::new(),
            clients: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            options,
        });
        let shared = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("web view".into())
            .spawn(move || accept(listener, shared))?;
        Ok(WebView {
            state,
            addr,
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What to tell the user on start: the URL, and a warning when the view is reachable from
    /// the network.
    pub fn banner(&self) -> String {
        let mut b = format!("web view: http://{}/", self.addr);
        if self.state.options.token.is_some() {
            b.push_str("?token=<the token> (every request needs the token)");
        }
        if is_exposed(&self.addr) {
            b.push_str(&format!(
                "\nWARNING: the web view is bound to {}, reachable from the network: anyone \
                 who has the token sees the camera. The connection is plain HTTP: the token \
                 travels unencrypted; use it on a trusted network or behind a TLS proxy",
                self.addr
            ));
        }
        b
    }

    /// Publishes to `view` if there is one (a [`Tap`](super::Tap) for optional web views).
    pub fn publish_to(view: Option<&WebView>, frame: &OwnedFrame, record: &Record) {
        if let Some(v) = view {
            v.publish(frame, record);
        }
    }

    /// Publishes one classified frame (give this to [`run_tapped`](super::run_tapped)):
    /// copies the frame into a reused buffer, allocating nothing once it has grown.
    pub fn publish(&self, frame: &OwnedFrame, record: &Record) {
        let Record::Result {
            seq,
            top,
            inference_ms,
            latency_ms,
            ..
        } = record
        else {
            return;
        };
        let Ok(mut l) = self.state.latest.lock() else {
            return;
        };
        l.seq = *seq;
        l.frame.data.clear();
        l.frame.data.extend_from_slice(&frame.data);
        l.frame.width = frame.width;
        l.frame.height = frame.height;
        l.frame.format = frame.format;
        l.top.clone_from(top);
        l.inference_ms = *inference_ms;
        l.latency_ms = *latency_ms;
        l.times.rotate_right(1);
        l.times[0] = Some(Instant::now());
        l.results += 1;
        drop(l);
        self.state.changed.notify_all();
    }
}

impl Drop for WebView {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        self.state.changed.notify_all();
        // wake the accept loop
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Whether `addr` is reachable from other machines (not loopback).
pub fn is_exposed(addr: &SocketAddr) -> bool {
    !addr.ip().is_loopback()
}

fn accept(listener: TcpListener, state: Arc<State>) {
    for conn in listener.incoming() {
        if state.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(mut conn) = conn else { continue };
        let timeout = Some(state.options.timeout);
        let _ = conn.set_read_timeout(timeout);
        let _ = conn.set_write_timeout(timeout);
        if state.clients.fetch_add(1, Ordering::SeqCst) >= state.options.max_clients {
            state.clients.fetch_sub(1, Ordering::SeqCst);
            let _ = respond(
                &mut conn,
                "503 Service Unavailable",
                "text/plain",
                b"busy\n",
            );
            continue;
        }
        let shared = Arc::clone(&state);
        let spawned = std::thread::Builder::new()
            .name("web client".into())
            .spawn(move || {
                let _ = serve(&mut conn, &shared);
                shared.clients.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            state.clients.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn respond(conn: &mut TcpStream, status: &str, kind: &str, body: &[u8]) -> std::io::Result<()> {
    respond_with(conn, status, kind, "", body)
}

/// [`respond`] with extra header lines (each ending in `\r\n`).
fn respond_with(
    conn: &mut TcpStream,
    status: &str,
    kind: &str,
    extra: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes())?;
    conn.write_all(body)?;
    conn.flush()
}

/// Longest request head accepted.
const MAX_HEAD: usize = 8192;

/// Most header lines accepted.
const MAX_HEADERS: usize = 64;

/// How a request proved it has the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// No token is configured.
    Open,
    /// Header or cookie.
    Carried,
    /// The query: the response sets the cookie.
    Query,
    /// Missing or wrong.
    Refused,
}

/// Checks the request head's token against `token`.
fn authorize(head: &str, target: &str, token: Option<&str>) -> Auth {
    let Some(token) = token else {
        return Auth::Open;
    };
    let expected = token.as_bytes();
    for line in head.lines().skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("authorization") {
            if let Some(given) = value.strip_prefix("Bearer ") {
                if same_token(given.trim().as_bytes(), expected) {
                    return Auth::Carried;
                }
            }
        } else if name.eq_ignore_ascii_case("cookie") {
            for pair in value.split(';') {
                if let Some(given) = pair
                    .trim()
                    .strip_prefix(COOKIE)
                    .and_then(|r| r.strip_prefix('='))
                {
                    if same_token(given.as_bytes(), expected) {
                        return Auth::Carried;
                    }
                }
            }
        }
    }
    let query = target.split_once('?').map_or("", |(_, q)| q);
    for pair in query.split('&') {
        if let Some(given) = pair.strip_prefix("token=") {
            if same_token(given.as_bytes(), expected) {
                return Auth::Query;
            }
        }
    }
    Auth::Refused
}

/// Reads the request head; `Err(status)` for a request to refuse.
fn read_head(conn: &mut TcpStream, timeout: Duration) -> Result<String, &'static str> {
    let deadline = Instant::now() + timeout;
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return Err("431 Request Header Fields Too Large");
        }
        if Instant::now() > deadline {
            return Err("408 Request Timeout");
        }
        match conn.read(&mut chunk) {
            Ok(0) => return Err(""),
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(_) => return Err("408 Request Timeout"),
        }
    }
    String::from_utf8(head).map_err(|_| "400 Bad Request")
}

/// What the server does with a request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Refused: the status line and a short body.
    Refuse(&'static str, &'static str),
    /// Refused for want of the token (401 with a `WWW-Authenticate` challenge).
    Unauthorized,
    /// The page; `set_cookie` when the token came in the query.
    Page {
        /// Whether to set the token cookie.
        set_cookie: bool,
    },
    /// `/api/latest`.
    Latest,
    /// `/frame.jpg`.
    Frame,
    /// `/stream.mjpg`.
    Stream,
}

/// Decides what to do with a complete request head (the request line and the header lines),
/// given the view's token. Pure: the server's whole request policy (header limits, token,
/// methods, bodies, paths), fuzzed by `fuzz/fuzz_targets/web_request.rs`.
pub fn route(head: &str, token: Option<&str>) -> Route {
    if head.lines().count() > MAX_HEADERS + 2 {
        return Route::Refuse(
            "431 Request Header Fields Too Large",
            "too many header lines\n",
        );
    }
    let mut words = head.lines().next().unwrap_or("").split(' ');
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let auth = authorize(head, target, token);
    if auth == Auth::Refused {
        return Route::Unauthorized;
    }
    if method != "GET" && method != "HEAD" {
        return Route::Refuse("405 Method Not Allowed", "GET only\n");
    }
    let has_body = head.lines().skip(1).any(|l| {
        l.split_once(':').is_some_and(|(n, v)| {
            (n.eq_ignore_ascii_case("content-length") && v.trim() != "0")
                || n.eq_ignore_ascii_case("transfer-encoding")
        })
    });
    if has_body {
        return Route::Refuse("413 Content Too Large", "no request bodies\n");
    }
    match target.split('?').next().unwrap_or("") {
        "/" | "/index.html" => Route::Page {
            set_cookie: auth == Auth::Query,
        },
        "/api/latest" => Route::Latest,
        "/frame.jpg" => Route::Frame,
        "/stream.mjpg" => Route::Stream,
        _ => Route::Refuse("404 Not Found", "not found\n"),
    }
}

fn serve(conn: &mut TcpStream, state: &State) -> std::io::Result<()> {
    let head = match read_head(conn, state.options.timeout) {
        Ok(h) => h,
        Err("") => return Ok(()),
        Err(status) => return respond(conn, status, "text/plain", b"bad request\n"),
    };
    match route(&head, state.options.token.as_deref()) {
        Route::Refuse(status, body) => respond(conn, status, "text/plain", body.as_bytes()),
        Route::Unauthorized => respond_with(
            conn,
            "401 Unauthorized",
            "text/plain",
            "WWW-Authenticate: Bearer realm=\"inception-edge\"\r\n",
            b"this web view needs its token: /?token=TOKEN, a Bearer header or the cookie\n",
        ),
        Route::Page { set_cookie } => {
            // A browser opened on /?token=… keeps the token as a cookie for the stream and
            // the API requests of the page.
            let cookie = match (set_cookie, &state.options.token) {
                (true, Some(t)) => {
                    format!("Set-Cookie: {COOKIE}={t}; HttpOnly; SameSite=Strict; Path=/\r\n")
                }
                _ => String::new(),
            };
            respond_with(
                conn,
                "200 OK",
                "text/html; charset=utf-8",
                &cookie,
                PAGE.as_bytes(),
            )
        }
        Route::Latest => {
            let json = latest_json(state);
            respond(conn, "200 OK", "application/json", json.as_bytes())
        }
        Route::Frame => match jpeg(state) {
            Some((_, j)) => respond(conn, "200 OK", "image/jpeg", &j),
            None => respond(
                conn,
                "503 Service Unavailable",
                "text/plain",
                b"no frame yet\n",
            ),
        },
        Route::Stream => stream(conn, state),
    }
}

fn latest_json(state: &State) -> String {
    let Ok(l) = state.latest.lock() else {
        return "{}".into();
    };
    let times: Vec<Instant> = l.times.iter().flatten().copied().collect();
    let fps = match (times.first(), times.last()) {
        (Some(a), Some(b)) if times.len() > 1 => {
            (times.len() - 1) as f64 / a.duration_since(*b).as_secs_f64().max(1e-9)
        }
        _ => 0.0,
    };
    let top: Vec<serde_json::Value> = l
        .top
        .iter()
        .map(|(c, label, p)| serde_json::json!({"class": c, "label": &**label, "score": p}))
        .collect();
    serde_json::json!({
        "seq": l.seq,
        "results": l.results,
        "top": top,
        "fps": fps,
        "inference_ms": l.inference_ms,
        "latency_ms": l.latency_ms,
    })
    .to_string()
}

/// The latest frame as JPEG (encoded once per frame, outside the lock), with its sequence.
fn jpeg(state: &State) -> Option<(u64, Arc<Vec<u8>>)> {
    let (seq, frame) = {
        let l = state.latest.lock().ok()?;
        if l.results == 0 {
            return None;
        }
        if l.jpeg_seq == Some(l.seq) {
            return Some((l.seq, Arc::clone(&l.jpeg)));
        }
        (l.seq, l.frame.clone())
    };
    let f = frame.frame().ok()?;
    let (w, h) = (f.width(), f.height());
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            rgb.extend_from_slice(&f.rgb(x, y));
        }
    }
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(
        &mut out,
        state.options.quality.clamp(1, 100),
    )
    .encode(&rgb, w as u32, h as u32, image::ExtendedColorType::Rgb8)
    .ok()?;
    let out = Arc::new(out);
    if let Ok(mut l) = state.latest.lock() {
        if l.seq == seq {
            l.jpeg = Arc::clone(&out);
            l.jpeg_seq = Some(seq);
        }
    }
    Some((seq, out))
}

fn stream(conn: &mut TcpStream, state: &State) -> std::io::Result<()> {
    conn.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
    )?;
    let mut last = None;
    while !state.stop.load(Ordering::SeqCst) {
        // wait for a frame newer than the last one sent
        {
            let Ok(mut l) = state.latest.lock() else {
                return Ok(());
            };
            while (l.results == 0 || Some(l.seq) == last) && !state.stop.load(Ordering::SeqCst) {
                l = match state.changed.wait_timeout(l, Duration::from_millis(500)) {
                    Ok((l, _)) => l,
                    Err(_) => return Ok(()),
                };
            }
        }
        if state.stop.load(Ordering::SeqCst) {
            break;
        }
        let Some((seq, j)) = jpeg(state) else {
            continue;
        };
        last = Some(seq);
        let head = format!(
            "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
            j.len()
        );
        conn.write_all(head.as_bytes())?;
        conn.write_all(&j)?;
        conn.write_all(b"\r\n")?;
        conn.flush()?;
    }
    Ok(())
}

/// The page: the stream, the top-3 labels with bars, fps and latency, updated from
/// `/api/latest` four times a second. `data-*` attributes on `<body>` let tests read its state.
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>inception-edge live view</title>
<style>
  body { font: 16px system-ui, sans-serif; margin: 0; background: #111; color: #eee; }
  main { display: flex; flex-wrap: wrap; gap: 1em; padding: 1em; }
  img { max-width: 100%; background: #222; min-width: 320px; min-height: 240px; }
  ol { padding-left: 1.2em; min-width: 16em; }
  li { margin: .4em 0; }
  .bar { height: .5em; background: #4caf50; }
  #stats { color: #aaa; font-size: 90%; }
</style>
</head>
<body data-updates="0" data-frame-width="0">
<main>
  <img id="video" src="/stream.mjpg" alt="camera">
  <section>
    <h1>Top classes</h1>
    <ol id="labels"><li>waiting for the first result…</li></ol>
    <p id="stats"></p>
  </section>
</main>
<script>
  let lastSeq = -1, updates = 0;
  const video = document.getElementById('video');
  video.addEventListener('load', () => { document.body.dataset.frameWidth = video.naturalWidth; });
  async function refresh() {
    try {
      const r = await fetch('/api/latest', { cache: 'no-store' });
      const d = await r.json();
      if (d.results > 0 && d.seq !== lastSeq) {
        lastSeq = d.seq;
        updates += 1;
        document.body.dataset.updates = updates;
        const ol = document.getElementById('labels');
        ol.replaceChildren(...d.top.slice(0, 3).map(t => {
          const li = document.createElement('li');
          li.textContent = `${t.label} ${(t.score * 100).toFixed(1)} %`;
          const bar = document.createElement('div');
          bar.className = 'bar';
          bar.style.width = `${Math.round(t.score * 100)}%`;
          li.appendChild(bar);
          return li;
        }));
        document.getElementById('stats').textContent =
          `frame #${d.seq} · ${d.fps.toFixed(1)} fps · inference ${d.inference_ms.toFixed(1)} ms · latency ${d.latency_ms.toFixed(1)} ms`;
      }
      if (video.naturalWidth > 0) document.body.dataset.frameWidth = video.naturalWidth;
    } catch (e) { /* the loop may be restarting: try again */ }
    setTimeout(refresh, 250);
  }
  refresh();
</script>
</body>
</html>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "0123456789abcdef-_";

    #[test]
    fn tokens_compare_equal_only_when_identical() {
        assert!(same_token(T.as_bytes(), T.as_bytes()));
        assert!(!same_token(b"0123456789abcdef-", T.as_bytes()));
        assert!(!same_token(b"0123456789abcdef-_x", T.as_bytes()));
        assert!(!same_token(b"1123456789abcdef-_", T.as_bytes()));
        assert!(!same_token(b"", T.as_bytes()));
    }

    #[test]
    fn a_request_is_authorized_by_header_cookie_or_query_only_with_the_token() {
        let head = |h: &str| format!("GET / HTTP/1.1\r\nHost: x\r\n{h}\r\n");
        let t = Some(T);
        assert_eq!(authorize(&head(""), "/", None), Auth::Open);
        assert_eq!(authorize(&head(""), "/", t), Auth::Refused);
        let bearer = head(&format!("authorization: Bearer {T}\r\n"));
        assert_eq!(authorize(&bearer, "/", t), Auth::Carried);
        let cookie = head(&format!("Cookie: a=b; incept_token={T}\r\n"));
        assert_eq!(authorize(&cookie, "/", t), Auth::Carried);
        assert_eq!(
            authorize(&head(""), &format!("/?x=1&token={T}"), t),
            Auth::Query
        );
        let wrong = head("Authorization: Bearer 0123456789abcdef-X\r\n");
        assert_eq!(authorize(&wrong, "/?token=nope", t), Auth::Refused);
        let basic = head(&format!("Authorization: Basic {T}\r\n"));
        assert_eq!(authorize(&basic, "/", t), Auth::Refused);
    }

    #[test]
    fn short_tokens_and_odd_characters_are_refused() {
        assert!(check_token(T).is_ok());
        assert!(check_token("short").is_err());
        assert!(check_token("0123456789abcdef\r\nX-Evil: 1").is_err());
        assert!(check_token("0123456789abcdef;x").is_err());
    }

    #[test]
    fn an_exposed_view_without_a_token_does_not_start() {
        let e = WebView::start("0.0.0.0:0".parse().unwrap(), WebOptions::default())
            .err()
            .expect("refused");
        assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("token"), "{e}");
        let options = WebOptions {
            token: Some(T.into()),
            ..WebOptions::default()
        };
        let view = WebView::start("0.0.0.0:0".parse().unwrap(), options).unwrap();
        assert!(view.banner().contains("WARNING"), "{}", view.banner());
    }
}
