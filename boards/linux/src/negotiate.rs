//! Choosing a capture format from what a device offers (pure: no device needed).

use std::fmt;

/// A V4L2 pixel format code (`v4l2_fourcc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourCc(pub u32);

impl FourCc {
    /// Packed YUV 4:2:2, `YUYV`.
    pub const YUYV: FourCc = FourCc::new(*b"YUYV");
    /// Motion-JPEG, `MJPG`.
    pub const MJPG: FourCc = FourCc::new(*b"MJPG");

    /// The code of four ASCII characters.
    pub const fn new(c: [u8; 4]) -> Self {
        FourCc(u32::from_le_bytes(c))
    }
}

impl fmt::Display for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0.to_le_bytes() {
            let c = if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '?'
            };
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// The capture formats this crate decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Packed YUV 4:2:2: no decoding, preprocessing reads it directly.
    Yuyv,
    /// Motion-JPEG: each frame is decoded to RGB.
    Mjpeg,
}

impl CaptureFormat {
    /// Its V4L2 code.
    pub fn fourcc(self) -> FourCc {
        match self {
            CaptureFormat::Yuyv => FourCc::YUYV,
            CaptureFormat::Mjpeg => FourCc::MJPG,
        }
    }

    /// The format of a code, if this crate decodes it.
    pub fn from_fourcc(f: FourCc) -> Option<Self> {
        [CaptureFormat::Yuyv, CaptureFormat::Mjpeg]
            .into_iter()
            .find(|c| c.fourcc() == f)
    }
}

impl std::str::FromStr for CaptureFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "yuyv" => Ok(CaptureFormat::Yuyv),
            "mjpeg" | "mjpg" => Ok(CaptureFormat::Mjpeg),
            _ => Err(format!("unknown capture format {s:?} (yuyv or mjpeg)")),
        }
    }
}

/// Frame sizes a device offers for one format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameSizes {
    /// One fixed size.
    Discrete {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
    /// Any size in a range, in steps.
    Stepwise {
        /// Smallest width.
        min_width: u32,
        /// Largest width.
        max_width: u32,
        /// Width step.
        step_width: u32,
        /// Smallest height.
        min_height: u32,
        /// Largest height.
        max_height: u32,
        /// Height step.
        step_height: u32,
    },
}

impl fmt::Display for FrameSizes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FrameSizes::Discrete { width, height } => write!(f, "{width}x{height}"),
            FrameSizes::Stepwise {
                min_width,
                max_width,
                min_height,
                max_height,
                ..
            } => write!(f, "{min_width}x{min_height}..{max_width}x{max_height}"),
        }
    }
}

/// One format a device offers, with its sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The pixel format.
    pub fourcc: FourCc,
    /// The driver's description.
    pub description: String,
    /// The sizes (empty when the driver does not enumerate them).
    pub sizes: Vec<FrameSizes>,
}

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// A format, or `None` for the best the device has (YUYV before MJPEG).
    pub format: Option<CaptureFormat>,
    /// Wanted width.
    pub width: u32,
    /// Wanted height.
    pub height: u32,
}

/// The format and size to set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    /// The format.
    pub format: CaptureFormat,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// Why no format could be chosen; the message lists what the device offers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NegotiationError {
    /// The device offers none of the formats this crate decodes.
    #[error(
        "the device offers no format this program decodes (YUYV, MJPEG); it offers: {offered}"
    )]
    NoSupportedFormat {
        /// The offers, one per format.
        offered: String,
    },
    /// The requested format is not offered.
    #[error("the device does not offer {wanted:?}; it offers: {offered}")]
    FormatNotOffered {
        /// The request.
        wanted: CaptureFormat,
        /// The offers.
        offered: String,
    },
}

/// Lists offers as `YUYV (YUYV 4:2:2) 640x480, 1280x720; MJPG (Motion-JPEG) 1920x1080`.
pub fn describe(offers: &[Offer]) -> String {
    if offers.is_empty() {
        return "nothing".into();
    }
    offers
        .iter()
        .map(|o| {
            let sizes: Vec<String> = o.sizes.iter().map(|s| s.to_string()).collect();
            format!(
                "{} ({}) {}",
                o.fourcc,
                o.description,
                if sizes.is_empty() {
                    "sizes not listed".into()
                } else {
                    sizes.join(", ")
                }
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Picks the format (the requested one, else YUYV, else MJPEG) and the size: the requested
/// size if offered, else the smallest offered size covering it, else the largest offered.
/// A stepwise range gives the requested size clamped and rounded to its steps.
pub fn negotiate(offers: &[Offer], request: &Request) -> Result<Choice, NegotiationError> {
    let find = |f: CaptureFormat| offers.iter().find(|o| o.fourcc == f.fourcc());
    let (format, offer) = match request.format {
        Some(f) => match find(f) {
            Some(o) => (f, o),
            None => {
                return Err(NegotiationError::FormatNotOffered {
                    wanted: f,
                    offered: describe(offers),
                })
            }
        },
        None => [CaptureFormat::Yuyv, CaptureFormat::Mjpeg]
            .into_iter()
            .find_map(|f| find(f).map(|o| (f, o)))
            .ok_or_else(|| NegotiationError::NoSupportedFormat {
                offered: describe(offers),
            })?,
    };
    let (width, height) = pick_size(&offer.sizes, request.width, request.height);
    Ok(Choice {
        format,
        width,
        height,
    })
}

fn pick_size(sizes: &[FrameSizes], w: u32, h: u32) -> (u32, u32) {
    let mut candidates: Vec<(u32, u32)> = Vec::new();
    for s in sizes {
        match *s {
            FrameSizes::Discrete { width, height } => candidates.push((width, height)),
            FrameSizes::Stepwise {
                min_width,
                max_width,
                step_width,
                min_height,
                max_height,
                step_height,
            } => {
                let snap = |v: u32, min: u32, max: u32, step: u32| {
                    let v = v.clamp(min, max.max(min));
                    let step = step.max(1);
                    min + (v - min) / step * step
                };
                candidates.push((
                    snap(w, min_width, max_width, step_width),
                    snap(h, min_height, max_height, step_height),
                ));
            }
        }
    }
    if candidates.is_empty() {
        // The driver does not list sizes: ask for the request; S_FMT adjusts it.
        return (w, h);
    }
    if let Some(&exact) = candidates.iter().find(|&&c| c == (w, h)) {
        return exact;
    }
    let area = |&(a, b): &(u32, u32)| u64::from(a) * u64::from(b);
    candidates
        .iter()
        .filter(|&&(a, b)| a >= w && b >= h)
        .min_by_key(|c| area(c))
        .or_else(|| candidates.iter().max_by_key(|c| area(c)))
        .copied()
        .unwrap_or((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(fourcc: FourCc, sizes: &[(u32, u32)]) -> Offer {
        Offer {
            fourcc,
            description: fourcc.to_string(),
            sizes: sizes
                .iter()
                .map(|&(width, height)| FrameSizes::Discrete { width, height })
                .collect(),
        }
    }

    /// What a typical UVC webcam offers.
    fn webcam() -> Vec<Offer> {
        vec![
            offer(FourCc::MJPG, &[(640, 480), (1280, 720), (1920, 1080)]),
            offer(FourCc::YUYV, &[(320, 240), (640, 480), (1280, 720)]),
        ]
    }

    fn req(format: Option<CaptureFormat>, width: u32, height: u32) -> Request {
        Request {
            format,
            width,
            height,
        }
    }

    #[test]
    fn yuyv_is_preferred_when_no_format_is_asked_for() {
        let c = negotiate(&webcam(), &req(None, 640, 480)).unwrap();
        assert_eq!(
            (c.format, c.width, c.height),
            (CaptureFormat::Yuyv, 640, 480)
        );
    }

    #[test]
    fn an_unoffered_size_takes_the_smallest_size_covering_it() {
        let c = negotiate(&webcam(), &req(Some(CaptureFormat::Mjpeg), 800, 600)).unwrap();
        assert_eq!((c.width, c.height), (1280, 720));
        // larger than everything: the largest
        let c = negotiate(&webcam(), &req(Some(CaptureFormat::Yuyv), 4000, 3000)).unwrap();
        assert_eq!((c.width, c.height), (1280, 720));
    }

    #[test]
    fn stepwise_sizes_are_clamped_and_rounded_to_the_step() {
        let csi = vec![Offer {
            fourcc: FourCc::YUYV,
            description: "YUYV".into(),
            sizes: vec![FrameSizes::Stepwise {
                min_width: 64,
                max_width: 4608,
                step_width: 16,
                min_height: 64,
                max_height: 2592,
                step_height: 2,
            }],
        }];
        let c = negotiate(&csi, &req(None, 643, 481)).unwrap();
        assert_eq!((c.width, c.height), (640, 480));
        let c = negotiate(&csi, &req(None, 10, 10)).unwrap();
        assert_eq!((c.width, c.height), (64, 64));
    }

    #[test]
    fn an_unoffered_format_is_an_error_listing_the_offers() {
        let only_mjpeg = vec![offer(FourCc::MJPG, &[(640, 480)])];
        let e = negotiate(&only_mjpeg, &req(Some(CaptureFormat::Yuyv), 640, 480)).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, NegotiationError::FormatNotOffered { .. }));
        assert!(msg.contains("MJPG (MJPG) 640x480"), "{msg}");
    }

    #[test]
    fn a_device_with_no_decodable_format_is_an_error_listing_the_offers() {
        let odd = vec![
            offer(FourCc::new(*b"H264"), &[(1920, 1080)]),
            offer(FourCc::new(*b"GREY"), &[]),
        ];
        let e = negotiate(&odd, &req(None, 640, 480)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the device offers no format this program decodes (YUYV, MJPEG); it offers: \
             H264 (H264) 1920x1080; GREY (GREY) sizes not listed"
        );
        let e = negotiate(&[], &req(None, 640, 480)).unwrap_err();
        assert!(e.to_string().ends_with("it offers: nothing"));
    }

    #[test]
    fn fourcc_codes_print_as_their_characters() {
        assert_eq!(FourCc::YUYV.to_string(), "YUYV");
        assert_eq!(FourCc(0x0000_0001).to_string(), "????");
        assert_eq!("MJPEG".parse::<CaptureFormat>(), Ok(CaptureFormat::Mjpeg));
        assert!("h264".parse::<CaptureFormat>().is_err());
    }
}
