//! Sets of images for calibration and evaluation: a directory of PNG/JPEG files, or an IDX
//! image file (`*-images-idx3-ubyte`, optionally gzipped) as MNIST-style datasets ship.

use std::io::Read;
use std::path::{Path, PathBuf};

use inception_edge_core::{Frame, PixelFormat};

use crate::decode::RgbImage;
use crate::error::{AssetError as Error, Result};
use crate::read_file;

/// An ordered set of images.
#[derive(Debug, Clone)]
pub enum ImageSet {
    /// Image files, sorted by name.
    Files(Vec<PathBuf>),
    /// Grey images from an IDX file.
    Idx {
        /// The file.
        path: PathBuf,
        /// Image width.
        width: usize,
        /// Image height.
        height: usize,
        /// All pixels, image after image.
        pixels: Vec<u8>,
    },
}

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::Image {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Whether `path` names a PNG or JPEG file.
pub fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

/// Reads a file, gunzipping it when it starts with the gzip magic.
fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>> {
    let raw = read_file(path)?;
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&raw[..])
        .read_to_end(&mut out)
        .map_err(|e| bad(path, format!("bad gzip data: {e}")))?;
    Ok(out)
}

/// Reads an IDX label file (magic `0x00000801`, one byte per label; `.gz` or not), as
/// MNIST and Fashion-MNIST ship their labels.
pub fn read_idx_labels(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    let path = path.as_ref();
    let bytes = read_maybe_gzip(path)?;
    let word = |i: usize| -> Option<usize> {
        let b = bytes.get(4 * i..4 * i + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    if word(0) != Some(0x0801) {
        return Err(bad(path, "not an IDX label file (magic 0x00000801)"));
    }
    let n = word(1).ok_or_else(|| bad(path, "truncated IDX header"))?;
    bytes
        .get(8..)
        .and_then(|rest| rest.get(..n))
        .map(<[u8]>::to_vec)
        .ok_or_else(|| bad(path, format!("IDX file holds fewer than {n} labels")))
}

impl ImageSet {
    /// Opens a directory (its PNG/JPEG files, not recursing) or an IDX file. An empty set is
    /// an error.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let set = if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|source| Error::Io {
                path: path.to_owned(),
                source,
            })?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_image_file(p))
                .collect();
            files.sort();
            ImageSet::Files(files)
        } else {
            Self::idx(path)?
        };
        if set.is_empty() {
            return Err(bad(path, "no images (PNG/JPEG files or IDX images) found"));
        }
        Ok(set)
    }

    fn idx(path: &Path) -> Result<Self> {
        let bytes = read_maybe_gzip(path)?;
        let word = |i: usize| -> Option<usize> {
            let b = bytes.get(4 * i..4 * i + 4)?;
            Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        };
        if word(0) != Some(0x0803) {
            return Err(bad(
                path,
                "neither a directory of images nor an IDX image file (magic 0x00000803)",
            ));
        }
        let (n, height, width) = match (word(1), word(2), word(3)) {
            (Some(n), Some(h), Some(w)) if h > 0 && w > 0 => (n, h, w),
            _ => return Err(bad(path, "truncated IDX header")),
        };
        let len = n
            .checked_mul(height * width)
            .ok_or_else(|| bad(path, "IDX size overflows"))?;
        let pixels = bytes
            .get(16..16 + len)
            .ok_or_else(|| bad(path, format!("IDX file holds fewer than {n} images")))?
            .to_vec();
        Ok(ImageSet::Idx {
            path: path.to_owned(),
            width,
            height,
            pixels,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        match self {
            ImageSet::Files(f) => f.len(),
            ImageSet::Idx {
                width,
                height,
                pixels,
                ..
            } => pixels.len() / (width * height),
        }
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A name for image `i` (its path, or `file#i`).
    pub fn name(&self, i: usize) -> String {
        match self {
            ImageSet::Files(f) => f[i].display().to_string(),
            ImageSet::Idx { path, .. } => format!("{}#{i}", path.display()),
        }
    }

    /// Decodes image `i` and hands its frame to `f`.
    pub fn with_frame<R>(&self, i: usize, f: impl FnOnce(&Frame<'_>) -> R) -> Result<R> {
        match self {
            ImageSet::Files(files) => {
                let img = RgbImage::open(&files[i])?;
                Ok(f(&img.frame()?))
            }
            ImageSet::Idx {
                width,
                height,
                pixels,
                ..
            } => {
                let size = width * height;
                let data = pixels
                    .get(i * size..(i + 1) * size)
                    .ok_or_else(|| bad(Path::new(&self.name(i)), "no such image"))?;
                Ok(f(&Frame::new(data, *width, *height, PixelFormat::Gray8)?))
            }
        }
    }
}
