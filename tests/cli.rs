//! The `modelhost` command-line tool: exit codes and one-line errors.
#![cfg(feature = "cli")]

#[path = "../examples/common/mod.rs"]
mod common;

use std::process::{Command, Output};

fn modelhost(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_modelhost"))
        .args(args)
        .output()
        .unwrap()
}

fn write_artifact(path: &std::path::Path) {
    common::tree_artifact("shop", 300, 5, 3)
        .unwrap()
        .with_metric("auc", 0.7)
        .write(path)
        .unwrap();
}

fn one_error_line(out: &Output) -> String {
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one error line, got {stderr:?}");
    assert!(lines[0].starts_with("error: "), "{stderr:?}");
    lines[0].to_owned()
}

#[test]
fn verify_accepts_good_and_rejects_corrupt_artifacts() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.mhart");
    write_artifact(&good);
    let out = modelhost(&["verify", good.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: shop version 0"));

    let mut bytes = std::fs::read(&good).unwrap();
    let bad = dir.path().join("bad.mhart");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xFF;
    std::fs::write(&bad, &bytes).unwrap();
    let out = modelhost(&["verify", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(one_error_line(&out).contains("checksum mismatch"));

    let short = dir.path().join("short.mhart");
    std::fs::write(&short, &bytes[..100]).unwrap();
    let out = modelhost(&["verify", short.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(one_error_line(&out).contains("lengths do not match"));

    let out = modelhost(&["verify", dir.path().join("missing.mhart").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    one_error_line(&out);

    // Inspect shows what a file with a bad checksum claims, and still fails.
    let mut bytes = std::fs::read(&good).unwrap();
    *bytes.last_mut().unwrap() ^= 0x01;
    std::fs::write(&bad, &bytes).unwrap();
    let out = modelhost(&["inspect", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("checksum:   INVALID"), "{stdout}");
    let out = modelhost(&["inspect", good.to_str().unwrap()]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "checksum:   valid",
        "model:      shop",
        "auc=0.7000",
        "recency_days",
        "warm-up:",
    ] {
        assert!(stdout.contains(needle), "{needle} missing from {stdout}");
    }
}

#[test]
fn registry_commands_operate_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.mhart");
    write_artifact(&file);
    let reg = dir.path().join("registry");
    let reg = reg.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["registry", "--dir", reg];
        all.extend_from_slice(args);
        modelhost(&all)
    };
    for expected in ["version 1", "version 2"] {
        let out = run(&["register", file.to_str().unwrap()]);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains(expected));
    }
    assert!(run(&["alias", "shop", "production", "1"]).status.success());
    let out = run(&["promote", "shop", "--metric", "auc", "--alias", "staging"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("shop@staging -> 2"));
    let out = run(&["versions", "shop"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("production") && stdout.contains("auc=0.7000"),
        "{stdout}"
    );
    assert_eq!(
        String::from_utf8_lossy(&run(&["resolve", "shop@production"]).stdout).trim(),
        "1"
    );
    let out = run(&["list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("shop\t2 versions"));
    let out = run(&["gc", "shop", "--keep", "0"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("archived versions []"),
        "aliased versions stay"
    );

    // Failures are one line with exit status 1; usage errors exit with 2.
    let out = run(&["alias", "shop", "production", "9"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(one_error_line(&out).contains("no version 9"));
    let out = run(&["resolve", "../etc"]);
    assert_eq!(out.status.code(), Some(1));
    one_error_line(&out);
    assert_eq!(modelhost(&["frobnicate"]).status.code(), Some(2));
}

/// `modelhost serve --batch` answers through a batcher in front of the
/// registry model, on a real socket.
#[cfg(feature = "http")]
#[test]
fn serve_with_a_batcher_answers_requests() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let reg = modelhost::registry::Registry::open(dir.path()).unwrap();
    reg.register(common::tree_artifact("shop", 300, 5, 3).unwrap())
        .unwrap();
    reg.set_alias("shop", "production", 1).unwrap();
    /// Kills the server however the test ends.
    struct Guard(std::process::Child);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Guard(
        Command::new(env!("CARGO_BIN_EXE_modelhost"))
            .args([
                "serve",
                "--registry",
                dir.path().to_str().unwrap(),
                "--model",
                "shop@production",
            ])
            .args([
                "--addr",
                "127.0.0.1:0",
                "--batch",
                "--batch-max-wait-us",
                "200",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The first line names the address it listens on.
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line[line.find("http://").expect("the address line")..]
        .trim()
        .to_owned();
    let body = r#"{"dataframe_records":[{"recency_days":2,"frequency":14,"basket_value":180.5,"product_price":19.99,"device":"desktop"},
                  {"recency_days":300,"frequency":0,"basket_value":0.0,"product_price":149.0,"device":"mobile"}]}"#;
    let mut answer = ureq::post(format!("{url}/invocations"))
        .header("content-type", "application/json")
        .send(body)
        .unwrap();
    let text = answer.body_mut().read_to_string().unwrap();
    drop(child);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let predictions = json["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), 2);
    assert!(
        predictions.iter().all(|p| p == "buy" || p == "ignore"),
        "{text}"
    );
}

#[test]
fn report_renders_a_monitor_snapshot() {
    use modelhost::artifact::{Artifact, ReadOptions};
    use modelhost::monitor::Monitor;
    use modelhost::{InProcessServer, ModelServer, PredictRequest};

    let dir = tempfile::tempdir().unwrap();
    let artifact = dir.path().join("shop.mhm");
    write_artifact(&artifact);
    let deployment = Artifact::load(&artifact, ReadOptions::new())
        .unwrap()
        .deployment()
        .unwrap();
    let monitor = Monitor::builder(&deployment)
        .window_rows(100)
        .sample_every(1)
        .build()
        .unwrap();
    let server = InProcessServer::builder(deployment)
        .observer(monitor.clone())
        .build()
        .unwrap();
    let (rows, _) = common::webshop_data(250, 9, 1.0);
    for row in &rows {
        server.predict(PredictRequest::new(row)).unwrap();
    }
    let snapshot = dir.path().join("snapshot.json");
    monitor.write_snapshot(&snapshot).unwrap();

    let out_path = dir.path().join("report.html");
    let out = modelhost(&[
        "report",
        "--snapshot",
        snapshot.to_str().unwrap(),
        "--out",
        out_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let html = std::fs::read_to_string(&out_path).unwrap();
    assert!(html.contains("<svg") && html.contains("recency_days"));

    std::fs::write(&snapshot, "{not json").unwrap();
    let out = modelhost(&["report", "--snapshot", snapshot.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(one_error_line(&out).contains("invalid monitor snapshot"));
}
