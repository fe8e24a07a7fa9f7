//! Mutated models: truncated, bit-flipped and shape-edited variants of the embedded int8 NNEF
//! blob and of the ONNX model each give a typed error or a model that passes its self-test
//! (the embedded blob) or runs (ONNX) — never a panic, an abort or a hang.
//!
//! The normal suite runs a subset (`INCEPT_MUTATIONS` variants per model, default 60). The
//! full corpus, with the outcome counts printed:
//!
//! ```sh
//! INCEPT_MUTATIONS=1000 cargo test --release --test mutated_models -- --nocapture
//! ```

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};

use inception_edge::embedded::{self, model};
use inception_edge::{Engine, Error};

/// A deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn count() -> usize {
    std::env::var("INCEPT_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
}

/// The entries of a tar archive, in order.
fn entries(tar_bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(tar_bytes);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (name, data)
        })
        .collect()
}

fn tar_of(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

/// Replaces one integer literal of `text` (picked by `rng`) with an edge value.
fn edit_number(text: &[u8], rng: &mut Rng) -> Vec<u8> {
    let s = String::from_utf8_lossy(text);
    let spans: Vec<(usize, usize)> = {
        let b = s.as_bytes();
        let mut v = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                v.push((start, i));
            } else {
                i += 1;
            }
        }
        v
    };
    if spans.is_empty() {
        return text.to_vec();
    }
    let (a, z) = spans[rng.below(spans.len())];
    let values = [
        "0",
        "1",
        "2",
        "3",
        "7",
        "-1",
        "65536",
        "2147483647",
        "99999999999",
        "1.5",
    ];
    let mut out = s[..a].to_string();
    out.push_str(values[rng.below(values.len())]);
    out.push_str(&s[z..]);
    out.into_bytes()
}

fn flip_bits(data: &mut [u8], range: std::ops::Range<usize>, rng: &mut Rng) {
    if range.is_empty() {
        return;
    }
    for _ in 0..1 + rng.below(8) {
        let i = range.start + rng.below(range.len());
        data[i] ^= 1 << rng.below(8);
    }
}

/// One mutated variant of an NNEF tar and what was done to it.
fn mutate_nnef(original: &[u8], rng: &mut Rng) -> (&'static str, Vec<u8>) {
    let mut files = entries(original);
    match rng.below(6) {
        0 => ("truncated", original[..rng.below(original.len())].to_vec()),
        1 => {
            let mut v = original.to_vec();
            let n = v.len();
            flip_bits(&mut v, 0..n, rng);
            ("bits flipped anywhere", v)
        }
        2 => {
            let i = files
                .iter()
                .position(|(n, _)| n.ends_with("graph.nnef"))
                .unwrap();
            let n = files[i].1.len();
            flip_bits(&mut files[i].1, 0..n, rng);
            ("bits flipped in graph.nnef", tar_of(&files))
        }
        3 => {
            let i = files
                .iter()
                .position(|(n, _)| n.ends_with("graph.nnef"))
                .unwrap();
            files[i].1 = edit_number(&files[i].1, rng);
            (
                "a number in graph.nnef edited (shapes, strides, axes)",
                tar_of(&files),
            )
        }
        4 => {
            let dats: Vec<usize> = (0..files.len())
                .filter(|&i| files[i].0.ends_with(".dat"))
                .collect();
            let i = dats[rng.below(dats.len())];
            let n = files[i].1.len().min(128);
            flip_bits(&mut files[i].1, 0..n, rng);
            (
                "a tensor header edited (.dat: shape, type, size)",
                tar_of(&files),
            )
        }
        _ => match files.iter().position(|(n, _)| n.ends_with("graph.quant")) {
            Some(i) => {
                files[i].1 = edit_number(&files[i].1, rng);
                (
                    "a quantization parameter edited (graph.quant)",
                    tar_of(&files),
                )
            }
            None => ("truncated", original[..rng.below(original.len())].to_vec()),
        },
    }
}

/// The variant name of a typed error.
fn kind(e: &Error) -> String {
    let d = format!("{e:?}");
    d.split([' ', '(', '{']).next().unwrap_or("?").to_owned()
}

/// Tallies of outcomes, by mutation and result.
#[derive(Default)]
struct Tally(BTreeMap<(String, String), usize>);

impl Tally {
    fn add(&mut self, mutation: &str, outcome: String) {
        *self.0.entry((mutation.to_owned(), outcome)).or_default() += 1;
    }

    fn print(&self, what: &str) {
        eprintln!("{what}:");
        for ((m, o), n) in &self.0 {
            eprintln!("  {n:5}  {m} -> {o}");
        }
        let mut totals: BTreeMap<&str, usize> = BTreeMap::new();
        for ((_, o), n) in &self.0 {
            *totals.entry(o.as_str()).or_default() += n;
        }
        eprintln!("  totals: {totals:?}");
    }

    fn panics(&self) -> usize {
        self.0
            .iter()
            .filter(|((_, o), _)| o.starts_with("PANIC"))
            .map(|(_, n)| n)
            .sum()
    }
}

fn outcome<T>(r: std::thread::Result<Result<T, Error>>, ok: &str) -> String {
    match r {
        Ok(Ok(_)) => ok.to_owned(),
        Ok(Err(Error::Model { reason, .. })) if reason.starts_with("tract panicked") => {
            // tract panicked and the engine turned it into an error: typed, but counted apart.
            "typed error Model (a tract panic caught by the engine)".to_owned()
        }
        Ok(Err(e)) => format!("typed error {}", kind(&e)),
        Err(p) => format!(
            "PANIC {}",
            p.downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default()
        ),
    }
}

#[test]
fn mutated_embedded_blobs_give_a_typed_error_or_pass_the_self_test() {
    let mut rng = Rng(0x5EED_0001);
    let mut tally = Tally::default();
    for _ in 0..count() {
        let (mutation, blob) = mutate_nnef(model::BLOB, &mut rng);
        let r = catch_unwind(AssertUnwindSafe(|| embedded::boot_blob(&blob)));
        tally.add(mutation, outcome(r, "booted, self-test passed"));
    }
    tally.print(&format!(
        "{} mutated variants of the embedded blob",
        count()
    ));
    assert_eq!(
        tally.panics(),
        0,
        "library code panicked on a mutated model"
    );
}

/// One mutated variant of an ONNX file.
fn mutate_onnx(original: &[u8], rng: &mut Rng) -> (&'static str, Vec<u8>) {
    let mut v = original.to_vec();
    let n = v.len();
    match rng.below(4) {
        0 => ("truncated", original[..rng.below(n)].to_vec()),
        1 => {
            flip_bits(&mut v, 0..n, rng);
            ("bits flipped anywhere", v)
        }
        2 => {
            // The graph structure (names, attributes, shapes) sits outside the big weight
            // blobs; flip bytes among the first and last kilobytes.
            let r = if rng.below(2) == 0 {
                0..n.min(1024)
            } else {
                n.saturating_sub(1024)..n
            };
            flip_bits(&mut v, r, rng);
            ("bits flipped in the graph structure", v)
        }
        _ => {
            // A varint somewhere set to an edge value: lengths, dims, attribute ints.
            let i = rng.below(n);
            let edge: &[u8] = match rng.below(4) {
                0 => &[0x00],
                1 => &[0x7F],
                2 => &[0xFF, 0xFF, 0xFF, 0xFF, 0x0F],
                _ => &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
            };
            v.splice(i..(i + 1).min(n), edge.iter().copied());
            ("a varint edited (lengths, dims, attributes)", v)
        }
    }
}

#[test]
fn mutated_onnx_models_give_a_typed_error_or_run() {
    let original = std::fs::read(common::mini_model()).unwrap();
    let mut rng = Rng(0x5EED_0002);
    let mut tally = Tally::default();
    for _ in 0..count() {
        let (mutation, bytes) = mutate_onnx(&original, &mut rng);
        let r = catch_unwind(AssertUnwindSafe(|| -> Result<(), Error> {
            let mut engine = Engine::from_onnx_bytes(&bytes, "mutated.onnx")?;
            let input = vec![0.5f32; engine.input_len()];
            let mut out = Vec::new();
            engine.run(&input, &mut out)
        }));
        tally.add(mutation, outcome(r, "loaded and ran"));
    }
    tally.print(&format!("{} mutated variants of the ONNX model", count()));
    assert_eq!(
        tally.panics(),
        0,
        "library code panicked on a mutated model"
    );
}

/// Inputs the fuzzers found crashing, kept as regression tests: each must be a typed error.
#[test]
fn inputs_the_fuzzers_crashed_on_give_typed_errors() {
    // fuzz/onnx_model: a graph output naming no value made tract-onnx panic while importing.
    let bytes = std::fs::read(common::data("fuzz/onnx-output-names-nothing.onnx")).unwrap();
    match Engine::from_onnx_bytes(&bytes, "crash.onnx") {
        Err(Error::Model { reason, .. }) => {
            assert!(reason.contains("is not produced by any node"), "{reason}");
        }
        Err(e) => panic!("another error: {e}"),
        Ok(_) => panic!("loaded"),
    }
    // fuzz/onnx_model: a Conv whose pads are shorter than its spatial rank makes tract-core
    // index out of bounds (padding.rs:116); the engine's guard turns it into a typed error.
    let bytes = std::fs::read(common::data("fuzz/onnx-conv-pads-too-short.onnx")).unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| {
        Engine::from_onnx_bytes(&bytes, "crash.onnx").map(|_| ())
    }));
    assert!(
        matches!(r, Ok(Err(Error::Model { .. }))),
        "{}",
        outcome(r, "loaded")
    );
}
