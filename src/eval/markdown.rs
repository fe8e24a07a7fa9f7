//! The markdown form of a [`Report`].

use std::fmt::Write as _;

use super::Report;

/// Images listed in the predictions table of an unlabelled set.
const PREDICTIONS_SHOWN: usize = 200;

fn pct(x: f64) -> String {
    format!("{:.2} %", 100.0 * x)
}

impl Report {
    /// The report as markdown: summary per variant, agreement, latency, per-class accuracy,
    /// worst images and unreadable images.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let k = self.top;
        let _ = writeln!(s, "# Accuracy report\n");
        let _ = writeln!(
            s,
            "Data: `{}` — {} images, {} unreadable; {} threads, {:.1} s wall.\n",
            self.data,
            self.images,
            self.unreadable.len(),
            self.threads,
            self.wall_seconds
        );
        let _ = writeln!(
            s,
            "| variant | images | top-1 | top-{k} | latency mean | p50 | p90 | max | model |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---|");
        for v in &self.variants {
            let l = &v.latency;
            let (top1, topk) = if self.labelled {
                (
                    format!("{} ({})", pct(v.top1), v.correct_top1),
                    format!("{} ({})", pct(v.topk), v.correct_topk),
                )
            } else {
                ("— (no labels)".into(), "—".into())
            };
            let images = self.images - self.unreadable.len();
            let _ = writeln!(
                s,
                "| {} | {images} | {top1} | {topk} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {} |",
                v.name,
                l.mean,
                l.p50,
                l.p90,
                l.max,
                v.origin
            );
        }
        if !self.agreement.is_empty() {
            let _ = writeln!(s, "\n## Agreement\n");
            let _ = writeln!(
                s,
                "| reference | variant | top-1 agreement | mean output cosine | min cosine |"
            );
            let _ = writeln!(s, "|---|---|---:|---:|---:|");
            for a in &self.agreement {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {:.5} | {:.5} |",
                    a.reference,
                    a.variant,
                    pct(a.top1),
                    a.mean_cosine,
                    a.min_cosine
                );
            }
            if let (Some(first), true) = (self.variants.first(), self.variants.len() > 1) {
                for v in &self.variants[1..] {
                    let _ = writeln!(
                        s,
                        "\n{} vs {}: top-1 {:+.2} pt.",
                        v.name,
                        first.name,
                        100.0 * (v.top1 - first.top1)
                    );
                }
            }
        }
        if self.labelled && self.variants.iter().any(|v| v.evaluated > 0) {
            let _ = writeln!(s, "\n## Per-class top-1 accuracy\n");
            let _ = write!(s, "| class | images |");
            for v in &self.variants {
                let _ = write!(s, " {} |", v.name);
            }
            let _ = write!(s, "\n|---|---:|");
            for _ in &self.variants {
                let _ = write!(s, "---:|");
            }
            let _ = writeln!(s);
            for (c, name) in self.classes.iter().enumerate() {
                let total = self.variants[0].per_class[c].total;
                if total == 0 {
                    continue;
                }
                let _ = write!(s, "| {name} | {total} |");
                for v in &self.variants {
                    let st = &v.per_class[c];
                    let _ = write!(s, " {} |", pct(st.correct as f64 / st.total.max(1) as f64));
                }
                let _ = writeln!(s);
            }
            for v in &self.variants {
                if v.worst.is_empty() {
                    continue;
                }
                let _ = writeln!(s, "\n## Worst images, {}\n", v.name);
                let _ = writeln!(
                    s,
                    "| image | true class | predicted | confidence | p(true) |"
                );
                let _ = writeln!(s, "|---|---|---|---:|---:|");
                for w in &v.worst {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {} | {} |",
                        w.name,
                        w.label,
                        w.predicted,
                        pct(f64::from(w.confidence)),
                        pct(f64::from(w.true_score))
                    );
                }
            }
        }
        if !self.labelled {
            let shown = self.results.len().min(PREDICTIONS_SHOWN);
            let _ = writeln!(s, "\n## Predictions (top-1)\n");
            let _ = write!(s, "| image |");
            for v in &self.variants {
                let _ = write!(s, " {} |", v.name);
            }
            let _ = write!(s, "\n|---|");
            for _ in &self.variants {
                let _ = write!(s, "---|");
            }
            let _ = writeln!(s);
            for r in &self.results[..shown] {
                let _ = write!(s, "| {} |", r.name);
                if r.error.is_some() {
                    for _ in &self.variants {
                        let _ = write!(s, " unreadable |");
                    }
                }
                for p in &r.predictions {
                    let (c, score) = p.top.first().copied().unwrap_or((0, 0.0));
                    let name = self.classes.get(usize::from(c)).map_or("?", String::as_str);
                    let _ = write!(s, " {name} ({}) |", pct(f64::from(score)));
                }
                let _ = writeln!(s);
            }
            if shown < self.results.len() {
                let _ = writeln!(
                    s,
                    "\n({} more in the JSON report)",
                    self.results.len() - shown
                );
            }
        }
        if !self.unreadable.is_empty() {
            let _ = writeln!(s, "\n## Unreadable images ({})\n", self.unreadable.len());
            for f in &self.unreadable {
                let _ = writeln!(s, "- `{}`: {}", f.name, f.error);
            }
        }
        s
    }

    /// The report as pretty-printed JSON (per-image results included).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}
