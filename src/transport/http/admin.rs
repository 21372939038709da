//! Model repository endpoints (OIP repository extension) and alias
//! promotion, behind a bearer token.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::error::{ApiError, Rejection};
use super::router::{Managed, Shared, blocking, body};
use crate::artifact::ReadOptions;
use crate::registry::ModelRef;
use crate::server::SwapOptions;

/// The SHA-256 digest a token is kept and compared as.
pub(crate) fn digest(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

/// Compares two digests in constant time: every byte is looked at whatever
/// the contents, and hashing first hides the token's length.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Proof that a request carries the admin bearer token: an extractor, so
/// every admin handler states the requirement in its signature and none can
/// forget the check. Rejects with 404 when admin is disabled, 401 when the
/// header is missing or malformed, 403 when the token is wrong.
pub(crate) struct Admin;

impl FromRequestParts<Arc<Shared>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Arc<Shared>,
    ) -> Result<Self, Self::Rejection> {
        authorize(shared, &parts.headers)?;
        Ok(Admin)
    }
}

/// Checks the admin bearer token in `headers` (HTTP headers, or gRPC
/// metadata turned into headers).
pub(crate) fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<(), Rejection> {
    let Some(expected) = &shared.admin_token else {
        return Err(Rejection::AdminDisabled);
    };
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(Rejection::Unauthorized)?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or(Rejection::Unauthorized)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(Rejection::Unauthorized);
    }
    if same(&digest(token.as_bytes()), expected) {
        Ok(())
    } else {
        Err(Rejection::Forbidden)
    }
}

/// Parses an optional JSON body (empty means `T::default()`).
fn optional_json<T: for<'de> Deserialize<'de> + Default>(bytes: &[u8]) -> Result<T, Rejection> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| Rejection::MalformedJson(e.to_string()))
}

/// One model of the repository index.
pub(crate) struct IndexEntry {
    pub(crate) name: String,
    /// The serving version, empty when the server cannot tell.
    pub(crate) version: String,
    /// `READY` or `UNAVAILABLE`.
    pub(crate) state: &'static str,
    pub(crate) reason: String,
}

/// Every model with its serving version and state; only the ready ones
/// when `ready_only`.
pub(crate) fn index_entries(shared: &Shared, ready_only: bool) -> Vec<IndexEntry> {
    let mut out = Vec::new();
    for m in &shared.models {
        let health = m.server.health();
        let (state, reason) = if m.is_unloaded() {
            ("UNAVAILABLE", "unloaded".to_owned())
        } else if let crate::server::Health::NotReady { reason } = health {
            ("UNAVAILABLE", reason)
        } else {
            ("READY", String::new())
        };
        if ready_only && state != "READY" {
            continue;
        }
        let version = m
            .server
            .metadata()
            .map(|meta| meta.version.to_string())
            .unwrap_or_default();
        out.push(IndexEntry {
            name: m.name.to_string(),
            version,
            state,
            reason,
        });
    }
    out
}

#[derive(Deserialize, Default)]
struct IndexRequest {
    #[serde(default)]
    ready: bool,
}

/// `POST /v2/repository/index`: every model with its serving version and
/// state (`READY` or `UNAVAILABLE`, with a reason).
pub(crate) async fn index(
    State(shared): State<Arc<Shared>>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let req: IndexRequest = optional_json(&body(bytes, shared.body_limit)?)?;
    let out: Vec<Value> = index_entries(&shared, req.ready)
        .into_iter()
        .map(|e| json!({ "name": e.name, "version": e.version, "state": e.state, "reason": e.reason }))
        .collect();
    Ok(Json(Value::Array(out)))
}

#[derive(Deserialize, Default)]
struct LoadRequest {
    #[serde(default)]
    parameters: LoadParameters,
}

#[derive(Deserialize, Default)]
struct LoadParameters {
    /// An exact registry version (number or string); default: the
    /// reference the model was configured with.
    #[serde(default)]
    version: Option<Value>,
}

/// Resolves `reference`, loads it with every artifact check, and swaps it in
/// (older versions allowed: loading by hand may go back). Returns the
/// serving version and whether a swap happened.
fn load_into(managed: &Managed, reference: &ModelRef) -> crate::Result<(u64, bool)> {
    let version = managed.registry.resolve(reference)?;
    if version == managed.server.current().version() {
        return Ok((version, false));
    }
    let report = managed.server.swap_from_registry(
        &managed.registry,
        version,
        ReadOptions::default(),
        SwapOptions::new().allow_older(),
    )?;
    Ok((report.to, true))
}

/// Loads `asked_version` (default: the configured reference) of the model
/// called `name` from its registry, swaps it in if it is not serving
/// already, and marks the model ready again. Returns the serving version
/// and whether a swap happened.
pub(crate) async fn load_model(
    shared: &Shared,
    name: &str,
    asked_version: Option<u64>,
) -> Result<(u64, bool), Rejection> {
    let entry = shared.model(name)?;
    let (serving, swapped) = match &entry.managed {
        Some(managed) => {
            let reference = match asked_version {
                Some(v) => ModelRef::Version(name.to_owned(), v),
                None => managed.reference.clone(),
            };
            let managed = managed.clone();
            let shown = reference.to_string();
            blocking(move || load_into(&managed, &reference))
                .await?
                .inspect_err(|e| {
                    emit!(warn, "loading {shown} failed: {e}");
                    shared.stats.admin_failed("load");
                })?
        }
        None if asked_version.is_none() => (entry.server.metadata()?.version, false),
        None => return Err(Rejection::NotManaged(name.to_owned())),
    };
    entry.unloaded.store(false, Ordering::Release);
    Ok((serving, swapped))
}

/// `POST /v2/repository/models/{name}/load`: loads the configured reference
/// (or `{"parameters": {"version": N}}`) from the registry, swaps it in if
/// it is not serving already, and marks the model ready again.
pub(crate) async fn load(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    _: Admin,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let req: LoadRequest = optional_json(&body(bytes, shared.body_limit)?)?;
    let asked_version = match &req.parameters.version {
        None => None,
        Some(v) => Some(
            match v {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            }
            .filter(|&v| v > 0)
            .ok_or_else(|| Rejection::InvalidVersion(v.to_string()))?,
        ),
    };
    let (serving, swapped) = load_model(&shared, &name, asked_version).await?;
    let entry = shared.model(&name)?;
    Ok(Json(json!({
        "name": &*entry.name,
        "version": serving,
        "swapped": swapped,
        "state": "READY",
    })))
}

/// `POST /v2/repository/models/{name}/unload`: marks the model unavailable.
///
/// A server always holds one version, so unloading does not free it: infer
/// and readiness answer 503 until the model is loaded again.
pub(crate) async fn unload(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    _: Admin,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    // The body (OIP allows `{"parameters": {...}}`) is read but not needed.
    let _: Value =
        optional_json::<Option<Value>>(&body(bytes, shared.body_limit)?)?.unwrap_or(Value::Null);
    let entry = unload_model(&shared, &name)?;
    Ok(Json(
        json!({ "name": &*entry.name, "state": "UNAVAILABLE" }),
    ))
}

/// Marks the model called `name` unavailable.
pub(crate) fn unload_model<'s>(
    shared: &'s Shared,
    name: &str,
) -> Result<&'s super::router::ModelEntry, Rejection> {
    let entry = shared.model(name)?;
    entry.unloaded.store(true, Ordering::Release);
    Ok(entry)
}

#[derive(Deserialize)]
struct AliasRequest {
    version: u64,
}

/// `POST /admin/models/{name}/aliases/{alias}` with `{"version": N}`: points
/// the registry alias at version N. When the model follows that alias it is
/// loaded and swapped in at once.
pub(crate) async fn set_alias(
    State(shared): State<Arc<Shared>>,
    Path((name, alias)): Path<(String, String)>,
    _: Admin,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let bytes = body(bytes, shared.body_limit)?;
    let req: AliasRequest =
        serde_json::from_slice(&bytes).map_err(|e| Rejection::MalformedJson(e.to_string()))?;
    let entry = shared.model(&name)?;
    let Some(managed) = entry.managed.clone() else {
        return Err(Rejection::NotManaged(name).into());
    };
    let follows = managed.reference == ModelRef::Alias(name.clone(), alias.clone());
    let alias_name = alias.clone();
    let version = req.version;
    let outcome = blocking(move || -> crate::Result<(Option<u64>, u64)> {
        // All or nothing: the version is loaded with every artifact check
        // (and, for the alias the model follows, swapped in) before the
        // alias moves, so a corrupt or refused version leaves the alias and
        // the server as they were.
        let deployment = managed
            .registry
            .load(
                &ModelRef::Version(name.clone(), version),
                ReadOptions::default(),
            )
            .map_err(crate::Error::from)
            .and_then(|l| l.deployment().map_err(crate::Error::from))
            .inspect_err(|e| managed.server.report_failed_load(Some(version), e))?;
        let swapped = follows && version != managed.server.current().version();
        if swapped {
            managed
                .server
                .swap_with(deployment, SwapOptions::new().allow_older())?;
        }
        match managed.registry.set_alias(&name, &alias, version) {
            Ok(previous) => Ok((previous, managed.server.current().version())),
            Err(e) => {
                if swapped {
                    // Best effort: the alias did not move, so neither should
                    // the server.
                    let _ = managed.server.rollback();
                }
                Err(e.into())
            }
        }
    })
    .await?;
    let (previous, serving) = outcome.inspect_err(|e| {
        emit!(
            warn,
            "moving alias `{alias_name}` of `{}` to version {version} failed: {e}",
            entry.name
        );
        shared.stats.admin_failed("set_alias");
    })?;
    Ok(Json(json!({
        "name": &*entry.name,
        "alias": alias_name,
        "version": req.version,
        "previous": previous,
        "serving": serving,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_compare_in_full() {
        let a = digest(b"secret");
        assert!(same(&a, &digest(b"secret")));
        assert!(!same(&a, &digest(b"secreT")));
        assert!(!same(&a, &digest(b"")));
    }
}
