//! GPIO output lines (the Linux GPIO character device, `/dev/gpiochipN`) as embedded-hal
//! output pins for the camera loop's [`Pins`](inception_edge::camera::sinks::Pins) sink.

use std::path::{Path, PathBuf};

pub use linux_embedded_hal::CdevPin;

/// Why a GPIO line could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("GPIO {chip} line {line}: {reason} (is the user in the `gpio` group?)")]
pub struct GpioError {
    /// The chip device.
    pub chip: PathBuf,
    /// The line offset.
    pub line: u32,
    /// The driver's error.
    pub reason: String,
}

/// Requests `line` of `chip` as an output, initially low, labelled `consumer` (shown by
/// `gpioinfo`).
pub fn output_pin(chip: &Path, line: u32, consumer: &str) -> Result<CdevPin, GpioError> {
    let err = |reason: String| GpioError {
        chip: chip.to_owned(),
        line,
        reason,
    };
    let mut c = gpio_cdev::Chip::new(chip).map_err(|e| err(e.to_string()))?;
    let handle = c
        .get_line(line)
        .and_then(|l| l.request(gpio_cdev::LineRequestFlags::OUTPUT, 0, consumer))
        .map_err(|e| err(e.to_string()))?;
    CdevPin::new(handle).map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_gpio_chip_is_a_clear_error() {
        let Err(e) = output_pin(Path::new("/dev/gpiochip-none"), 17, "test") else {
            panic!("opened a missing chip");
        };
        let msg = e.to_string();
        assert!(
            msg.starts_with("GPIO /dev/gpiochip-none line 17: "),
            "{msg}"
        );
    }

    #[test]
    fn a_file_that_is_no_gpio_chip_is_refused() {
        assert!(output_pin(Path::new("/dev/null"), 0, "test").is_err());
    }
}
