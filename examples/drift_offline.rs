//! Offline drift: compare last month's webshop visits with this week's,
//! without a server or a monitor — the check a data scientist runs before
//! retraining, with Evidently's default tests.
//!
//! Run with `cargo run --example drift_offline`; it writes
//! `drift_offline.html` (a self-contained report) next to where it runs, or
//! to the path given as the first argument.

mod common;

use modelhost::monitor::{DataSet, Verdict, compare};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let schema = common::webshop_schema();

    // 1. The reference: 3,000 visits as feature maps (categoricals by their
    //    level name, as the shop logs them).
    let (reference, _) = common::webshop_data(3_000, 1, 0.0);
    // 2. This week: 1,500 visits from the same shop after a campaign
    //    changed who comes (the `shift` of the data generator: longer gaps
    //    since the last visit, fewer orders, more visits from one device).
    let (current, _) = common::webshop_data(1_500, 2, 0.4);
    // ... and for contrast, 1,500 more visits drawn like the reference.
    let (steady, _) = common::webshop_data(1_500, 3, 0.0);

    let reference = DataSet::from_maps(&schema, &reference)?;
    for (what, rows) in [("this week", &current), ("a steady week", &steady)] {
        // 3. One call: Evidently's default test per column (chosen by the
        //    reference size, the number of distinct values and the column
        //    kind), its default threshold, and the dataset verdict when half
        //    of the columns drift.
        let current = DataSet::from_maps(&schema, rows)?;
        let report = compare(&schema, &reference, &current)?;
        println!(
            "{what}: {} of {} columns drifted -> dataset drift: {}",
            report
                .features
                .iter()
                .filter(|f| f.verdict == Verdict::Drift)
                .count(),
            report.features.len(),
            report.dataset_drift
        );
        for f in &report.features {
            println!(
                "  {:<14} {:<13} score {:>10.4}  threshold {:<5} {:?}",
                f.name,
                f.test.name(),
                f.score.unwrap_or(f64::NAN),
                f.threshold,
                f.verdict
            );
        }
        // 4. The report a person opens: per feature, reference against
        //    current distributions and the test that decided.
        if what == "this week" {
            let out = std::env::args()
                .nth(1)
                .unwrap_or_else(|| "drift_offline.html".into());
            std::fs::write(
                &out,
                report.render_html("Webshop visits: last month vs this week"),
            )?;
            println!("  report written to {out}");
        }
    }
    Ok(())
}
