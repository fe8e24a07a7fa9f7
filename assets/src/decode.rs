//! Decoding image files (PNG, JPEG) into frames.

use std::path::Path;

use inception_edge_core::{Frame, PixelFormat};

use crate::error::{AssetError as Error, Result};
use crate::read_file;

/// A decoded image, 8-bit RGB, owning its pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    data: Vec<u8>,
    width: usize,
    height: usize,
}

impl RgbImage {
    /// Decodes a PNG or JPEG file (format detected from the content, not the name).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = read_file(path)?;
        Self::decode(&bytes, path)
    }

    /// Decodes PNG or JPEG bytes; `origin` names them in errors.
    pub fn decode(bytes: &[u8], origin: &Path) -> Result<Self> {
        let img = image::load_from_memory(bytes).map_err(|e| Error::Image {
            path: origin.to_owned(),
            reason: e.to_string(),
        })?;
        let rgb = img.into_rgb8();
        let (width, height) = (rgb.width() as usize, rgb.height() as usize);
        Ok(RgbImage {
            data: rgb.into_raw(),
            width,
            height,
        })
    }

    /// A frame view of the pixels.
    pub fn frame(&self) -> Result<Frame<'_>> {
        Ok(Frame::new(
            &self.data,
            self.width,
            self.height,
            PixelFormat::Rgb888,
        )?)
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }
}
