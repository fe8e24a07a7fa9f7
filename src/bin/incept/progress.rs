//! A progress bar on stderr: redrawn in place on a terminal, a line every 10 % otherwise.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Progress of a fixed number of steps.
pub struct Progress {
    label: &'static str,
    total: usize,
    done: usize,
    start: Instant,
    last: Instant,
    tty: bool,
    quiet: bool,
}

impl Progress {
    /// Starts a bar over `total` steps.
    pub fn new(label: &'static str, total: usize) -> Self {
        let now = Instant::now();
        Progress {
            label,
            total,
            done: 0,
            start: now,
            last: now - Duration::from_secs(1),
            tty: std::io::stderr().is_terminal(),
            quiet: false,
        }
    }

    /// One more step done.
    pub fn tick(&mut self) {
        self.done += 1;
        let decile = |n: usize| n * 10 / self.total.max(1);
        let draw = if self.tty {
            self.last.elapsed() >= Duration::from_millis(100) || self.done == self.total
        } else {
            decile(self.done) != decile(self.done - 1) || self.done == self.total
        };
        if draw && !self.quiet {
            self.last = Instant::now();
            self.draw();
        }
    }

    fn draw(&self) {
        let secs = self.start.elapsed().as_secs_f64();
        let rate = self.done as f64 / secs.max(1e-9);
        let eta = (self.total - self.done.min(self.total)) as f64 / rate.max(1e-9);
        let width = 30;
        let filled = width * self.done / self.total.max(1);
        let bar: String = "#".repeat(filled) + &" ".repeat(width - filled);
        let line = format!(
            "{:<12} [{bar}] {}/{} {:.1}/s ETA {:.0} s",
            self.label, self.done, self.total, rate, eta
        );
        let mut err = std::io::stderr().lock();
        if self.tty {
            let end = if self.done == self.total { "\n" } else { "" };
            let _ = write!(err, "\r{line}\x1b[K{end}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    /// Seconds since the start.
    pub fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }
}
