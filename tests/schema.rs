//! The validator's rules, as examples and as properties.

use std::collections::BTreeSet;

use modelhost::schema::{
    ExtraFeatures, InputError, SchemaDefinitionError, ValueType, ViolationKind,
};
use modelhost::{Feature, FeatureMap, FeatureSchema, FeatureValue};
use proptest::prelude::*;
use schemars::JsonSchema;
use serde::Serialize;

const EXACT: i64 = 1 << 53;

fn one(feature: Feature) -> FeatureSchema {
    FeatureSchema::builder().feature(feature).build().unwrap()
}

fn kinds(schema: &FeatureSchema, map: &FeatureMap) -> Vec<(String, ViolationKind)> {
    match schema.validate(map) {
        Ok(_) => Vec::new(),
        Err(e) => e
            .into_violations()
            .into_iter()
            .map(|v| (v.feature, v.kind))
            .collect(),
    }
}

// ---------------------------------------------------------------------------
// Reference rules, written independently of the implementation.

/// What a float feature with bounds [lo, hi] must do with `v`.
fn float_rule(v: &FeatureValue, lo: f64, hi: f64, allow: bool) -> Result<f64, &'static str> {
    let x = match v {
        FeatureValue::Float(x) => *x,
        FeatureValue::Int(i) if i.unsigned_abs() <= EXACT as u64 => *i as f64,
        FeatureValue::Int(_) => return Err("lossy"),
        FeatureValue::Null => return Err("missing"),
        _ => return Err("type"),
    };
    if x.is_nan() {
        return if allow { Ok(x) } else { Err("nonfinite") };
    }
    if x.is_infinite() && !allow {
        return Err("nonfinite");
    }
    if x < lo || x > hi {
        Err("range")
    } else {
        Ok(x)
    }
}

fn int_rule(v: &FeatureValue, lo: f64, hi: f64) -> Result<f64, &'static str> {
    let x = match v {
        FeatureValue::Int(i) if i.unsigned_abs() <= EXACT as u64 => *i as f64,
        FeatureValue::Int(_) => return Err("lossy"),
        FeatureValue::Float(x) if !x.is_finite() => return Err("nonfinite"),
        FeatureValue::Float(x) if x.trunc() == *x && x.abs() <= EXACT as f64 => *x,
        FeatureValue::Float(_) => return Err("lossy"),
        FeatureValue::Null => return Err("missing"),
        _ => return Err("type"),
    };
    if x < lo || x > hi {
        Err("range")
    } else {
        Ok(x)
    }
}

fn tag(kind: &ViolationKind) -> &'static str {
    match kind {
        ViolationKind::Missing => "missing",
        ViolationKind::WrongType { .. } => "type",
        ViolationKind::LossyCast { .. } => "lossy",
        ViolationKind::OutOfRange { .. } => "range",
        ViolationKind::NonFinite { .. } => "nonfinite",
        ViolationKind::UnknownCategory { .. } => "unknown",
        ViolationKind::Unexpected => "unexpected",
        _ => "other",
    }
}

fn any_value() -> impl Strategy<Value = FeatureValue> {
    prop_oneof![
        any::<f64>().prop_map(FeatureValue::Float),
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(-0.0),
            Just(2f64.powi(53)),
            Just(2f64.powi(53) + 2.0),
            (-1000i32..1000).prop_map(|i| f64::from(i) / 4.0),
        ]
        .prop_map(FeatureValue::Float),
        any::<i64>().prop_map(FeatureValue::Int),
        prop_oneof![
            Just(EXACT),
            Just(EXACT + 1),
            Just(-EXACT - 1),
            Just(i64::MIN),
            -1000i64..1000
        ]
        .prop_map(FeatureValue::Int),
        any::<bool>().prop_map(FeatureValue::Bool),
        "[a-z0-9.]{0,6}".prop_map(FeatureValue::Str),
        Just(FeatureValue::Null),
    ]
}

fn bound() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        Just(None),
        (-500i32..500).prop_map(|b| Some(f64::from(b) / 2.0))
    ]
}

fn apply(mut f: Feature, lo: Option<f64>, hi: Option<f64>) -> Feature {
    if let Some(l) = lo {
        f = f.min(l);
    }
    if let Some(h) = hi {
        f = f.max(h);
    }
    f
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// A float feature accepts exactly what the rules accept and encodes the
    /// value unchanged.
    #[test]
    fn float_feature_follows_the_rules(v in any_value(), lo in bound(), hi in bound(), allow in any::<bool>()) {
        prop_assume!(lo.zip(hi).is_none_or(|(l, h)| l <= h));
        let mut f = apply(Feature::float("x"), lo, hi);
        if allow {
            f = f.allow_non_finite();
        }
        let schema = one(f);
        let expected = float_rule(&v, lo.unwrap_or(f64::NEG_INFINITY), hi.unwrap_or(f64::INFINITY), allow);
        let got = schema.validate(&FeatureMap::new().with("x", v.clone()));
        match (expected, got) {
            (Ok(x), Ok(row)) => prop_assert!(row.as_slice()[0] == x || (x.is_nan() && row.as_slice()[0].is_nan())),
            (Err(tag_expected), Err(e)) => {
                prop_assert_eq!(e.violations().len(), 1);
                prop_assert_eq!(tag(&e.violations()[0].kind), tag_expected);
            }
            (e, g) => prop_assert!(false, "value {:?}: expected {:?}, got {:?}", v, e, g),
        }
    }

    /// NaN and infinities are always rejected unless allowed, whatever the bounds.
    #[test]
    fn non_finite_rejected_unless_allowed(lo in bound(), hi in bound(), which in 0..3usize) {
        prop_assume!(lo.zip(hi).is_none_or(|(l, h)| l <= h));
        let v = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY][which];
        for f in [apply(Feature::float("x"), lo, hi), apply(Feature::integer("x"), lo, hi)] {
            let got = kinds(&one(f), &FeatureMap::new().with("x", v));
            prop_assert_eq!(got.len(), 1);
            let non_finite = matches!(got[0].1, ViolationKind::NonFinite { .. });
            prop_assert!(non_finite, "{:?}", got);
        }
    }

    /// An integer feature takes integers and integral floats, never a lossy cast.
    #[test]
    fn integer_feature_casts_losslessly_only(v in any_value(), lo in bound(), hi in bound()) {
        prop_assume!(lo.zip(hi).is_none_or(|(l, h)| l <= h));
        let schema = one(apply(Feature::integer("n"), lo, hi));
        let expected = int_rule(&v, lo.unwrap_or(f64::NEG_INFINITY), hi.unwrap_or(f64::INFINITY));
        let got = schema.validate(&FeatureMap::new().with("n", v.clone()));
        match (expected, got) {
            (Ok(x), Ok(row)) => {
                prop_assert_eq!(row.as_slice()[0], x);
                prop_assert_eq!(row.as_slice()[0].fract(), 0.0);
            }
            (Err(t), Err(e)) => prop_assert_eq!(tag(&e.violations()[0].kind), t),
            (e, g) => prop_assert!(false, "value {:?}: expected {:?}, got {:?}", v, e, g),
        }
    }

    /// Strings are never parsed into numbers; numbers are never booleans or levels.
    #[test]
    fn no_cross_type_parsing(s in "[-+]?[0-9]{1,4}(\\.[0-9]{1,2})?", n in any::<i64>(), b in any::<bool>()) {
        let schema = FeatureSchema::builder()
            .feature(Feature::float("f"))
            .feature(Feature::integer("i"))
            .feature(Feature::boolean("b"))
            .feature(Feature::categorical("c", ["1", "0", "true"]))
            .build()
            .unwrap();
        let map = FeatureMap::new()
            .with("f", s.clone())
            .with("i", s.clone())
            .with("b", n)
            .with("c", b);
        let got = kinds(&schema, &map);
        prop_assert_eq!(got.len(), 4);
        for (_, k) in &got {
            let wrong_type = matches!(k, ViolationKind::WrongType { .. });
            prop_assert!(wrong_type, "{:?}", k);
        }
    }

    /// Every violation in a row is reported, exactly once, with its feature name.
    #[test]
    fn every_violation_is_reported(
        faults in proptest::collection::vec(0..6usize, 8),
        extras in proptest::collection::btree_set("[x-z][a-z]{1,4}", 0..3),
    ) {
        let names = ["a", "b", "c", "d", "e", "f", "g", "h"];
        let mut builder = FeatureSchema::builder();
        for n in names {
            builder = builder.feature(Feature::float(n).min(0.0).max(10.0));
        }
        let schema = builder.build().unwrap();
        let mut map = FeatureMap::new();
        let mut expected = BTreeSet::new();
        for (n, fault) in names.iter().zip(&faults) {
            match fault {
                0 => { map.insert(*n, 5.0); }
                1 => { expected.insert((n.to_string(), "missing")); }
                2 => { map.insert(*n, "5"); expected.insert((n.to_string(), "type")); }
                3 => { map.insert(*n, 11.0); expected.insert((n.to_string(), "range")); }
                4 => { map.insert(*n, f64::NAN); expected.insert((n.to_string(), "nonfinite")); }
                _ => { map.insert(*n, FeatureValue::Null); expected.insert((n.to_string(), "missing")); }
            }
        }
        for x in &extras {
            map.insert(x.clone(), 1.0);
            expected.insert((x.clone(), "unexpected"));
        }
        let got: Vec<(String, &str)> = kinds(&schema, &map).iter().map(|(f, k)| (f.clone(), tag(k))).collect();
        prop_assert_eq!(got.len(), expected.len(), "duplicates or omissions: {:?}", got);
        prop_assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), expected.clone());

        // The lenient schema reports the same minus the unexpected features.
        let lenient = schema.with_extra_features(ExtraFeatures::Ignore);
        let got: BTreeSet<(String, &str)> = kinds(&lenient, &map).iter().map(|(f, k)| (f.clone(), tag(k))).collect();
        let without: BTreeSet<_> = expected.into_iter().filter(|(_, t)| *t != "unexpected").collect();
        prop_assert_eq!(got, without);
    }

    /// A map that round-trips through JSON validates to the same row, and the
    /// batch path matches the single-row path.
    #[test]
    fn json_and_batch_paths_agree(rows in proptest::collection::vec((0i64..100, -50.0f64..50.0, any::<bool>(), 0..3usize), 1..20)) {
        let schema = FeatureSchema::builder()
            .feature(Feature::integer("n"))
            .feature(Feature::float("x"))
            .feature(Feature::boolean("b"))
            .feature(Feature::categorical("c", ["p", "q", "r"]))
            .build()
            .unwrap();
        let maps: Vec<FeatureMap> = rows.iter().map(|&(n, x, b, c)| {
            FeatureMap::new().with("n", n).with("x", x).with("b", b).with("c", ["p", "q", "r"][c])
        }).collect();
        let batch = schema.validate_batch(&maps).unwrap();
        for (i, m) in maps.iter().enumerate() {
            let json = serde_json::to_string(m).unwrap();
            let back: FeatureMap = serde_json::from_str(&json).unwrap();
            let row = schema.validate(&back).unwrap();
            prop_assert_eq!(row.as_slice(), batch.row(i));
            let direct = schema.validate(m).unwrap();
            prop_assert_eq!(row.as_slice(), direct.as_slice());
        }
    }
}

#[test]
fn categorical_unknown_level_maps_only_when_configured() {
    let strict = one(Feature::categorical(
        "device",
        ["mobile", "desktop", "other"],
    ));
    let lenient =
        one(Feature::categorical("device", ["mobile", "desktop", "other"]).unknown_as("other"));
    let tv = FeatureMap::new().with("device", "tv");
    assert_eq!(
        kinds(&strict, &tv),
        vec![(
            "device".to_string(),
            ViolationKind::UnknownCategory { value: "tv".into() }
        )]
    );
    assert_eq!(lenient.validate(&tv).unwrap().as_slice(), &[2.0]);
    assert_eq!(
        lenient
            .validate(&FeatureMap::new().with("device", "desktop"))
            .unwrap()
            .as_slice(),
        &[1.0]
    );
}

#[test]
fn optional_features_take_their_default_when_absent_or_null() {
    let schema = FeatureSchema::builder()
        .feature(Feature::float("a"))
        .feature(Feature::integer("b").optional(7))
        .feature(Feature::boolean("c").optional(true))
        .build()
        .unwrap();
    let row = schema
        .validate(
            &FeatureMap::new()
                .with("a", 1.5)
                .with("c", FeatureValue::Null),
        )
        .unwrap();
    assert_eq!(row.as_slice(), &[1.5, 7.0, 1.0]);
    // A required feature given as null is missing.
    assert_eq!(
        kinds(&schema, &FeatureMap::new().with("a", FeatureValue::Null)),
        vec![("a".to_string(), ViolationKind::Missing)]
    );
}

#[test]
fn batch_violations_carry_row_indices() {
    let schema = one(Feature::float("x").min(0.0));
    let rows = vec![
        FeatureMap::new().with("x", 1.0),
        FeatureMap::new().with("x", -1.0),
        FeatureMap::new(),
    ];
    let err = schema.validate_batch(&rows).unwrap_err();
    let at: Vec<Option<usize>> = err.violations().iter().map(|v| v.row).collect();
    assert_eq!(at, vec![Some(1), Some(2)]);
    assert!(
        err.to_string()
            .contains("row 1: `x` = -1 is out of range [0, inf]"),
        "{err}"
    );
}

#[test]
fn json_rejects_nested_values_and_duplicate_keys() {
    let nested = serde_json::from_str::<FeatureMap>(r#"{"x": [1, 2]}"#).unwrap_err();
    assert!(
        nested
            .to_string()
            .contains("a number, boolean, string or null"),
        "{nested}"
    );
    let dup = serde_json::from_str::<FeatureMap>(r#"{"x": 1, "x": 2}"#).unwrap_err();
    assert!(
        dup.to_string().contains("`x` is given more than once"),
        "{dup}"
    );
}

#[test]
fn definitions_are_checked_at_build() {
    let err = |b: modelhost::SchemaBuilder| b.build().unwrap_err();
    assert_eq!(err(FeatureSchema::builder()), SchemaDefinitionError::Empty);
    assert!(matches!(
        err(FeatureSchema::builder()
            .feature(Feature::float("a"))
            .feature(Feature::integer("a"))),
        SchemaDefinitionError::DuplicateName { .. }
    ));
    assert!(matches!(
        err(FeatureSchema::builder().feature(Feature::float("a").min(2.0).max(1.0))),
        SchemaDefinitionError::InvalidRange { .. }
    ));
    assert!(matches!(
        err(FeatureSchema::builder().feature(Feature::float("a").min(f64::NAN))),
        SchemaDefinitionError::InvalidRange { .. }
    ));
    assert!(matches!(
        err(FeatureSchema::builder().feature(Feature::categorical("c", ["x", "x"]))),
        SchemaDefinitionError::InvalidVocabulary { .. }
    ));
    assert!(matches!(
        err(FeatureSchema::builder().feature(Feature::categorical("c", Vec::<String>::new()))),
        SchemaDefinitionError::InvalidVocabulary { .. }
    ));
    assert!(matches!(
        err(FeatureSchema::builder().feature(Feature::categorical("c", ["x"]).unknown_as("y"))),
        SchemaDefinitionError::UnknownLevelNotInVocabulary { .. }
    ));
    assert!(matches!(
        err(FeatureSchema::builder().feature(Feature::integer("n").max(5.0).optional(9))),
        SchemaDefinitionError::InvalidDefault { .. }
    ));
    for misuse in [
        Feature::boolean("b").min(0.0),
        Feature::categorical("c", ["x"]).max(1.0),
        Feature::integer("n").allow_non_finite(),
        Feature::float("f").unknown_as("x"),
    ] {
        assert!(matches!(
            err(FeatureSchema::builder().feature(misuse)),
            SchemaDefinitionError::SetterMisuse { .. }
        ));
    }
}

#[test]
fn fingerprint_is_stable_and_tracks_encoding() {
    let build = |max: f64| {
        FeatureSchema::builder()
            .feature(Feature::float("a").max(max).describe("first"))
            .feature(Feature::categorical("c", ["x", "y"]))
            .build()
            .unwrap()
    };
    assert_eq!(build(1.0).fingerprint(), build(1.0).fingerprint());
    assert_ne!(build(1.0).fingerprint(), build(2.0).fingerprint());
    // Descriptions and the extra-feature policy do not change the encoding.
    let described = FeatureSchema::builder()
        .feature(Feature::float("a").max(1.0))
        .feature(Feature::categorical("c", ["x", "y"]))
        .extra_features(ExtraFeatures::Ignore)
        .build()
        .unwrap();
    assert_eq!(described.fingerprint(), build(1.0).fingerprint());
    // Serde round trip goes through the builder and keeps the fingerprint.
    let json = serde_json::to_string(&build(1.0)).unwrap();
    let back: FeatureSchema = serde_json::from_str(&json).unwrap();
    assert_eq!(back, build(1.0));
    assert_eq!(back.fingerprint(), build(1.0).fingerprint());
    // A definition that the builder refuses cannot be smuggled in by serde.
    let bad = json.replace(r#""levels":["x","y"]"#, r#""levels":["x","x"]"#);
    assert!(serde_json::from_str::<FeatureSchema>(&bad).is_err());
}

// ---------------------------------------------------------------------------
// Typed input.

#[derive(Serialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum Device {
    Mobile,
    Desktop,
    Tablet,
}

/// A webshop visit as the host application models it.
#[derive(Serialize, JsonSchema, Clone)]
struct Visit {
    /// Days since the last visit.
    #[schemars(range(max = 3650))]
    recency_days: u32,
    frequency: i32,
    basket_value: f64,
    device: Device,
    #[serde(default)]
    is_returning: bool,
}

#[test]
fn typed_struct_produces_schema_and_rows() {
    let schema = FeatureSchema::from_type::<Visit>().unwrap();
    let names: Vec<&str> = schema.features().iter().map(|f| f.name()).collect();
    assert_eq!(
        names,
        [
            "recency_days",
            "frequency",
            "basket_value",
            "device",
            "is_returning"
        ]
    );
    let (_, recency) = schema.feature("recency_days").unwrap();
    assert_eq!(
        recency.kind(),
        &modelhost::FeatureKind::Integer {
            min: Some(0.0),
            max: Some(3650.0)
        }
    );
    assert_eq!(recency.description(), Some("Days since the last visit."));
    assert!(!schema.feature("is_returning").unwrap().1.is_required());
    assert_eq!(
        schema.feature("device").unwrap().1.kind(),
        &modelhost::FeatureKind::Categorical {
            levels: vec!["mobile".into(), "desktop".into(), "tablet".into()],
            unknown_level: None
        }
    );

    let visit = Visit {
        recency_days: 4,
        frequency: 2,
        basket_value: 31.5,
        device: Device::Tablet,
        is_returning: true,
    };
    let typed = schema.encode(&visit).unwrap();
    let via_map = schema
        .validate(&serde_json::from_value(serde_json::to_value(&visit).unwrap()).unwrap())
        .unwrap();
    assert_eq!(typed.as_slice(), via_map.as_slice());
    assert_eq!(typed.as_slice(), &[4.0, 2.0, 31.5, 2.0, 1.0]);

    // The typed path applies the same checks.
    let too_old = Visit {
        recency_days: 5000,
        basket_value: f64::NAN,
        ..visit.clone()
    };
    let Err(InputError::Schema(e)) = schema.encode(&too_old) else {
        panic!("expected a schema error")
    };
    let got: BTreeSet<_> = e
        .violations()
        .iter()
        .map(|v| (v.feature.as_str(), tag(&v.kind)))
        .collect();
    assert_eq!(
        got,
        BTreeSet::from([("recency_days", "range"), ("basket_value", "nonfinite")])
    );

    // Batches of typed rows fill one matrix.
    let batch = schema.encode_batch(&[visit.clone(), visit]).unwrap();
    assert_eq!(batch.len(), 2);
    assert_eq!(batch.row(1), typed.as_slice());
}

#[test]
fn typed_path_reports_wrong_shapes() {
    #[derive(Serialize)]
    struct Other {
        recency_days: Vec<u8>,
        colour: &'static str,
    }
    let schema = FeatureSchema::from_type::<Visit>().unwrap();
    let Err(InputError::Schema(e)) = schema.encode(&Other {
        recency_days: vec![1],
        colour: "red",
    }) else {
        panic!("expected a schema error")
    };
    let got: BTreeSet<_> = e
        .violations()
        .iter()
        .map(|v| (v.feature.as_str(), tag(&v.kind)))
        .collect();
    assert!(got.contains(&("recency_days", "type")));
    assert!(got.contains(&("colour", "unexpected")));
    assert!(got.contains(&("device", "missing")));
    assert!(e.violations().iter().any(|v| matches!(
        v.kind,
        ViolationKind::WrongType {
            found: ValueType::Nested,
            ..
        }
    )));
    assert!(matches!(
        schema.encode(&42),
        Err(InputError::TypedInput { .. })
    ));
}

#[test]
fn unsupported_types_are_refused_with_a_reason() {
    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct Free {
        name: String,
    }
    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct Opt {
        x: Option<f64>,
    }
    assert!(matches!(
        FeatureSchema::from_type::<Free>(),
        Err(SchemaDefinitionError::UnsupportedType { .. })
    ));
    let err = FeatureSchema::from_type::<Opt>().unwrap_err();
    assert!(err.to_string().contains("no default"), "{err}");
}

#[test]
fn json_schema_export_describes_the_contract() {
    let schema = FeatureSchema::from_type::<Visit>().unwrap();
    let doc = schema.to_json_schema();
    assert_eq!(
        doc["properties"]["device"]["enum"],
        serde_json::json!(["mobile", "desktop", "tablet"])
    );
    assert_eq!(doc["properties"]["recency_days"]["maximum"], 3650.0);
    assert_eq!(doc["properties"]["is_returning"]["default"], false);
    assert_eq!(doc["additionalProperties"], false);
    let required: Vec<&str> = doc["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        required,
        ["recency_days", "frequency", "basket_value", "device"]
    );
}

/// Diffing two 100,000-level vocabularies was quadratic (seconds under the
/// swap lock) and named every removed level; now it is linear and names
/// five, counting the rest.
#[test]
fn removed_levels_of_large_vocabularies_are_found_and_counted() {
    let vocabulary = |from: usize| {
        FeatureSchema::builder()
            .feature(Feature::categorical(
                "product",
                (from..from + 100_000).map(|i| format!("sku-{i}")),
            ))
            .build()
            .unwrap()
    };
    let diff = modelhost::schema::SchemaDiff::between(&vocabulary(0), &vocabulary(50_000));
    assert_eq!(diff.breaking.len(), 1);
    let reason = &diff.breaking[0];
    assert!(
        reason.contains(r#"["sku-0", "sku-1", "sku-2", "sku-3", "sku-4"] and 49995 more"#),
        "{reason}"
    );
    assert!(reason.len() < 200, "{reason}");
    assert!(!modelhost::schema::SchemaDiff::between(&vocabulary(0), &vocabulary(0)).is_breaking());
}
