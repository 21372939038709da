//! What a model's input must look like, and turning raw input into a dense,
//! validated row.
//!
//! - [`FeatureSchema`] (built by [`SchemaBuilder`] from [`Feature`]s) is the
//!   contract: ordered, named features of a [`FeatureKind`].
//! - [`FeatureMap`] is raw input (name → [`FeatureValue`]), from code or JSON.
//! - [`FeatureSchema::validate`] checks a map and returns a [`FeatureVector`],
//!   or a [`SchemaError`] listing every [`Violation`].
//! - [`FeatureSchema::from_type`] and [`FeatureSchema::encode`] do the same
//!   for a typed host struct, without going through strings.
//! - [`FeatureSchema::validate_batch`] fills one matrix for many rows.
//! - [`FeatureSchema::validate_encoded`] checks rows that arrive already
//!   encoded (a numeric matrix from a transport) by the same rules.
//!
//! - [`SchemaDiff`] says how two schemas differ and whether the change
//!   breaks input the old one accepts.
//!
//! A [`FeatureVector`] or [`FeatureBatch`] can only come out of validation,
//! so a model that receives one knows its input satisfies the schema.

mod definition;
mod diff;
mod encoded;
mod error;
mod feature;
mod typed;
mod value;
mod vector;

pub use definition::{FeatureSchema, Fingerprint, SchemaBuilder};
pub use diff::{FeatureChange, SchemaDiff};
pub use error::{
    InputError, MAX_DISPLAYED_VIOLATIONS, SchemaDefinitionError, SchemaError, Violation,
    ViolationKind,
};
pub use feature::{ExtraFeatures, Feature, FeatureKind, FeatureType};
pub use value::{FeatureMap, FeatureValue, ValueType};
pub use vector::{FeatureBatch, FeatureVector};
