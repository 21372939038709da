//! Artifacts: round trips, and every kind of corrupt or hostile file.

#[path = "../examples/common/mod.rs"]
mod common;

use std::alloc::System;

use cap::Cap;
use linfa::prelude::*;
use linfa_trees::DecisionTree;
use modelhost::artifact::{Artifact, ArtifactError, FORMAT_VERSION, MAGIC, ReadOptions};
use modelhost::model::ModelError;
use modelhost::{FeatureBatch, InProcessServer, ModelServer, PredictRequest};
use sha2::{Digest, Sha256};

/// Tracks the peak heap use, so hostile inputs can be shown not to allocate.
#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

fn train(
    n: usize,
    depth: usize,
    seed: u64,
) -> (
    modelhost::FeatureSchema,
    DecisionTree<f64, usize>,
    FeatureBatch,
    Vec<usize>,
) {
    let (batch, tree) = common::train_tree(n, seed, depth).unwrap();
    let (_, targets) = common::webshop_data(n, seed, 0.0);
    (common::webshop_schema(), tree, batch, targets)
}

fn small_artifact() -> Vec<u8> {
    let (schema, tree, batch, targets) = train(120, 4, 1);
    Artifact::decision_tree(
        "shop",
        &tree,
        &schema,
        common::LABELS,
        (&batch, &targets[..]),
    )
    .unwrap()
    .with_metric("accuracy", 0.9)
    .to_bytes()
    .unwrap()
}

fn artifact_error(bytes: &[u8]) -> ArtifactError {
    match Artifact::from_bytes(bytes, ReadOptions::new())
        .and_then(|a| a.into_loaded(ReadOptions::new()))
    {
        Err(ArtifactError::Model(other)) => panic!("expected an artifact error, got {other}"),
        Err(e) => e,
        Ok(_) => panic!("corrupt artifact accepted"),
    }
}

/// Assembles an artifact from raw parts with a correct checksum, so tests
/// reach the checks that come after it.
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

/// Splits a valid artifact into header JSON and payload.
fn parts(bytes: &[u8]) -> (serde_json::Value, Vec<u8>) {
    let h = u64::from_le_bytes(bytes[12..20].try_into().unwrap()) as usize;
    let p = u64::from_le_bytes(bytes[20..28].try_into().unwrap()) as usize;
    (
        serde_json::from_slice(&bytes[28..28 + h]).unwrap(),
        bytes[28 + h..28 + h + p].to_vec(),
    )
}

#[test]
fn round_trip_predicts_identically_on_1000_rows() {
    let (schema, tree, batch, targets) = train(2_000, 8, 2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop.mhart");
    Artifact::decision_tree(
        "shop",
        &tree,
        &schema,
        common::LABELS,
        (&batch, &targets[..]),
    )
    .unwrap()
    .with_metric("auc", 0.81)
    .with_tag("trained_by", "test")
    .write(&path)
    .unwrap();
    let loaded = Artifact::load(&path, ReadOptions::new()).unwrap();
    assert_eq!(loaded.header.metrics["auc"], 0.81);
    assert_eq!(loaded.header.tags["trained_by"], "test");
    assert_eq!(loaded.header.schema, schema);
    let reference = loaded.header.reference.as_ref().unwrap();
    assert_eq!(reference.rows, 2_000);
    assert_eq!(reference.features.len(), schema.len());
    assert!(!loaded.header.warmup.rows.is_empty());

    let (rows, _) = common::webshop_data(1_000, 99, 0.3);
    let fresh = schema.validate_batch(&rows).unwrap();
    let before = tree.predict(&fresh.rows().to_owned());
    let after = loaded.model.predict_batch(fresh.rows()).unwrap();
    assert_eq!(after.class_indices().unwrap(), before.as_slice().unwrap());
    // Every row carries the class shares of its leaf: a distribution over
    // both labels.
    for i in 0..after.len() {
        let p = after.probabilities(i).expect("probabilities");
        assert_eq!(p.len(), 2);
        assert!((p.sum() - 1.0).abs() < 1e-9, "row {i}: {p}");
        assert!(p.iter().all(|&v| (0.0..=1.0).contains(&v)));
    }

    // The loaded artifact serves, warm-up included.
    let server = InProcessServer::new(loaded.deployment().unwrap()).unwrap();
    let r = server.predict(PredictRequest::new(&rows[0])).unwrap();
    assert_eq!(r.label(0), Some(common::LABELS[before[0]]));
}

#[test]
fn every_truncation_is_rejected_with_a_typed_error() {
    let bytes = small_artifact();
    for len in 0..bytes.len() {
        let e = artifact_error(&bytes[..len]);
        assert!(
            matches!(
                e,
                ArtifactError::BadMagic
                    | ArtifactError::Truncated { .. }
                    | ArtifactError::LengthMismatch { .. }
            ),
            "truncated to {len}: {e}"
        );
    }
}

#[test]
fn every_single_byte_flip_is_rejected_with_a_typed_error() {
    let bytes = small_artifact();
    let mut copy = bytes.clone();
    for i in 0..bytes.len() {
        copy[i] ^= 0x01;
        let e = artifact_error(&copy);
        assert!(
            matches!(
                e,
                ArtifactError::BadMagic
                    | ArtifactError::UnsupportedFormat { .. }
                    | ArtifactError::LengthMismatch { .. }
                    | ArtifactError::ChecksumMismatch
            ),
            "flip at {i}: {e}"
        );
        copy[i] = bytes[i];
    }
    assert!(Artifact::from_bytes(&copy, ReadOptions::new()).is_ok());
}

#[test]
fn wrong_magic_and_future_formats_are_refused() {
    let mut bytes = small_artifact();
    assert!(matches!(
        artifact_error(b"GIF89a..."),
        ArtifactError::BadMagic
    ));
    bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let e = artifact_error(&bytes);
    assert!(
        matches!(e, ArtifactError::UnsupportedFormat { found, .. } if found == FORMAT_VERSION + 1),
        "{e}"
    );
    assert!(e.to_string().contains("not supported"));
}

#[test]
fn huge_length_prefixes_are_refused_without_allocating() {
    let bytes = small_artifact();
    for bogus in [1u64 << 32, 1 << 60, u64::MAX] {
        for at in [12usize, 20] {
            let mut copy = bytes.clone();
            copy[at..at + 8].copy_from_slice(&bogus.to_le_bytes());
            assert!(matches!(
                artifact_error(&copy),
                ArtifactError::LengthMismatch { .. }
            ));
        }
    }
    // Inside the payload: a node list claiming 2^32, 2^60 and u64::MAX
    // entries (bincode varint: 0xFD then 8 little-endian bytes). The checksum
    // is right, so only the decoder's limit stands in the way.
    let (mut header, _) = parts(&bytes);
    let v2 = serde_json::to_vec(&header).unwrap();
    header["payload_version"] = serde_json::json!(1);
    let v1 = serde_json::to_vec(&header).unwrap();
    for bogus in [1u64 << 32, 1 << 60, u64::MAX] {
        let mut payload = vec![6u8, 0xFD];
        payload.extend_from_slice(&bogus.to_le_bytes());
        let e = artifact_error(&assemble(&v1, &payload));
        assert!(matches!(e, ArtifactError::Payload { .. }), "{e}");
        // Version 2: 6 features, 2 labels, distributions, then the count.
        let mut payload = Vec::new();
        for v in [6u64, 2] {
            payload.extend_from_slice(&v.to_le_bytes());
        }
        payload.push(1);
        payload.extend_from_slice(&bogus.to_le_bytes());
        let e = artifact_error(&assemble(&v2, &payload));
        assert!(matches!(e, ArtifactError::Payload { .. }), "{e}");
    }
    // The peak heap of this whole test binary stays far below what any of the
    // claimed lengths would need (2^32 nodes are over 100 GiB).
    let peak = ALLOC.max_allocated();
    assert!(
        peak < 256 << 20,
        "peak heap {peak} bytes: a hostile length was allocated"
    );
}

#[test]
fn oversized_files_are_refused_before_reading() {
    let bytes = small_artifact();
    let options = ReadOptions::new().max_file_bytes(1_000);
    assert!(matches!(
        Artifact::from_bytes(&bytes, options),
        Err(ArtifactError::TooLarge { max: 1_000, .. })
    ));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.mhart");
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        Artifact::read(&path, options),
        Err(ArtifactError::TooLarge { .. })
    ));
}

/// A chain of 100,000 nested splits: decoding a nested tree representation
/// of this would overflow the stack. The flat encoding decodes it without
/// recursion, and the depth limit refuses it before the tree is rebuilt —
/// even on a thread with a 256 KiB stack.
#[test]
fn deeply_nested_payloads_cannot_overflow_the_stack() {
    let bytes = small_artifact();
    let (mut header, _) = parts(&bytes);
    header["payload_version"] = serde_json::json!(1);
    let header_bytes = serde_json::to_vec(&header).unwrap();
    const DEPTH: u64 = 100_000;
    let mut payload = vec![6u8];
    // Vec length, then nodes: feature, threshold, impurity, children, prediction, name.
    let node = |payload: &mut Vec<u8>, children: Option<(u64, u64)>| {
        payload.push(0); // feature 0
        payload.extend_from_slice(&1.0f64.to_le_bytes());
        payload.extend_from_slice(&0.0f64.to_le_bytes());
        match children {
            None => payload.push(0),
            Some((l, r)) => {
                payload.push(1);
                for c in [l, r] {
                    payload.push(0xFD);
                    payload.extend_from_slice(&c.to_le_bytes());
                }
            }
        }
        payload.push(0); // class 0
        payload.push(0); // empty feature name
    };
    let n = 2 * DEPTH + 1;
    payload.push(0xFD);
    payload.extend_from_slice(&n.to_le_bytes());
    // Node 2k is inner with children 2k+1 (leaf) and 2k+2 (next level).
    for k in 0..DEPTH {
        node(&mut payload, Some((2 * k + 1, 2 * k + 2)));
        node(&mut payload, None);
    }
    node(&mut payload, None);
    let hostile = assemble(&header_bytes, &payload);

    let handle = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(move || artifact_error(&hostile).to_string())
        .unwrap();
    let message = handle.join().expect("no stack overflow, no panic");
    assert!(message.contains("deeper than the limit"), "{message}");

    // A header nested 100,000 levels deep is refused by the JSON parser's
    // nesting limit.
    let deep_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let hostile = assemble(deep_json.as_bytes(), &[]);
    let handle = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(move || artifact_error(&hostile).to_string())
        .unwrap();
    let message = handle.join().expect("no stack overflow, no panic");
    assert!(message.contains("header is invalid"), "{message}");
}

#[test]
fn invalid_trees_and_failing_warmups_are_refused() {
    let bytes = small_artifact();
    let (header, payload) = parts(&bytes);

    // A header whose schema has fewer features than the tree was trained on.
    let mut narrow = header.clone();
    narrow["schema"]["features"]
        .as_array_mut()
        .unwrap()
        .truncate(2);
    // Without warm-up rows, which the narrower schema would refuse first.
    narrow["warmup"] = serde_json::json!({"rows": [], "expected": []});
    let e = artifact_error(&assemble(&serde_json::to_vec(&narrow).unwrap(), &payload));
    assert!(matches!(e, ArtifactError::InvalidModel { .. }), "{e}");

    // Fewer labels than the tree's classes.
    let mut one_label = header.clone();
    one_label["output"]["labels"] = serde_json::json!(["only"]);
    let e = artifact_error(&assemble(
        &serde_json::to_vec(&one_label).unwrap(),
        &payload,
    ));
    assert!(e.to_string().contains("labels"), "{e}");

    // Warm-up rows that expect other predictions.
    let mut wrong = header.clone();
    let expected: Vec<f64> = wrong["warmup"]["expected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| 1.0 - v.as_f64().unwrap())
        .collect();
    wrong["warmup"]["expected"] = serde_json::json!(expected);
    match Artifact::from_bytes(
        &assemble(&serde_json::to_vec(&wrong).unwrap(), &payload),
        ReadOptions::new(),
    )
    .and_then(|a| a.into_loaded(ReadOptions::new()))
    {
        Err(ArtifactError::Model(ModelError::WarmupFailed { .. })) => {}
        other => panic!("expected a warm-up failure, got {other:?}"),
    }

    // Trailing garbage after the payload.
    let mut longer = payload.clone();
    longer.push(0);
    let e = artifact_error(&assemble(&serde_json::to_vec(&header).unwrap(), &longer));
    assert!(matches!(e, ArtifactError::Payload { .. }), "{e}");
}

/// A version-1 tree payload (bincode, as written before kinds were open):
/// one split on feature `feature` at `threshold`, leaves predicting 0 and 1.
fn v1_stump(feature: u8, threshold: f64) -> Vec<u8> {
    let mut payload = vec![6u8, 3];
    let node = |payload: &mut Vec<u8>, children: Option<(u8, u8)>, class: u8| {
        payload.push(feature);
        payload.extend_from_slice(&threshold.to_le_bytes());
        payload.extend_from_slice(&0.0f64.to_le_bytes());
        match children {
            None => payload.push(0),
            Some((l, r)) => payload.extend_from_slice(&[1, l, r]),
        }
        payload.push(class);
        payload.push(0);
    };
    node(&mut payload, Some((1, 2)), 0);
    node(&mut payload, None, 0);
    node(&mut payload, None, 1);
    payload
}

#[test]
fn artifacts_from_before_open_kinds_still_load_without_probabilities() {
    let (mut header, _) = parts(&small_artifact());
    // Written before: no payload version, no warm-up for this stump.
    header.as_object_mut().unwrap().remove("payload_version");
    header["output"]
        .as_object_mut()
        .unwrap()
        .remove("probabilities");
    header["warmup"] = serde_json::json!({ "rows": [], "expected": [] });
    // Feature 2 is basket_value.
    let bytes = assemble(&serde_json::to_vec(&header).unwrap(), &v1_stump(2, 100.0));
    let loaded = Artifact::from_bytes(&bytes, ReadOptions::new())
        .and_then(|a| a.into_loaded(ReadOptions::new()))
        .unwrap();
    assert_eq!(loaded.header.payload_version, 1);
    let (rows, _) = common::webshop_data(200, 5, 0.0);
    let fresh = common::webshop_schema().validate_batch(&rows).unwrap();
    let out = loaded.model.predict_batch(fresh.rows()).unwrap();
    for i in 0..out.len() {
        let expected = usize::from(fresh.row(i)[2] >= 100.0);
        assert_eq!(out.class_indices().unwrap()[i], expected, "row {i}");
    }
    assert!(out.probabilities(0).is_none());
}

#[test]
fn unknown_kinds_and_payload_versions_are_refused_by_name() {
    let bytes = small_artifact();
    let (header, payload) = parts(&bytes);

    let mut other = header.clone();
    other["model_kind"] = serde_json::json!("acme.not_registered");
    let e = artifact_error(&assemble(&serde_json::to_vec(&other).unwrap(), &payload));
    assert!(
        matches!(&e, ArtifactError::UnknownKind { kind, known }
            if kind.as_str() == "acme.not_registered" && known.contains("decision_tree_classifier")),
        "{e}"
    );

    let mut future = header.clone();
    future["payload_version"] = serde_json::json!(99);
    let e = artifact_error(&assemble(&serde_json::to_vec(&future).unwrap(), &payload));
    assert!(
        matches!(e, ArtifactError::UnsupportedPayload { found: 99, .. }),
        "{e}"
    );

    // A kind id that is not one is a header error.
    let mut bad = header.clone();
    bad["model_kind"] = serde_json::json!("Robert'); DROP TABLE");
    let e = artifact_error(&assemble(&serde_json::to_vec(&bad).unwrap(), &payload));
    assert!(matches!(e, ArtifactError::Header { .. }), "{e}");
}

/// The checksum keeps corrupt files out; behind it, the decoder itself must
/// refuse every truncated payload and survive every flipped bit (a flip in a
/// threshold or a class share can still be a valid tree, so those may load).
#[test]
fn the_tree_decoder_refuses_truncations_and_survives_every_bit_flip() {
    let bytes = small_artifact();
    let (header, payload) = parts(&bytes);
    let header = serde_json::to_vec(&header).unwrap();
    for len in 0..payload.len() {
        let e = artifact_error(&assemble(&header, &payload[..len]));
        assert!(
            matches!(
                e,
                ArtifactError::Payload { .. } | ArtifactError::InvalidModel { .. }
            ),
            "payload cut to {len}: {e}"
        );
    }
    let mut copy = payload.clone();
    for i in 0..payload.len() {
        for bit in 0..8 {
            copy[i] ^= 1 << bit;
            let _ = Artifact::from_bytes(&assemble(&header, &copy), ReadOptions::new())
                .and_then(|a| a.into_loaded(ReadOptions::new()));
            copy[i] = payload[i];
        }
    }
}

/// A version-2 tree payload: a chain of `depth` splits on feature 0 at
/// `threshold`, each with a leaf on its left and the next split on its
/// right, ending in a leaf.
fn chain_payload(depth: u64, threshold: f64) -> Vec<u8> {
    let mut payload = Vec::new();
    for v in [6u64, 2] {
        payload.extend_from_slice(&v.to_le_bytes());
    }
    payload.push(1);
    payload.extend_from_slice(&(2 * depth + 1).to_le_bytes());
    let leaf = |payload: &mut Vec<u8>| {
        payload.push(0);
        payload.extend_from_slice(&0u64.to_le_bytes());
        payload.extend_from_slice(&1.0f64.to_le_bytes());
        payload.extend_from_slice(&0.0f64.to_le_bytes());
    };
    for k in 0..depth {
        payload.push(1);
        payload.extend_from_slice(&0u64.to_le_bytes());
        payload.extend_from_slice(&threshold.to_le_bytes());
        payload.extend_from_slice(&(2 * k + 1).to_le_bytes());
        payload.extend_from_slice(&(2 * k + 2).to_le_bytes());
        leaf(&mut payload);
    }
    leaf(&mut payload);
    payload
}

#[test]
fn deep_version_2_trees_are_refused_by_the_depth_limit() {
    let bytes = small_artifact();
    let (header, _) = parts(&bytes);
    let header = serde_json::to_vec(&header).unwrap();
    let payload = chain_payload(10_000, 1.0);
    let e = artifact_error(&assemble(&header, &payload));
    assert!(e.to_string().contains("deeper than the limit"), "{e}");
}

#[test]
fn built_in_kinds_are_registered_and_cannot_be_replaced() {
    use modelhost::artifact::{
        ArtifactHeader, DecodeLimits, KindDecoder, KindRegistry, ModelKind, register_kind,
    };
    #[derive(Debug)]
    struct Impostor;
    impl KindDecoder for Impostor {
        fn kind(&self) -> ModelKind {
            ModelKind::DECISION_TREE_CLASSIFIER
        }
        fn payload_versions(&self) -> std::ops::RangeInclusive<u32> {
            1..=9
        }
        fn decode(
            &self,
            _: &[u8],
            _: u32,
            _: &ArtifactHeader,
            _: &DecodeLimits,
        ) -> Result<std::sync::Arc<dyn modelhost::model::Model>, ArtifactError> {
            unreachable!("never registered")
        }
    }
    let kinds = KindRegistry::global().kinds();
    for k in [
        ModelKind::DECISION_TREE_CLASSIFIER,
        ModelKind::LOGISTIC_REGRESSION,
        ModelKind::RANDOM_FOREST_CLASSIFIER,
        ModelKind::LINEAR_REGRESSION,
    ] {
        assert!(kinds.contains(&k), "{k} missing");
    }
    let e = register_kind(std::sync::Arc::new(Impostor)).unwrap_err();
    assert!(
        matches!(e, ArtifactError::KindTaken { kind } if kind == ModelKind::DECISION_TREE_CLASSIFIER)
    );
    assert!(ModelKind::new("").is_err());
    assert!(ModelKind::new(&"a".repeat(49)).is_err());
    assert_eq!(ModelKind::new(&"a".repeat(48)).unwrap().as_str().len(), 48);
}

/// The deepest tree the default limit accepts loads and predicts on a
/// thread with a 512 KiB stack, in a debug build too: neither decoding nor
/// prediction recurses per level. (A linfa tree rebuilt from such an
/// artifact used to overflow that stack at depth 192.)
#[test]
fn the_deepest_accepted_tree_loads_and_predicts_on_a_small_stack() {
    let bytes = small_artifact();
    let (mut header, _) = parts(&bytes);
    // The chain predicts class 0 everywhere: no warm-up to reproduce.
    header["warmup"]["rows"] = serde_json::json!([]);
    header["warmup"]["expected"] = serde_json::json!([]);
    let header = serde_json::to_vec(&header).unwrap();
    // Every row goes right at every level: the whole chain is walked.
    let chain = move |depth: u64| {
        let payload = chain_payload(depth, -1.0e9);
        assemble(&header, &payload)
    };
    let handle = std::thread::Builder::new()
        .stack_size(512 << 10)
        .spawn(move || {
            // The deepest chain the default limit takes, found from below.
            let mut accepted = None;
            for depth in (200..=300).rev() {
                if let Ok(a) = Artifact::from_bytes(&chain(depth), ReadOptions::new())
                    .and_then(|a| a.into_loaded(ReadOptions::new()))
                {
                    accepted = Some((depth, a));
                    break;
                }
            }
            let (depth, loaded) = accepted.unwrap_or_else(|| {
                let e = Artifact::from_bytes(&chain(200), ReadOptions::new())
                    .and_then(|a| a.into_loaded(ReadOptions::new()))
                    .unwrap_err();
                panic!("no chain of 200..=300 levels loads: {e}")
            });
            let d = loaded.deployment().unwrap();
            let rows = ndarray::Array2::<f64>::zeros((4, d.schema().len()));
            let p = d.predict(rows.view()).unwrap();
            (depth, p.len())
        })
        .unwrap();
    let (depth, predicted) = handle.join().expect("no stack overflow");
    assert!(depth >= 255, "only {depth} levels accepted");
    assert_eq!(predicted, 4);
}
