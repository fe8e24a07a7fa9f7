//! `incept-pi`: the camera classification demo on a Raspberry Pi. Detects the board, then runs
//! the embedded classifier on its camera (USB webcam directly; the CSI camera through
//! `libcamerify incept-pi`). See `incept-pi --help`.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use inception_edge_raspberry_pi::Pi;

/// Classify camera frames on a Raspberry Pi with the model embedded in this binary.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// The board (pi3, pi4, pi5); detected from the device tree when omitted.
    #[arg(long)]
    board: Option<Pi>,
    #[command(flatten)]
    args: inception_edge_linux::cli::Args,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.board.or_else(Pi::detect) {
        Some(pi) => eprintln!("board: {}", pi.preset()),
        None => eprintln!("board: not a known Raspberry Pi (running as a generic Linux board)"),
    }
    match inception_edge_linux::cli::run(&cli.args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            if e.contains("/dev/video") {
                eprintln!(
                    "hint: a USB webcam appears as /dev/video0; the CSI camera needs libcamera's \
                     V4L2 layer: `libcamerify incept-pi ...`; list formats with --list-formats"
                );
            }
            ExitCode::FAILURE
        }
    }
}
