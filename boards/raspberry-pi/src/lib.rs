//! Raspberry Pi specifics on top of [`inception_edge_linux`]: which Pi this is (from the
//! device tree), its CPU and the build target for 64- and 32-bit Raspberry Pi OS, the default
//! indicator pin, and how to reach the CSI camera.
//!
//! The CSI camera (Camera Module 2/3, HQ) is driven by libcamera on current Raspberry Pi OS;
//! its V4L2 compatibility layer gives it a YUYV V4L2 interface: run `libcamerify incept-pi`.
//! USB webcams are plain V4L2 devices (`/dev/video0`).
#![warn(missing_docs)]
#![forbid(unsafe_code)]

use std::fmt;

/// The Pi models with presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pi {
    /// Raspberry Pi 3 (BCM2837, 4× Cortex-A53).
    Pi3,
    /// Raspberry Pi 4 / 400 / CM4 (BCM2711, 4× Cortex-A72).
    Pi4,
    /// Raspberry Pi 5 / CM5 (BCM2712, 4× Cortex-A76).
    Pi5,
}

/// What the software needs to know about a Pi.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// The model.
    pub pi: Pi,
    /// Its CPU core (also the `qemu -cpu` name that emulates it).
    pub cpu: &'static str,
    /// Cores.
    pub cores: usize,
    /// Whether the CPU has the Armv8.2 dot-product instructions (SDOT) that int8
    /// convolutions use; without them tract falls back to widening multiplies.
    pub dotprod: bool,
    /// Rust target for 64-bit Raspberry Pi OS.
    pub target_64: &'static str,
    /// Rust target for 32-bit Raspberry Pi OS.
    pub target_32: &'static str,
    /// Default camera frame size (width, height).
    pub camera_size: (u32, u32),
    /// GPIO line (BCM numbering, header pin 11) the examples use for the indicator LED.
    pub led_line: u32,
}

impl Pi {
    /// The preset of this model.
    pub const fn preset(self) -> Preset {
        let (cpu, dotprod, camera_size) = match self {
            Pi::Pi3 => ("cortex-a53", false, (320, 240)),
            Pi::Pi4 => ("cortex-a72", false, (640, 480)),
            Pi::Pi5 => ("cortex-a76", true, (640, 480)),
        };
        Preset {
            pi: self,
            cpu,
            cores: 4,
            dotprod,
            target_64: "aarch64-unknown-linux-gnu",
            target_32: "armv7-unknown-linux-gnueabihf",
            camera_size,
            led_line: 17,
        }
    }

    /// The model named by a device-tree model string such as
    /// `Raspberry Pi 4 Model B Rev 1.4` (`/proc/device-tree/model`, NUL-terminated).
    pub fn from_model(model: &str) -> Option<Pi> {
        let m = model.trim_end_matches('\0').trim();
        let rest = m.strip_prefix("Raspberry Pi ")?;
        let rest = rest.strip_prefix("Compute Module ").unwrap_or(rest);
        match rest.split([' ', '\0']).next()? {
            "3" => Some(Pi::Pi3),
            "4" | "400" => Some(Pi::Pi4),
            "5" | "500" => Some(Pi::Pi5),
            _ => None,
        }
    }

    /// The Pi this program runs on, if it is one of the models above.
    pub fn detect() -> Option<Pi> {
        std::fs::read_to_string("/proc/device-tree/model")
            .ok()
            .and_then(|m| Pi::from_model(&m))
    }
}

impl std::str::FromStr for Pi {
    type Err = String;
    fn from_str(s: &str) -> Result<Pi, String> {
        match s.to_ascii_lowercase().as_str() {
            "pi3" | "rpi3" => Ok(Pi::Pi3),
            "pi4" | "rpi4" => Ok(Pi::Pi4),
            "pi5" | "rpi5" => Ok(Pi::Pi5),
            _ => Err(format!("unknown board {s:?} (pi3, pi4, pi5)")),
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Raspberry Pi {} ({} cores {}, {})",
            match self.pi {
                Pi::Pi3 => 3,
                Pi::Pi4 => 4,
                Pi::Pi5 => 5,
            },
            self.cores,
            self.cpu,
            if self.dotprod {
                "int8 dot-product instructions"
            } else {
                "no int8 dot-product instructions"
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_tree_model_strings_name_the_pi() {
        for (model, pi) in [
            ("Raspberry Pi 3 Model B Plus Rev 1.3\0", Some(Pi::Pi3)),
            ("Raspberry Pi 4 Model B Rev 1.4\0", Some(Pi::Pi4)),
            ("Raspberry Pi 400 Rev 1.0", Some(Pi::Pi4)),
            ("Raspberry Pi Compute Module 4 Rev 1.0", Some(Pi::Pi4)),
            ("Raspberry Pi 5 Model B Rev 1.0\0", Some(Pi::Pi5)),
            ("Raspberry Pi Zero 2 W Rev 1.0", None),
            ("Pine64 RockPro64", None),
            ("", None),
        ] {
            assert_eq!(Pi::from_model(model), pi, "{model:?}");
        }
    }

    #[test]
    fn presets_say_which_pis_have_dot_product_int8() {
        assert!(Pi::Pi5.preset().dotprod);
        assert!(!Pi::Pi4.preset().dotprod);
        assert_eq!(
            Pi::Pi4.preset().to_string(),
            "Raspberry Pi 4 (4 cores cortex-a72, no int8 dot-product instructions)"
        );
        assert_eq!("RPI5".parse::<Pi>(), Ok(Pi::Pi5));
        assert!("pi2".parse::<Pi>().is_err());
    }
}
