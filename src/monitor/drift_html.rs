//! The drift part of the HTML reports: the verdict table and one
//! reference-versus-current chart per feature, hand-written SVG like the
//! rest of the report (no script, no network, a few KiB per chart).

use std::fmt::Write as _;

use super::drift::{DriftReport, FeatureDrift, Verdict};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A number with at most `digits` significant digits, trimmed.
fn short(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-4..1e6).contains(&a) {
        return format!("{v:.3e}");
    }
    let digits = (4 - a.log10().floor() as i32 - 1).clamp(0, 8) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

const REF: &str = "#7f7f7f";
const CUR: &str = "#1f77b4";

/// The drift section: summary, warnings, table, a chart per feature.
pub(crate) fn section(d: &DriftReport) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        r#"<p id="drift-summary">{}{} rows compared{}. <b>{}</b> of {} features drift (share {}); dataset drift: <b>{}</b>.</p>"#,
        if d.model.is_empty() {
            String::new()
        } else {
            format!("Window {} of version {}: ", d.window, d.version)
        },
        d.rows,
        if d.complete {
            String::new()
        } else {
            format!(" (partial window: {} of {} rows)", d.rows, d.window_rows)
        },
        d.drifted,
        d.features.len(),
        short(d.drift_share),
        if d.dataset_drift { "yes" } else { "no" }
    );
    for w in &d.warnings {
        let _ = write!(h, r#"<p class="warning">⚠ {}</p>"#, esc(w));
    }
    h.push_str("<table><tr><th>feature</th><th>kind</th><th>test</th><th>score</th><th>threshold</th><th>verdict</th><th>PSI</th><th>reference mean</th><th>current mean</th></tr>");
    for f in d.features.iter().chain(&d.prediction) {
        let _ = write!(
            h,
            r#"<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="{}">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&f.name),
            if f.categorical {
                "categorical"
            } else {
                "numeric"
            },
            f.test,
            f.score.map_or("–".into(), short),
            short(f.threshold),
            if f.verdict == Verdict::Drift {
                "drift"
            } else {
                "stable"
            },
            if f.verdict == Verdict::Drift {
                "drift"
            } else {
                "no drift"
            },
            f.psi.map_or("–".into(), short),
            f.reference_mean.map_or("–".into(), short),
            f.current_mean.map_or("–".into(), short),
        );
    }
    h.push_str("</table>");
    h.push_str(r#"<div class="dists">"#);
    for f in d.features.iter().chain(&d.prediction) {
        h.push_str(&distribution_chart(f));
    }
    h.push_str("</div>");
    h
}

/// Reference and current shares of one feature: a histogram of the bins
/// for binned columns, paired bars per value for the others.
pub(crate) fn distribution_chart(f: &FeatureDrift) -> String {
    let dist = &f.distribution;
    let n = dist.reference.len().min(dist.current.len());
    let (w, h, left, bottom, top) = (420.0, 220.0, 44.0, 46.0, 28.0);
    let plot_w = w - left - 10.0;
    let plot_h = h - top - bottom;
    let max = dist
        .reference
        .iter()
        .chain(&dist.current)
        .copied()
        .fold(0.0f64, f64::max);
    let ticks = super::report::nice_ticks(0.0, max.max(1e-9), 4);
    let top_v = ticks.last().copied().unwrap_or(1.0).max(max);
    let y = |v: f64| top + plot_h - v / top_v * plot_h;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<figure class="dist" data-feature="{}"><svg viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="reference and current distribution of {}">"#,
        esc(&f.name),
        esc(&f.name)
    );
    let _ = write!(
        s,
        r#"<text x="{left}" y="16" class="t">{} — {} {} ({})</text>"#,
        esc(&f.name),
        f.test,
        f.score.map_or("–".into(), short),
        if f.verdict == Verdict::Drift {
            "drift"
        } else {
            "no drift"
        }
    );
    for t in &ticks {
        let _ = write!(
            s,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end" class="a">{}</text>"##,
            left + plot_w,
            left - 4.0,
            y(*t) + 3.0,
            short(*t),
            y = y(*t)
        );
    }
    if n > 0 {
        let slot = plot_w / n as f64;
        let binned = !dist.edges.is_empty();
        for i in 0..n {
            let x0 = left + slot * i as f64;
            let (r, c) = (dist.reference[i], dist.current[i]);
            if binned {
                // Histogram: reference as an outline over the current bars.
                let _ = write!(
                    s,
                    r#"<rect class="cur" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{CUR}" fill-opacity="0.6"/><rect class="ref" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="{REF}" stroke-width="1.5"/>"#,
                    x0,
                    y(c),
                    slot,
                    plot_h + top - y(c),
                    x0,
                    y(r),
                    slot,
                    plot_h + top - y(r)
                );
            } else {
                let bw = (slot * 0.4).min(40.0);
                let mid = x0 + slot / 2.0;
                let _ = write!(
                    s,
                    r#"<rect class="ref" x="{:.1}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="{REF}"/><rect class="cur" x="{:.1}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="{CUR}"/>"#,
                    mid - bw,
                    y(r),
                    plot_h + top - y(r),
                    mid,
                    y(c),
                    plot_h + top - y(c)
                );
                if n <= 24 {
                    let label =
                        dist.labels.get(i).cloned().unwrap_or_else(|| {
                            short(dist.values.get(i).copied().unwrap_or(f64::NAN))
                        });
                    let label: String = label.chars().take(12).collect();
                    let _ = write!(
                        s,
                        r#"<text x="{mid:.1}" y="{:.1}" text-anchor="middle" class="a">{}</text>"#,
                        top + plot_h + 12.0,
                        esc(&label)
                    );
                }
            }
        }
        if binned {
            let lo = dist.edges[0];
            let hi = dist.edges[dist.edges.len() - 1];
            let span = hi - lo;
            for t in super::report::nice_ticks(lo, hi, 5) {
                if span > 0.0 && t >= lo && t <= hi {
                    let x = left + (t - lo) / span * plot_w;
                    let _ = write!(
                        s,
                        r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle" class="a">{}</text>"#,
                        top + plot_h + 12.0,
                        short(t)
                    );
                }
            }
        }
    }
    let _ = write!(
        s,
        r#"<rect x="{left}" y="{:.1}" width="10" height="10" fill="{REF}"/><text x="{}" y="{:.1}" class="a">reference</text><rect x="{}" y="{:.1}" width="10" height="10" fill="{CUR}"/><text x="{}" y="{:.1}" class="a">current</text>"#,
        h - 14.0,
        left + 14.0,
        h - 5.0,
        left + 90.0,
        h - 14.0,
        left + 104.0,
        h - 5.0
    );
    if dist.omitted > 0 {
        let _ = write!(
            s,
            r#"<text x="{}" y="{:.1}" class="a">{} rarer values not shown</text>"#,
            left + 170.0,
            h - 5.0,
            dist.omitted
        );
    }
    s.push_str("</svg></figure>");
    s
}

/// A whole page for an offline comparison (what `modelhost drift --html`
/// writes).
pub(crate) fn page(d: &DriftReport, title: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{t}</title><style>{css}</style></head><body><h1>{t}</h1>{body}</body></html>"#,
        t = esc(title),
        css = CSS,
        body = section(d)
    )
}

/// Styles shared with the monitoring report.
pub(crate) const CSS: &str = "body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:none;color:#222}\
table{border-collapse:collapse;margin:1rem 0;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem .6rem;text-align:left}\
td.drift{color:#d62728;font-weight:600}td.stable{color:#2ca02c}.warning{color:#a05a00}\
.dists{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:1rem}\
figure.dist{margin:0}svg text.t{font-size:12px;font-weight:600}svg text.a{font-size:10px;fill:#555}";
