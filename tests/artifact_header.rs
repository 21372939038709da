//! Headers that decode but say something impossible are refused with a
//! typed error, on every read path (checksum valid), and are not written.

#[path = "../examples/common/mod.rs"]
mod common;

use modelhost::artifact::{
    Artifact, ArtifactError, FORMAT_VERSION, HeaderError, MAGIC, MAX_CREATED_AT, MAX_VERSION,
    ReadOptions,
};
use serde_json::json;
use sha2::{Digest, Sha256};

fn assemble(header: &serde_json::Value, payload: &[u8]) -> Vec<u8> {
    let header = serde_json::to_vec(header).unwrap();
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

fn good() -> (serde_json::Value, Vec<u8>) {
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
}

/// The header error for `header`, the same from the verified and the
/// unverified read.
fn header_error(header: &serde_json::Value, payload: &[u8]) -> HeaderError {
    let bytes = assemble(header, payload);
    let verified = Artifact::from_bytes(&bytes, ReadOptions::new());
    let unverified = Artifact::header_unverified(&bytes, ReadOptions::new());
    match (verified, unverified) {
        (Err(ArtifactError::InvalidHeader(a)), Err(ArtifactError::InvalidHeader(b))) => {
            assert_eq!(a, b);
            a
        }
        (a, b) => panic!("expected InvalidHeader from both reads, got {a:?} and {b:?}"),
    }
}

fn with(header: &serde_json::Value, pointer: &str, value: serde_json::Value) -> serde_json::Value {
    let mut h = header.clone();
    *h.pointer_mut(pointer).unwrap() = value;
    h
}

#[test]
fn the_unmodified_header_passes() {
    let (header, payload) = good();
    Artifact::from_bytes(&assemble(&header, &payload), ReadOptions::new())
        .unwrap()
        .into_loaded(ReadOptions::new())
        .unwrap();
    let last = with(&header, "/created_at", json!(MAX_CREATED_AT));
    let last = with(&last, "/version", json!(MAX_VERSION));
    Artifact::from_bytes(&assemble(&last, &payload), ReadOptions::new()).unwrap();
}

/// Creation times past the year 9999 made the CLI panic printing them.
#[test]
fn creation_times_no_calendar_can_print_are_refused() {
    let (header, payload) = good();
    for t in [MAX_CREATED_AT + 1, u64::MAX] {
        let e = header_error(&with(&header, "/created_at", json!(t)), &payload);
        assert_eq!(e, HeaderError::CreatedAtOutOfRange { created_at: t });
    }
}

/// A version of `u64::MAX` made every later swap look stale.
#[test]
fn versions_past_the_largest_are_refused_and_not_written() {
    let (header, payload) = good();
    for v in [MAX_VERSION + 1, u64::MAX] {
        let e = header_error(&with(&header, "/version", json!(v)), &payload);
        assert!(matches!(e, HeaderError::VersionOutOfRange { version, .. } if version == v));
    }
    let mut artifact = common::tree_artifact("shop", 300, 5, 3).unwrap();
    artifact.header_mut().version = u64::MAX;
    assert!(matches!(
        artifact.to_bytes(),
        Err(ArtifactError::InvalidHeader(
            HeaderError::VersionOutOfRange { .. }
        ))
    ));
}

#[test]
fn duplicate_and_empty_labels_are_refused() {
    let (header, payload) = good();
    let e = header_error(
        &with(&header, "/output/labels", json!(["buy", "buy"])),
        &payload,
    );
    assert_eq!(
        e,
        HeaderError::DuplicateLabel {
            label: "buy".into(),
            first: 0,
            second: 1
        }
    );
    let e = header_error(
        &with(&header, "/output/labels", json!(["", "buy"])),
        &payload,
    );
    assert_eq!(e, HeaderError::EmptyLabel { index: 0 });
    let e = header_error(&with(&header, "/output/labels", json!([])), &payload);
    assert_eq!(e, HeaderError::NoLabels);
    // A long duplicate is quoted in part: the error stays small.
    let long = "é".repeat(10_000);
    let e = header_error(
        &with(&header, "/output/labels", json!([long, long])),
        &payload,
    );
    assert!(e.to_string().len() < 200, "{e}");
}

/// -0.9 and 1.7 were read as classes 0 and 1.
#[test]
fn fractional_negative_and_out_of_range_expectations_are_refused() {
    let (header, payload) = good();
    let n = header["warmup"]["expected"].as_array().unwrap().len();
    assert!(n > 0);
    for bad in [-0.9, 1.7, -1.0, 2.0, 1e300] {
        let mut expected = vec![json!(0.0); n];
        expected[n - 1] = json!(bad);
        let e = header_error(
            &with(&header, "/warmup/expected", json!(expected)),
            &payload,
        );
        assert!(
            matches!(e, HeaderError::WarmupClass { index, value, labels: 2 } if index == n - 1 && value == bad),
            "{e:?}"
        );
    }
    let e = header_error(&with(&header, "/warmup/expected", json!([])), &payload);
    assert_eq!(
        e,
        HeaderError::WarmupCount {
            rows: n,
            expected: 0
        }
    );
}

/// Schema bounds that exclude the artifact's own warm-up rows: a model that
/// could never be asked what its warm-up checks.
#[test]
fn warm_up_rows_outside_the_schema_are_refused() {
    let (header, payload) = good();
    let features = header["schema"]["features"].as_array().unwrap();
    let recency = features
        .iter()
        .position(|f| f["name"] == "recency_days")
        .unwrap();
    let mut narrow = header.clone();
    let kind = narrow
        .pointer_mut(&format!("/schema/features/{recency}"))
        .unwrap();
    let text = kind.to_string();
    // The schema serializes bounds as `max`; tighten the one it has.
    assert!(text.contains("\"max\":3650"), "{text}");
    let tightened: serde_json::Value = serde_json::from_str(
        &text
            .replace("\"max\":3650.0", "\"max\":0.0")
            .replace("\"max\":3650", "\"max\":0.0"),
    )
    .unwrap();
    *kind = tightened;
    let e = header_error(&narrow, &payload);
    assert!(matches!(e, HeaderError::WarmupRow { .. }), "{e:?}");
}
