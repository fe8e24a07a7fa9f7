//! Motion-JPEG: splitting a byte stream into JPEG frames, MJPEG files, and the
//! MJPEG-over-HTTP streams (`multipart/x-mixed-replace`) that IP cameras and ESP32-CAM boards
//! serve.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use inception_edge_core::camera::ErrorKind;
use inception_edge_core::PixelFormat;

use super::{Capture, OwnedFrame, Pacer, Source, SourceError};

/// Largest JPEG frame accepted from a stream (a 4K frame at high quality is ~2 MB).
pub const MAX_FRAME_BYTES: usize = 16 << 20;

/// Length of the JPEG image at the start of `data`, found by walking its marker segments (so
/// an embedded EXIF thumbnail does not end it early): `Ok(None)` when `data` ends before the
/// image does, an error when `data` does not start with a JPEG.
pub fn jpeg_len(data: &[u8]) -> Result<Option<usize>, String> {
    if data.len() < 2 {
        return Ok(None);
    }
    if data[0] != 0xff || data[1] != 0xd8 {
        return Err(format!("not a JPEG (starts with {:02x?})", &data[..2]));
    }
    let mut i = 2;
    loop {
        // a marker: 0xff (fill bytes allowed), then its code
        while i < data.len() && data[i] == 0xff && data.get(i + 1) == Some(&0xff) {
            i += 1;
        }
        if i + 1 >= data.len() {
            return Ok(None);
        }
        if data[i] != 0xff {
            return Err(format!("JPEG marker expected at byte {i}"));
        }
        let code = data[i + 1];
        i += 2;
        match code {
            0xd9 => return Ok(Some(i)),
            0xd0..=0xd7 | 0x01 => continue,
            _ => {}
        }
        if i + 1 >= data.len() {
            return Ok(None);
        }
        let len = usize::from(u16::from_be_bytes([data[i], data[i + 1]]));
        if len < 2 {
            return Err(format!("JPEG segment length {len} at byte {i}"));
        }
        i += len;
        if code == 0xda {
            // entropy-coded data: runs until a marker other than a stuffed 0xff00 or a restart
            loop {
                match data.get(i..i + 2) {
                    None => return Ok(None),
                    Some([0xff, 0x00]) | Some([0xff, 0xd0..=0xd7]) => i += 2,
                    Some([0xff, 0xff]) => i += 1,
                    Some([0xff, _]) => break,
                    Some(_) => i += 1,
                }
            }
        }
    }
}

/// Decodes one JPEG into `buf` as RGB888; an undecodable frame is
/// [`ErrorKind::CorruptFrame`].
pub fn decode_jpeg(bytes: &[u8], buf: &mut OwnedFrame) -> Result<(), SourceError> {
    let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg)
        .map_err(|e| {
            SourceError::new(
                ErrorKind::CorruptFrame,
                format!("undecodable JPEG frame ({} bytes): {e}", bytes.len()),
            )
        })?
        .to_rgb8();
    buf.data.clear();
    buf.data.extend_from_slice(img.as_raw());
    buf.width = img.width() as usize;
    buf.height = img.height() as usize;
    buf.format = PixelFormat::Rgb888;
    buf.captured = Instant::now();
    Ok(())
}

/// An MJPEG file (JPEG frames back to back, as `ffmpeg -f mjpeg` writes and cameras record)
/// replayed at a chosen rate; each frame is decoded when delivered, as from a camera.
#[derive(Debug)]
pub struct MjpegFile {
    origin: String,
    data: Vec<u8>,
    frames: Vec<(usize, usize)>,
    pacer: Pacer,
    fps: f64,
    looping: bool,
    next: usize,
}

impl MjpegFile {
    /// Reads and splits `path`. A file holding no complete JPEG is an error; trailing bytes
    /// after the last complete frame are ignored.
    pub fn open(path: &Path, fps: f64, looping: bool) -> crate::Result<Self> {
        let data = crate::error::read_file(path)?;
        let mut frames = Vec::new();
        let mut at = 0;
        let bad = |reason: String| crate::Error::Model {
            path: path.to_owned(),
            reason,
        };
        while at < data.len() {
            match jpeg_len(&data[at..]) {
                Ok(Some(n)) => {
                    frames.push((at, at + n));
                    at += n;
                }
                Ok(None) => break,
                Err(e) if frames.is_empty() => return Err(bad(format!("not an MJPEG file: {e}"))),
                Err(_) => break,
            }
        }
        if frames.is_empty() {
            return Err(bad("no complete JPEG frame in the file".into()));
        }
        Ok(MjpegFile {
            origin: path.display().to_string(),
            data,
            frames,
            pacer: Pacer::new(fps),
            fps,
            looping,
            next: 0,
        })
    }

    /// Number of frames in the file.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether the file has no frames (never, once opened).
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

impl Source for MjpegFile {
    fn next(&mut self, buf: &mut OwnedFrame) -> Result<Capture, SourceError> {
        if self.next >= self.frames.len() {
            if !self.looping {
                return Ok(Capture::End);
            }
            self.next = 0;
        }
        self.pacer.wait();
        let (a, b) = self.frames[self.next];
        self.next += 1;
        decode_jpeg(&self.data[a..b], buf).map(|()| Capture::Frame)
    }

    fn describe(&self) -> String {
        format!(
            "MJPEG file {} ({} frames{}) at {} fps",
            self.origin,
            self.frames.len(),
            if self.looping { ", looping" } else { "" },
            self.fps
        )
    }
}

/// An `http://host[:port]/path` URL, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// Host name or address.
    pub host: String,
    /// Port (80 when not given).
    pub port: u16,
    /// Path with query, starting with `/`.
    pub path: String,
}

impl std::str::FromStr for HttpUrl {
    type Err = String;
    fn from_str(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url:?}: only http:// streams are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("{url:?}: bad port {p:?}"))?,
            ),
            None => (authority, 80),
        };
        if host.is_empty() {
            return Err(format!("{url:?}: no host"));
        }
        Ok(HttpUrl {
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        })
    }
}

/// Reads the parts of a `multipart/x-mixed-replace` body: each part's headers, then its
/// JPEG (by `Content-Length` when given, else by walking the JPEG).
#[derive(Debug)]
pub struct MultipartReader<R> {
    reader: R,
    boundary: String,
}

fn bad_stream(message: String) -> SourceError {
    SourceError::new(ErrorKind::CorruptFrame, message)
}

fn lost(e: std::io::Error) -> SourceError {
    let kind = match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => ErrorKind::Timeout,
        _ => ErrorKind::Disconnected,
    };
    SourceError::new(kind, format!("MJPEG stream: {e}"))
}

/// One header line (without CRLF); `None` at the end of the stream.
fn read_line<R: BufRead>(r: &mut R, line: &mut String) -> Result<Option<()>, SourceError> {
    line.clear();
    let mut limited = r.take(8192);
    match limited.read_line(line) {
        Ok(0) => Ok(None),
        Ok(_) if !line.ends_with('\n') => Err(bad_stream("header line too long".into())),
        Ok(_) => {
            while line.ends_with(['\r', '\n']) {
                line.pop();
            }
            Ok(Some(()))
        }
        Err(e) => Err(lost(e)),
    }
}

impl<R: BufRead> MultipartReader<R> {
    /// A reader of parts separated by `--boundary`.
    pub fn new(reader: R, boundary: &str) -> Self {
        MultipartReader {
            reader,
            boundary: format!("--{}", boundary.trim_start_matches("--")),
        }
    }

    /// Reads the next part's JPEG into `jpeg`. The end of the stream is
    /// [`ErrorKind::Disconnected`]; a malformed part is [`ErrorKind::CorruptFrame`].
    pub fn next_part(&mut self, jpeg: &mut Vec<u8>) -> Result<(), SourceError> {
        let mut line = String::new();
        // skip to the boundary (blank lines and the CRLF ending the previous part)
        let mut skipped = 0;
        loop {
            if read_line(&mut self.reader, &mut line)?.is_none() {
                return Err(SourceError::new(
                    ErrorKind::Disconnected,
                    "the stream ended",
                ));
            }
            if line.starts_with(&self.boundary) {
                break;
            }
            skipped += 1;
            if skipped > 64 {
                return Err(bad_stream("no multipart boundary in the stream".into()));
            }
        }
        let mut length = None;
        loop {
            if read_line(&mut self.reader, &mut line)?.is_none() {
                return Err(SourceError::new(
                    ErrorKind::Disconnected,
                    "the stream ended",
                ));
            }
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.trim().eq_ignore_ascii_case("content-length") {
                    let n: usize = value
                        .trim()
                        .parse()
                        .map_err(|_| bad_stream(format!("bad Content-Length {value:?}")))?;
                    if n > MAX_FRAME_BYTES {
                        return Err(bad_stream(format!("part of {n} bytes is too large")));
                    }
                    length = Some(n);
                }
            }
        }
        jpeg.clear();
        match length {
            Some(n) => {
                jpeg.resize(n, 0);
                self.reader.read_exact(jpeg).map_err(lost)?;
            }
            None => loop {
                let chunk = self.reader.fill_buf().map_err(lost)?;
                if chunk.is_empty() {
                    return Err(SourceError::new(
                        ErrorKind::Disconnected,
                        "the stream ended",
                    ));
                }
                let (old, take) = (jpeg.len(), chunk.len());
                jpeg.extend_from_slice(chunk);
                match jpeg_len(jpeg).map_err(bad_stream)? {
                    Some(n) => {
                        // the bytes after the JPEG belong to the next part: leave them
                        self.reader.consume(n - old);
                        jpeg.truncate(n);
                        break;
                    }
                    None if jpeg.len() > MAX_FRAME_BYTES => {
                        return Err(bad_stream("frame too large".into()));
                    }
                    None => self.reader.consume(take),
                }
            },
        }
        Ok(())
    }
}

/// Opens `url` and returns the multipart reader of its body, after checking the response.
fn connect(
    url: &HttpUrl,
    timeout: Duration,
) -> Result<MultipartReader<BufReader<TcpStream>>, SourceError> {
    let addr = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| SourceError::new(ErrorKind::Disconnected, format!("{}: {e}", url.host)))?
        .next()
        .ok_or_else(|| {
            SourceError::new(ErrorKind::Disconnected, format!("{}: no address", url.host))
        })?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| SourceError::new(ErrorKind::Disconnected, format!("connect {addr}: {e}")))?;
    stream.set_read_timeout(Some(timeout)).map_err(lost)?;
    stream.set_write_timeout(Some(timeout)).map_err(lost)?;
    // one write: a server that answers after the first segment must see the whole request
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: inception-edge\r\nAccept: multipart/x-mixed-replace\r\nConnection: close\r\n\r\n",
        url.path, url.host, url.port
    );
    stream.write_all(request.as_bytes()).map_err(lost)?;
    let mut reader = BufReader::with_capacity(64 << 10, stream);
    let mut line = String::new();
    read_line(&mut reader, &mut line)?
        .ok_or_else(|| SourceError::new(ErrorKind::Disconnected, "no HTTP response"))?;
    let status = line.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        return Err(SourceError::new(
            ErrorKind::Unsupported,
            format!("HTTP response {line:?}"),
        ));
    }
    let mut boundary = None;
    loop {
        if read_line(&mut reader, &mut line)?.is_none() {
            return Err(SourceError::new(
                ErrorKind::Disconnected,
                "the stream ended",
            ));
        }
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-type") {
                let value = value.trim();
                if !value
                    .to_ascii_lowercase()
                    .starts_with("multipart/x-mixed-replace")
                {
                    return Err(SourceError::new(
                        ErrorKind::Unsupported,
                        format!("not an MJPEG stream (Content-Type: {value})"),
                    ));
                }
                boundary = value
                    .split(';')
                    .filter_map(|p| p.trim().strip_prefix("boundary="))
                    .next()
                    .map(|b| b.trim_matches('"').to_owned());
            }
        }
    }
    let boundary = boundary.ok_or_else(|| {
        SourceError::new(
            ErrorKind::Unsupported,
            "no multipart boundary in the response",
        )
    })?;
    Ok(MultipartReader::new(reader, &boundary))
}

/// An MJPEG-over-HTTP camera (`multipart/x-mixed-replace`, as IP cameras, `mjpg-streamer`
/// and ESP32-CAM boards serve). A dropped connection is [`ErrorKind::Disconnected`]; the next
/// call reconnects.
pub struct MjpegHttp {
    url: HttpUrl,
    timeout: Duration,
    stream: Option<MultipartReader<BufReader<TcpStream>>>,
    jpeg: Vec<u8>,
}

impl MjpegHttp {
    /// A source for `url` (`http://host[:port]/path`); connects on the first frame.
    /// `timeout` bounds connecting and each read.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, String> {
        Ok(MjpegHttp {
            url: url.parse()?,
            timeout,
            stream: None,
            jpeg: Vec::new(),
        })
    }
}

impl Source for MjpegHttp {
    fn next(&mut self, buf: &mut OwnedFrame) -> Result<Capture, SourceError> {
        if self.stream.is_none() {
            self.stream = Some(connect(&self.url, self.timeout)?);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(SourceError::new(ErrorKind::Disconnected, "not connected"));
        };
        match stream.next_part(&mut self.jpeg) {
            Ok(()) => decode_jpeg(&self.jpeg, buf).map(|()| Capture::Frame),
            Err(e) => {
                if matches!(e.kind, ErrorKind::Disconnected | ErrorKind::Timeout) {
                    self.stream = None;
                }
                Err(e)
            }
        }
    }

    fn describe(&self) -> String {
        format!(
            "MJPEG stream http://{}:{}{}",
            self.url.host, self.url.port, self.url.path
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal well-formed JPEG structure (not decodable, but splittable): SOI, an APP0
    /// segment, SOS with entropy data containing stuffed and restart markers, EOI.
    fn skeleton(payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0xaa, 0xbb];
        v.extend_from_slice(&[0xff, 0xda, 0x00, 0x02]);
        v.extend_from_slice(payload);
        v.extend_from_slice(&[0xff, 0xd9]);
        v
    }

    #[test]
    fn jpeg_frames_are_split_at_their_end_marker_not_at_stuffed_bytes() {
        let j = skeleton(&[1, 0xff, 0x00, 2, 0xff, 0xd3, 3]);
        assert_eq!(jpeg_len(&j), Ok(Some(j.len())));
        let mut two = j.clone();
        two.extend_from_slice(&skeleton(&[9]));
        assert_eq!(jpeg_len(&two), Ok(Some(j.len())));
        for cut in 0..j.len() {
            assert_eq!(jpeg_len(&j[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn a_thumbnail_inside_a_segment_does_not_end_the_frame() {
        // an APP1 segment holding a whole JPEG (an EXIF thumbnail)
        let thumb = skeleton(&[5]);
        let mut j = vec![0xff, 0xd8, 0xff, 0xe1];
        j.extend_from_slice(&((thumb.len() + 2) as u16).to_be_bytes());
        j.extend_from_slice(&thumb);
        j.extend_from_slice(&[0xff, 0xda, 0x00, 0x02, 7, 7, 0xff, 0xd9]);
        assert_eq!(jpeg_len(&j), Ok(Some(j.len())));
    }

    #[test]
    fn bytes_that_are_no_jpeg_are_an_error() {
        assert!(jpeg_len(b"GIF89a").is_err());
        assert!(jpeg_len(&[0xff, 0xd8, 0x00, 0x00]).is_err());
        assert!(jpeg_len(&[0xff, 0xd8, 0xff, 0xe0, 0x00, 0x01]).is_err());
    }

    #[test]
    fn urls_split_into_host_port_and_path() {
        let u: HttpUrl = "http://192.168.1.20:81/stream?x=1".parse().unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("192.168.1.20", 81, "/stream?x=1")
        );
        let u: HttpUrl = "http://cam.local".parse().unwrap();
        assert_eq!((u.port, u.path.as_str()), (80, "/"));
        for bad in ["https://x/", "http://:80/", "http://h:99999/", "rtsp://h/"] {
            assert!(bad.parse::<HttpUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn multipart_parts_are_read_with_and_without_content_length() {
        let a = skeleton(&[1, 2, 3]);
        let b = skeleton(&[4]);
        let mut body = Vec::new();
        body.extend_from_slice(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: ");
        body.extend_from_slice(a.len().to_string().as_bytes());
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(&a);
        body.extend_from_slice(b"\r\n--frame\r\nContent-Type: image/jpeg\r\n\r\n");
        body.extend_from_slice(&b);
        body.extend_from_slice(b"\r\n--frame\r\nContent-Length: zz\r\n\r\n");
        let mut r = MultipartReader::new(std::io::BufReader::new(&body[..]), "frame");
        let mut jpeg = Vec::new();
        r.next_part(&mut jpeg).unwrap();
        assert_eq!(jpeg, a);
        r.next_part(&mut jpeg).unwrap();
        assert_eq!(jpeg, b);
        assert_eq!(
            r.next_part(&mut jpeg).unwrap_err().kind,
            ErrorKind::CorruptFrame
        );
        assert_eq!(
            r.next_part(&mut jpeg).unwrap_err().kind,
            ErrorKind::Disconnected
        );
    }
}
