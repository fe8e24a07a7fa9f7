//! Where classifications go: a console, a GPIO pin, a network publisher …
//!
//! Same error pattern as [`crate::camera`]: a driver error maps to a portable [`ErrorKind`].

use core::fmt;

use crate::postprocess::Prediction;

/// A sink error, convertible to a portable [`ErrorKind`].
pub trait Error: fmt::Debug {
    /// The portable kind of this error.
    fn kind(&self) -> ErrorKind;
}

/// Portable sink error kinds. More may be added: match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ErrorKind {
    /// The destination is unreachable for now (broker down, pipe closed).
    Unavailable,
    /// The hardware behind the sink (a GPIO line) failed.
    Hardware,
    /// Anything else.
    Other,
}

impl Error for ErrorKind {
    fn kind(&self) -> ErrorKind {
        *self
    }
}

impl Error for core::convert::Infallible {
    fn kind(&self) -> ErrorKind {
        match *self {}
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Unavailable => "sink unavailable",
            ErrorKind::Hardware => "sink hardware error",
            ErrorKind::Other => "sink error",
        })
    }
}

impl core::error::Error for ErrorKind {}

/// Carries the error type of a [`Sink`].
pub trait ErrorType {
    /// The sink's error type.
    type Error: Error;
}

impl<T: ErrorType + ?Sized> ErrorType for &mut T {
    type Error = T::Error;
}

/// Receives each classification.
pub trait Sink: ErrorType {
    /// Publishes one result: predictions sorted best first (possibly empty).
    fn publish(&mut self, top: &[Prediction]) -> Result<(), Self::Error>;
}

impl<T: Sink + ?Sized> Sink for &mut T {
    fn publish(&mut self, top: &[Prediction]) -> Result<(), Self::Error> {
        T::publish(self, top)
    }
}
