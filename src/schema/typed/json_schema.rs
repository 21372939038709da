//! JSON Schema (as schemars writes it) → [`FeatureSchema`].

use serde_json::{Map, Value};

use crate::schema::{
    ExtraFeatures, Feature, FeatureKind, FeatureSchema, FeatureValue, SchemaDefinitionError,
};

fn unsupported(feature: Option<&str>, reason: impl Into<String>) -> SchemaDefinitionError {
    SchemaDefinitionError::UnsupportedType {
        feature: feature.map(str::to_owned),
        reason: reason.into(),
    }
}

pub(super) fn from_json_schema(root: &Value) -> Result<FeatureSchema, SchemaDefinitionError> {
    let defs = root.get("$defs").and_then(Value::as_object);
    let resolve = |v| resolve_ref(defs, v);
    let props = root
        .get("properties")
        .and_then(Value::as_object)
        .ok_or_else(|| unsupported(None, "the type is not a struct with named fields"))?;
    let required: Vec<&str> = root
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();

    let mut builder = FeatureSchema::builder();
    if root.get("additionalProperties") == Some(&Value::Bool(true)) {
        builder = builder.extra_features(ExtraFeatures::Ignore);
    }
    for (name, prop) in props {
        let prop = resolve(prop);
        let (kind_schema, nullable) = non_null_part(prop, defs);
        let kind_schema = resolve(kind_schema);
        let kind = kind_of(name, kind_schema)?;
        let mut feature = Feature::of_kind(name.clone(), kind);
        let bound = |key: &str| {
            prop.get(key)
                .or_else(|| kind_schema.get(key))
                .and_then(Value::as_f64)
        };
        if let Some(m) = bound("minimum") {
            feature = feature.min(m);
        }
        if let Some(m) = bound("maximum") {
            feature = feature.max(m);
        }
        if let Some(d) = prop
            .get("description")
            .or_else(|| kind_schema.get("description"))
            .and_then(Value::as_str)
        {
            feature = feature.describe(d);
        }
        match prop.get("default") {
            Some(d) if !d.is_null() => {
                let d: FeatureValue = serde_json::from_value(d.clone())
                    .map_err(|e| unsupported(Some(name), format!("unusable default: {e}")))?;
                feature = feature.optional(d);
            }
            _ if required.contains(&name.as_str()) && !nullable => {}
            _ => {
                return Err(unsupported(
                    Some(name),
                    format!(
                        "field `{name}` is optional but has no default; give it one with \
                         #[serde(default)] on a non-Option field"
                    ),
                ));
            }
        }
        builder = builder.feature(feature);
    }
    builder.build()
}

/// Follows local `$ref`s (a bounded number of times).
fn resolve_ref<'v>(defs: Option<&'v Map<String, Value>>, mut v: &'v Value) -> &'v Value {
    for _ in 0..8 {
        let target = v
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/$defs/"))
            .and_then(|name| defs?.get(name));
        match target {
            Some(t) => v = t,
            None => break,
        }
    }
    v
}

/// Splits `T | null` (as schemars writes `Option<T>`) into `T` and a flag.
fn non_null_part<'v>(prop: &'v Value, defs: Option<&'v Map<String, Value>>) -> (&'v Value, bool) {
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = prop.get(key).and_then(Value::as_array) {
            let (nulls, rest): (Vec<&Value>, Vec<&Value>) = options
                .iter()
                .partition(|o| resolve_ref(defs, o).get("type") == Some(&Value::from("null")));
            if !nulls.is_empty() && rest.len() == 1 {
                return (rest[0], true);
            }
        }
    }
    let nullable = prop
        .get("type")
        .and_then(Value::as_array)
        .is_some_and(|t| t.iter().any(|x| x == "null"));
    (prop, nullable)
}

fn kind_of(name: &str, s: &Value) -> Result<FeatureKind, SchemaDefinitionError> {
    let types: Vec<&str> = match s.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => Vec::new(),
    };
    if let Some(levels) = enum_levels(s) {
        return Ok(FeatureKind::Categorical {
            levels,
            unknown_level: None,
        });
    }
    match types.as_slice() {
        ["number"] => Ok(FeatureKind::Float {
            min: None,
            max: None,
            allow_non_finite: false,
        }),
        ["integer"] => Ok(FeatureKind::Integer {
            min: None,
            max: None,
        }),
        ["boolean"] => Ok(FeatureKind::Boolean),
        _ => Err(unsupported(
            Some(name),
            format!(
                "field `{name}` has no feature kind (use a number, bool, or unit-variant enum)"
            ),
        )),
    }
}

/// Levels of a string enum written as `enum: [...]` or `oneOf: [{const}, ...]`.
fn enum_levels(s: &Value) -> Option<Vec<String>> {
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        return e.iter().map(|v| v.as_str().map(str::to_owned)).collect();
    }
    let options = s
        .get("oneOf")
        .or_else(|| s.get("anyOf"))
        .and_then(Value::as_array)?;
    let mut levels = Vec::new();
    for o in options {
        if let Some(c) = o.get("const").and_then(Value::as_str) {
            levels.push(c.to_owned());
        } else if let Some(e) = o.get("enum").and_then(Value::as_array) {
            for v in e {
                levels.push(v.as_str()?.to_owned());
            }
        } else {
            return None;
        }
    }
    Some(levels)
}

// ---------------------------------------------------------------------------
// The row serializer.
