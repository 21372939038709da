//! What the registry records about each version, and how large it may be.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{RegistryError, Result};
use crate::artifact::ModelKind;

/// Largest registry metadata file read (aliases, summaries): 1 MiB.
pub(super) const MAX_META_BYTES: u64 = 1 << 20;

/// Largest set of tags a version may carry, as JSON: 64 KiB. Checked when a
/// version is registered and when a tag is set, so a summary always stays
/// far below the 1 MiB that listings read.
pub const MAX_TAGS_BYTES: u64 = 64 << 10;

/// Largest set of metrics a version may carry, as JSON: 64 KiB.
pub const MAX_METRICS_BYTES: u64 = 64 << 10;

/// What the registry records about one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VersionInfo {
    /// The model's name.
    pub name: String,
    /// The version.
    pub version: u64,
    /// The model kind.
    pub model_kind: ModelKind,
    /// Training metrics from the artifact.
    pub metrics: BTreeMap<String, f64>,
    /// Tags: the artifact's, then those set in the registry.
    pub tags: BTreeMap<String, String>,
    /// Creation time of the artifact (seconds since the Unix epoch).
    pub created_at: u64,
    /// Artifact size in bytes.
    pub size: u64,
    /// SHA-256 of the artifact file, hex.
    pub sha256: String,
    /// Aliases pointing at this version (filled in by listings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Whether the version is archived (not resolvable, kept on storage).
    #[serde(default)]
    pub archived: bool,
}

impl VersionInfo {
    /// Refuses tags or metrics over their limits.
    pub(super) fn check_size(&self) -> Result<()> {
        check_field(&self.name, "tags", &self.tags, MAX_TAGS_BYTES)?;
        check_field(&self.name, "metrics", &self.metrics, MAX_METRICS_BYTES)
    }
}

fn check_field<T: Serialize>(name: &str, field: &'static str, value: &T, max: u64) -> Result<()> {
    let mut counter = ByteCount(0);
    // Counting, not buffering: the size of a huge map costs no allocation.
    // Serializing string maps and finite floats cannot fail; if it ever
    // did, the count so far is still a lower bound and the summary write
    // reports the failure.
    let _ = serde_json::to_writer(&mut counter, value);
    if counter.0 > max {
        return Err(RegistryError::SummaryTooLarge {
            name: name.to_owned(),
            field,
            bytes: counter.0,
            max,
        });
    }
    Ok(())
}

struct ByteCount(u64);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
