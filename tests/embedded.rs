//! The model build.rs embeds: it boots with its golden self-test, refuses corrupt blobs with
//! typed errors, classifies like the same blob loaded from a file, and a second build
//! reproduces it byte for byte.

mod common;

use std::io::Read;

use inception_edge::embedded::{self, model};
use inception_edge::{Classifier, Error};

#[test]
fn the_embedded_model_boots_and_passes_its_self_test() {
    let (mut classifier, boot) = embedded::boot_blob(model::BLOB).unwrap();
    assert!(boot.load.as_nanos() > 0 && boot.self_test.as_nanos() > 0);
    let frame = embedded::selftest_frame().unwrap();
    classifier.classify(&frame, 3).unwrap();
    let bits: Vec<u32> = classifier.logits().iter().map(|v| v.to_bits()).collect();
    assert_eq!(
        bits,
        model::SELFTEST_LOGITS,
        "classification after boot is not repeatable"
    );
    // The embedded model runs on integer kernels: only the final dequantization is float.
    let float: Vec<_> = classifier
        .engine()
        .operators()
        .into_iter()
        .filter(|o| o.float && o.name != "IntoShape")
        .collect();
    assert!(
        float.iter().all(|o| o.name == "Dequant"),
        "float ops: {float:?}"
    );
    // nothing left that recomputes constants at every inference (weight sums, casts)
    let ops = classifier.engine().operators();
    assert!(
        !ops.iter()
            .any(|o| o.name == "Cast" || o.name.starts_with("Reduce")),
        "{ops:?}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn booting_releases_the_embedded_blobs_pages_and_the_blob_still_reads_the_same() {
    let (_, boot) = embedded::boot_blob(model::BLOB).unwrap();
    // every whole page of the blob: all but at most one partial page at either end (pages are
    // at most 64 KiB on the targets)
    assert!(
        boot.released + (128 << 10) >= model::BLOB.len(),
        "released {} of {} bytes",
        boot.released,
        model::BLOB.len()
    );
    assert_eq!(
        inception_edge::manifest::sha256_hex(model::BLOB),
        model::BLOB_SHA256
    );
    // a copy on the heap is read, never released
    let copy: Vec<u8> = model::BLOB.to_vec();
    let (_, boot) = embedded::boot_blob(&copy).unwrap();
    assert_eq!(boot.released, 0);
}

#[test]
fn the_embedded_classifier_reuses_its_buffers_and_matches_the_same_blob_from_a_file() {
    let mut embedded = Classifier::embedded().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.toml");
    std::fs::write(&manifest, model::MANIFEST).unwrap();
    let mut loaded = Classifier::from_manifest_and_model_bytes(&manifest, model::BLOB).unwrap();
    // the same archive streamed from a file
    let file = dir.path().join("model.int8.nnef.tar");
    std::fs::write(&file, model::BLOB).unwrap();
    let mut streamed = Classifier::from_manifest_and_model(&manifest, &file).unwrap();
    for name in ["bag.png", "sneaker.png", "coat.png"] {
        let img = inception_edge::decode::RgbImage::open(common::data(&format!("fmnist/{name}")))
            .unwrap();
        let frame = img.frame().unwrap();
        let a = embedded.classify(&frame, 3).unwrap();
        let b = loaded.classify(&frame, 3).unwrap();
        assert_eq!(a.top, b.top, "{name}");
        assert_eq!(embedded.logits(), loaded.logits(), "{name}");
        streamed.classify(&frame, 3).unwrap();
        assert_eq!(embedded.logits(), streamed.logits(), "{name}, from a file");
    }
}

#[test]
fn a_truncated_model_file_is_a_model_error_and_a_missing_one_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cut.nnef.tar");
    std::fs::write(&file, &model::BLOB[..model::BLOB.len() / 2]).unwrap();
    match inception_edge::Engine::from_nnef_file(&file) {
        Err(Error::Model { path, .. }) => assert_eq!(path, file),
        Err(other) => panic!("expected a model error, got {other}"),
        Ok(_) => panic!("half a model loaded"),
    }
    let missing = dir.path().join("missing.nnef.tar");
    match inception_edge::Engine::from_nnef_file(&missing) {
        Err(e @ Error::Io { .. }) => assert!(e.to_string().contains("missing.nnef.tar"), "{e}"),
        Err(other) => panic!("expected an I/O error, got {other}"),
        Ok(_) => panic!("a missing file loaded"),
    }
}

#[test]
fn truncated_or_garbage_blobs_give_a_model_error() {
    for bad in [
        &model::BLOB[..model::BLOB.len() / 2],
        &model::BLOB[..100],
        b"not a model",
    ] {
        match embedded::boot_blob(bad) {
            Err(Error::Model { path, reason }) => {
                assert!(path.display().to_string().contains(model::NAME), "{reason}")
            }
            Err(other) => panic!("expected a model error, got {other}"),
            Ok(_) => panic!("a corrupt blob booted"),
        }
    }
}

/// The blob with one weight changed: it loads, but the self-test must catch it.
fn blob_with_a_changed_weight() -> Vec<u8> {
    let mut archive = tar::Archive::new(model::BLOB);
    let mut builder = tar::Builder::new(Vec::new());
    let mut changed = false;
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        // The largest weight tensor is a convolution's: flip bits of its last value.
        if !changed && path.extension().is_some_and(|e| e == "dat") && data.len() > 100_000 {
            let last = data.len() - 1;
            data[last] ^= 0x40;
            changed = true;
        }
        let mut header = entry.header().clone();
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, &data[..]).unwrap();
    }
    assert!(changed, "no weight tensor found in the blob");
    builder.into_inner().unwrap()
}

#[test]
fn a_blob_with_a_changed_weight_fails_the_self_test() {
    match embedded::boot_blob(&blob_with_a_changed_weight()) {
        Err(Error::SelfTest(reason)) => assert!(reason.contains("differ"), "{reason}"),
        Err(other) => panic!("expected a self-test failure, got {other}"),
        Ok(_) => panic!("a blob with a changed weight passed the self-test"),
    }
}

/// A second, independent build of the embedded model gives the same blob and module. The
/// build host is x86_64; cross builds embed what the host computed, so this runs there only.
#[cfg(target_arch = "x86_64")]
#[test]
fn rebuilding_the_embedded_model_gives_byte_identical_output() {
    let models = common::root().join("models");
    let manifest = models.join(model::NAME).join("manifest.toml");
    let again = inception_edge_embed::embed(&manifest).unwrap();
    assert_eq!(again.blob.len(), model::BLOB.len());
    assert!(again.blob == model::BLOB, "the rebuilt blob differs");
    let module = std::fs::read_to_string(concat!(env!("OUT_DIR"), "/embedded_model.rs")).unwrap();
    assert_eq!(again.module, module);
}
