//! Bakes build facts into the crate (target triple, pinned tract version) and, with the
//! `embed` feature, precompiles the selected model into an int8 NNEF blob plus a module of
//! constants in `OUT_DIR` (see the `inception-edge-embed` crate, a build dependency: nothing of the compiler is
//! linked into the runtime).

use std::env;
use std::fs;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-changed=build.rs");
    let target = env::var("TARGET")?;
    println!("cargo:rustc-env=INCEPT_TARGET={target}");
    let manifest = fs::read_to_string("Cargo.toml")?;
    let tract = manifest
        .lines()
        .find_map(|l| l.strip_prefix("tract-core = \"="))
        .and_then(|v| v.split('"').next())
        .ok_or("Cargo.toml must pin tract-core exactly (tract-core = \"=X.Y.Z\")")?;
    println!("cargo:rustc-env=INCEPT_TRACT_VERSION={tract}");
    #[cfg(feature = "embed")]
    embed()?;
    Ok(())
}

/// The model a `model-<name>` feature asks for, if any; more than one is an error.
#[cfg(feature = "embed")]
fn feature_model() -> Result<Option<String>, String> {
    let mut picked: Vec<String> = env::vars()
        .filter_map(|(k, _)| {
            k.strip_prefix("CARGO_FEATURE_MODEL_")
                .map(|n| n.to_ascii_lowercase().replace('_', "-"))
        })
        .collect();
    picked.sort();
    match picked.len() {
        0 | 1 => Ok(picked.pop()),
        _ => Err(format!(
            "more than one model feature is enabled ({}); enable exactly one model-<name> feature",
            picked.join(", ")
        )),
    }
}

#[cfg(feature = "embed")]
fn embed() -> Result<(), Box<dyn std::error::Error>> {
    use inception_edge_embed::{self as embed, BLOB_FILE, MODEL_ENV};
    use std::path::PathBuf;
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let models = root.join("models");
    println!("cargo:rerun-if-env-changed={MODEL_ENV}");
    println!(
        "cargo:rerun-if-changed={}",
        models.join(embed::INDEX).display()
    );
    let requested = match env::var(MODEL_ENV) {
        Ok(name) if !name.is_empty() => Some(name),
        _ => feature_model()?,
    };
    let fail = |e: &dyn std::fmt::Display| -> Box<dyn std::error::Error> {
        format!("inception-edge cannot embed its model: {e}").into()
    };
    let manifest = embed::select(&models, requested.as_deref()).map_err(|e| fail(&e))?;
    println!("cargo:rerun-if-changed={}", manifest.display());
    let embedded = embed::embed(&manifest).map_err(|e| fail(&e))?;
    for input in &embedded.inputs {
        println!("cargo:rerun-if-changed={}", input.display());
    }
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out.join(BLOB_FILE), &embedded.blob)?;
    fs::write(out.join("embedded_model.rs"), &embedded.module)?;
    fs::write(out.join("embedded_model.txt"), &embedded.summary)?;
    Ok(())
}
