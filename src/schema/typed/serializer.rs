//! The serde `Serializer` that walks a typed value straight into a row,
//! under exactly the rules of [`FeatureSchema::validate`].

use std::fmt;

use serde::Serialize;
use serde::ser::{self, Impossible, Serializer};
use serde_json::Value;

use crate::schema::value::ValueRef;
use crate::schema::{
    ExtraFeatures, FeatureSchema, FeatureValue, InputError, ValueType, Violation, ViolationKind,
};

/// Walks `value` into `out` (one row), recording violations; features the
/// value does not have are filled as absent.
pub(super) fn walk<T: Serialize + ?Sized>(
    schema: &FeatureSchema,
    value: &T,
    out: &mut [f64],
    row: Option<usize>,
    violations: &mut Vec<Violation>,
) -> Result<(), InputError> {
    let mut seen = vec![false; schema.len()];
    let mut state = RowState {
        schema,
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
            schema.absent(i, out, row, violations);
        }
    }
    Ok(())
}

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
