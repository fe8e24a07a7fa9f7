//! Where the loop's records go: the console, a JSON-lines file or stdout, output pins. Sinks
//! run on their own thread; one that falls behind makes records skip it (counted), never
//! stalls the loop.

use std::io::Write;

use embedded_hal::digital::OutputPin;
use inception_edge_core::indicator::{Indicator, IndicatorConfigError};
use inception_edge_core::Prediction;

use super::Record;
use crate::classifier::MAX_TOP_K;

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

/// A sink that publishes nothing and blocks: for each record, with probability `rate`, it
/// sleeps `block` (a network sink whose peer stalls, a full disk). For testing the loop: it
/// must skip the sinks (counted as `sink_skipped`) rather than slow the camera down.
#[derive(Debug)]
pub struct Blocking {
    rate: f64,
    block: std::time::Duration,
    state: u64,
    /// Times it blocked.
    pub blocked: u64,
}

impl Blocking {
    /// Blocks for `block` on a `rate` fraction of records, on a schedule fixed by `seed`.
    pub fn new(rate: f64, block: std::time::Duration, seed: u64) -> Self {
        Blocking {
            rate: rate.clamp(0.0, 1.0),
            block,
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            blocked: 0,
        }
    }

    /// Parses `RATE:MS` (e.g. `0.01:500`), the `block:` sink of `incept camera`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let bad = || format!("sink `block:{spec}` is not block:RATE:MS (e.g. block:0.01:500)");
        let (rate, ms) = spec.split_once(':').ok_or_else(bad)?;
        let rate: f64 = rate.parse().map_err(|_| bad())?;
        let ms: u64 = ms.parse().map_err(|_| bad())?;
        if !(0.0..=1.0).contains(&rate) || ms > 600_000 {
            return Err(bad());
        }
        Ok(Blocking::new(rate, std::time::Duration::from_millis(ms), 7))
    }
}

impl Sink for Blocking {
    fn publish(&mut self, _: &Record) -> std::io::Result<()> {
        // xorshift64*
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let r = (self.state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
        if r < self.rate {
            self.blocked += 1;
            std::thread::sleep(self.block);
        }
        Ok(())
    }
}

/// One watched class: light a pin while the class scores at least `on`, and put it out once
/// it drops below `off` (hysteresis: no flicker around one threshold).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Action {
    /// The class index.
    pub class: u16,
    /// Score that turns the pin on.
    pub on: f32,
    /// Score below which it goes off again (≤ `on`).
    pub off: f32,
}

impl Action {
    /// Parses `CLASS:ON[:OFF]` with the class given by label (as in `labels`) or index;
    /// `OFF` defaults to `ON − 0.1`.
    pub fn parse(spec: &str, labels: &[String]) -> Result<Action, String> {
        let parts: Vec<&str> = spec.split(':').collect();
        let bad = || format!("action {spec:?} is not CLASS:ON[:OFF] (e.g. Bag:0.8:0.6)");
        if !(2..=3).contains(&parts.len()) {
            return Err(bad());
        }
        let class = match labels.iter().position(|l| l == parts[0]) {
            Some(i) => i as u16,
            None => parts[0].parse::<u16>().map_err(|_| {
                format!("action {spec:?}: no class {:?} among the labels", parts[0])
            })?,
        };
        if !labels.is_empty() && usize::from(class) >= labels.len() {
            return Err(format!("action {spec:?}: class {class} out of range"));
        }
        let on: f32 = parts[1].parse().map_err(|_| bad())?;
        let off: f32 = match parts.get(2) {
            Some(p) => p.parse().map_err(|_| bad())?,
            None => (on - 0.1).max(0.0),
        };
        if !(0.0..=1.0).contains(&on) || !(0.0..=1.0).contains(&off) || off > on {
            return Err(format!("action {spec:?}: need 0 <= OFF <= ON <= 1"));
        }
        Ok(Action { class, on, off })
    }
}

/// Drives output pins (any embedded-hal [`OutputPin`]: a GPIO line, an LED driver) from the
/// results, one [`Indicator`] per [`Action`]; transitions are written to `log` as
/// `#seq on|off CLASS score`.
pub struct Pins<P: OutputPin + Send> {
    indicators: Vec<Indicator<P>>,
    log: Option<Box<dyn Write + Send>>,
}

impl<P: OutputPin + Send> Pins<P> {
    /// Pairs each pin with its action (pins start low).
    pub fn new(
        pins: impl IntoIterator<Item = (P, Action)>,
        log: Option<Box<dyn Write + Send>>,
    ) -> Result<Self, IndicatorConfigError> {
        let indicators = pins
            .into_iter()
            .map(|(pin, a)| Indicator::new(pin, a.class, a.on, a.off))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Pins { indicators, log })
    }

    /// Whether each pin is lit, in order.
    pub fn lit(&self) -> Vec<bool> {
        self.indicators.iter().map(Indicator::is_lit).collect()
    }

    /// Gives the pins back.
    pub fn release(self) -> Vec<P> {
        self.indicators
            .into_iter()
            .map(Indicator::release)
            .collect()
    }
}

impl<P: OutputPin + Send> Sink for Pins<P> {
    fn publish(&mut self, record: &Record) -> std::io::Result<()> {
        let Record::Result { seq, top, .. } = record else {
            return Ok(());
        };
        let mut predictions: heapless::Vec<Prediction, MAX_TOP_K> = heapless::Vec::new();
        for (class, _, score) in top {
            // capacities are equal: never full
            let _ = predictions.push(Prediction {
                class: *class,
                score: *score,
            });
        }
        let mut failed = None;
        for ind in &mut self.indicators {
            let was = ind.is_lit();
            match ind.update(&predictions) {
                Ok(now) if now != was => {
                    if let Some(log) = self.log.as_mut() {
                        let (class, label, score) = top
                            .iter()
                            .find(|t| t.0 == ind.class())
                            .map_or((ind.class(), "", 0.0), |t| (t.0, &*t.1, t.2));
                        let state = if now { "on" } else { "off" };
                        writeln!(log, "#{seq} {state} {class} {label} {score:.3}")?;
                    }
                }
                Ok(_) => {}
                Err(e) => failed = Some(format!("{e:?}")),
            }
        }
        match failed {
            Some(e) => Err(std::io::Error::other(format!("output pin: {e}"))),
            None => Ok(()),
        }
    }

    fn finish(&mut self) -> std::io::Result<()> {
        match self.log.as_mut() {
            Some(log) => log.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocking_sink_spec_is_parsed_and_bad_ones_are_refused() {
        let b = Blocking::parse("0.25:40").unwrap();
        assert_eq!(b.rate, 0.25);
        assert_eq!(b.block, std::time::Duration::from_millis(40));
        for bad in [
            "",
            "0.1",
            "x:10",
            "0.1:x",
            "1.5:10",
            "-0.1:10",
            "0.1:999999999",
        ] {
            assert!(Blocking::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_blocking_sink_blocks_on_about_its_rate_of_records() {
        let mut b = Blocking::new(0.5, std::time::Duration::ZERO, 3);
        let r = Record::Error {
            seq: 0,
            error: "x".into(),
        };
        for _ in 0..1000 {
            b.publish(&r).unwrap();
        }
        assert!((400..600).contains(&b.blocked), "{}", b.blocked);
    }
}
