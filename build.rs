//! Bakes build facts into the crate: target triple and the pinned tract version.
//! (Model precompilation lands here with the int8 compiler.)

use std::env;
use std::fs;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=Cargo.toml");
    let target = env::var("TARGET")?;
    println!("cargo:rustc-env=INCEPT_TARGET={target}");
    let manifest = fs::read_to_string("Cargo.toml")?;
    let tract = manifest
        .lines()
        .find_map(|l| l.strip_prefix("tract-core = \"="))
        .and_then(|v| v.split('"').next())
        .ok_or("Cargo.toml must pin tract-core exactly (tract-core = \"=X.Y.Z\")")?;
    println!("cargo:rustc-env=INCEPT_TRACT_VERSION={tract}");
    Ok(())
}
