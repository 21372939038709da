//! Typed input: host structs that derive `Serialize` + `JsonSchema`.
//!
//! [`FeatureSchema::from_type`] reads the struct's JSON Schema (as generated
//! by schemars) into a feature schema, and [`FeatureSchema::encode`] walks the
//! struct with a serde `Serializer` that writes straight into the row: numbers
//! stay numbers, enum variants become categorical levels, and nothing goes
//! through a string or a JSON value.

//!
//! - `json_schema.rs`: JSON Schema → [`FeatureSchema`] (and back);
//! - `serializer.rs`: the serde `Serializer` that writes a value into a row.

mod json_schema;
mod serializer;

use serde::Serialize;
use serde_json::{Map, Value};

use super::{
    ExtraFeatures, FeatureBatch, FeatureKind, FeatureSchema, FeatureVector, InputError,
    SchemaDefinitionError, SchemaError, Violation,
};
use json_schema::from_json_schema;

impl FeatureSchema {
    /// Derives a schema from a Rust type's JSON Schema.
    ///
    /// The type must be a struct with named fields. Field order is feature
    /// order. Mapping: `f32`/`f64` → float, integer types → integer (with the
    /// type's own bounds), `bool` → boolean, a unit-variant enum → categorical
    /// with the variant names (after serde renames) as levels. `minimum` /
    /// `maximum` (e.g. `#[schemars(range(min = 0, max = 120))]`) become bounds,
    /// doc comments become descriptions, and a field with a JSON Schema
    /// `default` (`#[serde(default)]`) becomes optional with that default.
    ///
    /// # Errors
    ///
    /// [`SchemaDefinitionError::UnsupportedType`] when the type is not a
    /// struct, a field has a type with no feature kind (strings without an
    /// enum, arrays, nested structs), or an optional field has no default.
    ///
    /// # Examples
    ///
    /// ```
    /// use modelhost::FeatureSchema;
    /// use schemars::JsonSchema;
    /// use serde::Serialize;
    ///
    /// #[derive(Serialize, JsonSchema)]
    /// #[serde(rename_all = "lowercase")]
    /// enum Device { Mobile, Desktop }
    ///
    /// #[derive(Serialize, JsonSchema)]
    /// struct Visit {
    ///     recency_days: u32,
    ///     basket_value: f64,
    ///     device: Device,
    /// }
    ///
    /// let schema = FeatureSchema::from_type::<Visit>()?;
    /// let row = schema.encode(&Visit { recency_days: 2, basket_value: 9.5, device: Device::Desktop })?;
    /// assert_eq!(row.as_slice(), &[2.0, 9.5, 1.0]);
    /// # Ok::<(), modelhost::Error>(())
    /// ```
    pub fn from_type<T: schemars::JsonSchema>() -> Result<Self, SchemaDefinitionError> {
        let root = schemars::schema_for!(T);
        from_json_schema(root.as_value())
    }

    /// Encodes a typed value (usually a struct whose schema came from
    /// [`FeatureSchema::from_type`]) into a validated row, under exactly the
    /// rules of [`FeatureSchema::validate`].
    ///
    /// # Errors
    ///
    /// [`InputError::Schema`] with every violation; [`InputError::TypedInput`] when the
    /// value is not a struct or map with named fields.
    pub fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<FeatureVector, InputError> {
        let mut row = vec![0.0; self.len()];
        let mut violations = Vec::new();
        self.encode_into(value, &mut row, None, &mut violations)?;
        if violations.is_empty() {
            Ok(FeatureVector::new(row.into_boxed_slice(), self.clone()))
        } else {
            Err(SchemaError::new(violations).into())
        }
    }

    /// Encodes many typed values into one matrix (one allocation for the
    /// batch).
    ///
    /// # Errors
    ///
    /// As [`FeatureSchema::encode`], with row indices on the violations.
    pub fn encode_batch<T: Serialize>(&self, values: &[T]) -> Result<FeatureBatch, InputError> {
        let mut matrix = ndarray::Array2::zeros((values.len(), self.len()));
        let mut violations = Vec::new();
        for (i, (value, mut out)) in values.iter().zip(matrix.rows_mut()).enumerate() {
            let out = out
                .as_slice_mut()
                .expect("rows of a fresh standard-layout array are contiguous");
            self.encode_into(value, out, Some(i), &mut violations)?;
        }
        if violations.is_empty() {
            Ok(FeatureBatch::new(matrix, self.clone()))
        } else {
            Err(SchemaError::new(violations).into())
        }
    }

    fn encode_into<T: Serialize + ?Sized>(
        &self,
        value: &T,
        out: &mut [f64],
        row: Option<usize>,
        violations: &mut Vec<Violation>,
    ) -> Result<(), InputError> {
        serializer::walk(self, value, out, row, violations)
    }

    /// This schema as a JSON Schema (draft 2020-12) document describing one
    /// input row as an object, for API documentation and client generation.
    ///
    /// # Examples
    ///
    /// ```
    /// use modelhost::{Feature, FeatureSchema};
    ///
    /// let schema = FeatureSchema::builder().feature(Feature::float("x").min(0.0)).build()?;
    /// let doc = schema.to_json_schema();
    /// assert_eq!(doc["properties"]["x"]["minimum"], 0.0);
    /// assert_eq!(doc["required"][0], "x");
    /// # Ok::<(), modelhost::Error>(())
    /// ```
    #[must_use]
    pub fn to_json_schema(&self) -> Value {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for f in self.features() {
            let mut p = Map::new();
            let ty = match f.kind() {
                FeatureKind::Float { min, max, .. } | FeatureKind::Integer { min, max } => {
                    if let Some(m) = min {
                        p.insert("minimum".into(), (*m).into());
                    }
                    if let Some(m) = max {
                        p.insert("maximum".into(), (*m).into());
                    }
                    if matches!(f.kind(), FeatureKind::Float { .. }) {
                        "number"
                    } else {
                        "integer"
                    }
                }
                FeatureKind::Boolean => "boolean",
                FeatureKind::Categorical {
                    levels,
                    unknown_level,
                } => {
                    let key = if unknown_level.is_some() {
                        "examples"
                    } else {
                        "enum"
                    };
                    p.insert(key.into(), levels.clone().into());
                    "string"
                }
            };
            match f.default_value() {
                Some(d) => {
                    p.insert("type".into(), Value::from(vec![ty, "null"]));
                    p.insert(
                        "default".into(),
                        serde_json::to_value(d).unwrap_or(Value::Null),
                    );
                }
                None => {
                    p.insert("type".into(), ty.into());
                    required.push(Value::from(f.name()));
                }
            }
            if let Some(d) = f.description() {
                p.insert("description".into(), d.into());
            }
            properties.insert(f.name().to_owned(), Value::Object(p));
        }
        serde_json::json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": self.extra_features() == ExtraFeatures::Ignore,
        })
    }
}
