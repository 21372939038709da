//! Model names, aliases and references to versions.

use std::fmt;
use std::str::FromStr;

use super::{RegistryError, Result};

/// A reference to one version of a model.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ModelRef {
    /// The newest (non-archived) version: `name`.
    Latest(String),
    /// An exact version: `name/3`.
    Version(String, u64),
    /// The version an alias points to: `name@production`.
    Alias(String, String),
}

impl ModelRef {
    /// The model name.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Self::Latest(n) | Self::Version(n, _) | Self::Alias(n, _) => n,
        }
    }
}

impl FromStr for ModelRef {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self, RegistryError> {
        let bad = || RegistryError::InvalidReference {
            reference: s.to_owned(),
        };
        let r = if let Some((name, alias)) = s.split_once('@') {
            check_alias(alias).map_err(|_| bad())?;
            Self::Alias(name.to_owned(), alias.to_owned())
        } else if let Some((name, v)) = s.split_once('/') {
            let v: u64 = v.parse().map_err(|_| bad())?;
            Self::Version(name.to_owned(), v)
        } else {
            Self::Latest(s.to_owned())
        };
        check_name(r.name()).map_err(|_| bad())?;
        Ok(r)
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Latest(n) => f.write_str(n),
            Self::Version(n, v) => write!(f, "{n}/{v}"),
            Self::Alias(n, a) => write!(f, "{n}@{a}"),
        }
    }
}

pub(super) fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(RegistryError::InvalidName {
            name: name.to_owned(),
        })
    }
}

pub(super) fn check_alias(alias: &str) -> Result<()> {
    let ok = !alias.is_empty()
        && alias.len() <= 64
        && alias
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(RegistryError::InvalidAlias {
            alias: alias.to_owned(),
        })
    }
}
