//! The HTML monitoring report: hand-written inline SVG, no scripts, no
//! fonts or files from outside, well-formed XML (so it also opens as XHTML).

use std::fmt::Write as _;

use super::alert::AlertState;
use super::drift::DriftThresholds;
use super::snapshot::MonitorSnapshot;

const PALETTE: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn num(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        _ => "–".to_owned(),
    }
}

fn ms(v: Option<f64>) -> String {
    match v {
        Some(s) if s < 1e-3 => format!("{:.1} µs", s * 1e6),
        Some(s) => format!("{:.2} ms", s * 1e3),
        None => "–".to_owned(),
    }
}

/// `ms` since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC`.
fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// Ticks at "nice" numbers (1, 2 or 5 times a power of ten) covering
/// `lo..=hi` with about `n` intervals.
pub(crate) fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo || n == 0 {
        return vec![lo];
    }
    let raw = (hi - lo) / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).floor();
    let last = (hi / step).ceil();
    let count = ((last - first) as usize).min(50);
    // Round away representation noise (0.30000000000000004).
    let digits = (-step.log10().floor()).max(0.0) as i32 + 1;
    let p = 10f64.powi(digits);
    (0..=count)
        .map(|i| ((first + i as f64) * step * p).round() / p)
        .collect()
}

/// One line of a chart: name, colour, points.
type Series<'a> = (String, &'a str, Vec<(f64, f64)>);

/// A horizontal line across a chart.
struct Rule<'a> {
    value: f64,
    label: &'a str,
    color: &'a str,
}

/// Evidently's PSI threshold as a chart rule.
fn psi_rules(_t: &DriftThresholds) -> [Rule<'static>; 1] {
    [Rule {
        value: super::StatTest::Psi.default_threshold(),
        label: "PSI 0.1",
        color: "#d62728",
    }]
}

/// A line chart with numeric axes. Non-finite points are skipped.
/// A vertical marker on a time axis (a swap or a rollback).
struct Mark {
    /// Seconds since the chart's origin.
    x: f64,
    label: String,
    /// `swap-marker` or `rollback-marker`.
    class: &'static str,
}

/// How a chart's x axis is labelled.
#[derive(Clone, Copy)]
enum XAxis {
    /// Seconds since this many milliseconds after the epoch, labelled as
    /// UTC times of day.
    Time(u64),
}

/// The swaps of a snapshot as markers on a time axis from `origin_ms`.
fn swap_marks(s: &MonitorSnapshot, origin_ms: u64) -> Vec<Mark> {
    s.swaps
        .iter()
        .map(|w| Mark {
            x: w.at_ms.saturating_sub(origin_ms) as f64 / 1e3,
            label: if w.rollback {
                format!("rollback v{}→v{}", w.from, w.to)
            } else {
                format!("v{}→v{}", w.from, w.to)
            },
            class: if w.rollback {
                "rollback-marker"
            } else {
                "swap-marker"
            },
        })
        .collect()
}

fn line_chart(
    title: &str,
    y_label: &str,
    x_label: &str,
    series: &[Series<'_>],
    rules: &[Rule<'_>],
    axis: XAxis,
    marks: &[Mark],
) -> String {
    // Wide enough that at full page width text stays near its nominal size.
    let (w, h, left, right, top, bottom) = (1400.0, 320.0, 60.0, 150.0, 30.0, 40.0);
    let pts = || {
        series
            .iter()
            .flat_map(|(_, _, p)| p.iter())
            .filter(|(x, y)| x.is_finite() && y.is_finite())
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {w} {h}" role="img"><title>{t}</title>"#,
        t = esc(title)
    );
    if pts().next().is_none() {
        let _ = write!(
            svg,
            r##"<text x="{x}" y="{y}" fill="#777">no data yet</text></svg>"##,
            x = w / 2.0 - 40.0,
            y = h / 2.0
        );
        return svg;
    }
    let (mut x0, mut x1, mut y0, mut y1) = pts().fold(
        (f64::INFINITY, f64::NEG_INFINITY, 0.0f64, f64::NEG_INFINITY),
        |(a, b, c, d), &(x, y)| (a.min(x), b.max(x), c.min(y), d.max(y)),
    );
    for r in rules {
        y1 = y1.max(r.value * 1.1);
    }
    for m in marks {
        if m.x.is_finite() {
            x0 = x0.min(m.x);
            x1 = x1.max(m.x);
        }
    }
    if x1 <= x0 {
        x0 -= 0.5;
        x1 += 0.5;
    }
    if y1 <= y0 {
        y1 = y0 + 1.0;
    }
    y1 *= 1.05;
    y0 = y0.min(0.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let sx = |x: f64| left + (x - x0) / (x1 - x0) * pw;
    // Axes and ticks.
    let _ = write!(
        svg,
        r##"<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#ccc"/>"##
    );
    let yt = nice_ticks(y0, y1, 4);
    y0 = y0.min(yt[0]);
    y1 = y1.max(*yt.last().unwrap_or(&y1));
    let sy = |y: f64| top + ph - (y - y0) / (y1 - y0) * ph;
    for y in yt {
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{r}" y1="{py:.1}" y2="{py:.1}" stroke="#e5e5e5"/><text x="{tx}" y="{ty:.1}" font-size="11" text-anchor="end" fill="#555">{y}</text>"##,
            r = left + pw,
            py = sy(y),
            tx = left - 5.0,
            ty = sy(y) + 4.0
        );
    }
    let xt = nice_ticks(x0, x1, 6);
    // Sub-second steps show milliseconds, so ticks never repeat a label.
    let fine = xt.len() > 1 && xt[1] - xt[0] < 1.0;
    for x in xt.into_iter().filter(|x| *x >= x0 && *x <= x1) {
        let label = match axis {
            XAxis::Time(origin) => {
                let ms = origin + (x * 1e3).round() as u64;
                let t = utc(ms);
                let hms = t.get(11..19).unwrap_or(&t);
                if fine {
                    format!("{hms}.{:03}", ms % 1_000)
                } else {
                    hms.to_owned()
                }
            }
        };
        let _ = write!(
            svg,
            r##"<text x="{px:.1}" y="{ty}" font-size="11" text-anchor="middle" fill="#555">{label}</text>"##,
            px = sx(x),
            ty = top + ph + 15.0
        );
    }
    for (k, m) in marks.iter().enumerate() {
        let px = sx(m.x);
        let color = if m.class == "rollback-marker" {
            "#d62728"
        } else {
            "#9467bd"
        };
        let _ = write!(
            svg,
            r#"<g class="{c}"><line x1="{px:.1}" x2="{px:.1}" y1="{top}" y2="{b}" stroke="{color}" stroke-width="1.5" stroke-dasharray="3,3"/><text x="{tx:.1}" y="{ty:.1}" font-size="10" fill="{color}">{l}</text></g>"#,
            c = m.class,
            b = top + ph,
            tx = px + 3.0,
            ty = top + 10.0 + 11.0 * (k % 3) as f64,
            l = esc(&m.label)
        );
    }
    let _ = write!(
        svg,
        r##"<text x="{cx}" y="{by}" font-size="12" text-anchor="middle" fill="#333">{xl}</text><text x="14" y="{cy}" font-size="12" text-anchor="middle" fill="#333" transform="rotate(-90 14 {cy})">{yl}</text>"##,
        cx = left + pw / 2.0,
        by = h - 6.0,
        cy = top + ph / 2.0,
        xl = esc(x_label),
        yl = esc(y_label)
    );
    for (k, r) in rules.iter().enumerate() {
        if r.value.is_finite() && r.value <= y1 {
            let _ = write!(
                svg,
                r#"<line x1="{left}" x2="{rx}" y1="{y:.1}" y2="{y:.1}" stroke="{c}" stroke-dasharray="5,4"/><text x="{tx}" y="{ty:.1}" font-size="11" fill="{c}">{l}</text>"#,
                rx = left + pw,
                y = sy(r.value),
                c = r.color,
                tx = left + pw + 4.0,
                ty = sy(r.value) + 4.0 - 11.0 * k as f64,
                l = esc(r.label)
            );
        }
    }
    for (k, (name, color, points)) in series.iter().enumerate() {
        let path: Vec<String> = points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        if path.len() == 1 {
            let _ = write!(
                svg,
                r#"<circle class="series" data-series="{n}" cx="{}" r="3" fill="{color}"/>"#,
                path[0].replace(',', "\" cy=\""),
                n = esc(name)
            );
        } else if !path.is_empty() {
            let _ = write!(
                svg,
                r#"<polyline class="series" data-series="{n}" fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
                path.join(" "),
                n = esc(name)
            );
        }
        let ly = top + 14.0 + 16.0 * k as f64;
        let _ = write!(
            svg,
            r##"<rect x="{lx}" y="{ry:.1}" width="10" height="10" fill="{color}"/><text x="{tx}" y="{ty:.1}" font-size="11" fill="#333">{n}</text>"##,
            lx = left + pw + 4.0,
            ry = ly + 14.0 * rules.len() as f64,
            tx = left + pw + 18.0,
            ty = ly + 9.0 + 14.0 * rules.len() as f64,
            n = esc(name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Horizontal bars, one per item, with vertical threshold rules.
fn bar_chart(title: &str, items: &[(String, f64, &str)], rules: &[Rule<'_>]) -> String {
    let (w, left, right, row) = (1400.0, 170.0, 80.0, 22.0);
    let h = 40.0 + row * items.len().max(1) as f64;
    let max = items
        .iter()
        .map(|i| i.1)
        .chain(rules.iter().map(|r| r.value * 1.2))
        .filter(|v| v.is_finite())
        .fold(1e-9, f64::max);
    let pw = w - left - right;
    let sx = |v: f64| left + v.clamp(0.0, max) / max * pw;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {w} {h}" role="img"><title>{t}</title>"#,
        t = esc(title)
    );
    for (k, (name, v, color)) in items.iter().enumerate() {
        let y = 10.0 + row * k as f64;
        let _ = write!(
            svg,
            r##"<text x="{tx}" y="{ty:.1}" font-size="12" text-anchor="end" fill="#333">{n}</text><rect x="{left}" y="{y:.1}" width="{bw:.1}" height="{bh}" fill="{color}"/><text x="{vx:.1}" y="{ty:.1}" font-size="11" fill="#333">{shown}</text>"##,
            tx = left - 6.0,
            ty = y + 13.0,
            n = esc(name),
            bw = (sx(*v) - left).max(0.5),
            bh = row - 6.0,
            vx = sx(*v) + 4.0,
            shown = if v.fract() == 0.0 && v.abs() >= 1.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.4}")
            },
        );
    }
    for (k, r) in rules.iter().enumerate() {
        // Labels alternate sides so close thresholds stay readable.
        let (anchor, dx) = if k % 2 == 0 {
            ("end", -3.0)
        } else {
            ("start", 3.0)
        };
        let _ = write!(
            svg,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="5" y2="{y2}" stroke="{c}" stroke-dasharray="5,4"/><text x="{tx:.1}" y="{ty}" font-size="11" text-anchor="{anchor}" fill="{c}">{l}</text>"#,
            x = sx(r.value),
            tx = sx(r.value) + dx,
            y2 = h - 22.0,
            ty = h - 8.0,
            c = r.color,
            l = esc(r.label)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Renders a snapshot as a self-contained HTML page.
pub(crate) fn render_html(s: &MonitorSnapshot) -> String {
    let mut html = String::new();
    let title = format!("modelhost monitor: {} v{}", s.model, s.version);
    let _ = write!(
        html,
        r#"<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head><meta charset="utf-8"/><title>{t}</title>
<style>body{{font-family:sans-serif;margin:2em;color:#222;max-width:none}}table{{border-collapse:collapse;margin:0.5em 0}}td,th{{border:1px solid #ddd;padding:3px 8px;text-align:right}}th{{background:#f3f3f3}}{css}td:first-child,th:first-child{{text-align:left}}.firing{{color:#d62728;font-weight:bold}}.ok{{color:#2ca02c}}h2{{margin-top:1.5em;border-bottom:1px solid #eee}}</style>
</head><body><h1>{t}</h1>"#,
        t = esc(&title),
        css = super::drift_html::CSS
    );
    let err_rate = if s.requests > 0 {
        s.errors as f64 / s.requests as f64 * 100.0
    } else {
        0.0
    };
    let _ = write!(
        html,
        "<p>{} requests ({err_rate:.2}% failed), {} rows, {} predictions waiting for feedback. \
         Latency p50 {}, p99 {}, max {}. Monitoring since {}; snapshot taken {}.</p>",
        s.requests,
        s.rows,
        s.pending_feedback,
        ms(s.latency.quantile(0.5).map(|d| d.as_secs_f64())),
        ms(s.latency.quantile(0.99).map(|d| d.as_secs_f64())),
        ms(Some(s.latency.max().as_secs_f64())),
        utc(s.started_at_ms),
        utc(s.taken_at_ms)
    );

    // Alerts.
    html.push_str("<h2>Alerts</h2>");
    if s.active_alerts.is_empty() {
        html.push_str(r#"<p class="ok">No alert is firing.</p>"#);
    } else {
        html.push_str(
            "<table><tr><th>rule</th><th>version</th><th>value</th><th>threshold</th></tr>",
        );
        for a in &s.active_alerts {
            let _ = write!(
                html,
                r#"<tr class="firing"><td>{}</td><td>{}</td><td>{:.4}</td><td>{}</td></tr>"#,
                esc(&a.rule),
                a.version,
                a.value,
                a.threshold
            );
        }
        html.push_str("</table>");
    }
    if !s.alert_log.is_empty() {
        html.push_str("<p>Recent transitions (newest last):</p><table><tr><th>rule</th><th>state</th><th>version</th><th>value</th><th>at</th></tr>");
        for a in s.alert_log.iter().rev().take(20).rev() {
            let (class, state) = match a.state {
                AlertState::Firing => ("firing", "firing"),
                AlertState::Resolved => ("ok", "resolved"),
            };
            let _ = write!(
                html,
                r#"<tr><td>{}</td><td class="{class}">{state}</td><td>{}</td><td>{:.4}</td><td>{}</td></tr>"#,
                esc(&a.rule),
                a.version,
                a.value,
                utc(a.at_ms)
            );
        }
        html.push_str("</table>");
    }

    // Drift.
    html.push_str("<h2>Input drift</h2>");
    match &s.drift {
        None => html.push_str(
            "<p>No row has been compared yet (or the model has no reference statistics).</p>",
        ),
        Some(d) => html.push_str(&super::drift_html::section(d)),
    }
    let mut names: Vec<&String> = s.windows.iter().flat_map(|w| w.psi.keys()).collect();
    names.sort();
    names.dedup();
    let origin = s.started_at_ms;
    let secs = |ms: u64| ms.saturating_sub(origin) as f64 / 1e3;
    let marks = swap_marks(s, origin);
    let scored: Vec<&super::snapshot::WindowPoint> = s
        .windows
        .iter()
        .filter(|w| w.drift_share.is_some())
        .collect();
    let series: Vec<Series<'_>> = names
        .iter()
        .enumerate()
        .map(|(k, n)| {
            (
                (*n).clone(),
                PALETTE[k % PALETTE.len()],
                scored
                    .iter()
                    .filter_map(|w| Some((secs(w.ended_at_ms), *w.psi.get(*n)?)))
                    .collect(),
            )
        })
        .collect();
    html.push_str(&line_chart(
        "PSI per feature over windows",
        "PSI",
        "time (UTC)",
        &series,
        &psi_rules(&s.thresholds),
        XAxis::Time(origin),
        &marks,
    ));

    // Quality.
    html.push_str("<h2>Live quality from feedback</h2>");
    if s.quality.is_empty() {
        html.push_str("<p>No outcome has been joined yet.</p>");
    } else {
        html.push_str("<table><tr><th>version</th><th>outcomes (window / total)</th><th>accuracy</th><th>precision</th><th>recall</th><th>AUC</th><th>MAE</th><th>RMSE</th></tr>");
        for q in &s.quality {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{} / {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                q.version,
                q.count,
                q.total,
                num(q.accuracy, 3),
                num(q.precision, 3),
                num(q.recall, 3),
                num(q.auc, 3),
                num(q.mae, 3),
                num(q.rmse, 3)
            );
        }
        html.push_str("</table>");
    }
    let h = &s.quality_history;
    // One series per version and metric: versions are never merged into
    // one line.
    let mut versions: Vec<u64> = h.iter().map(|p| p.metrics.version).collect();
    versions.dedup();
    type Pick = fn(&super::QualityMetrics) -> Option<f64>;
    let metrics: [(&str, Pick); 5] = [
        ("accuracy", |m| m.accuracy),
        ("precision", |m| m.precision),
        ("recall", |m| m.recall),
        ("AUC", |m| m.auc),
        ("MAE", |m| m.mae),
    ];
    let mut series = Vec::new();
    for (vi, v) in versions.iter().enumerate() {
        for (mi, (name, f)) in metrics.iter().enumerate() {
            let points: Vec<(f64, f64)> = h
                .iter()
                .filter(|p| p.metrics.version == *v)
                .filter_map(|p| Some((secs(p.at_ms), f(&p.metrics)?)))
                .collect();
            if !points.is_empty() {
                series.push((
                    format!("{name} v{v}"),
                    PALETTE[(mi + 3 * vi) % PALETTE.len()],
                    points,
                ));
            }
        }
    }
    html.push_str(&line_chart(
        "Rolling quality over time, per version",
        "rolling value",
        "time (UTC)",
        &series,
        &[],
        XAxis::Time(origin),
        &marks,
    ));

    // Latency.
    html.push_str("<h2>Latency</h2>");
    let lat = |f: fn(&super::snapshot::WindowPoint) -> Option<f64>| -> Vec<(f64, f64)> {
        s.windows
            .iter()
            .filter_map(|w| Some((secs(w.ended_at_ms), f(w)? * 1e6)))
            .collect()
    };
    html.push_str(&line_chart(
        "Latency per evaluation period",
        "latency (µs)",
        "time (UTC)",
        &[
            ("p50".to_owned(), PALETTE[0], lat(|w| w.p50_seconds)),
            ("p90".to_owned(), PALETTE[1], lat(|w| w.p90_seconds)),
            ("p99".to_owned(), PALETTE[3], lat(|w| w.p99_seconds)),
        ],
        &[],
        XAxis::Time(origin),
        &marks,
    ));
    let buckets: Vec<(String, f64, &str)> = s
        .latency
        .buckets()
        .into_iter()
        .map(|(lo, hi, c)| {
            (
                format!("{} – {}", ms(Some(lo)), ms(Some(hi))),
                c as f64,
                PALETTE[0],
            )
        })
        .collect();
    html.push_str("<p>Latency distribution (requests per bucket):</p>");
    html.push_str(&bar_chart("Latency histogram", &buckets, &[]));
    html.push_str("</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    #[test]
    fn ticks_are_nice_numbers() {
        use super::nice_ticks;
        assert_eq!(nice_ticks(0.0, 1.628, 4), vec![0.0, 0.5, 1.0, 1.5, 2.0]);
        assert_eq!(
            nice_ticks(0.0, 64.368, 4),
            vec![0.0, 20.0, 40.0, 60.0, 80.0]
        );
        assert_eq!(nice_ticks(0.1, 0.7, 3), vec![0.0, 0.2, 0.4, 0.6, 0.8]);
        for (lo, hi) in [(0.0, 0.003), (-5.0, 17.0), (1e6, 3.3e6), (0.25, 0.26)] {
            let t = nice_ticks(lo, hi, 5);
            assert!(t[0] <= lo && *t.last().unwrap() >= hi, "{t:?}");
            let step = t[1] - t[0];
            let mantissa = step / 10f64.powf(step.log10().floor());
            assert!(
                [1.0, 2.0, 5.0].iter().any(|m| (mantissa - m).abs() < 1e-9),
                "{t:?}"
            );
        }
        assert_eq!(nice_ticks(1.0, 1.0, 4), vec![1.0]);
        assert_eq!(nice_ticks(f64::NAN, 1.0, 4).len(), 1);
    }

    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(super::utc(1_700_000_000_123), "2023-11-14 22:13:20 UTC");
    }
}
