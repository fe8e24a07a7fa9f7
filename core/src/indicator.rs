//! A GPIO indicator: any `embedded_hal::digital::OutputPin` turned on while a chosen class is
//! confidently seen, with hysteresis so the pin does not flicker around the threshold.

use core::fmt;

use embedded_hal::digital::{self, OutputPin};

use crate::postprocess::Prediction;
use crate::sink::{self, ErrorType, Sink};

/// Why an indicator could not be configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum IndicatorConfigError {
    /// Thresholds must satisfy `0 ≤ off ≤ on ≤ 1`.
    InvalidThresholds,
}

impl fmt::Display for IndicatorConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("indicator thresholds must satisfy 0 <= off <= on <= 1")
    }
}

impl core::error::Error for IndicatorConfigError {}

/// A pin error from the indicator's [`Sink`] implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PinError<E>(pub E);

impl<E: digital::Error> sink::Error for PinError<E> {
    fn kind(&self) -> sink::ErrorKind {
        sink::ErrorKind::Hardware
    }
}

/// Drives `pin` high while `class` scores at least `on`, and low again once it drops below
/// `off` (or leaves the top-k).
///
/// ```
/// use core::convert::Infallible;
/// use embedded_hal::digital::{ErrorType, OutputPin};
/// use inception_edge_core::indicator::Indicator;
/// use inception_edge_core::postprocess::Prediction;
///
/// struct Led(bool);
/// impl ErrorType for Led { type Error = Infallible; }
/// impl OutputPin for Led {
///     fn set_high(&mut self) -> Result<(), Infallible> { self.0 = true; Ok(()) }
///     fn set_low(&mut self) -> Result<(), Infallible> { self.0 = false; Ok(()) }
/// }
///
/// let mut ind = Indicator::new(Led(false), 3, 0.8, 0.6)?;
/// let seen = |score| [Prediction { class: 3, score }];
/// assert!(ind.update(&seen(0.9)).unwrap());   // on at 0.9
/// assert!(ind.update(&seen(0.7)).unwrap());   // stays on above 0.6
/// assert!(!ind.update(&seen(0.5)).unwrap());  // off below 0.6
/// assert!(!ind.update(&seen(0.7)).unwrap());  // stays off below 0.8
/// # Ok::<(), inception_edge_core::indicator::IndicatorConfigError>(())
/// ```
#[derive(Debug)]
pub struct Indicator<P> {
    pin: P,
    class: u16,
    on: f32,
    off: f32,
    lit: bool,
}

impl<P: OutputPin> Indicator<P> {
    /// An indicator for `class` with thresholds `0 ≤ off ≤ on ≤ 1`. The pin is assumed low.
    pub fn new(pin: P, class: u16, on: f32, off: f32) -> Result<Self, IndicatorConfigError> {
        if !(0.0..=1.0).contains(&off) || !(0.0..=1.0).contains(&on) || off > on {
            return Err(IndicatorConfigError::InvalidThresholds);
        }
        Ok(Indicator {
            pin,
            class,
            on,
            off,
            lit: false,
        })
    }

    /// Updates the pin from one result; returns whether it is now lit.
    pub fn update(&mut self, top: &[Prediction]) -> Result<bool, P::Error> {
        let score = top
            .iter()
            .find(|p| p.class == self.class)
            .map_or(0.0, |p| p.score);
        if !self.lit && score >= self.on {
            self.pin.set_high()?;
            self.lit = true;
        } else if self.lit && score < self.off {
            self.pin.set_low()?;
            self.lit = false;
        }
        Ok(self.lit)
    }

    /// The class it watches.
    pub fn class(&self) -> u16 {
        self.class
    }

    /// Whether the pin is lit.
    pub fn is_lit(&self) -> bool {
        self.lit
    }

    /// Gives the pin back.
    pub fn release(self) -> P {
        self.pin
    }
}

impl<P: OutputPin> ErrorType for Indicator<P> {
    type Error = PinError<P::Error>;
}

impl<P: OutputPin> Sink for Indicator<P> {
    fn publish(&mut self, top: &[Prediction]) -> Result<(), Self::Error> {
        self.update(top).map(|_| ()).map_err(PinError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::digital::ErrorKind as PinKind;

    #[derive(Default)]
    struct Pin {
        high: bool,
        writes: u32,
        broken: bool,
    }
    impl digital::ErrorType for Pin {
        type Error = PinKind;
    }
    impl OutputPin for Pin {
        fn set_high(&mut self) -> Result<(), PinKind> {
            if self.broken {
                return Err(PinKind::Other);
            }
            self.high = true;
            self.writes += 1;
            Ok(())
        }
        fn set_low(&mut self) -> Result<(), PinKind> {
            self.high = false;
            self.writes += 1;
            Ok(())
        }
    }

    fn p(class: u16, score: f32) -> [Prediction; 1] {
        [Prediction { class, score }]
    }

    #[test]
    fn thresholds_out_of_order_or_range_are_rejected() {
        assert!(Indicator::new(Pin::default(), 0, 0.5, 0.6).is_err());
        assert!(Indicator::new(Pin::default(), 0, 1.5, 0.6).is_err());
        assert!(Indicator::new(Pin::default(), 0, 0.5, f32::NAN).is_err());
    }

    #[test]
    fn the_pin_is_written_only_on_transitions() {
        let mut ind = Indicator::new(Pin::default(), 2, 0.8, 0.5).unwrap();
        for s in [0.9, 0.85, 0.6, 0.81, 0.4, 0.3, 0.79] {
            ind.update(&p(2, s)).unwrap();
        }
        let pin = ind.release();
        assert_eq!(pin.writes, 2);
        assert!(!pin.high);
    }

    #[test]
    fn another_class_on_top_turns_the_indicator_off() {
        let mut ind = Indicator::new(Pin::default(), 2, 0.8, 0.5).unwrap();
        assert!(ind.update(&p(2, 0.95)).unwrap());
        assert!(!ind.update(&p(7, 0.95)).unwrap());
    }

    #[test]
    fn a_failing_pin_is_a_hardware_sink_error() {
        let pin = Pin {
            broken: true,
            ..Pin::default()
        };
        let mut ind = Indicator::new(pin, 1, 0.5, 0.5).unwrap();
        let e = ind.publish(&p(1, 0.9)).unwrap_err();
        assert_eq!(sink::Error::kind(&e), sink::ErrorKind::Hardware);
        assert!(!ind.is_lit());
    }
}
