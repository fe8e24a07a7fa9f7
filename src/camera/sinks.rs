//! Where the loop's records go: the console, a JSON-lines file or stdout. Sinks run on their
//! own thread; one that falls behind makes records skip it (counted), never stalls the loop.

use std::io::Write;

use super::Record;

/// A consumer of the loop's records.
pub trait Sink: Send {
    /// Handles one record (a result, a drop or an error).
    fn publish(&mut self, record: &Record) -> std::io::Result<()>;

    /// Called once when the loop ends (flush, close).
    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One line per result (`#seq label prob … latency`) and per error, to any writer.
pub struct Console<W: Write + Send> {
    out: W,
}

impl<W: Write + Send> Console<W> {
    /// A console sink writing to `out` (e.g. `std::io::stdout()`).
    pub fn new(out: W) -> Self {
        Console { out }
    }
}

impl<W: Write + Send> Sink for Console<W> {
    fn publish(&mut self, record: &Record) -> std::io::Result<()> {
        match record {
            Record::Result {
                seq,
                top,
                latency_ms,
                inference_ms,
                ..
            } => {
                write!(self.out, "#{seq:<6}")?;
                for (_, label, p) in top {
                    write!(self.out, " {label} {:.1} %", p * 100.0)?;
                }
                writeln!(
                    self.out,
                    "  (inference {inference_ms:.1} ms, latency {latency_ms:.1} ms)"
                )
            }
            Record::Error { seq, error } => writeln!(self.out, "#{seq:<6} error: {error}"),
            Record::Dropped { .. } => Ok(()),
        }
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Every record as one JSON object per line.
pub struct JsonLines<W: Write + Send> {
    out: W,
}

impl<W: Write + Send> JsonLines<W> {
    /// A JSON-lines sink writing to `out`.
    pub fn new(out: W) -> Self {
        JsonLines { out }
    }
}

impl<W: Write + Send> Sink for JsonLines<W> {
    fn publish(&mut self, record: &Record) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, record)?;
        self.out.write_all(b"\n")
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
