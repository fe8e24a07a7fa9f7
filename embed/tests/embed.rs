//! The build-time embedding pipeline on the committed models: deterministic output, and a
//! clear error naming the file and the fix for every way the inputs can be wrong.

use std::fs;
use std::path::{Path, PathBuf};

use inception_edge_embed::{embed, select, EmbedError, ModelIndex};

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

/// A scratch models directory holding a copy of the mini model (model file, manifest with
/// its calibration path made absolute) and an index, edited by `edit`.
fn scratch(edit: impl FnOnce(&str) -> String) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let src = models().join("mini-inception-fmnist");
    let dst = dir.path().join("mini-inception-fmnist");
    fs::create_dir(&dst).unwrap();
    fs::copy(
        src.join("mini-inception-fmnist.onnx"),
        dst.join("mini-inception-fmnist.onnx"),
    )
    .unwrap();
    let calib = src.join("../../tests/data/fmnist-v3/calib-200-images-idx3-ubyte.gz");
    let text = fs::read_to_string(src.join("manifest.toml"))
        .unwrap()
        .replace(
            "\"../../tests/data/fmnist-v3/calib-200-images-idx3-ubyte.gz\"",
            &format!("{:?}", calib.canonicalize().unwrap()),
        );
    fs::write(dst.join("manifest.toml"), edit(&text)).unwrap();
    fs::write(
        dir.path().join("manifest.toml"),
        "default = \"mini-inception-fmnist\"\nmodels = [\"mini-inception-fmnist\"]\n",
    )
    .unwrap();
    (dir, dst.join("manifest.toml"))
}

fn invalid(e: EmbedError) -> (PathBuf, String) {
    match e {
        EmbedError::Invalid { path, reason } => (path, reason),
        other => panic!("expected an Invalid error, got {other}"),
    }
}

#[test]
fn the_committed_index_lists_every_model_directory_and_a_default() {
    let index = ModelIndex::open(&models()).unwrap();
    assert!(index.models.contains(&index.default));
    for name in &index.models {
        assert!(
            models().join(name).join("manifest.toml").is_file(),
            "{name}"
        );
    }
    assert_eq!(
        select(&models(), None).unwrap(),
        models().join(&index.default).join("manifest.toml")
    );
}

#[test]
fn embedding_the_same_model_twice_gives_identical_bytes() {
    let manifest = models().join("mini-inception-fmnist/manifest.toml");
    let a = embed(&manifest).unwrap();
    let b = embed(&manifest).unwrap();
    assert_eq!(a.blob, b.blob, "the blob is not deterministic");
    assert_eq!(
        a.module, b.module,
        "the generated module is not deterministic"
    );
    assert!(a.module.contains("pub const SELFTEST_LOGITS: [u32; 10]"));
    assert!(
        !a.module.contains(env!("CARGO_MANIFEST_DIR")),
        "no absolute paths"
    );
}

#[test]
fn an_unknown_model_name_lists_the_known_ones() {
    let (path, reason) = invalid(select(&models(), Some("inception-v9")).unwrap_err());
    assert!(path.ends_with("manifest.toml"));
    assert!(
        reason.contains("inception-v9") && reason.contains("mini-inception-fmnist"),
        "{reason}"
    );
}

#[test]
fn a_model_whose_sha256_differs_names_the_file_and_the_fix() {
    let (_dir, manifest) = scratch(|t| t.to_owned());
    let model = manifest.with_file_name("mini-inception-fmnist.onnx");
    let mut bytes = fs::read(&model).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&model, bytes).unwrap();
    let (path, reason) = invalid(embed(&manifest).unwrap_err());
    assert_eq!(path, model);
    assert!(
        reason.contains("sha256") && reason.contains("restore"),
        "{reason}"
    );
}

#[test]
fn a_missing_model_file_names_it() {
    let (_dir, manifest) = scratch(|t| t.to_owned());
    let model = manifest.with_file_name("mini-inception-fmnist.onnx");
    fs::remove_file(&model).unwrap();
    let (path, reason) = invalid(embed(&manifest).unwrap_err());
    assert_eq!(path, model);
    assert!(reason.contains("not in the checkout"), "{reason}");
}

#[test]
fn a_manifest_without_calibration_images_is_refused() {
    let (_dir, manifest) = scratch(|t| t.split("\n[calibration]").next().unwrap().to_owned());
    let (_, reason) = invalid(embed(&manifest).unwrap_err());
    assert!(reason.contains("[calibration]"), "{reason}");
}

#[test]
fn calibration_counts_beyond_the_set_and_unknown_methods_are_refused() {
    let (_dir, manifest) = scratch(|t| t.replace("images = 200", "images = 201"));
    let (_, reason) = invalid(embed(&manifest).unwrap_err());
    assert!(reason.contains("201"), "{reason}");
    let (_dir, manifest) = scratch(|t| t.replace("method = \"percentile\"", "method = \"kl\""));
    let (_, reason) = invalid(embed(&manifest).unwrap_err());
    assert!(reason.contains("kl"), "{reason}");
}

#[test]
fn a_manifest_whose_input_geometry_disagrees_with_the_model_is_refused() {
    let (_dir, manifest) = scratch(|t| t.replace("width = 28", "width = 32"));
    let (_, reason) = invalid(embed(&manifest).unwrap_err());
    assert!(
        reason.contains("[1, 1, 28, 28]") && reason.contains("[1, 1, 28, 32]"),
        "{reason}"
    );
}

#[test]
fn an_index_whose_default_is_not_listed_is_refused() {
    let (dir, _) = scratch(|t| t.to_owned());
    fs::write(
        dir.path().join("manifest.toml"),
        "default = \"x\"\nmodels = [\"mini-inception-fmnist\"]\n",
    )
    .unwrap();
    let (_, reason) = invalid(select(dir.path(), None).unwrap_err());
    assert!(reason.contains("\"x\""), "{reason}");
}
