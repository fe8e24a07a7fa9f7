//! PNG plots of a [`Report`]: per-class accuracy (one bar per variant) and a confusion matrix
//! per variant, drawn with `plotters` into memory and written with `image`.
//!
//! Text needs a TrueType font: `INCEPT_FONT` names one, else the usual system locations are
//! tried (Debian: `fonts-dejavu-core`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;

use super::{EvalError, Report};

/// Fonts tried in order when `INCEPT_FONT` is not set.
pub const FONT_CANDIDATES: [&str; 6] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

const FAMILY: &str = "sans-serif";

/// Registers a font with plotters once; the error says what to install.
fn font() -> Result<(), EvalError> {
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let candidates: Vec<PathBuf> = match std::env::var_os("INCEPT_FONT") {
            Some(p) => vec![PathBuf::from(p)],
            None => FONT_CANDIDATES.iter().map(PathBuf::from).collect(),
        };
        for p in &candidates {
            if let Ok(bytes) = std::fs::read(p) {
                // plotters keeps the font for the life of the process
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font(FAMILY, FontStyle::Normal, bytes).is_ok() {
                    return Ok(());
                }
            }
        }
        Err(format!(
            "no usable TrueType font for the plots (tried {}); install fonts-dejavu-core or set INCEPT_FONT",
            candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
    .clone()
    .map_err(|reason| EvalError::Write {
        path: PathBuf::from("<plots>"),
        reason,
    })
}

fn draw_err(path: &Path) -> impl Fn(String) -> EvalError + '_ {
    move |reason| EvalError::Write {
        path: path.to_owned(),
        reason,
    }
}

fn save(path: &Path, buf: Vec<u8>, (w, h): (u32, u32)) -> Result<(), EvalError> {
    image::save_buffer_with_format(
        path,
        &buf,
        w,
        h,
        image::ExtendedColorType::Rgb8,
        image::ImageFormat::Png,
    )
    .map_err(|e| draw_err(path)(e.to_string()))
}

/// Label for an axis position `x` that falls on class `round(x)`.
fn class_label(classes: &[String], x: f64) -> String {
    let r = x.round();
    if (x - r).abs() > 1e-6 || r < 0.0 {
        return String::new();
    }
    classes.get(r as usize).cloned().unwrap_or_default()
}

const PALETTE: [RGBColor; 4] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
];

/// Writes `per-class.png` (top-1 accuracy per class, a bar per variant) into `dir`.
pub fn per_class(report: &Report, dir: &Path) -> Result<PathBuf, EvalError> {
    font()?;
    let path = dir.join("per-class.png");
    let n = report.classes.len();
    let size = (((n as u32) * 70).clamp(640, 2400), 480u32);
    let mut buf = vec![255u8; (size.0 * size.1 * 3) as usize];
    {
        let e = draw_err(&path);
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("Top-1 accuracy per class ({} images)", report.images),
                (FAMILY, 20),
            )
            .margin(12)
            .x_label_area_size(60)
            .y_label_area_size(50)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..100f64)
            .map_err(|x| e(x.to_string()))?;
        chart
            .configure_mesh()
            .x_labels(n.min(60))
            .x_label_formatter(&|x| class_label(&report.classes, *x))
            .y_desc("top-1 %")
            .label_style((FAMILY, 12))
            .disable_x_mesh()
            .draw()
            .map_err(|x| e(x.to_string()))?;
        let nv = report.variants.len().max(1) as f64;
        let width = 0.8 / nv;
        for (v, variant) in report.variants.iter().enumerate() {
            let color = PALETTE[v % PALETTE.len()];
            let bars = variant
                .per_class
                .iter()
                .enumerate()
                .filter(|(_, s)| s.total > 0)
                .map(|(c, s)| {
                    let x0 = c as f64 - 0.4 + v as f64 * width;
                    let acc = 100.0 * s.correct as f64 / s.total as f64;
                    Rectangle::new([(x0, 0.0), (x0 + width * 0.95, acc)], color.filled())
                });
            chart
                .draw_series(bars)
                .map_err(|x| e(x.to_string()))?
                .label(format!("{} ({:.2} %)", variant.name, 100.0 * variant.top1))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FAMILY, 13))
            .draw()
            .map_err(|x| e(x.to_string()))?;
        root.present().map_err(|x| e(x.to_string()))?;
    }
    save(&path, buf, size)?;
    Ok(path)
}

/// Writes `confusion-<variant>.png` (row-normalized confusion matrix, counts in the cells for
/// up to 30 classes) into `dir` for variant number `v`.
pub fn confusion(report: &Report, v: usize, dir: &Path) -> Result<PathBuf, EvalError> {
    font()?;
    let variant = report
        .variants
        .get(v)
        .ok_or_else(|| EvalError::Usage(format!("no variant {v}")))?;
    let path = dir.join(format!("confusion-{}.png", variant.name));
    let n = report.classes.len();
    let side = ((n as u32) * 56).clamp(480, 2400) + 160;
    let size = (side, side);
    let mut buf = vec![255u8; (size.0 * size.1 * 3) as usize];
    {
        let e = draw_err(&path);
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "Confusion matrix, {} (top-1 {:.2} %)",
                    variant.name,
                    100.0 * variant.top1
                ),
                (FAMILY, 20),
            )
            .margin(12)
            .x_label_area_size(90)
            .y_label_area_size(110)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), (n as f64 - 0.5)..-0.5f64)
            .map_err(|x| e(x.to_string()))?;
        chart
            .configure_mesh()
            .x_labels(n.min(60))
            .y_labels(n.min(60))
            .x_label_formatter(&|x| class_label(&report.classes, *x))
            .y_label_formatter(&|y| class_label(&report.classes, *y))
            .x_desc("predicted")
            .y_desc("true class")
            .label_style((FAMILY, 12))
            .disable_mesh()
            .draw()
            .map_err(|x| e(x.to_string()))?;
        let cells = variant.confusion.iter().enumerate().flat_map(|(t, row)| {
            let total: u32 = row.iter().sum();
            row.iter().enumerate().map(move |(p, &count)| {
                let f = if total == 0 {
                    0.0
                } else {
                    f64::from(count) / f64::from(total)
                };
                let shade = (255.0 * (1.0 - f)) as u8;
                let color = RGBColor(shade, shade, 255);
                let (x, y) = (p as f64, t as f64);
                Rectangle::new([(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)], color.filled())
            })
        });
        chart.draw_series(cells).map_err(|x| e(x.to_string()))?;
        if n <= 30 {
            let text = variant.confusion.iter().enumerate().flat_map(|(t, row)| {
                let total: u32 = row.iter().sum();
                row.iter()
                    .enumerate()
                    .filter(|(_, &c)| c > 0)
                    .map(move |(p, &count)| {
                        let dark = total > 0 && f64::from(count) / f64::from(total) > 0.5;
                        let color = if dark { WHITE } else { BLACK };
                        Text::new(
                            count.to_string(),
                            (p as f64 - 0.2, t as f64 - 0.15),
                            (FAMILY, 13).into_font().color(&color),
                        )
                    })
            });
            chart.draw_series(text).map_err(|x| e(x.to_string()))?;
        }
        root.present().map_err(|x| e(x.to_string()))?;
    }
    save(&path, buf, size)?;
    Ok(path)
}

/// Writes every plot of `report` into `dir` (created if missing) and returns their paths;
/// none for an unlabelled set (there is no accuracy to draw).
pub fn all(report: &Report, dir: &Path) -> Result<Vec<PathBuf>, EvalError> {
    if !report.labelled {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(dir).map_err(|x| draw_err(dir)(x.to_string()))?;
    let mut out = vec![per_class(report, dir)?];
    for v in 0..report.variants.len() {
        out.push(confusion(report, v, dir)?);
    }
    Ok(out)
}
