//! `incept-v4l2`: the embedded classifier on a V4L2 camera (USB webcam, a CSI camera through
//! its V4L2 node) on any Linux board. See `incept-v4l2 --help`.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

/// Classify frames from a V4L2 camera with the model embedded in this binary.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    args: inception_edge_linux::cli::Args,
}

fn main() -> ExitCode {
    match inception_edge_linux::cli::run(&Cli::parse().args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
