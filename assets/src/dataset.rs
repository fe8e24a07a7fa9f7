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

/// The PNG/JPEG files directly in `dir` that pass `keep`, sorted.
fn image_files(dir: &Path, keep: impl Fn(&Path) -> bool) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_image_file(p) && keep(p))
        .collect();
    files.sort();
    Ok(files)
}

/// Whether a file name is a glob pattern (holds `*`, `?` or `[`).
fn is_glob(name: &str) -> bool {
    name.contains(['*', '?', '['])
}

/// Shell-style match of `name` against `pattern`: `*` any run of bytes, `?` one byte,
/// `[abc]`, `[a-z]`, `[!a-z]` one byte of (or not of) a set; everything else literal. An
/// unclosed `[` is a literal `[`.
fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    // Iterative matcher with one backtrack point (the last `*`): linear in practice and
    // never recursing on hostile patterns.
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let step = match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
                continue;
            }
            Some(b'?') => Some(p + 1),
            Some(b'[') => match class(&pattern[p..], name[n]) {
                Some((true, len)) => Some(p + len),
                Some((false, _)) => None,
                None => (name[n] == b'[').then_some(p + 1),
            },
            Some(&c) => (c == name[n]).then_some(p + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => {
                p = next;
                n += 1;
            }
            (None, Some((sp, sn))) => {
                // Let the last `*` swallow one more byte and retry.
                star = Some((sp, sn + 1));
                p = sp + 1;
                n = sn + 1;
            }
            (None, None) => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the bracket class at the start of `pattern` (`[` …): `Some((matched,
/// length of the class))`, or `None` when the class is not closed.
fn class(pattern: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pattern.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let lo = *pattern.get(i)?;
        if lo == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if pattern.get(i + 1) == Some(&b'-') && pattern.get(i + 2).is_some_and(|&h| h != b']') {
            let hi = pattern[i + 2];
            matched |= (lo..=hi).contains(&c);
            i += 3;
        } else {
            matched |= lo == c;
            i += 1;
        }
    }
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
    /// Opens a directory (its PNG/JPEG files, not recursing), one PNG/JPEG file, a glob over
    /// file names (`photos/*.jpg`, `shots/img_0?.png`, `a/[bc]*.png`: `*`, `?` and `[…]`
    /// with ranges and `!` in the last path component; matching PNG/JPEG files, sorted) or an
    /// IDX file. An empty set is an error.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let set = if !path.exists()
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(is_glob)
        {
            Self::glob(path)?
        } else if path.is_file() && is_image_file(path) {
            ImageSet::Files(vec![path.to_owned()])
        } else if path.is_dir() {
            ImageSet::Files(image_files(path, |_| true)?)
        } else {
            Self::idx(path)?
        };
        if set.is_empty() {
            return Err(bad(path, "no images (PNG/JPEG files or IDX images) found"));
        }
        Ok(set)
    }

    /// The image files of `pattern`'s directory whose names match its last component.
    fn glob(pattern: &Path) -> Result<Self> {
        let name = pattern
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let dir = match pattern.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let files = image_files(dir, |file| {
            file.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| glob_match(name.as_bytes(), n.as_bytes()))
        })?;
        if files.is_empty() {
            return Err(bad(pattern, "no PNG/JPEG file matches this pattern"));
        }
        Ok(ImageSet::Files(files))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_patterns_match_like_a_shell() {
        let cases: &[(&str, &str, bool)] = &[
            ("*.png", "cat.png", true),
            ("*.png", "cat.jpg", false),
            ("*", "", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbYcZ", false),
            ("img_0?.png", "img_07.png", true),
            ("img_0?.png", "img_7.png", false),
            ("[bc]*.png", "chelsea.png", true),
            ("[bc]*.png", "astronaut.png", false),
            ("[!a]*", "astronaut.png", false),
            ("[!a]*", "horse.png", true),
            ("[a-c]?", "b1", true),
            ("[a-c]?", "d1", false),
            ("[]]x", "]x", true),
            ("[a-]", "-", true),
            ("[abc", "[abc", true),
            ("**.png", "x.png", true),
            (
                "*a*a*a*a*a*b",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                false,
            ),
        ];
        for &(p, n, want) in cases {
            assert_eq!(glob_match(p.as_bytes(), n.as_bytes()), want, "{p} vs {n}");
        }
    }

    fn photos() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/photos")
    }

    #[test]
    fn a_glob_opens_the_matching_images_sorted() {
        let set = ImageSet::open(photos().join("[c-h]*.png")).unwrap();
        let ImageSet::Files(files) = &set else {
            panic!("expected files")
        };
        let names: Vec<_> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, ["chelsea.png", "coffee.png", "horse.png"]);
        let jpeg = ImageSet::open(photos().join("*.jpg")).unwrap();
        assert_eq!(jpeg.len(), 1);
    }

    #[test]
    fn a_single_image_file_is_a_set_of_one() {
        let set = ImageSet::open(photos().join("horse.png")).unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.with_frame(0, |f| f.width()).unwrap() > 0);
    }

    #[test]
    fn a_glob_matching_nothing_is_an_error_naming_the_pattern() {
        let err = ImageSet::open(photos().join("*.gif"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("*.gif") && err.contains("no PNG/JPEG file matches"),
            "{err}"
        );
        let err = ImageSet::open("no/such/dir/*.png").unwrap_err().to_string();
        assert!(err.contains("no/such/dir"), "{err}");
    }
}
