//! `modelhost drift`: offline drift between two CSV data sets.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use modelhost::monitor::{
    CsvLimits, DataSet, DriftThresholds, MonitorError, StatTest, Verdict, compare_with,
};
use modelhost::schema::FeatureSchema;

/// Arguments of `modelhost drift`.
#[derive(Args)]
pub(crate) struct DriftArgs {
    /// The feature schema (JSON: `{"features": [{"name": "x", "type":
    /// "float"}, ...]}`); its features are the columns compared.
    #[arg(long)]
    schema: PathBuf,
    /// The reference data set (CSV with a header naming the columns).
    #[arg(long)]
    reference: PathBuf,
    /// The current data set (CSV, same columns).
    #[arg(long)]
    current: PathBuf,
    /// Also write the report as a self-contained HTML page here.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Print the report as JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// The test (and threshold) of one column, overriding Evidently's
    /// choice: `COLUMN=TEST` or `COLUMN=TEST:THRESHOLD`, TEST one of ks,
    /// chisquare, z, wasserstein, jensenshannon, psi. Repeatable.
    #[arg(long = "test", value_name = "COLUMN=TEST[:THRESHOLD]")]
    tests: Vec<String>,
    /// The share of drifting columns at which the dataset drifts.
    #[arg(long, default_value_t = 0.5)]
    drift_share: f64,
    /// Data rows read per file at most.
    #[arg(long, default_value_t = 1_000_000)]
    max_rows: usize,
}

fn invalid(reason: String) -> modelhost::Error {
    MonitorError::InvalidConfig { reason }.into()
}

fn io(path: &std::path::Path, e: std::io::Error) -> modelhost::Error {
    MonitorError::Io {
        path: path.to_owned(),
        source: Arc::new(e),
    }
    .into()
}

pub(crate) fn run(args: &DriftArgs) -> modelhost::Result<()> {
    let meta = std::fs::metadata(&args.schema).map_err(|e| io(&args.schema, e))?;
    if meta.len() > 16 << 20 {
        return Err(io(
            &args.schema,
            std::io::Error::other("schema file larger than 16 MiB"),
        ));
    }
    let text = std::fs::read_to_string(&args.schema).map_err(|e| io(&args.schema, e))?;
    let schema: FeatureSchema = serde_json::from_str(&text).map_err(|e| {
        invalid(format!(
            "schema {}: {}",
            args.schema.display(),
            e.to_string().chars().take(200).collect::<String>()
        ))
    })?;
    let mut t = DriftThresholds::default().dataset_share(args.drift_share);
    for spec in &args.tests {
        let (column, rest) = spec
            .split_once('=')
            .ok_or_else(|| invalid(format!("--test {spec:?}: expected COLUMN=TEST[:THRESHOLD]")))?;
        if schema.feature(column).is_none() {
            return Err(invalid(format!(
                "--test: no feature {column:?} in the schema"
            )));
        }
        let (name, threshold) = match rest.split_once(':') {
            Some((n, th)) => (
                n,
                Some(th.parse::<f64>().map_err(|_| {
                    invalid(format!("--test {spec:?}: threshold {th:?} is not a number"))
                })?),
            ),
            None => (rest, None),
        };
        let test = StatTest::from_name(name)
            .ok_or_else(|| invalid(format!("--test {spec:?}: unknown test {name:?}")))?;
        t = t.column(column, Some(test), threshold);
    }
    let limits = CsvLimits::default().max_rows(args.max_rows);
    let read = |p: &PathBuf| {
        DataSet::read_csv(&schema, p, limits).map_err(|e| {
            // Name the file: the error names the line.
            invalid(format!("{}: {e}", p.display()))
        })
    };
    let reference = read(&args.reference)?;
    let current = read(&args.current)?;
    let report = compare_with(&schema, &reference, &current, &t)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        println!(
            "{:<24} {:<12} {:<14} {:>12} {:>10}  verdict",
            "column", "kind", "test", "score", "threshold"
        );
        for f in &report.features {
            println!(
                "{:<24} {:<12} {:<14} {:>12} {:>10}  {}",
                f.name,
                if f.categorical {
                    "categorical"
                } else {
                    "numeric"
                },
                f.test.name(),
                f.score.map_or("-".into(), |s| format!("{s:.6}")),
                f.threshold,
                if f.verdict == Verdict::Drift {
                    "drift"
                } else {
                    "no drift"
                }
            );
        }
        println!(
            "dataset drift: {} ({} of {} columns, share {:.3}, threshold {})",
            if report.dataset_drift { "yes" } else { "no" },
            report.drifted,
            report.features.len(),
            report.drift_share,
            args.drift_share
        );
        for w in &report.warnings {
            println!("warning: {w}");
        }
    }
    if let Some(out) = &args.html {
        let title = format!(
            "Drift: {} against {}",
            args.current.display(),
            args.reference.display()
        );
        std::fs::write(out, report.render_html(&title)).map_err(|e| io(out, e))?;
        if !args.json {
            println!("wrote {}", out.display());
        }
    }
    Ok(())
}
