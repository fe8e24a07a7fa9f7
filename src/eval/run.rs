//! Running model variants over a dataset, on several threads, and summing up the results.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use super::data::Dataset;
use super::EvalError;
use crate::Classifier;

/// One model variant under evaluation (e.g. `fp32`, `int8`).
#[derive(Debug, Clone)]
pub struct Variant {
    /// Its name in reports and threshold files.
    pub name: String,
    /// What it was loaded from, for the report.
    pub origin: String,
    /// The loaded model; cloned once per worker thread.
    pub classifier: Classifier,
}

/// How to run an evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Top-k accuracy to report besides top-1 (at most [`crate::classifier::MAX_TOP_K`]).
    pub top: usize,
    /// Worker threads (each runs every variant on its share of the images).
    pub threads: usize,
    /// How many worst images to list per variant.
    pub worst: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            top: 5,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            worst: 10,
        }
    }
}

/// One variant's outcome on one image.
#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    /// Top-k classes, best first, with their probabilities.
    pub top: Vec<(u16, f32)>,
    /// The probability given to the true class (0 when it is not in the top-k).
    pub true_score: f32,
    /// Inference time in milliseconds (preprocessing excluded).
    pub ms: f64,
}

/// Everything measured on one image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageResult {
    /// The image's name.
    pub name: String,
    /// Its true class (`None` for an unlabelled set).
    pub label: Option<u16>,
    /// One entry per variant, in variant order; empty when the image could not be used.
    pub predictions: Vec<Prediction>,
    /// Cosine similarity of each variant's raw output with the first variant's.
    pub cosine: Vec<f64>,
    /// Why the image could not be used (unreadable, undecodable, inference error).
    pub error: Option<String>,
}

/// Per-class counts.
#[derive(Debug, Clone, Serialize)]
pub struct ClassStat {
    /// Class name.
    pub label: String,
    /// Images of this class evaluated.
    pub total: usize,
    /// Of which classified correctly (top-1).
    pub correct: usize,
}

/// Latency summary in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct Latency {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

/// A confidently wrong image.
#[derive(Debug, Clone, Serialize)]
pub struct Worst {
    /// Image name.
    pub name: String,
    /// True class name.
    pub label: String,
    /// Predicted class name.
    pub predicted: String,
    /// Probability of the predicted class.
    pub confidence: f32,
    /// Probability given to the true class.
    pub true_score: f32,
}

/// One variant's results.
#[derive(Debug, Clone, Serialize)]
pub struct VariantReport {
    /// Variant name.
    pub name: String,
    /// What it was loaded from.
    pub origin: String,
    /// Images evaluated (unreadable ones excluded).
    pub evaluated: usize,
    /// Top-1 correct.
    pub correct_top1: usize,
    /// Top-k correct.
    pub correct_topk: usize,
    /// Top-1 accuracy (0..1).
    pub top1: f64,
    /// Top-k accuracy (0..1).
    pub topk: f64,
    /// Per-class accuracy counts, by class index.
    pub per_class: Vec<ClassStat>,
    /// `confusion[true][predicted]` image counts.
    pub confusion: Vec<Vec<u32>>,
    /// Inference latency per image.
    pub latency: Latency,
    /// The most confidently misclassified images, worst first.
    pub worst: Vec<Worst>,
}

/// How closely two variants agree.
#[derive(Debug, Clone, Serialize)]
pub struct Agreement {
    /// Reference variant (the first).
    pub reference: String,
    /// Compared variant.
    pub variant: String,
    /// Share of images where both pick the same top-1 class.
    pub top1: f64,
    /// Mean cosine similarity of the raw outputs.
    pub mean_cosine: f64,
    /// Lowest cosine similarity.
    pub min_cosine: f64,
}

/// An image that could not be evaluated.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// Image name.
    pub name: String,
    /// Why.
    pub error: String,
}

/// The outcome of an evaluation: what [`evaluate`] returns, rendered by
/// [`Report::to_markdown`] and serialized as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Dataset path.
    pub data: String,
    /// Images in the (limited) dataset.
    pub images: usize,
    /// The k of top-k.
    pub top: usize,
    /// Whether the images had labels (else only predictions and agreement mean anything).
    pub labelled: bool,
    /// Class names.
    pub classes: Vec<String>,
    /// Per-variant results, in the order given.
    pub variants: Vec<VariantReport>,
    /// Every later variant against the first.
    pub agreement: Vec<Agreement>,
    /// Images that could not be used.
    pub unreadable: Vec<Failure>,
    /// Worker threads.
    pub threads: usize,
    /// Wall time of the run in seconds.
    pub wall_seconds: f64,
    /// Per-image results (not in the markdown).
    pub results: Vec<ImageResult>,
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 && bb == 0.0 {
        1.0
    } else {
        ab / (aa.sqrt() * bb.sqrt()).max(f64::MIN_POSITIVE)
    }
}

/// Runs one image through every variant.
fn run_image(
    data: &Dataset,
    i: usize,
    label: Option<u16>,
    workers: &mut [Classifier],
    top: usize,
) -> ImageResult {
    let name = data.items()[i].name.clone();
    let mut predictions = Vec::with_capacity(workers.len());
    let mut first: Vec<f32> = Vec::new();
    let mut cos = Vec::with_capacity(workers.len());
    let outcome = data.with_frame(i, |frame| -> Result<(), crate::Error> {
        for (v, c) in workers.iter_mut().enumerate() {
            let r = c.classify(frame, crate::classifier::MAX_TOP_K)?;
            let true_score = label
                .and_then(|l| r.top.iter().find(|p| p.class == l))
                .map_or(0.0, |p| p.score);
            predictions.push(Prediction {
                top: r.top.iter().take(top).map(|p| (p.class, p.score)).collect(),
                true_score,
                ms: r.inference.as_secs_f64() * 1e3,
            });
            if v == 0 {
                first = c.logits().to_vec();
            }
            cos.push(cosine(&first, c.logits()));
        }
        Ok(())
    });
    let error = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) | Err(e) => Some(e.to_string()),
    };
    if error.is_some() {
        predictions.clear();
        cos.clear();
    }
    ImageResult {
        name,
        label,
        predictions,
        cosine: cos,
        error,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn latency(mut ms: Vec<f64>) -> Latency {
    if ms.is_empty() {
        return Latency::default();
    }
    ms.sort_by(f64::total_cmp);
    Latency {
        mean: ms.iter().sum::<f64>() / ms.len() as f64,
        p50: percentile(&ms, 50.0),
        p90: percentile(&ms, 90.0),
        p99: percentile(&ms, 99.0),
        max: ms[ms.len() - 1],
    }
}

/// Runs every variant on every image of `data`, on `options.threads` threads, calling
/// `progress(done, total)` after each image. Labels are matched to the first variant's
/// classes before anything runs (see [`Dataset::resolve_labels`]); an unlabelled set
/// gives predictions and agreement only. An image that cannot be decoded or run is listed in
/// [`Report::unreadable`] and the run goes on.
pub fn evaluate(
    data: &Dataset,
    variants: &[Variant],
    options: &Options,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Report, EvalError> {
    let first = variants
        .first()
        .ok_or_else(|| EvalError::Usage("no model variant to evaluate".into()))?;
    let classes: usize = first.classifier.engine().output_shape().iter().product();
    for v in variants {
        let n: usize = v.classifier.engine().output_shape().iter().product();
        if n != classes {
            return Err(EvalError::Usage(format!(
                "variant {} has {n} outputs, {} has {classes}",
                v.name, first.name
            )));
        }
    }
    let names: Vec<String> = (0..classes)
        .map(|c| first.classifier.label(c as u16))
        .collect();
    let labels = if data.is_labelled() {
        Some(data.resolve_labels(first.classifier.labels(), classes)?)
    } else {
        None
    };
    let top = options.top.clamp(1, crate::classifier::MAX_TOP_K);
    let threads = options.threads.clamp(1, data.len().max(1));
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<ImageResult>>> = Mutex::new(vec![None; data.len()]);
    let start = Instant::now();
    let per_thread: Vec<Vec<Classifier>> = (0..threads)
        .map(|_| variants.iter().map(|v| v.classifier.clone()).collect())
        .collect();
    let (next, done, results_ref, labels) = (&next, &done, &results, labels.as_deref());
    std::thread::scope(|scope| {
        for mut workers in per_thread {
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= data.len() {
                    break;
                }
                let label = labels.map(|l| l[i]);
                let r = run_image(data, i, label, &mut workers, top);
                if let Ok(mut all) = results_ref.lock() {
                    all[i] = Some(r);
                }
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, data.len());
            });
        }
    });
    let wall_seconds = start.elapsed().as_secs_f64();
    let results: Vec<ImageResult> = results
        .into_inner()
        .map_err(|_| EvalError::Usage("a worker thread panicked".into()))?
        .into_iter()
        .flatten()
        .collect();
    Ok(summarize(
        data,
        variants,
        names,
        top,
        threads,
        wall_seconds,
        results,
        options.worst,
    ))
}

#[allow(clippy::too_many_arguments)]
fn summarize(
    data: &Dataset,
    variants: &[Variant],
    classes: Vec<String>,
    top: usize,
    threads: usize,
    wall_seconds: f64,
    results: Vec<ImageResult>,
    worst_n: usize,
) -> Report {
    let n = classes.len();
    let ok: Vec<&ImageResult> = results.iter().filter(|r| r.error.is_none()).collect();
    let mut reports = Vec::new();
    for (v, variant) in variants.iter().enumerate() {
        let mut per_class: Vec<ClassStat> = classes
            .iter()
            .map(|l| ClassStat {
                label: l.clone(),
                total: 0,
                correct: 0,
            })
            .collect();
        let mut confusion = vec![vec![0u32; n]; n];
        let (mut c1, mut ck) = (0, 0);
        let mut worst = Vec::new();
        for r in &ok {
            let p = &r.predictions[v];
            let Some(label) = r.label else { continue };
            let (l, pred) = (usize::from(label), p.top.first().map_or(0, |t| t.0));
            let hit = pred == label;
            c1 += usize::from(hit);
            ck += usize::from(p.top.iter().any(|t| t.0 == label));
            if let Some(s) = per_class.get_mut(l) {
                s.total += 1;
                s.correct += usize::from(hit);
            }
            if let Some(cell) = confusion
                .get_mut(l)
                .and_then(|row| row.get_mut(usize::from(pred)))
            {
                *cell += 1;
            }
            if !hit {
                worst.push(Worst {
                    name: r.name.clone(),
                    label: classes.get(l).cloned().unwrap_or_default(),
                    predicted: classes.get(usize::from(pred)).cloned().unwrap_or_default(),
                    confidence: p.top.first().map_or(0.0, |t| t.1),
                    true_score: p.true_score,
                });
            }
        }
        worst.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        worst.truncate(worst_n);
        let evaluated = ok.iter().filter(|r| r.label.is_some()).count();
        let ratio = |c: usize| c as f64 / evaluated.max(1) as f64;
        reports.push(VariantReport {
            name: variant.name.clone(),
            origin: variant.origin.clone(),
            evaluated,
            correct_top1: c1,
            correct_topk: ck,
            top1: ratio(c1),
            topk: ratio(ck),
            per_class,
            confusion,
            latency: latency(ok.iter().map(|r| r.predictions[v].ms).collect()),
            worst,
        });
    }
    let agreement = (1..variants.len())
        .map(|v| {
            let same = ok
                .iter()
                .filter(|r| {
                    r.predictions[v].top.first().map(|t| t.0)
                        == r.predictions[0].top.first().map(|t| t.0)
                })
                .count();
            let cos: Vec<f64> = ok.iter().map(|r| r.cosine[v]).collect();
            Agreement {
                reference: variants[0].name.clone(),
                variant: variants[v].name.clone(),
                top1: same as f64 / ok.len().max(1) as f64,
                mean_cosine: cos.iter().sum::<f64>() / cos.len().max(1) as f64,
                min_cosine: cos.iter().copied().fold(f64::INFINITY, f64::min).min(1.0),
            }
        })
        .collect();
    let unreadable = results
        .iter()
        .filter_map(|r| {
            r.error.as_ref().map(|e| Failure {
                name: r.name.clone(),
                error: e.clone(),
            })
        })
        .collect();
    Report {
        data: data.origin().display().to_string(),
        images: data.len(),
        top,
        labelled: data.is_labelled(),
        classes,
        variants: reports,
        agreement,
        unreadable,
        threads,
        wall_seconds,
        results,
    }
}
