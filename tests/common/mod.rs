//! Shared fixtures for the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The bundled test model's manifest.
pub fn mini_manifest() -> PathBuf {
    root().join("models/mini-inception-fmnist/manifest.toml")
}

/// The bundled test model.
pub fn mini_model() -> PathBuf {
    root().join("models/mini-inception-fmnist/mini-inception-fmnist.onnx")
}

/// A committed test fixture.
pub fn data(rel: &str) -> PathBuf {
    root().join("tests/data").join(rel)
}

/// One fixture image with onnxruntime's logits for it.
pub struct Reference {
    pub file: PathBuf,
    pub label: usize,
    pub logits: Vec<f32>,
}

impl Reference {
    /// Index of the largest reference logit.
    pub fn argmax(&self) -> usize {
        let mut best = 0;
        for (i, &v) in self.logits.iter().enumerate() {
            if v > self.logits[best] {
                best = i;
            }
        }
        best
    }
}

/// Reads tests/data/fmnist/reference.json (written by tools/train_mini.py).
pub fn references() -> Vec<Reference> {
    let path = data("fmnist/reference.json");
    let text = std::fs::read_to_string(&path).expect("reference.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("valid json");
    json["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|img| Reference {
            file: data("fmnist").join(img["file"].as_str().unwrap()),
            label: img["label"].as_u64().unwrap() as usize,
            logits: img["logits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect(),
        })
        .collect()
}

/// Reads a gzipped IDX file of Fashion-MNIST from Debian's `dataset-fashion-mnist`.
pub fn fashion_mnist(name: &str) -> (Vec<usize>, Vec<u8>) {
    let path = Path::new("/usr/share/datasets/fashion-mnist").join(name);
    assert!(
        path.exists(),
        "{} is missing: install Debian's dataset-fashion-mnist (.ci/install does)",
        path.display()
    );
    read_idx_gz(&path)
}

/// Reads a gzipped IDX file (the MNIST format): its dimensions and its bytes.
pub fn read_idx_gz(path: &Path) -> (Vec<usize>, Vec<u8>) {
    use std::io::Read;
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .expect("gzip");
    let ndim = usize::from(bytes[3]);
    let dims = (0..ndim)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    (dims, bytes[4 + 4 * ndim..].to_vec())
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid json")
}

/// A JSON array of numbers as f32.
pub fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .expect("a JSON array")
        .iter()
        .map(|x| x.as_f64().expect("a number") as f32)
        .collect()
}

/// Seeded pseudo-random inputs in [-1, 1] (a 64-bit LCG; `tools/zoo_ort.py` has the same).
pub fn seeded_inputs(seed: u64, n: usize, len: usize) -> Vec<Vec<f32>> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            (0..len)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
                })
                .collect()
        })
        .collect()
}
