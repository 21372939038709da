//! Typed input: host structs that derive `Serialize` + `JsonSchema`.
//!
//! [`FeatureSchema::from_type`] reads the struct's JSON Schema (as generated
//! by schemars) into a feature schema, and [`FeatureSchema::encode`] walks the
//! struct with a serde `Serializer` that writes straight into the row: numbers
//! stay numbers, enum variants become categorical levels, and nothing goes
//! through a string or a JSON value.

use std::fmt;

use serde::Serialize;
use serde::ser::{self, Impossible, Serializer};
use serde_json::{Map, Value};

use super::value::ValueRef;
use super::{
    ExtraFeatures, Feature, FeatureBatch, FeatureKind, FeatureSchema, FeatureValue, FeatureVector,
    InputError, SchemaDefinitionError, SchemaError, ValueType, Violation, ViolationKind,
};

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
        let mut seen = vec![false; self.len()];
        let mut state = RowState {
            schema: self,
            out,
            seen: &mut seen,
            row,
            violations,
            next: 0,
        };
        value
            .serialize(TopSerializer { state: &mut state })
            .map_err(|e| InputError::TypedInput {
                reason: e.to_string(),
            })?;
        for (i, seen) in seen.iter().enumerate() {
            if !seen {
                self.absent(i, out, row, violations);
            }
        }
        Ok(())
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

fn unsupported(feature: Option<&str>, reason: impl Into<String>) -> SchemaDefinitionError {
    SchemaDefinitionError::UnsupportedType {
        feature: feature.map(str::to_owned),
        reason: reason.into(),
    }
}

fn from_json_schema(root: &Value) -> Result<FeatureSchema, SchemaDefinitionError> {
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

struct RowState<'a> {
    schema: &'a FeatureSchema,
    out: &'a mut [f64],
    seen: &'a mut [bool],
    row: Option<usize>,
    violations: &'a mut Vec<Violation>,
    /// Schema position the next field is expected at.
    next: usize,
}

impl RowState<'_> {
    fn field(&mut self, name: &str, value: ValueRef<'_>) {
        match self.locate(name) {
            Some(i) => self
                .schema
                .present(i, value, self.out, self.row, self.violations),
            None => self.unexpected(name),
        }
    }

    fn nested(&mut self, name: &str) {
        if let Some(i) = self.locate(name) {
            self.violations.push(Violation {
                row: self.row,
                feature: name.to_owned(),
                kind: ViolationKind::WrongType {
                    expected: self.schema.feature_type(i),
                    found: ValueType::Nested,
                },
            });
        } else {
            self.unexpected(name);
        }
    }

    fn locate(&mut self, name: &str) -> Option<usize> {
        let i = self.schema.index_of(name, self.next)?;
        self.next = i + 1;
        self.seen[i] = true;
        Some(i)
    }

    fn unexpected(&mut self, name: &str) {
        if self.schema.extra_features() == ExtraFeatures::Reject {
            self.violations.push(Violation {
                row: self.row,
                feature: name.to_owned(),
                kind: ViolationKind::Unexpected,
            });
        }
    }
}

/// Errors inside the serializer walk.
#[derive(Debug)]
enum SerError {
    /// The top-level value is not a struct or map.
    NotAStruct,
    /// A field holds a compound value (recorded as a violation by the caller).
    Nested,
    /// A map key is not a string.
    Key,
    /// Raised by the value's own `Serialize` impl.
    Custom(String),
}

impl fmt::Display for SerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAStruct => {
                f.write_str("typed input must be a struct or map with named fields")
            }
            Self::Nested => f.write_str("a field holds a nested value"),
            Self::Key => f.write_str("map keys of typed input must be strings"),
            Self::Custom(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for SerError {}

impl ser::Error for SerError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::Custom(msg.to_string())
    }
}

struct TopSerializer<'s, 'a> {
    state: &'s mut RowState<'a>,
}

macro_rules! not_a_struct {
    ($($f:ident($($t:ty),*)),* $(,)?) => {
        $(fn $f(self, $(_: $t),*) -> Result<(), SerError> { Err(SerError::NotAStruct) })*
    };
}

impl<'s, 'a> Serializer for TopSerializer<'s, 'a> {
    type Ok = ();
    type Error = SerError;
    type SerializeSeq = Impossible<(), SerError>;
    type SerializeTuple = Impossible<(), SerError>;
    type SerializeTupleStruct = Impossible<(), SerError>;
    type SerializeTupleVariant = Impossible<(), SerError>;
    type SerializeMap = MapFields<'s, 'a>;
    type SerializeStruct = StructFields<'s, 'a>;
    type SerializeStructVariant = Impossible<(), SerError>;

    not_a_struct!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );

    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), SerError> {
        v.serialize(self)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), SerError> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), SerError> {
        Err(SerError::NotAStruct)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, SerError> {
        Err(SerError::NotAStruct)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, SerError> {
        Err(SerError::NotAStruct)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, SerError> {
        Err(SerError::NotAStruct)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, SerError> {
        Err(SerError::NotAStruct)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, SerError> {
        Ok(MapFields {
            state: self.state,
            key: None,
        })
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, SerError> {
        Ok(StructFields { state: self.state })
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, SerError> {
        Err(SerError::NotAStruct)
    }
}

struct StructFields<'s, 'a> {
    state: &'s mut RowState<'a>,
}

impl ser::SerializeStruct for StructFields<'_, '_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), SerError> {
        write_field(self.state, key, value)
    }
    fn skip_field(&mut self, _key: &'static str) -> Result<(), SerError> {
        // A skipped field is absent: its default applies after the walk.
        Ok(())
    }
    fn end(self) -> Result<(), SerError> {
        Ok(())
    }
}

struct MapFields<'s, 'a> {
    state: &'s mut RowState<'a>,
    key: Option<String>,
}

impl ser::SerializeMap for MapFields<'_, '_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), SerError> {
        let v = serde_json::to_value(key).map_err(|_| SerError::Key)?;
        match v {
            Value::String(s) => {
                self.key = Some(s);
                Ok(())
            }
            _ => Err(SerError::Key),
        }
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerError> {
        let key = self.key.take().ok_or(SerError::Key)?;
        write_field(self.state, &key, value)
    }
    fn end(self) -> Result<(), SerError> {
        Ok(())
    }
}

fn write_field<T: Serialize + ?Sized>(
    state: &mut RowState<'_>,
    name: &str,
    value: &T,
) -> Result<(), SerError> {
    match value.serialize(FieldSerializer) {
        Ok(Scalar::Owned(v)) => state.field(name, v.as_ref()),
        Ok(Scalar::Float(v)) => state.field(name, ValueRef::Float(v)),
        Ok(Scalar::Int(v)) => state.field(name, ValueRef::Int(v)),
        Ok(Scalar::Bool(v)) => state.field(name, ValueRef::Bool(v)),
        Ok(Scalar::Static(v)) => state.field(name, ValueRef::Str(v)),
        Ok(Scalar::Null) => state.field(name, ValueRef::Null),
        Err(SerError::Nested) => state.nested(name),
        Err(e) => return Err(e),
    }
    Ok(())
}

/// One field's scalar value, borrowed where serde allows it.
enum Scalar {
    Float(f64),
    Int(i64),
    Bool(bool),
    /// Enum variant names are `&'static str`: no allocation.
    Static(&'static str),
    /// Strings and chars from the value (allocated once).
    Owned(FeatureValue),
    Null,
}

struct FieldSerializer;

impl Serializer for FieldSerializer {
    type Ok = Scalar;
    type Error = SerError;
    type SerializeSeq = Impossible<Scalar, SerError>;
    type SerializeTuple = Impossible<Scalar, SerError>;
    type SerializeTupleStruct = Impossible<Scalar, SerError>;
    type SerializeTupleVariant = Impossible<Scalar, SerError>;
    type SerializeMap = Impossible<Scalar, SerError>;
    type SerializeStruct = Impossible<Scalar, SerError>;
    type SerializeStructVariant = Impossible<Scalar, SerError>;

    fn serialize_bool(self, v: bool) -> Result<Scalar, SerError> {
        Ok(Scalar::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Scalar, SerError> {
        Ok(Scalar::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Scalar, SerError> {
        Ok(Scalar::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Scalar, SerError> {
        Ok(Scalar::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Scalar, SerError> {
        Ok(Scalar::Int(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Scalar, SerError> {
        Ok(i64::try_from(v).map_or(Scalar::Float(v as f64), Scalar::Int))
    }
    fn serialize_u8(self, v: u8) -> Result<Scalar, SerError> {
        Ok(Scalar::Int(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Scalar, SerError> {
        Ok(Scalar::Int(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Scalar, SerError> {
        Ok(Scalar::Int(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Scalar, SerError> {
        Ok(i64::try_from(v).map_or(Scalar::Float(v as f64), Scalar::Int))
    }
    fn serialize_u128(self, v: u128) -> Result<Scalar, SerError> {
        Ok(i64::try_from(v).map_or(Scalar::Float(v as f64), Scalar::Int))
    }
    fn serialize_f32(self, v: f32) -> Result<Scalar, SerError> {
        Ok(Scalar::Float(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<Scalar, SerError> {
        Ok(Scalar::Float(v))
    }
    fn serialize_char(self, v: char) -> Result<Scalar, SerError> {
        Ok(Scalar::Owned(FeatureValue::Str(v.to_string())))
    }
    fn serialize_str(self, v: &str) -> Result<Scalar, SerError> {
        Ok(Scalar::Owned(FeatureValue::Str(v.to_owned())))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Scalar, SerError> {
        Err(SerError::Nested)
    }
    fn serialize_none(self) -> Result<Scalar, SerError> {
        Ok(Scalar::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<Scalar, SerError> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<Scalar, SerError> {
        Ok(Scalar::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Scalar, SerError> {
        Ok(Scalar::Null)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Scalar, SerError> {
        Ok(Scalar::Static(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<Scalar, SerError> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Scalar, SerError> {
        Err(SerError::Nested)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, SerError> {
        Err(SerError::Nested)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, SerError> {
        Err(SerError::Nested)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, SerError> {
        Err(SerError::Nested)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, SerError> {
        Err(SerError::Nested)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, SerError> {
        Err(SerError::Nested)
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, SerError> {
        Err(SerError::Nested)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, SerError> {
        Err(SerError::Nested)
    }
}
