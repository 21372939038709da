//! `modelhost drift`: verdicts printed per column, the HTML report, JSON
//! output, per-column overrides, and one-line errors for bad input.
#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn modelhost(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_modelhost"))
        .args(args)
        .output()
        .unwrap()
}

fn fixture(scenario: &str, file: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/drift")
        .join(scenario)
        .join(file)
        .to_string_lossy()
        .into_owned()
}

fn drift_args(scenario: &str) -> Vec<String> {
    vec![
        "drift".into(),
        "--schema".into(),
        fixture(scenario, "schema.json"),
        "--reference".into(),
        fixture(scenario, "reference.csv"),
        "--current".into(),
        fixture(scenario, "current.csv"),
    ]
}

fn run(args: &[String]) -> Output {
    modelhost(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn one_error_line(out: &Output) -> String {
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one error line, got {stderr:?}");
    assert!(lines[0].starts_with("error: "), "{stderr:?}");
    lines[0].to_owned()
}

#[test]
fn prints_each_columns_test_and_verdict_and_writes_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let html: PathBuf = dir.path().join("drift.html");
    let mut args = drift_args("small_mixed");
    args.extend(["--html".into(), html.to_string_lossy().into_owned()]);
    let out = run(&args);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    let line = |col: &str| {
        text.lines()
            .find(|l| l.starts_with(col))
            .unwrap_or_else(|| panic!("no line for {col} in {text}"))
            .to_owned()
    };
    assert!(line("price").contains(" ks ") && line("price").ends_with(" drift"));
    assert!(line("items").contains(" chisquare ") && line("items").ends_with("no drift"));
    assert!(line("member").contains(" z ") && line("member").ends_with("no drift"));
    assert!(
        text.contains("dataset drift: yes (3 of 5 columns"),
        "{text}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert_eq!(page.matches(r#"<figure class="dist""#).count(), 5);
    assert!(!page.contains("http://") && !page.contains("https://") && !page.contains("<script"));
}

#[test]
fn json_output_and_per_column_overrides() {
    let mut args = drift_args("small_stable");
    args.extend([
        "--json".into(),
        "--test".into(),
        "items=psi:0.5".into(),
        "--test".into(),
        "price=wasserstein".into(),
    ]);
    let out = run(&args);
    assert!(out.status.success(), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let feature = |name: &str| {
        report["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(feature("items")["test"], "psi");
    assert_eq!(feature("items")["threshold"], 0.5);
    assert_eq!(feature("price")["test"], "wasserstein");
    assert_eq!(feature("price")["threshold"], 0.1);
    // Columns without an override keep Evidently's choice.
    assert_eq!(feature("member")["test"], "z");
}

#[test]
fn bad_input_fails_with_one_bounded_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "price,items,returning,device,member\n1,2,3\n").unwrap();
    let mut args = drift_args("small_mixed");
    args[6] = bad.to_string_lossy().into_owned();
    let e = one_error_line(&run(&args));
    assert!(e.contains("bad.csv") && e.contains("line 2"), "{e}");

    std::fs::write(&bad, format!("price\n{}\n", "7x".repeat(100_000))).unwrap();
    let e = one_error_line(&run(&args));
    assert!(e.len() < 400, "{} bytes: {e:.200}", e.len());

    let mut args = drift_args("small_mixed");
    args.extend(["--test".into(), "price=t_test".into()]);
    assert!(one_error_line(&run(&args)).contains("unknown test"));
    let mut args = drift_args("small_mixed");
    args.extend(["--test".into(), "nope=ks".into()]);
    assert!(one_error_line(&run(&args)).contains("no feature \"nope\""));

    let mut args = drift_args("small_mixed");
    args[2] = fixture("small_mixed", "reference.csv");
    assert!(one_error_line(&run(&args)).contains("schema"));

    // Bytes that are not text, and a file that does not exist.
    std::fs::write(&bad, b"\xff\xfe\x00garbage\n\x01\x02").unwrap();
    let mut args = drift_args("small_mixed");
    args[4] = bad.to_string_lossy().into_owned();
    one_error_line(&run(&args));
    args[4] = dir
        .path()
        .join("missing.csv")
        .to_string_lossy()
        .into_owned();
    one_error_line(&run(&args));
}
