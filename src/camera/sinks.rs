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
