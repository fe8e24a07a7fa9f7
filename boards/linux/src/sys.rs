//! The V4L2 kernel interface this crate uses, written out by hand from
//! `linux/videodev2.h` (no bindgen: the crate cross-compiles with nothing but a linker).
//!
//! Layouts follow the C structs on every Linux target; the sizes the kernel encodes in the
//! ioctl numbers are checked by the tests for 64- and 32-bit targets (armv7 runs the tests
//! under qemu in CI).

#![allow(missing_docs)]

use std::mem::size_of;

/// `V4L2_BUF_TYPE_VIDEO_CAPTURE`.
pub const BUF_TYPE_VIDEO_CAPTURE: u32 = 1;
/// `V4L2_MEMORY_MMAP`.
pub const MEMORY_MMAP: u32 = 1;
/// `V4L2_FIELD_NONE`.
pub const FIELD_NONE: u32 = 1;
/// `V4L2_CAP_VIDEO_CAPTURE`.
pub const CAP_VIDEO_CAPTURE: u32 = 0x0000_0001;
/// `V4L2_CAP_STREAMING`.
pub const CAP_STREAMING: u32 = 0x0400_0000;
/// `V4L2_CAP_DEVICE_CAPS`.
pub const CAP_DEVICE_CAPS: u32 = 0x8000_0000;
/// `V4L2_FRMSIZE_TYPE_DISCRETE`.
pub const FRMSIZE_TYPE_DISCRETE: u32 = 1;
/// `V4L2_BUF_FLAG_ERROR`: the driver delivered a damaged frame.
pub const BUF_FLAG_ERROR: u32 = 0x0000_0040;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Capability {
    pub driver: [u8; 16],
    pub card: [u8; 32],
    pub bus_info: [u8; 32],
    pub version: u32,
    pub capabilities: u32,
    pub device_caps: u32,
    pub reserved: [u32; 3],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct FmtDesc {
    pub index: u32,
    pub type_: u32,
    pub flags: u32,
    pub description: [u8; 32],
    pub pixelformat: u32,
    pub mbus_code: u32,
    pub reserved: [u32; 3],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct FrmSizeStepwise {
    pub min_width: u32,
    pub max_width: u32,
    pub step_width: u32,
    pub min_height: u32,
    pub max_height: u32,
    pub step_height: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct FrmSizeEnum {
    pub index: u32,
    pub pixel_format: u32,
    pub type_: u32,
    /// `discrete` (width, height) or `stepwise`, by `type_`.
    pub size: FrmSizeStepwise,
    pub reserved: [u32; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct PixFormat {
    pub width: u32,
    pub height: u32,
    pub pixelformat: u32,
    pub field: u32,
    pub bytesperline: u32,
    pub sizeimage: u32,
    pub colorspace: u32,
    pub priv_: u32,
    pub flags: u32,
    pub ycbcr_enc: u32,
    pub quantization: u32,
    pub xfer_func: u32,
}

/// The `fmt` union of `struct v4l2_format`: 200 bytes, pointer-aligned (it holds
/// `struct v4l2_window`, which has pointers).
#[repr(C)]
#[derive(Clone, Copy)]
pub union FormatUnion {
    pub pix: PixFormat,
    pub raw: [u8; 200],
    pub align: *mut libc::c_void,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Format {
    pub type_: u32,
    pub fmt: FormatUnion,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct RequestBuffers {
    pub count: u32,
    pub type_: u32,
    pub memory: u32,
    pub capabilities: u32,
    pub flags: u8,
    pub reserved: [u8; 3],
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Timecode {
    pub type_: u32,
    pub flags: u32,
    pub frames: u8,
    pub seconds: u8,
    pub minutes: u8,
    pub hours: u8,
    pub userbits: [u8; 4],
}

/// The `m` union of `struct v4l2_buffer` (offset for MMAP buffers).
#[repr(C)]
#[derive(Clone, Copy)]
pub union BufferM {
    pub offset: u32,
    pub userptr: libc::c_ulong,
    pub planes: *mut libc::c_void,
    pub fd: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Buffer {
    pub index: u32,
    pub type_: u32,
    pub bytesused: u32,
    pub flags: u32,
    pub field: u32,
    pub timestamp: libc::timeval,
    pub timecode: Timecode,
    pub sequence: u32,
    pub memory: u32,
    pub m: BufferM,
    pub length: u32,
    pub reserved2: u32,
    pub request_fd: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Fract {
    pub numerator: u32,
    pub denominator: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct CaptureParm {
    pub capability: u32,
    pub capturemode: u32,
    pub timeperframe: Fract,
    pub extendedmode: u32,
    pub readbuffers: u32,
    pub reserved: [u32; 4],
}

/// The `parm` union of `struct v4l2_streamparm`: 200 bytes.
#[repr(C)]
#[derive(Clone, Copy)]
pub union StreamParmUnion {
    pub capture: CaptureParm,
    pub raw: [u8; 200],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct StreamParm {
    pub type_: u32,
    pub parm: StreamParmUnion,
}

/// Zeroed C structs, as the V4L2 API expects them before an ioctl.
pub trait Zeroed: Sized + Copy {
    /// All bytes zero.
    fn zeroed() -> Self {
        // SAFETY: only implemented for the plain C structs above, for which all-zero bytes
        // are a valid value (integers, arrays, raw pointers, unions of those).
        unsafe { std::mem::zeroed() }
    }
}

impl Zeroed for Capability {}
impl Zeroed for FmtDesc {}
impl Zeroed for FrmSizeEnum {}
impl Zeroed for Format {}
impl Zeroed for Buffer {}
impl Zeroed for StreamParm {}

const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

/// `_IOC(dir, 'V', nr, size)`.
const fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
    (dir << 30) | ((size as u32) << 16) | ((b'V' as u32) << 8) | nr
}

pub const VIDIOC_QUERYCAP: u32 = ioc(IOC_READ, 0, size_of::<Capability>());
pub const VIDIOC_ENUM_FMT: u32 = ioc(IOC_READ | IOC_WRITE, 2, size_of::<FmtDesc>());
pub const VIDIOC_S_FMT: u32 = ioc(IOC_READ | IOC_WRITE, 5, size_of::<Format>());
pub const VIDIOC_REQBUFS: u32 = ioc(IOC_READ | IOC_WRITE, 8, size_of::<RequestBuffers>());
pub const VIDIOC_QUERYBUF: u32 = ioc(IOC_READ | IOC_WRITE, 9, size_of::<Buffer>());
pub const VIDIOC_QBUF: u32 = ioc(IOC_READ | IOC_WRITE, 15, size_of::<Buffer>());
pub const VIDIOC_DQBUF: u32 = ioc(IOC_READ | IOC_WRITE, 17, size_of::<Buffer>());
pub const VIDIOC_STREAMON: u32 = ioc(IOC_WRITE, 18, size_of::<libc::c_int>());
pub const VIDIOC_STREAMOFF: u32 = ioc(IOC_WRITE, 19, size_of::<libc::c_int>());
pub const VIDIOC_S_PARM: u32 = ioc(IOC_READ | IOC_WRITE, 22, size_of::<StreamParm>());
pub const VIDIOC_ENUM_FRAMESIZES: u32 = ioc(IOC_READ | IOC_WRITE, 74, size_of::<FrmSizeEnum>());

/// `ioctl(fd, request, arg)`, retried on `EINTR`.
///
/// # Safety
/// `arg` must point to the struct the request expects (the request number encodes its size,
/// so the constants above only pair with their own struct).
pub unsafe fn ioctl<T>(fd: libc::c_int, request: u32, arg: *mut T) -> std::io::Result<()> {
    loop {
        // SAFETY: the caller guarantees `arg` matches `request`; `fd` is a plain descriptor
        // (an invalid one makes the kernel return EBADF, not undefined behaviour). The request
        // parameter's C type differs between libcs, hence the inferred cast.
        let r = unsafe { libc::ioctl(fd, request as _, arg) };
        if r != -1 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_sizes_match_the_kernel_abi_of_this_target() {
        assert_eq!(size_of::<Capability>(), 104);
        assert_eq!(size_of::<FmtDesc>(), 64);
        assert_eq!(size_of::<FrmSizeEnum>(), 44);
        assert_eq!(size_of::<PixFormat>(), 48);
        assert_eq!(size_of::<RequestBuffers>(), 20);
        assert_eq!(size_of::<StreamParm>(), 204);
        if cfg!(target_pointer_width = "64") {
            assert_eq!(size_of::<Format>(), 208);
            assert_eq!(size_of::<Buffer>(), 88);
        } else {
            // 32-bit ARM: a 4-byte-aligned union, and the time32 `struct timeval` the kernel
            // accepts through its compat ioctl numbers.
            assert_eq!(size_of::<Format>(), 204);
            assert_eq!(size_of::<Buffer>(), 68);
        }
    }

    #[test]
    fn ioctl_numbers_are_those_of_videodev2_h() {
        // Values from the kernel headers on 64-bit targets.
        if cfg!(target_pointer_width = "64") {
            assert_eq!(VIDIOC_QUERYCAP, 0x8068_5600);
            assert_eq!(VIDIOC_ENUM_FMT, 0xc040_5602);
            assert_eq!(VIDIOC_S_FMT, 0xc0d0_5605);
            assert_eq!(VIDIOC_REQBUFS, 0xc014_5608);
            assert_eq!(VIDIOC_QUERYBUF, 0xc058_5609);
            assert_eq!(VIDIOC_QBUF, 0xc058_560f);
            assert_eq!(VIDIOC_DQBUF, 0xc058_5611);
            assert_eq!(VIDIOC_STREAMON, 0x4004_5612);
            assert_eq!(VIDIOC_STREAMOFF, 0x4004_5613);
            assert_eq!(VIDIOC_S_PARM, 0xc0cc_5616);
            assert_eq!(VIDIOC_ENUM_FRAMESIZES, 0xc02c_564a);
        }
    }
}
