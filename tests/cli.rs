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

/// Kills a child process however the test ends.
struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `modelhost serve` of `shop@production` in `registry` on a free
/// port with `extra` flags; returns the process and its base URL (from the
/// first line it prints).
fn start_serve(registry: &std::path::Path, extra: &[&str]) -> (Guard, String) {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = Guard(
        Command::new(env!("CARGO_BIN_EXE_modelhost"))
            .args(["serve", "--registry", registry.to_str().unwrap()])
            .args(["--model", "shop@production", "--addr", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line[line.find("http://").expect("the address line")..]
        .trim()
        .to_owned();
    (child, url)
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
    let dir = tempfile::tempdir().unwrap();
    let reg = modelhost::registry::Registry::open(dir.path()).unwrap();
    reg.register(common::tree_artifact("shop", 300, 5, 3).unwrap())
        .unwrap();
    reg.set_alias("shop", "production", 1).unwrap();
    let (child, url) = start_serve(dir.path(), &["--batch", "--batch-max-wait-us", "200"]);
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

/// Assembles an artifact from a header and payload with a correct checksum,
/// so hostile headers reach every check after it.
fn assemble(header: &[u8], payload: &[u8]) -> Vec<u8> {
    use modelhost::artifact::{FORMAT_VERSION, MAGIC};
    use sha2::{Digest, Sha256};
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(header);
    out.extend_from_slice(payload);
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

/// A valid artifact split into its header JSON and payload.
fn good_parts() -> (serde_json::Value, Vec<u8>) {
    let bytes = common::tree_artifact("shop", 300, 5, 3)
        .unwrap()
        .with_metric("auc", 0.7)
        .to_bytes()
        .unwrap();
    let h = u64::from_le_bytes(bytes[12..20].try_into().unwrap()) as usize;
    let p = u64::from_le_bytes(bytes[20..28].try_into().unwrap()) as usize;
    (
        serde_json::from_slice(&bytes[28..28 + h]).unwrap(),
        bytes[28 + h..28 + h + p].to_vec(),
    )
}

/// Exit status 0 or 1, never a panic (101) or a signal.
fn assert_no_panic(out: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 1)) && !stderr.contains("panicked"),
        "{what}: {:?} {stderr}",
        out.status
    );
}

/// `inspect` panicked formatting a creation time past the year 9999 and on
/// `u64::MAX`, with a valid checksum or not; a registry summary holding such
/// a time made `registry versions` panic on every run.
#[test]
fn timestamps_out_of_range_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (header, payload) = good_parts();
    for created in [253_402_300_799_u64, 253_402_300_800, u64::MAX] {
        let mut h = header.clone();
        h["created_at"] = created.into();
        let bytes = assemble(&serde_json::to_vec(&h).unwrap(), &payload);
        let file = dir.path().join(format!("{created}.mhart"));
        std::fs::write(&file, &bytes).unwrap();
        let mut corrupt = bytes.clone();
        *corrupt.last_mut().unwrap() ^= 1;
        let bad = dir.path().join(format!("{created}-bad.mhart"));
        std::fs::write(&bad, &corrupt).unwrap();
        for f in [&file, &bad] {
            for cmd in ["inspect", "verify"] {
                let out = modelhost(&[cmd, f.to_str().unwrap()]);
                assert_no_panic(&out, cmd);
            }
        }
    }
    // A summary written by an older build, with an unprintable time.
    let reg = dir.path().join("registry");
    let file = dir.path().join("good.mhart");
    write_artifact(&file);
    let run = |args: &[&str]| {
        let mut all = vec!["registry", "--dir", reg.to_str().unwrap()];
        all.extend_from_slice(args);
        modelhost(&all)
    };
    assert!(run(&["register", file.to_str().unwrap()]).status.success());
    let summary = reg.join("shop/versions/1.json");
    let mut info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    info["created_at"] = u64::MAX.into();
    std::fs::write(&summary, serde_json::to_vec(&info).unwrap()).unwrap();
    let out = run(&["versions", "shop", "--all"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("invalid time"));
}

/// `inspect` read the whole file whatever its size (a 600 MB file took
/// 618 MB); now it refuses files over the library's cap before reading them.
/// Shown under an address-space limit far below the file's size, where
/// reading the file would abort the process.
#[cfg(unix)]
#[test]
fn inspect_refuses_files_over_the_cap_without_reading_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.mhart");
    let f = std::fs::File::create(&file).unwrap();
    // Sparse: no disk space used.
    f.set_len(1 << 30).unwrap();
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg("ulimit -v 524288 && exec \"$0\" inspect \"$1\"")
        .arg(env!("CARGO_BIN_EXE_modelhost"))
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(one_error_line(&out).contains("over the limit"));
}

/// A replacement for one JSON value: wrong types, extremes, fractions.
fn hostile_value(rng: &mut impl rand::Rng) -> serde_json::Value {
    use serde_json::json;
    let choices = [
        json!(null),
        json!(true),
        json!(-1),
        json!(-0.9),
        json!(1.7),
        json!(u64::MAX),
        json!(253_402_300_800_u64),
        json!(1e308),
        json!(""),
        json!("x".repeat(300)),
        json!([]),
        json!({}),
        json!(["a", "a"]),
        json!([""]),
        json!([[1.0e300]]),
    ];
    choices[rng.gen_range(0..choices.len())].clone()
}

/// Every value in a JSON tree, by pointer.
fn pointers(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate().take(8) {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                pointers(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        _ => {}
    }
}

/// Structure-aware fuzzing of the binary: mutated headers (any value
/// replaced by a hostile one) with a regenerated checksum, payload bit
/// flips, tampered lengths and corrupt checksums, through `inspect`,
/// `verify`, `registry register`, then `registry list` and `versions`. No
/// run may panic. `MODELHOST_CLI_FUZZ_CASES` (default 24) sets the number of
/// files; `MODELHOST_CLI_FUZZ_SEED` the seed.
#[test]
fn fuzzed_files_never_panic_the_binary() {
    use rand::{Rng, SeedableRng};
    let cases: usize = std::env::var("MODELHOST_CLI_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let seed: u64 = std::env::var("MODELHOST_CLI_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("registry");
    let reg = reg.to_str().unwrap();
    let (header, payload) = good_parts();
    let mut paths = Vec::new();
    pointers(&header, String::new(), &mut paths);
    for case in 0..cases {
        let mut h = header.clone();
        let mut p = payload.clone();
        for _ in 0..rng.gen_range(1..=3) {
            let at = &paths[rng.gen_range(0..paths.len())];
            if let Some(v) = h.pointer_mut(at) {
                *v = hostile_value(&mut rng);
            }
        }
        if rng.gen_bool(0.2) && !p.is_empty() {
            let i = rng.gen_range(0..p.len());
            p[i] ^= 1 << rng.gen_range(0..8);
        }
        let mut bytes = assemble(&serde_json::to_vec(&h).unwrap(), &p);
        match rng.gen_range(0..10) {
            0 => *bytes.last_mut().unwrap() ^= 0x80,
            1 => bytes[12..20].copy_from_slice(&u64::MAX.to_le_bytes()),
            2 => bytes.truncate(rng.gen_range(0..bytes.len())),
            _ => {}
        }
        let file = dir.path().join(format!("case-{case}.mhart"));
        std::fs::write(&file, &bytes).unwrap();
        let f = file.to_str().unwrap();
        assert_no_panic(&modelhost(&["inspect", f]), &format!("inspect case {case}"));
        assert_no_panic(&modelhost(&["verify", f]), &format!("verify case {case}"));
        assert_no_panic(
            &modelhost(&["registry", "--dir", reg, "register", f]),
            &format!("register case {case}"),
        );
    }
    assert_no_panic(&modelhost(&["registry", "--dir", reg, "list"]), "list");
    for name in registry_names(reg) {
        assert_no_panic(
            &modelhost(&["registry", "--dir", reg, "versions", &name, "--all"]),
            "versions",
        );
    }
}

/// The model directories of a registry (names a mutated header gave them).
fn registry_names(reg: &str) -> Vec<String> {
    std::fs::read_dir(reg)
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The registry CLI is safe by default: `--registry` anywhere (or
/// `MODELHOST_REGISTRY`), aliases never moved to a version that cannot
/// load, `promote` only with an explicit alias, and `inspect`/`verify` of a
/// reference.
#[test]
fn registry_cli_is_safe_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("reg");
    let reg_s = reg.to_str().unwrap();
    let file = dir.path().join("a.mhart");
    write_artifact(&file);
    let file_s = file.to_str().unwrap();
    // `--registry` before or after the subcommand, or from the environment.
    assert!(
        modelhost(&["--registry", reg_s, "registry", "register", file_s])
            .status
            .success()
    );
    assert!(
        modelhost(&["registry", "register", file_s, "--registry", reg_s])
            .status
            .success()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_modelhost"))
        .args(["registry", "alias", "shop", "production", "1"])
        .env("MODELHOST_REGISTRY", reg_s)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = modelhost(&["registry", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(one_error_line(&out).contains("--registry"));

    // inspect and verify take references with a registry.
    let out = modelhost(&["verify", "shop@production", "--registry", reg_s]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: shop version 1"));
    let out = modelhost(&["inspect", "shop/2", "--registry", reg_s]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("model:      shop version 2"));

    // Version 2 is corrupted on disk: neither alias nor promote moves to it.
    let v2 = reg.join("shop/versions/2.mhart");
    let mut bytes = std::fs::read(&v2).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xFF;
    std::fs::write(&v2, bytes).unwrap();
    let out = modelhost(&["-d", reg_s, "registry", "alias", "shop", "production", "2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(one_error_line(&out).contains("not moved"));
    let resolved = modelhost(&["-d", reg_s, "registry", "resolve", "shop@production"]);
    assert_eq!(String::from_utf8_lossy(&resolved.stdout).trim(), "1");
    // Both versions have auc 0.7 and ties go to the newer one, version 2,
    // which cannot load: promote refuses and moves nothing.
    let out = modelhost(&[
        "-d", reg_s, "registry", "promote", "shop", "--metric", "auc", "--alias", "staging",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(one_error_line(&out).contains("not moved"));
    let staging = modelhost(&["-d", reg_s, "registry", "resolve", "shop@staging"]);
    assert!(!staging.status.success(), "staging must not exist");
    // promote never defaults its alias.
    let out = modelhost(&[
        "-d", reg_s, "registry", "promote", "shop", "--metric", "auc",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--alias"));
}

/// `gc` keeps the rollback target, has a dry run, and `restore` undoes it;
/// an archived version says so; `versions` lines its columns up.
#[test]
fn gc_keeps_the_rollback_target_and_restore_undoes_it() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("reg");
    let reg_s = reg.to_str().unwrap();
    let file = dir.path().join("a.mhart");
    write_artifact(&file);
    for _ in 0..4 {
        assert!(
            modelhost(&["-d", reg_s, "registry", "register", file.to_str().unwrap()])
                .status
                .success()
        );
    }
    let run = |args: &[&str]| {
        let mut all = vec!["-d", reg_s, "registry"];
        all.extend_from_slice(args);
        let out = modelhost(&all);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            out,
        )
    };
    // production went 3 -> 4: version 3 is what a server rolls back to.
    assert_eq!(run(&["alias", "shop", "production", "3"]).0, Some(0));
    assert_eq!(run(&["alias", "shop", "production", "4"]).0, Some(0));

    let (code, stdout, _) = run(&["gc", "shop", "--keep", "1", "--dry-run"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("would archive versions [1, 2]"), "{stdout}");
    assert!(stdout.contains("nothing changed"));
    assert_eq!(
        run(&["resolve", "shop/1"]).0,
        Some(0),
        "the dry run moved nothing"
    );

    let (code, stdout, _) = run(&["gc", "shop", "--keep", "1"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("archived versions [1, 2]"), "{stdout}");
    assert_eq!(
        run(&["resolve", "shop/3"]).0,
        Some(0),
        "the rollback target is kept"
    );
    let (code, _, out) = run(&["resolve", "shop/1"]);
    assert_eq!(code, Some(1));
    assert!(one_error_line(&out).contains("archived"));

    // Without a grace period, the rollback target goes too.
    let (_, stdout, _) = run(&[
        "gc",
        "shop",
        "--keep",
        "1",
        "--alias-days",
        "0",
        "--dry-run",
    ]);
    assert!(stdout.contains("would archive versions [3]"), "{stdout}");

    assert_eq!(run(&["restore", "shop", "1"]).0, Some(0));
    assert_eq!(run(&["resolve", "shop/1"]).0, Some(0));
    let (code, _, out) = run(&["restore", "shop", "1"]);
    assert_eq!(code, Some(1), "not archived any more");
    one_error_line(&out);

    // The table's columns start at the same place on every line.
    assert_eq!(run(&["tag", "--help"]).0, Some(2), "no such command");
    let (_, table, _) = run(&["versions", "shop", "--all"]);
    let lines: Vec<&str> = table.lines().collect();
    let metrics_at = lines[0].find("metrics").unwrap();
    assert_eq!(lines.len(), 5, "{table}");
    for line in &lines[1..] {
        assert_eq!(line.find("auc="), Some(metrics_at), "{table}");
    }
}

/// `serve --monitor`: outcomes posted to `/feedback` reach the monitor,
/// whose metrics join `/metrics` and whose report is served.
#[test]
fn serve_with_a_monitor_takes_feedback_and_exports_quality() {
    let dir = tempfile::tempdir().unwrap();
    let reg = modelhost::registry::Registry::open(dir.path()).unwrap();
    reg.register(common::tree_artifact("shop", 300, 5, 3).unwrap())
        .unwrap();
    reg.set_alias("shop", "production", 1).unwrap();
    let (_child, url) = start_serve(dir.path(), &["--monitor"]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post = |path: &str, body: &str| {
        let mut r = agent
            .post(format!("{url}{path}"))
            .header("content-type", "application/json")
            .send(body)
            .unwrap();
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap();
        (
            status,
            serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default(),
        )
    };
    let infer = r#"{"id": "visit-1", "inputs": [
        {"name": "recency_days", "shape": [1], "datatype": "INT64", "data": [2]},
        {"name": "frequency", "shape": [1], "datatype": "INT64", "data": [14]},
        {"name": "basket_value", "shape": [1], "datatype": "FP64", "data": [180.5]},
        {"name": "product_price", "shape": [1], "datatype": "FP64", "data": [19.99]},
        {"name": "device", "shape": [1], "datatype": "BYTES", "data": ["desktop"]}]}"#;
    let (status, answer) = post("/v2/models/shop/infer", infer);
    assert_eq!(status, 200, "{answer}");
    let (status, joined) = post(
        "/v2/models/shop/feedback",
        r#"{"outcomes": [{"id": "visit-1", "actual": "buy"}, {"id": "nobody", "actual": "buy"},
                          {"id": "visit-1", "actual": [1]}]}"#,
    );
    assert_eq!(status, 200, "{joined}");
    assert_eq!(joined["joined"], 1, "{joined}");
    assert_eq!(joined["unknown"], serde_json::json!(["nobody"]));
    assert_eq!(
        joined["refused"].as_array().map(Vec::len),
        Some(1),
        "{joined}"
    );
    let (status, _) = post("/v2/models/shop/feedback", r#"{"outcomes": "x"}"#);
    assert_eq!(status, 400);

    let metrics = agent
        .get(format!("{url}/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    for needle in [
        "modelhost_requests_total{model=\"shop\",version=\"1\",outcome=\"ok\"} 1",
        "modelhost_live_quality{model=\"shop\",version=\"1\",metric=\"accuracy\"}",
        "modelhost_http_requests_total",
    ] {
        assert!(metrics.contains(needle), "{needle} missing from {metrics}");
    }
    let mut report = agent
        .get(format!("{url}/v2/models/shop/report"))
        .call()
        .unwrap();
    assert_eq!(report.status().as_u16(), 200);
    assert!(
        report
            .body_mut()
            .read_to_string()
            .unwrap()
            .contains("<html")
    );
}
