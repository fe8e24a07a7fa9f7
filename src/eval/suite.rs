//! Threshold files: which models to evaluate on which data, the baselines they must keep and
//! how far they may move. `incept eval --check FILE` runs them and fails on a regression;
//! `--bless` rewrites the baselines (and only those: comments and limits are kept).
//!
//! ```toml
//! tolerance = 0.005                  # default for every suite: how far top-1/top-k may drop
//!
//! [[suite]]
//! name = "inception-v3-fmnist"
//! model = "../models/inception-v3-fmnist/manifest.toml"   # relative to this file
//! variants = ["fp32", "int8"]
//! int8 = "embedded"                  # or "compile": calibrate + compile as build.rs does
//! data = "data/fmnist-v3/test-1000-images-idx3-ubyte.gz"
//! limit = 500                        # optional: a subset (see Dataset::limit)
//! top = 5
//! golden = "data/photos"             # optional: unlabelled images whose top-k is pinned
//! max_int8_drop = 0.01               # fp32 top-1 minus int8 top-1
//! min_agreement = 0.97               # int8/fp32 top-1 agreement
//!
//! [suite.baseline]                   # written by --bless
//! images = 500
//! top1 = { fp32 = 0.88, int8 = 0.874 }
//! topk = { fp32 = 0.998, int8 = 0.998 }
//! agreement = 0.974
//!
//! [suite.golden_topk]                # written by --bless
//! "astronaut.png" = { fp32 = ["Bag", "…"], int8 = ["Bag", "…"] }
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{evaluate, manifest_variant, Dataset, EvalError, Options, Report, Variant};

/// Slack for comparing ratios computed from counts.
const EPS: f64 = 1e-9;

/// Where a suite's `int8` variant comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Int8Source {
    /// The blob embedded in this binary (must be compiled from the suite's model).
    Embedded,
    /// Calibrated and compiled at run time from the manifest, as build.rs does.
    #[default]
    Compile,
}

/// Measured values a suite must keep.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// Images evaluated.
    pub images: usize,
    /// Top-1 accuracy per variant.
    #[serde(default)]
    pub top1: BTreeMap<String, f64>,
    /// Top-k accuracy per variant.
    #[serde(default)]
    pub topk: BTreeMap<String, f64>,
    /// Top-1 agreement of the second variant with the first.
    pub agreement: Option<f64>,
}

/// One suite of a threshold file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// Its name in reports.
    pub name: String,
    /// The model's manifest, relative to the threshold file.
    pub model: PathBuf,
    /// Variants to run; the first is the reference for agreement.
    #[serde(default = "default_variants")]
    pub variants: Vec<String>,
    /// Where the int8 variant comes from.
    #[serde(default)]
    pub int8: Int8Source,
    /// Labelled data, relative to the threshold file.
    pub data: PathBuf,
    /// Evaluate only this many images.
    pub limit: Option<usize>,
    /// The k of top-k.
    #[serde(default = "default_top")]
    pub top: usize,
    /// Unlabelled images whose top-k classes are pinned.
    pub golden: Option<PathBuf>,
    /// How far top-1/top-k may fall below the baseline (overrides the file's).
    pub tolerance: Option<f64>,
    /// Largest allowed top-1 drop from the first variant to the others.
    pub max_int8_drop: Option<f64>,
    /// Smallest allowed top-1 agreement of the other variants with the first.
    pub min_agreement: Option<f64>,
    /// The baseline (written by `--bless`).
    pub baseline: Option<Baseline>,
    /// Pinned top-k class names: image → variant → classes (written by `--bless`).
    pub golden_topk: Option<BTreeMap<String, BTreeMap<String, Vec<String>>>>,
}

fn default_variants() -> Vec<String> {
    vec!["fp32".into(), "int8".into()]
}

fn default_top() -> usize {
    5
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    tolerance: f64,
    #[serde(default)]
    suite: Vec<Suite>,
}

/// A parsed threshold file.
#[derive(Debug)]
pub struct SuiteFile {
    path: PathBuf,
    text: String,
    tolerance: f64,
    suites: Vec<Suite>,
}

/// The results of one suite.
#[derive(Debug)]
pub struct SuiteRun {
    /// The suite's name.
    pub name: String,
    /// The labelled evaluation.
    pub report: Report,
    /// The golden (unlabelled) images' evaluation, if the suite has them.
    pub golden: Option<Report>,
}

/// Whether a checked value is fine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Within its limits.
    Ok,
    /// Better than the baseline by more than the tolerance: fine, but `--bless` would raise
    /// the bar.
    Improved,
    /// A regression or a mismatch: the check fails.
    Failed,
}

/// One line of a check's diff.
#[derive(Debug, Clone)]
pub struct CheckLine {
    /// Suite name.
    pub suite: String,
    /// What is checked (e.g. `int8 top-1`).
    pub metric: String,
    /// The baseline value, as text.
    pub baseline: String,
    /// The measured value, as text.
    pub measured: String,
    /// The limit applied, as text.
    pub limit: String,
    /// The verdict.
    pub status: Status,
}

/// A check's outcome.
#[derive(Debug, Clone)]
pub struct Check {
    /// Every value checked.
    pub lines: Vec<CheckLine>,
}

impl Check {
    /// Whether nothing failed.
    pub fn passed(&self) -> bool {
        self.lines.iter().all(|l| l.status != Status::Failed)
    }

    /// The failed lines.
    pub fn failures(&self) -> impl Iterator<Item = &CheckLine> {
        self.lines.iter().filter(|l| l.status == Status::Failed)
    }

    /// A readable table of every line, failures marked.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let mut suite = "";
        for l in &self.lines {
            if l.suite != suite {
                suite = &l.suite;
                let _ = writeln!(
                    s,
                    "suite {suite}\n  {:<34} {:>12} {:>12} {:>14}  status",
                    "metric", "baseline", "measured", "limit"
                );
            }
            let status = match l.status {
                Status::Ok => "ok",
                Status::Improved => "improved (--bless to raise the bar)",
                Status::Failed => "FAILED",
            };
            if l.baseline.len() > 12 || l.measured.len() > 12 {
                let _ = writeln!(
                    s,
                    "  {:<34} {status}\n    - {}\n    + {}",
                    l.metric, l.baseline, l.measured
                );
            } else {
                let _ = writeln!(
                    s,
                    "  {:<34} {:>12} {:>12} {:>14}  {status}",
                    l.metric, l.baseline, l.measured, l.limit
                );
            }
        }
        let failed = self.failures().count();
        let _ = writeln!(
            s,
            "{}",
            if failed == 0 {
                "accuracy check passed".to_string()
            } else {
                format!("accuracy check FAILED: {failed} value(s) out of bounds")
            }
        );
        s
    }
}

fn pct(x: f64) -> String {
    format!("{:.2} %", 100.0 * x)
}

impl SuiteFile {
    /// Reads and validates a threshold file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, EvalError> {
        let path = path.as_ref();
        let bad = |reason: String| EvalError::Suite {
            path: path.to_owned(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read: {e}")))?;
        let doc: FileDoc = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if doc.suite.is_empty() {
            return Err(bad("no [[suite]] tables".into()));
        }
        for s in &doc.suite {
            if s.variants.is_empty() {
                return Err(bad(format!("suite {}: no variants", s.name)));
            }
            for v in &s.variants {
                if !super::VARIANTS.contains(&v.as_str()) {
                    return Err(bad(format!(
                        "suite {}: unknown variant `{v}` (known: {})",
                        s.name,
                        super::VARIANTS.join(", ")
                    )));
                }
            }
            if s.top == 0 || s.top > crate::classifier::MAX_TOP_K {
                return Err(bad(format!(
                    "suite {}: top must be 1..={}",
                    s.name,
                    crate::classifier::MAX_TOP_K
                )));
            }
        }
        Ok(SuiteFile {
            path: path.to_owned(),
            text,
            tolerance: doc.tolerance,
            suites: doc.suite,
        })
    }

    /// The suites, in file order.
    pub fn suites(&self) -> &[Suite] {
        &self.suites
    }

    fn resolve(&self, p: &Path) -> PathBuf {
        self.path.parent().unwrap_or(Path::new(".")).join(p)
    }

    fn variants(&self, suite: &Suite) -> Result<Vec<Variant>, EvalError> {
        let manifest = self.resolve(&suite.model);
        let mut out = Vec::new();
        for name in &suite.variants {
            if name == "int8" && suite.int8 == Int8Source::Embedded {
                out.push(self.embedded(suite, &manifest)?);
            } else {
                out.push(manifest_variant(name, &manifest)?);
            }
        }
        Ok(out)
    }

    #[cfg(feature = "embed")]
    fn embedded(&self, suite: &Suite, manifest: &Path) -> Result<Variant, EvalError> {
        use crate::embedded::model;
        let m = crate::Manifest::from_file(manifest)?;
        if !m.model.sha256.eq_ignore_ascii_case(model::MODEL_SHA256) {
            return Err(EvalError::Usage(format!(
                "suite {}: int8 = \"embedded\" but this binary embeds {} (model sha256 {}), not {}: \
                 build with INCEPTION_EDGE_MODEL={}, or set int8 = \"compile\"",
                suite.name,
                model::NAME,
                model::MODEL_SHA256,
                manifest.display(),
                m.model.name
            )));
        }
        Ok(Variant {
            name: "int8".into(),
            origin: format!(
                "embedded {} (blob {})",
                model::NAME,
                &model::BLOB_SHA256[..12]
            ),
            classifier: crate::Classifier::embedded()?,
        })
    }

    #[cfg(not(feature = "embed"))]
    fn embedded(&self, suite: &Suite, _: &Path) -> Result<Variant, EvalError> {
        Err(EvalError::Usage(format!(
            "suite {}: int8 = \"embedded\" needs a binary built with the `embed` feature",
            suite.name
        )))
    }

    /// Runs every suite (`progress(suite, done, total)` after each image).
    pub fn run(
        &self,
        options: &Options,
        progress: &(dyn Fn(&str, usize, usize) + Sync),
    ) -> Result<Vec<SuiteRun>, EvalError> {
        let mut runs = Vec::new();
        for suite in &self.suites {
            let variants = self.variants(suite)?;
            let mut data = Dataset::open(self.resolve(&suite.data))?;
            if let Some(n) = suite.limit {
                data.limit(n);
            }
            let opts = Options {
                top: suite.top,
                ..*options
            };
            let name = suite.name.as_str();
            let report = evaluate(&data, &variants, &opts, &|d, t| progress(name, d, t))?;
            let golden = match &suite.golden {
                Some(g) => {
                    let data = Dataset::open(self.resolve(g))?;
                    Some(evaluate(&data, &variants, &opts, &|_, _| {})?)
                }
                None => None,
            };
            runs.push(SuiteRun {
                name: suite.name.clone(),
                report,
                golden,
            });
        }
        Ok(runs)
    }

    /// Compares runs (from [`SuiteFile::run`], in suite order) with the baselines and limits.
    pub fn check(&self, runs: &[SuiteRun]) -> Check {
        let mut lines = Vec::new();
        for (suite, run) in self.suites.iter().zip(runs) {
            check_suite(
                suite,
                run,
                suite.tolerance.unwrap_or(self.tolerance),
                &mut lines,
            );
        }
        Check { lines }
    }

    /// Rewrites the baselines and golden outputs of every suite from `runs`, keeping the rest
    /// of the file (comments, limits) as it is.
    pub fn bless(&self, runs: &[SuiteRun]) -> Result<(), EvalError> {
        use toml_edit::{value, Array, DocumentMut, InlineTable, Item, Table};
        let bad = |reason: String| EvalError::Suite {
            path: self.path.clone(),
            reason,
        };
        let mut doc: DocumentMut = self.text.parse().map_err(|e| bad(format!("{e}")))?;
        let tables = doc["suite"]
            .as_array_of_tables_mut()
            .ok_or_else(|| bad("`suite` is not an array of tables".into()))?;
        for (table, run) in tables.iter_mut().zip(runs) {
            let r = &run.report;
            let mut base = Table::new();
            base["images"] = value(r.variants.first().map_or(0, |v| v.evaluated) as i64);
            let (mut top1, mut topk) = (InlineTable::new(), InlineTable::new());
            for v in &r.variants {
                top1.insert(&v.name, round(v.top1).into());
                topk.insert(&v.name, round(v.topk).into());
            }
            base["top1"] = value(top1);
            base["topk"] = value(topk);
            if let Some(a) = r.agreement.first() {
                base["agreement"] = value(round(a.top1));
            }
            table["baseline"] = Item::Table(base);
            if let Some(g) = &run.golden {
                let mut golden = Table::new();
                for img in &g.results {
                    let mut per = InlineTable::new();
                    for (v, p) in g.variants.iter().zip(&img.predictions) {
                        let names: Array = p
                            .top
                            .iter()
                            .map(|&(c, _)| g.classes[usize::from(c)].clone())
                            .collect();
                        per.insert(&v.name, names.into());
                    }
                    golden[&img.name] = value(per);
                }
                table["golden_topk"] = Item::Table(golden);
            }
        }
        std::fs::write(&self.path, doc.to_string()).map_err(|e| EvalError::Write {
            path: self.path.clone(),
            reason: e.to_string(),
        })
    }
}

/// Four decimals: what a count-derived ratio needs up to 10,000 images.
fn round(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

fn check_suite(suite: &Suite, run: &SuiteRun, tol: f64, lines: &mut Vec<CheckLine>) {
    let r = &run.report;
    let mut line = |metric: String, baseline: String, measured: String, limit: String, ok: bool| {
        lines.push(CheckLine {
            suite: suite.name.clone(),
            metric,
            baseline,
            measured,
            limit,
            status: if ok { Status::Ok } else { Status::Failed },
        });
    };
    let evaluated = r.variants.first().map_or(0, |v| v.evaluated);
    line(
        "unreadable images".into(),
        "0".into(),
        r.unreadable.len().to_string(),
        "= 0".into(),
        r.unreadable.is_empty(),
    );
    let Some(base) = &suite.baseline else {
        line(
            "baseline".into(),
            "none".into(),
            format!("{evaluated} images"),
            "run --bless".into(),
            false,
        );
        return;
    };
    line(
        "images evaluated".into(),
        base.images.to_string(),
        evaluated.to_string(),
        format!("= {}", base.images),
        base.images == evaluated,
    );
    let k = r.top;
    for v in &r.variants {
        for (metric, measured, table) in [
            ("top-1".to_string(), v.top1, &base.top1),
            (format!("top-{k}"), v.topk, &base.topk),
        ] {
            let name = format!("{} {metric}", v.name);
            match table.get(&v.name) {
                Some(&b) => {
                    let min = b - tol;
                    lines.push(CheckLine {
                        suite: suite.name.clone(),
                        metric: name,
                        baseline: pct(b),
                        measured: pct(measured),
                        limit: format!(">= {}", pct(min)),
                        status: if measured + EPS < min {
                            Status::Failed
                        } else if measured > b + tol + EPS {
                            Status::Improved
                        } else {
                            Status::Ok
                        },
                    });
                }
                None => lines.push(CheckLine {
                    suite: suite.name.clone(),
                    metric: name,
                    baseline: "none".into(),
                    measured: pct(measured),
                    limit: "run --bless".into(),
                    status: Status::Failed,
                }),
            }
        }
    }
    if let Some(first) = r.variants.first() {
        for (v, a) in r.variants.iter().skip(1).zip(&r.agreement) {
            if let Some(max) = suite.max_int8_drop {
                let drop = first.top1 - v.top1;
                lines.push(CheckLine {
                    suite: suite.name.clone(),
                    metric: format!("{} drop from {}", v.name, first.name),
                    baseline: base
                        .top1
                        .get(&first.name)
                        .zip(base.top1.get(&v.name))
                        .map_or("none".into(), |(a, b)| format!("{:.2} pt", 100.0 * (a - b))),
                    measured: format!("{:.2} pt", 100.0 * drop),
                    limit: format!("<= {:.2} pt", 100.0 * max),
                    status: if drop <= max + EPS {
                        Status::Ok
                    } else {
                        Status::Failed
                    },
                });
            }
            let min = match (suite.min_agreement, base.agreement) {
                (Some(m), Some(b)) => Some(m.max(b - tol)),
                (m, b) => m.or(b.map(|b| b - tol)),
            };
            if let Some(min) = min {
                lines.push(CheckLine {
                    suite: suite.name.clone(),
                    metric: format!("{}/{} top-1 agreement", v.name, first.name),
                    baseline: base.agreement.map_or("none".into(), pct),
                    measured: pct(a.top1),
                    limit: format!(">= {}", pct(min)),
                    status: if a.top1 + EPS >= min {
                        Status::Ok
                    } else {
                        Status::Failed
                    },
                });
            }
        }
    }
    if let Some(g) = &run.golden {
        let pinned = suite.golden_topk.clone().unwrap_or_default();
        for img in &g.results {
            for (v, p) in g.variants.iter().zip(&img.predictions) {
                let got: Vec<String> = p
                    .top
                    .iter()
                    .map(|&(c, _)| g.classes[usize::from(c)].clone())
                    .collect();
                let want = pinned.get(&img.name).and_then(|m| m.get(&v.name));
                let ok = want == Some(&got);
                lines.push(CheckLine {
                    suite: suite.name.clone(),
                    metric: format!("{} {} top-{}", img.name, v.name, g.top),
                    baseline: want.map_or("none".into(), |w| w.join(", ")),
                    measured: got.join(", "),
                    limit: "identical".into(),
                    status: if ok { Status::Ok } else { Status::Failed },
                });
            }
            if let Some(e) = &img.error {
                lines.push(CheckLine {
                    suite: suite.name.clone(),
                    metric: format!("{} readable", img.name),
                    baseline: "yes".into(),
                    measured: e.clone(),
                    limit: "readable".into(),
                    status: Status::Failed,
                });
            }
        }
    }
}
