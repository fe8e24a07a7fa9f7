//! A V4L2 capture device as a frame [`Source`] for the camera loop: memory-mapped streaming,
//! format negotiation, reopening after the device disappears.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use inception_edge::camera::{Capture, OwnedFrame, Source, SourceError};
use inception_edge::core::camera::ErrorKind;

use crate::decode::{decode, Geometry};
use crate::negotiate::{negotiate, CaptureFormat, FourCc, FrameSizes, Offer, Request};
use crate::sys::{self, Zeroed};

/// Why a device could not be opened or configured.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// `open` failed (no such device, no permission: add the user to the `video` group).
    #[error("cannot open {path}: {source}")]
    Open {
        /// The device path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a V4L2 video capture device with streaming I/O.
    #[error("{path} is not a V4L2 video capture device with streaming I/O ({reason})")]
    NotCapture {
        /// The device path.
        path: PathBuf,
        /// What was found.
        reason: String,
    },
    /// No format matches the request (the message lists the device's formats).
    #[error("{path}: {source}")]
    Negotiation {
        /// The device path.
        path: PathBuf,
        /// Why.
        source: crate::negotiate::NegotiationError,
    },
    /// An ioctl or mmap failed.
    #[error("{path}: {what} failed: {source}")]
    Io {
        /// The device path.
        path: PathBuf,
        /// The call.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

/// What to open.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceConfig {
    /// The device node, e.g. `/dev/video0`.
    pub path: PathBuf,
    /// Format and size wanted.
    pub request: Request,
    /// Frames per second asked of the driver (0: the driver's default).
    pub fps: u32,
    /// Driver buffers (2–8; 4 is typical).
    pub buffers: u32,
    /// Longest wait for a frame before a timeout is reported.
    pub timeout: Duration,
}

impl DeviceConfig {
    /// `/dev/video0`-style defaults: any format, 640×480, 30 fps, 4 buffers, 2 s timeout.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DeviceConfig {
            path: path.into(),
            request: Request {
                format: None,
                width: 640,
                height: 480,
            },
            fps: 30,
            buffers: 4,
            timeout: Duration::from_secs(2),
        }
    }
}

/// One memory-mapped driver buffer.
struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` come from a successful mmap and are unmapped exactly once.
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}

/// An open, streaming device.
struct Stream {
    // Buffers are unmapped before the descriptor closes (field order).
    buffers: Vec<Mapped>,
    fd: OwnedFd,
    geometry: Geometry,
    driver: String,
}

// SAFETY: the mapped pointers are only touched through `&mut Stream` (one thread at a time);
// the kernel memory they point to is not tied to the thread that mapped it.
unsafe impl Send for Stream {}

impl Drop for Stream {
    fn drop(&mut self) {
        let mut kind = sys::BUF_TYPE_VIDEO_CAPTURE as libc::c_int;
        // SAFETY: STREAMOFF takes an int; failure (device gone) is harmless here.
        let _ = unsafe { sys::ioctl(self.fd.as_raw_fd(), sys::VIDIOC_STREAMOFF, &mut kind) };
    }
}

/// A V4L2 camera for the camera loop. Created with [`V4l2Camera::open`]; when the device
/// disappears, `next` reports [`ErrorKind::Disconnected`] and reopens it on later calls.
pub struct V4l2Camera {
    config: DeviceConfig,
    stream: Option<Stream>,
    description: String,
}

fn c_str(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// The formats and sizes the device at `fd` offers.
fn offers(fd: libc::c_int) -> Vec<Offer> {
    let mut out = Vec::new();
    for index in 0.. {
        let mut d = sys::FmtDesc::zeroed();
        d.index = index;
        d.type_ = sys::BUF_TYPE_VIDEO_CAPTURE;
        // SAFETY: ENUM_FMT with its own struct.
        if unsafe { sys::ioctl(fd, sys::VIDIOC_ENUM_FMT, &mut d) }.is_err() {
            break;
        }
        let mut sizes = Vec::new();
        for i in 0..64 {
            let mut s = sys::FrmSizeEnum::zeroed();
            s.index = i;
            s.pixel_format = d.pixelformat;
            // SAFETY: ENUM_FRAMESIZES with its own struct.
            if unsafe { sys::ioctl(fd, sys::VIDIOC_ENUM_FRAMESIZES, &mut s) }.is_err() {
                break;
            }
            let z = s.size;
            if s.type_ == sys::FRMSIZE_TYPE_DISCRETE {
                // the discrete member {width, height} overlays the first two stepwise fields
                sizes.push(FrameSizes::Discrete {
                    width: z.min_width,
                    height: z.max_width,
                });
            } else {
                sizes.push(FrameSizes::Stepwise {
                    min_width: z.min_width,
                    max_width: z.max_width,
                    step_width: z.step_width,
                    min_height: z.min_height,
                    max_height: z.max_height,
                    step_height: z.step_height,
                });
                break;
            }
        }
        out.push(Offer {
            fourcc: FourCc(d.pixelformat),
            description: c_str(&d.description),
            sizes,
        });
    }
    out
}

impl Stream {
    fn open(config: &DeviceConfig) -> Result<Stream, DeviceError> {
        let path = &config.path;
        let io = |what: &'static str| {
            move |source: std::io::Error| DeviceError::Io {
                path: path.clone(),
                what,
                source,
            }
        };
        let c_path =
            CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| DeviceError::Open {
                path: path.clone(),
                source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
            })?;
        // SAFETY: a valid C string; the returned descriptor is owned below.
        let raw = unsafe {
            libc::open(
                c_path.as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(DeviceError::Open {
                path: path.clone(),
                source: std::io::Error::last_os_error(),
            });
        }
        // SAFETY: `raw` is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let raw = fd.as_raw_fd();

        let mut cap = sys::Capability::zeroed();
        // SAFETY: QUERYCAP with its own struct.
        if let Err(e) = unsafe { sys::ioctl(raw, sys::VIDIOC_QUERYCAP, &mut cap) } {
            return Err(DeviceError::NotCapture {
                path: path.clone(),
                reason: format!("VIDIOC_QUERYCAP: {e}"),
            });
        }
        let caps = if cap.capabilities & sys::CAP_DEVICE_CAPS != 0 {
            cap.device_caps
        } else {
            cap.capabilities
        };
        let driver = format!("{} ({})", c_str(&cap.card), c_str(&cap.driver));
        if caps & sys::CAP_VIDEO_CAPTURE == 0 || caps & sys::CAP_STREAMING == 0 {
            return Err(DeviceError::NotCapture {
                path: path.clone(),
                reason: format!("{driver} has capabilities {caps:#010x}"),
            });
        }

        let choice = negotiate(&offers(raw), &config.request).map_err(|source| {
            DeviceError::Negotiation {
                path: path.clone(),
                source,
            }
        })?;
        let mut fmt = sys::Format::zeroed();
        fmt.type_ = sys::BUF_TYPE_VIDEO_CAPTURE;
        fmt.fmt.pix = sys::PixFormat {
            width: choice.width,
            height: choice.height,
            pixelformat: choice.format.fourcc().0,
            field: sys::FIELD_NONE,
            ..Default::default()
        };
        // SAFETY: S_FMT with its own struct.
        unsafe { sys::ioctl(raw, sys::VIDIOC_S_FMT, &mut fmt) }.map_err(io("VIDIOC_S_FMT"))?;
        // SAFETY: the driver filled the `pix` member for a capture type.
        let pix = unsafe { fmt.fmt.pix };
        let format = CaptureFormat::from_fourcc(FourCc(pix.pixelformat)).ok_or_else(|| {
            DeviceError::NotCapture {
                path: path.clone(),
                reason: format!("the driver switched to {}", FourCc(pix.pixelformat)),
            }
        })?;

        if config.fps > 0 {
            let mut parm = sys::StreamParm::zeroed();
            parm.type_ = sys::BUF_TYPE_VIDEO_CAPTURE;
            parm.parm.capture = sys::CaptureParm {
                timeperframe: sys::Fract {
                    numerator: 1,
                    denominator: config.fps,
                },
                ..Default::default()
            };
            // Not every driver can set a rate: keep its default then.
            // SAFETY: S_PARM with its own struct.
            let _ = unsafe { sys::ioctl(raw, sys::VIDIOC_S_PARM, &mut parm) };
        }

        let mut req = sys::RequestBuffers {
            count: config.buffers.clamp(2, 8),
            type_: sys::BUF_TYPE_VIDEO_CAPTURE,
            memory: sys::MEMORY_MMAP,
            ..Default::default()
        };
        // SAFETY: REQBUFS with its own struct.
        unsafe { sys::ioctl(raw, sys::VIDIOC_REQBUFS, &mut req) }.map_err(io("VIDIOC_REQBUFS"))?;
        let mut buffers = Vec::with_capacity(req.count as usize);
        for index in 0..req.count {
            let mut b = sys::Buffer::zeroed();
            b.index = index;
            b.type_ = sys::BUF_TYPE_VIDEO_CAPTURE;
            b.memory = sys::MEMORY_MMAP;
            // SAFETY: QUERYBUF with its own struct.
            unsafe { sys::ioctl(raw, sys::VIDIOC_QUERYBUF, &mut b) }
                .map_err(io("VIDIOC_QUERYBUF"))?;
            let len = b.length as usize;
            // SAFETY: maps the driver buffer at the offset QUERYBUF returned (the `offset`
            // member is the one set for MMAP buffers).
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    raw,
                    b.m.offset as libc::off_t,
                )
            };
            if ptr == libc::MAP_FAILED {
                return Err(io("mmap")(std::io::Error::last_os_error()));
            }
            buffers.push(Mapped { ptr, len });
            // SAFETY: QBUF with the struct QUERYBUF filled.
            unsafe { sys::ioctl(raw, sys::VIDIOC_QBUF, &mut b) }.map_err(io("VIDIOC_QBUF"))?;
        }
        let mut kind = sys::BUF_TYPE_VIDEO_CAPTURE as libc::c_int;
        // SAFETY: STREAMON takes an int.
        unsafe { sys::ioctl(raw, sys::VIDIOC_STREAMON, &mut kind) }
            .map_err(io("VIDIOC_STREAMON"))?;
        Ok(Stream {
            buffers,
            fd,
            geometry: Geometry {
                format,
                width: pix.width as usize,
                height: pix.height as usize,
                bytes_per_line: pix.bytesperline as usize,
            },
            driver,
        })
    }

    /// Waits for a filled buffer, decodes it into `buf` and gives the buffer back.
    fn next(&mut self, buf: &mut OwnedFrame, timeout: Duration) -> Result<(), SourceError> {
        let raw = self.fd.as_raw_fd();
        let mut pfd = libc::pollfd {
            fd: raw,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n == 0 {
            return Err(SourceError::new(ErrorKind::Timeout, "no frame in time"));
        }
        if n < 0 || pfd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
            return Err(SourceError::new(
                ErrorKind::Disconnected,
                "the device went away",
            ));
        }
        let mut b = sys::Buffer::zeroed();
        b.type_ = sys::BUF_TYPE_VIDEO_CAPTURE;
        b.memory = sys::MEMORY_MMAP;
        // SAFETY: DQBUF with its own struct.
        if let Err(e) = unsafe { sys::ioctl(raw, sys::VIDIOC_DQBUF, &mut b) } {
            let kind = match e.raw_os_error() {
                Some(libc::EAGAIN) => ErrorKind::Timeout,
                Some(libc::ENODEV) | Some(libc::EIO) => ErrorKind::Disconnected,
                _ => ErrorKind::Other,
            };
            return Err(SourceError::new(kind, format!("VIDIOC_DQBUF: {e}")));
        }
        let result = match self.buffers.get(b.index as usize) {
            Some(m) => {
                let used = (b.bytesused as usize).min(m.len);
                // SAFETY: the driver hands the buffer to us between DQBUF and QBUF; `used`
                // is within the mapping.
                let bytes = unsafe { std::slice::from_raw_parts(m.ptr as *const u8, used) };
                if b.flags & sys::BUF_FLAG_ERROR != 0 {
                    Err(SourceError::new(
                        ErrorKind::CorruptFrame,
                        "the driver flagged the frame as damaged",
                    ))
                } else {
                    decode(bytes, &self.geometry, buf)
                }
            }
            None => Err(SourceError::new(
                ErrorKind::Other,
                format!("the driver returned unknown buffer {}", b.index),
            )),
        };
        // SAFETY: QBUF with the struct DQBUF filled.
        if let Err(e) = unsafe { sys::ioctl(raw, sys::VIDIOC_QBUF, &mut b) } {
            return Err(SourceError::new(
                ErrorKind::Disconnected,
                format!("VIDIOC_QBUF: {e}"),
            ));
        }
        result
    }
}

/// The formats and sizes the device at `path` offers (for `--list-formats`).
pub fn list_formats(path: &Path) -> Result<Vec<Offer>, DeviceError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|source| DeviceError::Open {
            path: path.to_owned(),
            source,
        })?;
    let mut cap = sys::Capability::zeroed();
    // SAFETY: QUERYCAP with its own struct.
    if let Err(e) = unsafe { sys::ioctl(file.as_raw_fd(), sys::VIDIOC_QUERYCAP, &mut cap) } {
        return Err(DeviceError::NotCapture {
            path: path.to_owned(),
            reason: format!("VIDIOC_QUERYCAP: {e}"),
        });
    }
    Ok(offers(file.as_raw_fd()))
}

impl V4l2Camera {
    /// Opens and starts the device: checks it is a capture device, negotiates the format
    /// (the error lists what the device offers), sets the frame rate, maps the buffers.
    pub fn open(config: DeviceConfig) -> Result<Self, DeviceError> {
        let stream = Stream::open(&config)?;
        let g = stream.geometry;
        let description = format!(
            "{} {} {:?} {}x{} at {} fps",
            config.path.display(),
            stream.driver,
            g.format,
            g.width,
            g.height,
            config.fps
        );
        Ok(V4l2Camera {
            config,
            stream: Some(stream),
            description,
        })
    }

    /// The negotiated geometry (`None` while the device is gone).
    pub fn geometry(&self) -> Option<Geometry> {
        self.stream.as_ref().map(|s| s.geometry)
    }

    /// The device path.
    pub fn path(&self) -> &Path {
        &self.config.path
    }
}

impl Source for V4l2Camera {
    fn next(&mut self, buf: &mut OwnedFrame) -> Result<Capture, SourceError> {
        if self.stream.is_none() {
            match Stream::open(&self.config) {
                Ok(s) => self.stream = Some(s),
                Err(e) => return Err(SourceError::new(ErrorKind::Disconnected, e.to_string())),
            }
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(SourceError::new(ErrorKind::Disconnected, "no device"));
        };
        match stream.next(buf, self.config.timeout) {
            Ok(()) => Ok(Capture::Frame),
            Err(e) => {
                if e.kind == ErrorKind::Disconnected {
                    // closes it; the next call reopens
                    self.stream = None;
                }
                Err(e)
            }
        }
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}
