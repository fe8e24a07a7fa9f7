//! Labelled image sets: class folders, CSV files, IDX files; and matching their labels to a
//! model's classes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use inception_edge_assets::dataset::{is_image_file, read_idx_labels, ImageSet};
use inception_edge_assets::decode::RgbImage;
use inception_edge_core::Frame;

use super::EvalError;

/// Where one image's pixels come from.
#[derive(Debug, Clone)]
enum Source {
    File(PathBuf),
    Idx(usize),
}

/// One image of a [`Dataset`] with its label (`None` in an unlabelled set).
#[derive(Debug, Clone)]
pub struct Item {
    /// A name for reports: the path relative to the dataset, or `file#index`.
    pub name: String,
    /// The label as the dataset spells it (class name, or class index as text).
    pub label: Option<String>,
    source: Source,
}

/// An ordered set of images, labelled or not.
///
/// - a directory of class folders, ImageNet-style (`dir/<label>/*.png|jpg`): labelled;
/// - a directory of images without sub-folders: unlabelled (golden outputs only);
/// - a CSV file `path,label` (a header line `path,label` is skipped; paths relative to the
///   CSV file's directory);
/// - an IDX image file (MNIST style, `.gz` or not) with its label file beside it
///   (`*-images-idx3-ubyte*` → `*-labels-idx1-ubyte*`), labels as class indices.
#[derive(Debug)]
pub struct Dataset {
    origin: PathBuf,
    items: Vec<Item>,
    idx: Option<ImageSet>,
}

fn bad(path: &Path, reason: impl Into<String>) -> EvalError {
    EvalError::Dataset {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn image_files(dir: &Path) -> Result<Vec<PathBuf>, EvalError> {
    let entries = std::fs::read_dir(dir).map_err(|e| bad(dir, format!("cannot list: {e}")))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_image_file(p))
        .collect();
    files.sort();
    Ok(files)
}

fn relative_name(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

impl Dataset {
    /// Opens a dataset (see the type's documentation for the forms). An empty set is an
    /// error; so is a CSV line without a label.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, EvalError> {
        let path = path.as_ref();
        if path.is_dir() {
            return Self::directory(path);
        }
        if !path.exists() {
            return Err(bad(path, "no such file or directory"));
        }
        let is_csv = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        let set = if is_csv {
            Self::csv(path)?
        } else {
            Self::idx(path, None)?
        };
        Ok(set)
    }

    /// Opens an IDX image file with the labels of `labels` (an IDX label file), or of the
    /// label file beside it when `None`.
    pub fn idx(path: &Path, labels: Option<&Path>) -> Result<Self, EvalError> {
        let label_path = match labels {
            Some(p) => p.to_owned(),
            None => {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if !name.contains("images-idx3") {
                    return Err(bad(
                        path,
                        "not a directory, a .csv file, or an IDX image file named *-images-idx3-ubyte* (whose labels are found beside it)",
                    ));
                }
                path.with_file_name(name.replace("images-idx3", "labels-idx1"))
            }
        };
        let images = ImageSet::open(path).map_err(|e| bad(path, e.to_string()))?;
        let labels = read_idx_labels(&label_path).map_err(|e| bad(&label_path, e.to_string()))?;
        if labels.len() != images.len() {
            return Err(bad(
                &label_path,
                format!(
                    "{} labels for {} images in {}",
                    labels.len(),
                    images.len(),
                    path.display()
                ),
            ));
        }
        let file = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let file = file.unwrap_or_default();
        let items = labels
            .iter()
            .enumerate()
            .map(|(i, l)| Item {
                name: format!("{file}#{i}"),
                label: Some(l.to_string()),
                source: Source::Idx(i),
            })
            .collect();
        Ok(Dataset {
            origin: path.to_owned(),
            items,
            idx: Some(images),
        })
    }

    fn directory(dir: &Path) -> Result<Self, EvalError> {
        let entries = std::fs::read_dir(dir).map_err(|e| bad(dir, format!("cannot list: {e}")))?;
        let mut classes: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        classes.sort();
        let mut items = Vec::new();
        if classes.is_empty() {
            for f in image_files(dir)? {
                items.push(Item {
                    name: relative_name(dir, &f),
                    label: None,
                    source: Source::File(f),
                });
            }
        } else {
            for class in &classes {
                let label = class
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                for f in image_files(class)? {
                    items.push(Item {
                        name: relative_name(dir, &f),
                        label: Some(label.clone()),
                        source: Source::File(f),
                    });
                }
            }
        }
        if items.is_empty() {
            return Err(bad(
                dir,
                "no PNG/JPEG images, neither in class folders nor directly",
            ));
        }
        Ok(Dataset {
            origin: dir.to_owned(),
            items,
            idx: None,
        })
    }

    fn csv(path: &Path) -> Result<Self, EvalError> {
        let text = std::fs::read_to_string(path).map_err(|e| bad(path, format!("{e}")))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut items = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((file, label)) = line.rsplit_once(',') else {
                return Err(bad(path, format!("line {}: expected `path,label`", n + 1)));
            };
            let (file, label) = (unquote(file), unquote(label));
            if n == 0 && file.eq_ignore_ascii_case("path") {
                continue;
            }
            if file.is_empty() || label.is_empty() {
                return Err(bad(
                    path,
                    format!("line {}: empty path or label in `{line}`", n + 1),
                ));
            }
            items.push(Item {
                name: file.to_owned(),
                label: Some(label.to_owned()),
                source: Source::File(base.join(file)),
            });
        }
        if items.is_empty() {
            return Err(bad(path, "no `path,label` lines"));
        }
        Ok(Dataset {
            origin: path.to_owned(),
            items,
            idx: None,
        })
    }

    /// Where the set was read from.
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    /// The images, in order.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the set is empty (never, for a set [`Dataset::open`] returned).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether every image has a label.
    pub fn is_labelled(&self) -> bool {
        self.items.iter().all(|i| i.label.is_some())
    }

    /// Keeps `n` images: the first `n` of an IDX file (its order is the dataset's own), or
    /// `n` evenly spaced ones of a folder or CSV set (so every class keeps its share).
    pub fn limit(&mut self, n: usize) {
        let len = self.items.len();
        if n >= len {
            return;
        }
        if self.idx.is_some() {
            self.items.truncate(n);
        } else {
            self.items = (0..n).map(|i| self.items[i * len / n].clone()).collect();
        }
    }

    /// Decodes image `i` and hands its frame to `f`. A file that cannot be read or decoded
    /// is an error for this image only.
    pub fn with_frame<R>(
        &self,
        i: usize,
        f: impl FnOnce(&Frame<'_>) -> R,
    ) -> Result<R, crate::Error> {
        let item = self.items.get(i).ok_or_else(|| crate::Error::Image {
            path: self.origin.clone(),
            reason: format!("no image {i}"),
        })?;
        match (&item.source, &self.idx) {
            (Source::File(path), _) => {
                let img = RgbImage::open(path)?;
                Ok(f(&img.frame()?))
            }
            (Source::Idx(j), Some(set)) => Ok(set.with_frame(*j, f)?),
            (Source::Idx(_), None) => Err(crate::Error::Image {
                path: self.origin.clone(),
                reason: "IDX item without its IDX file".into(),
            }),
        }
    }

    /// Maps every label to a class index of a model with `classes` outputs named `names`
    /// (may be empty). A label matches a class name exactly, or ignoring case and
    /// punctuation (`t-shirt_top` is `T-shirt/top`), or is a class index. All labels that
    /// match nothing are listed in the error, before any image is run.
    pub fn resolve_labels(&self, names: &[String], classes: usize) -> Result<Vec<u16>, EvalError> {
        let key = |s: &str| -> String {
            s.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect()
        };
        let keys: Vec<String> = names.iter().map(|n| key(n)).collect();
        let lookup = |label: &str| -> Option<u16> {
            if let Some(i) = names.iter().position(|n| n == label) {
                return u16::try_from(i).ok();
            }
            let k = key(label);
            if !k.is_empty() {
                let mut hits = keys.iter().enumerate().filter(|(_, n)| **n == k);
                if let (Some((i, _)), None) = (hits.next(), hits.next()) {
                    return u16::try_from(i).ok();
                }
            }
            label
                .parse::<usize>()
                .ok()
                .filter(|&i| i < classes)
                .and_then(|i| u16::try_from(i).ok())
        };
        let mut out = Vec::with_capacity(self.items.len());
        let mut unknown = BTreeSet::new();
        let mut missing = 0usize;
        for item in &self.items {
            match item.label.as_deref() {
                Some(l) => match lookup(l) {
                    Some(c) => out.push(c),
                    None => {
                        unknown.insert(l.to_owned());
                    }
                },
                None => missing += 1,
            }
        }
        if missing > 0 {
            return Err(bad(
                &self.origin,
                format!("{missing} images have no label (use class folders, a CSV or an IDX label file)"),
            ));
        }
        if !unknown.is_empty() {
            let known = if names.is_empty() {
                format!("class indices 0..{classes}")
            } else {
                names.join(", ")
            };
            return Err(EvalError::UnknownLabels {
                dataset: self.origin.clone(),
                unknown: unknown.into_iter().collect::<Vec<_>>().join(", "),
                known,
            });
        }
        Ok(out)
    }
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}
