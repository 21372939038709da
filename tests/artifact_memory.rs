//! What a hostile artifact can make a load allocate. Each shape below packs
//! many of its smallest element into a file with a valid checksum: 8 MiB
//! of them, and the most whose header's price still passes (the file
//! closest to the budget). The peak a full load adds (read, header,
//! payload, model, warm-up), measured by a counting allocator in a child
//! process of its own, is held to
//! [`ALLOCATION_MULTIPLE`](modelhost::artifact::ALLOCATION_MULTIPLE) times
//! the file size plus [`ALLOCATION_ALLOWANCE`](modelhost::artifact::ALLOCATION_ALLOWANCE).
//!
//! Two legitimate dense files (the largest tree the default limits accept, a
//! 100,000-level categorical) must load within the same budget.

#[path = "../examples/common/mod.rs"]
mod common;

use std::alloc::System;
use std::process::Command;
use std::sync::OnceLock;

use cap::Cap;
use modelhost::artifact::{
    ALLOCATION_ALLOWANCE, ALLOCATION_MULTIPLE, Artifact, ArtifactError, FORMAT_VERSION, MAGIC,
    ReadOptions,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

const MIB: f64 = (1 << 20) as f64;

/// Set in the child process that loads one file: its path.
const PATH_VAR: &str = "MODELHOST_MEMORY_FILE";

fn assemble(header: &[u8], payload: &[u8]) -> Vec<u8> {
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

/// A good artifact's header and payload, made once: every shape and every
/// probe of the price search starts from the same bytes.
fn good() -> (Value, Vec<u8>) {
    static GOOD: OnceLock<(Value, Vec<u8>)> = OnceLock::new();
    GOOD.get_or_init(|| {
        let bytes = common::tree_artifact("shop", 300, 5, 3)
            .unwrap()
            .to_bytes()
            .unwrap();
        let h = u64::from_le_bytes(bytes[12..20].try_into().unwrap()) as usize;
        let p = u64::from_le_bytes(bytes[20..28].try_into().unwrap()) as usize;
        (
            serde_json::from_slice(&bytes[28..28 + h]).unwrap(),
            bytes[28 + h..28 + h + p].to_vec(),
        )
    })
    .clone()
}

/// The header JSON with the value at `pointer` (added if absent) replaced
/// by an array of `n` copies of `item` (`{i}` numbered). Built as text: a
/// `Value` of millions of elements would cost more than what is measured.
fn fill(header: &Value, pointer: &str, item: &str, n: usize) -> Vec<u8> {
    let mut h = header.clone();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    match h.pointer_mut(parent).unwrap() {
        Value::Object(members) => {
            members.insert(key.into(), json!("@@FILL@@"));
        }
        Value::Array(items) => items[key.parse::<usize>().unwrap()] = json!("@@FILL@@"),
        other => panic!("{pointer}: {other}"),
    }
    let text = serde_json::to_string(&h).unwrap();
    let (head, tail) = text.split_once("\"@@FILL@@\"").unwrap();
    let mut out = Vec::with_capacity(text.len() + n * (item.len() + 4));
    out.extend_from_slice(head.as_bytes());
    out.push(b'[');
    for i in 0..n {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item.replace("{i}", &i.to_string()).as_bytes());
    }
    out.push(b']');
    out.extend_from_slice(tail.as_bytes());
    out
}

/// A balanced tree of `depth` levels of splits on feature 0, as a
/// version-2 tree payload without class distributions: the densest payload
/// the default limits accept.
fn balanced_tree(depth: u32) -> Vec<u8> {
    let splits = (1u64 << depth) - 1;
    let mut p = Vec::new();
    for v in [6u64, 2] {
        p.extend_from_slice(&v.to_le_bytes());
    }
    p.push(0);
    p.extend_from_slice(&(2 * splits + 1).to_le_bytes());
    for k in 0..splits {
        p.push(1);
        p.extend_from_slice(&0u64.to_le_bytes());
        p.extend_from_slice(&1.0f64.to_le_bytes());
        p.extend_from_slice(&(2 * k + 1).to_le_bytes());
        p.extend_from_slice(&(2 * k + 2).to_le_bytes());
    }
    for k in 0..=splits {
        p.push(0);
        p.extend_from_slice(&(k % 2).to_le_bytes());
    }
    p
}

/// Builds a file of a shape with `n` elements.
type Make = Box<dyn Fn(usize) -> Vec<u8>>;

/// A hostile header shape: an array at `pointer` of `item`s.
fn header_shape(pointer: &'static str, item: &'static str) -> Make {
    Box::new(move |n| {
        let (h, p) = good();
        assemble(&fill(&h, pointer, item, n), &p)
    })
}

/// A tree ensemble of `trees` full trees of depth 7 (255 nodes each) over
/// one feature: the `tree_ensemble` kind at its densest legitimate shape.
fn ensemble(trees: usize) -> Vec<u8> {
    use modelhost::model::{
        EnsembleLimits, EnsembleSpec, Link, SplitSemantics, TreeEnsemble, TreeSpec,
    };
    let schema = modelhost::FeatureSchema::builder()
        .feature(modelhost::Feature::float("x"))
        .build()
        .unwrap();
    let tree = {
        let mut t = TreeSpec::with_nodes(255, 1);
        for i in 0..127 {
            t.left[i] = Some(2 * i + 1);
            t.right[i] = 2 * i + 2;
            t.threshold[i] = i as f64;
        }
        for i in 127..255 {
            t.values[i] = i as f64;
        }
        t
    };
    let spec = EnsembleSpec {
        semantics: SplitSemantics::LightGbm,
        groups: 1,
        leaf_width: 1,
        base: vec![0.0],
        average: false,
        link: Link::Identity,
        trees: vec![tree; trees],
    };
    let model = TreeEnsemble::new(
        spec,
        schema,
        modelhost::OutputKind::Regression,
        &EnsembleLimits::new(),
    )
    .unwrap();
    Artifact::tree_ensemble("e", &model, None)
        .unwrap()
        .to_bytes()
        .unwrap()
}

/// The shapes: name, whether the largest one is a legitimate file that
/// must load, how many elements make it, and how to build it.
fn shapes() -> Vec<(&'static str, bool, usize, Make)> {
    const SIZE: usize = 8 << 20;
    vec![
        ("tree ensemble", true, SIZE / 4096, Box::new(ensemble)),
        (
            "empty labels",
            false,
            SIZE / 3,
            header_shape("/output/labels", r#""""#),
        ),
        (
            "distinct labels",
            false,
            SIZE / 8,
            header_shape("/output/labels", r#""{i}""#),
        ),
        (
            "one-value warm-up rows",
            false,
            SIZE / 4,
            header_shape("/warmup/rows", "[0]"),
        ),
        (
            "warm-up expectations",
            false,
            SIZE / 2,
            header_shape("/warmup/expected", "0"),
        ),
        (
            "categorical levels",
            false,
            SIZE / 8,
            header_shape("/schema/features/4/levels", r#""{i}""#),
        ),
        (
            "features",
            false,
            SIZE / 32,
            header_shape("/schema/features", r#"{"name":"{i}","type":"float"}"#),
        ),
        (
            "unknown fields in a feature",
            false,
            SIZE / 2,
            header_shape("/schema/features/0/junk", "0"),
        ),
        (
            "reference sample",
            false,
            SIZE / 2,
            header_shape("/reference/features/0/sample", "0"),
        ),
        (
            "reference features",
            false,
            SIZE / 100,
            header_shape(
                "/reference/features",
                r#"{"name":"","categorical":false,"count":0,"non_finite":0,"mean":0,"std":0,"min":0,"max":0,"sample":[]}"#,
            ),
        ),
        (
            "tags",
            false,
            SIZE / 12,
            Box::new(|n| {
                let (mut h, p) = good();
                h["tags"] = json!("@@TAGS@@");
                let text = serde_json::to_string(&h).unwrap();
                let tags: Vec<String> = (0..n).map(|i| format!(r#""{i}":"""#)).collect();
                let text = text.replace(r#""@@TAGS@@""#, &format!("{{{}}}", tags.join(",")));
                assemble(text.as_bytes(), &p)
            }),
        ),
        (
            "largest accepted tree (2^18 leaves)",
            true,
            18,
            Box::new(|depth| {
                let (mut h, _) = good();
                h["output"]["probabilities"] = json!(false);
                h["warmup"] = json!({"rows": [], "expected": []});
                assemble(
                    &serde_json::to_vec(&h).unwrap(),
                    &balanced_tree(depth as u32),
                )
            }),
        ),
        (
            "100,000-level categorical",
            true,
            100_000,
            header_shape("/schema/features/4/levels", r#""level-{i}""#),
        ),
    ]
}

/// The largest `n` up to `max` whose file is not refused for its header's
/// price.
fn largest_priced_in(make: &Make, max: usize) -> usize {
    let priced_out = |n: usize| {
        matches!(
            Artifact::from_bytes(&make(n), ReadOptions::new()),
            Err(ArtifactError::HeaderTooCostly { .. })
        )
    };
    assert!(priced_out(max), "the largest file is not priced out");
    // Up from a small file first, so that the probes stay near the boundary.
    let mut lo = 0;
    let mut hi = 1024.min(max);
    while hi < max && !priced_out(hi) {
        lo = hi;
        hi = (hi * 2).min(max);
    }
    // Within 2% of the boundary is close enough, and keeps the probes few.
    while hi - lo > 1.max(hi / 64) {
        let mid = lo + (hi - lo) / 2;
        if priced_out(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    lo
}

/// In the child: loads the file at `path` and prints the figures.
fn measure(path: &str) {
    let before = ALLOCATOR.allocated();
    let peak_before = ALLOCATOR.max_allocated();
    let outcome = Artifact::load(path, ReadOptions::new()).map(|_| ());
    let added = ALLOCATOR.max_allocated().max(peak_before) - before;
    let size = std::fs::metadata(path).unwrap().len();
    println!(
        "MEASURED {size} {added} {:?}",
        outcome.map_err(|e| e.to_string().chars().take(100).collect::<String>())
    );
}

/// Loads `file` in a child process; its size, the peak the load added, and
/// the outcome.
fn load_in_child(file: &[u8]) -> (usize, usize, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shape.mhart");
    std::fs::write(&path, file).unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "every_hostile_shape_loads_within_the_stated_multiple_of_its_size",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PATH_VAR, &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("MEASURED ").map(|(_, m)| m))
        .unwrap_or_else(|| panic!("no figures in {stdout}"));
    let mut parts = line.splitn(3, ' ');
    let size = parts.next().unwrap().parse().unwrap();
    let added = parts.next().unwrap().parse().unwrap();
    (size, added, parts.next().unwrap().to_string())
}

#[test]
fn every_hostile_shape_loads_within_the_stated_multiple_of_its_size() {
    if let Ok(path) = std::env::var(PATH_VAR) {
        measure(&path);
        return;
    }
    let mut report = Vec::new();
    let mut over = Vec::new();
    // `MODELHOST_MEMORY_ONLY=labels` runs the shapes whose name has "labels".
    let only = std::env::var("MODELHOST_MEMORY_ONLY").unwrap_or_default();
    for (name, legitimate, max, make) in shapes() {
        if !name.contains(only.as_str()) {
            continue;
        }
        // Hostile headers: the largest file, and the largest whose price
        // passes (the one closest to the budget).
        let counts = if legitimate {
            vec![max]
        } else {
            vec![max, largest_priced_in(&make, max)]
        };
        for n in counts {
            let (size, added, outcome) = load_in_child(&make(n));
            let line = format!(
                "{name} x {n}: {:.2} MiB -> peak +{:.1} MiB ({:.1}x the file): {outcome}",
                size as f64 / MIB,
                added as f64 / MIB,
                added as f64 / size as f64
            );
            let budget = ALLOCATION_MULTIPLE as usize * size + ALLOCATION_ALLOWANCE as usize;
            if added > budget {
                over.push(line.clone());
            }
            if legitimate {
                assert!(outcome.starts_with("Ok"), "{line}");
            }
            if n == max && !legitimate {
                assert!(outcome.contains("over its budget"), "{line}");
            }
            report.push(line);
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(over.is_empty(), "over the budget: {over:#?}");
}
