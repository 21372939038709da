//! Raw, unvalidated input: [`FeatureValue`] and [`FeatureMap`].

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// One raw input value, as a caller sent it.
///
/// Values are never converted implicitly: a string is never parsed into a
/// number, and a number is only cast where the cast is lossless (see
/// [`FeatureSchema::validate`](crate::FeatureSchema::validate)).
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureValue {
    /// A floating-point number (JSON numbers with a fraction or exponent).
    Float(f64),
    /// An integer (JSON numbers without a fraction).
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A string, used for categorical features.
    Str(String),
    /// An explicit null: treated as absent, so an optional feature takes its
    /// default and a required one is reported missing.
    Null,
}

impl FeatureValue {
    /// The type of this value, as named in violations.
    #[must_use]
    pub fn value_type(&self) -> ValueType {
        self.as_ref().value_type()
    }

    pub(crate) fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Self::Float(v) => ValueRef::Float(*v),
            Self::Int(v) => ValueRef::Int(*v),
            Self::Bool(v) => ValueRef::Bool(*v),
            Self::Str(v) => ValueRef::Str(v),
            Self::Null => ValueRef::Null,
        }
    }
}

impl fmt::Display for FeatureValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_ref().fmt(f)
    }
}

impl From<f64> for FeatureValue {
    fn from(v: f64) -> Self {
        Self::Float(v)
    }
}
impl From<f32> for FeatureValue {
    fn from(v: f32) -> Self {
        Self::Float(f64::from(v))
    }
}
impl From<i64> for FeatureValue {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}
impl From<i32> for FeatureValue {
    fn from(v: i32) -> Self {
        Self::Int(i64::from(v))
    }
}
impl From<u32> for FeatureValue {
    fn from(v: u32) -> Self {
        Self::Int(i64::from(v))
    }
}
impl From<bool> for FeatureValue {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}
impl From<&str> for FeatureValue {
    fn from(v: &str) -> Self {
        Self::Str(v.to_owned())
    }
}
impl From<String> for FeatureValue {
    fn from(v: String) -> Self {
        Self::Str(v)
    }
}

/// The type of a raw value, as reported in a
/// [`ViolationKind::WrongType`](crate::schema::ViolationKind::WrongType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValueType {
    /// A floating-point number.
    Float,
    /// An integer.
    Integer,
    /// A boolean.
    Boolean,
    /// A string.
    String,
    /// A null.
    Null,
    /// An array, object or other compound value (typed input only; JSON
    /// input with one is rejected while parsing).
    Nested,
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Float => "float",
            Self::Integer => "integer",
            Self::Boolean => "boolean",
            Self::String => "string",
            Self::Null => "null",
            Self::Nested => "a nested value",
        })
    }
}

/// A borrowed raw value: what the map path and the typed path both hand to
/// the single checking function.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ValueRef<'a> {
    Float(f64),
    Int(i64),
    Bool(bool),
    Str(&'a str),
    Null,
}

impl ValueRef<'_> {
    pub(crate) fn value_type(self) -> ValueType {
        match self {
            Self::Float(_) => ValueType::Float,
            Self::Int(_) => ValueType::Integer,
            Self::Bool(_) => ValueType::Boolean,
            Self::Str(_) => ValueType::String,
            Self::Null => ValueType::Null,
        }
    }

    pub(crate) fn to_owned_value(self) -> FeatureValue {
        match self {
            Self::Float(v) => FeatureValue::Float(v),
            Self::Int(v) => FeatureValue::Int(v),
            Self::Bool(v) => FeatureValue::Bool(v),
            Self::Str(v) => FeatureValue::Str(v.to_owned()),
            Self::Null => FeatureValue::Null,
        }
    }
}

impl fmt::Display for ValueRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Float(v) => write!(f, "{v}"),
            Self::Int(v) => write!(f, "{v}"),
            Self::Bool(v) => write!(f, "{v}"),
            Self::Str(v) => write!(f, "{v:?}"),
            Self::Null => f.write_str("null"),
        }
    }
}

impl Serialize for FeatureValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Float(v) => s.serialize_f64(*v),
            Self::Int(v) => s.serialize_i64(*v),
            Self::Bool(v) => s.serialize_bool(*v),
            Self::Str(v) => s.serialize_str(v),
            Self::Null => s.serialize_unit(),
        }
    }
}

impl<'de> Deserialize<'de> for FeatureValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FeatureValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, boolean, string or null")
            }
            fn visit_bool<E>(self, v: bool) -> Result<FeatureValue, E> {
                Ok(FeatureValue::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<FeatureValue, E> {
                Ok(FeatureValue::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<FeatureValue, E> {
                // Above i64::MAX no integer feature could accept it anyway; as a
                // float it is then reported as out of range or as a lossy cast.
                Ok(i64::try_from(v).map_or(FeatureValue::Float(v as f64), FeatureValue::Int))
            }
            fn visit_f64<E>(self, v: f64) -> Result<FeatureValue, E> {
                Ok(FeatureValue::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<FeatureValue, E> {
                Ok(FeatureValue::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<FeatureValue, E> {
                Ok(FeatureValue::Str(v))
            }
            fn visit_unit<E>(self) -> Result<FeatureValue, E> {
                Ok(FeatureValue::Null)
            }
            fn visit_none<E>(self) -> Result<FeatureValue, E> {
                Ok(FeatureValue::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<FeatureValue, D::Error> {
                FeatureValue::deserialize(d)
            }
        }
        d.deserialize_any(V)
    }
}

/// Raw input for one row: feature name → [`FeatureValue`].
///
/// Build it in code with [`FeatureMap::with`] / [`FeatureMap::insert`] or
/// deserialize it from a JSON object. Nothing is checked until
/// [`FeatureSchema::validate`](crate::FeatureSchema::validate) turns it into a
/// [`FeatureVector`](crate::FeatureVector).
///
/// # Examples
///
/// ```
/// use modelhost::FeatureMap;
///
/// let from_code = FeatureMap::new().with("recency_days", 3).with("device", "mobile");
/// let from_json: FeatureMap =
///     serde_json::from_str(r#"{"recency_days": 3, "device": "mobile"}"#).unwrap();
/// assert_eq!(from_code, from_json);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct FeatureMap {
    values: BTreeMap<String, FeatureValue>,
}

impl FeatureMap {
    /// An empty map.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`, replacing any earlier value, and returns the map.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<FeatureValue>) -> Self {
        self.insert(name, value);
        self
    }

    /// Sets `name` to `value`, returning the value it replaced.
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        value: impl Into<FeatureValue>,
    ) -> Option<FeatureValue> {
        self.values.insert(name.into(), value.into())
    }

    /// The value given for `name`, if any.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&FeatureValue> {
        self.values.get(name)
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<FeatureValue> {
        self.values.remove(name)
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the map has no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Entries in ascending name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &FeatureValue)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }
}

impl<K: Into<String>, V: Into<FeatureValue>> FromIterator<(K, V)> for FeatureMap {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            values: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

impl<'de> Deserialize<'de> for FeatureMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FeatureMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of feature name to value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FeatureMap, A::Error> {
                let mut values = BTreeMap::new();
                while let Some((k, v)) = map.next_entry::<String, FeatureValue>()? {
                    if values.contains_key(&k) {
                        return Err(de::Error::custom(format_args!(
                            "feature `{k}` is given more than once"
                        )));
                    }
                    values.insert(k, v);
                }
                Ok(FeatureMap { values })
            }
        }
        d.deserialize_map(V)
    }
}
