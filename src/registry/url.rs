//! Registry locations: a path, or a URL naming an object store.

use std::sync::Arc;

use super::{FsStore, Registry, RegistryError, Result};

/// Whether `s` looks like `scheme://…` rather than a path.
pub(super) fn is_url(s: &str) -> bool {
    s.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
    })
}

impl Registry {
    /// A registry at a URL: `s3://bucket/prefix` (feature `s3`),
    /// `az://container/prefix` (feature `azure`), `gs://bucket/prefix`
    /// (feature `gcs`), `file:///path`; a string without a scheme is a
    /// directory. Credentials, region and endpoint come from each cloud's
    /// usual environment variables (see [`ObjectStore`](super::ObjectStore)).
    ///
    /// # Errors
    ///
    /// [`RegistryError::Location`] for an unknown scheme, a scheme this
    /// build has no feature for, or a store that cannot be configured from
    /// the environment; storage failures.
    ///
    /// # Examples
    ///
    /// ```
    /// use modelhost::registry::{Registry, RegistryError};
    ///
    /// let dir = std::env::temp_dir().join(format!("modelhost-doc-{}", std::process::id()));
    /// let registry = Registry::open_url(&format!("file://{}", dir.display()))?;
    /// assert!(dir.is_dir() && registry.models()?.is_empty());
    /// # std::fs::remove_dir_all(&dir).ok();
    ///
    /// let err = Registry::open_url("ftp://example/models").unwrap_err();
    /// assert!(matches!(err, RegistryError::Location { .. }));
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn open_url(url: &str) -> Result<Self> {
        let unsupported = |reason: String| RegistryError::Location {
            location: url.to_owned(),
            reason,
        };
        let Some((scheme, rest)) = url.split_once("://").filter(|_| is_url(url)) else {
            return Ok(Self::with_store(Arc::new(FsStore::open(url)?)));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "file" => {
                if rest.is_empty() || !rest.starts_with('/') {
                    return Err(unsupported(
                        "a file URL needs an absolute path: file:///path".into(),
                    ));
                }
                Ok(Self::with_store(Arc::new(FsStore::open(rest)?)))
            }
            "s3" | "s3a" => object(url, "s3"),
            "az" | "azure" | "abfs" | "abfss" => object(url, "azure"),
            "gs" => object(url, "gcs"),
            other => Err(unsupported(format!(
                "unknown scheme `{other}`: use a path, file://, s3://, az:// or gs://"
            ))),
        }
    }
}

#[cfg(any(feature = "s3", feature = "azure", feature = "gcs"))]
fn object(url: &str, _feature: &str) -> Result<Registry> {
    Ok(Registry::with_store(Arc::new(
        super::ObjectStore::from_url(url)?,
    )))
}

#[cfg(any(feature = "s3", feature = "azure", feature = "gcs"))]
impl Registry {
    /// A registry on the object store `url` names, with configuration
    /// given here on top of the environment's (see
    /// [`ObjectStore::from_url_with`](super::ObjectStore::from_url_with)).
    ///
    /// # Errors
    ///
    /// As [`ObjectStore::from_url_with`](super::ObjectStore::from_url_with).
    pub fn open_url_with(url: &str, options: &[(&str, &str)]) -> Result<Self> {
        Ok(Self::with_store(Arc::new(
            super::ObjectStore::from_url_with(url, options)?,
        )))
    }
}

#[cfg(not(any(feature = "s3", feature = "azure", feature = "gcs")))]
fn object(url: &str, feature: &str) -> Result<Registry> {
    Err(RegistryError::Location {
        location: url.to_owned(),
        reason: format!("this build has no `{feature}` feature"),
    })
}

#[cfg(test)]
mod tests {
    use super::is_url;

    #[test]
    fn urls_and_paths() {
        assert!(is_url("s3://bucket/models"));
        assert!(is_url("file:///var/lib/models"));
        assert!(!is_url("/var/lib/models"));
        assert!(!is_url("models"));
        assert!(!is_url("://x"));
        assert!(!is_url("C:\\models"));
    }
}
