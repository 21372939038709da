//! Every rejection the HTTP transport answers with, each with one fixed
//! status code and a JSON body in the protocol's shape.
//!
//! This is the only place where crate [`Error`]s become HTTP statuses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::Error;

/// Seconds a client is asked to wait after an overload (`Retry-After`).
const RETRY_AFTER_SECS: &str = "1";

/// Why a request was not served.
#[derive(Debug)]
pub(crate) enum Rejection {
    /// The body exceeds the configured limit: 413.
    BodyTooLarge { limit: usize },
    /// More rows than the configured limit: 413.
    TooManyRows { rows: usize, limit: usize },
    /// Decoding stopped at the row limit, before counting every row: 413.
    RowsOverLimit { limit: usize },
    /// A JSON body holds more values than any request within the row limit
    /// needs: 413, before the body is parsed.
    TooManyValues { limit: usize },
    /// The body could not be read: 400.
    BodyUnreadable(String),
    /// The body is not the JSON the endpoint expects: 400.
    MalformedJson(String),
    /// The request is well-formed JSON but not a valid request: 400.
    BadRequest(String),
    /// A tensor's shape, datatype or data is invalid: 400.
    BadTensor { input: String, reason: String },
    /// The binary tensor extension's framing is invalid: 400.
    BadBinary(String),
    /// A version path segment is not a number: 400.
    InvalidVersion(String),
    /// The content type is not one the endpoint takes: 415.
    UnsupportedMediaType(String),
    /// No model of that name is served: 404.
    ModelNotFound(String),
    /// No route matches: 404.
    RouteNotFound,
    /// The route exists but not for this method: 405.
    MethodNotAllowed,
    /// Admin endpoints are disabled because no token is configured: 404.
    AdminDisabled,
    /// No usable `Authorization: Bearer` header: 401.
    Unauthorized,
    /// A bearer token that is not the admin token: 403.
    Forbidden,
    /// The model was unloaded through the repository API: 503.
    Unloaded(String),
    /// Feedback or a report for a model served without a monitor: 404.
    NotMonitored(String),
    /// An admin operation needs a registry the model does not have: 409.
    NotManaged(String),
    /// As many inference requests as the transport admits are being
    /// answered: 503 with `Retry-After`.
    Busy { limit: usize },
    /// The body's `Content-Encoding` is not one the transport decodes: 415.
    UnsupportedEncoding(String),
    /// The transport itself failed (a worker task died): 500.
    Internal(String),
    /// The server (or registry) returned an error.
    Server(Error),
}

impl From<Error> for Rejection {
    fn from(e: Error) -> Self {
        Self::Server(e)
    }
}

/// The wire shape of an error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `{"error": "..."}` (Open Inference Protocol, admin, everything else).
    Oip,
    /// `{"error_code": "BAD_REQUEST", "message": "..."}` (MLflow scoring).
    Mlflow,
}

/// A rejection rendered in one protocol's shape.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) rejection: Rejection,
    pub(crate) shape: Shape,
}

impl<E: Into<Rejection>> From<E> for ApiError {
    fn from(e: E) -> Self {
        Self {
            rejection: e.into(),
            shape: Shape::Oip,
        }
    }
}

impl ApiError {
    /// The same rejection in MLflow's shape.
    pub(crate) fn mlflow(rejection: impl Into<Rejection>) -> Self {
        Self {
            rejection: rejection.into(),
            shape: Shape::Mlflow,
        }
    }
}

impl Rejection {
    /// The fixed status code, and MLflow's error code for it.
    pub(crate) fn status(&self) -> (StatusCode, &'static str) {
        use StatusCode as S;
        match self {
            Self::BodyTooLarge { .. }
            | Self::TooManyRows { .. }
            | Self::RowsOverLimit { .. }
            | Self::TooManyValues { .. } => (S::PAYLOAD_TOO_LARGE, "RESOURCE_EXHAUSTED"),
            Self::BodyUnreadable(_) | Self::MalformedJson(_) | Self::BadBinary(_) => {
                (S::BAD_REQUEST, "MALFORMED_REQUEST")
            }
            Self::BadRequest(_) | Self::BadTensor { .. } | Self::InvalidVersion(_) => {
                (S::BAD_REQUEST, "BAD_REQUEST")
            }
            Self::UnsupportedMediaType(_) | Self::UnsupportedEncoding(_) => {
                (S::UNSUPPORTED_MEDIA_TYPE, "BAD_REQUEST")
            }
            Self::Busy { .. } => (S::SERVICE_UNAVAILABLE, "TEMPORARILY_UNAVAILABLE"),
            Self::ModelNotFound(_)
            | Self::RouteNotFound
            | Self::AdminDisabled
            | Self::NotMonitored(_) => (S::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST"),
            Self::MethodNotAllowed => (S::METHOD_NOT_ALLOWED, "BAD_REQUEST"),
            Self::Unauthorized => (S::UNAUTHORIZED, "UNAUTHENTICATED"),
            Self::Forbidden => (S::FORBIDDEN, "PERMISSION_DENIED"),
            Self::Unloaded(_) => (S::SERVICE_UNAVAILABLE, "TEMPORARILY_UNAVAILABLE"),
            Self::NotManaged(_) => (S::CONFLICT, "INVALID_STATE"),
            Self::Internal(_) => (S::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR"),
            Self::Server(e) => server_status(e),
        }
    }

    pub(crate) fn message(&self) -> String {
        match self {
            Self::BodyTooLarge { limit } => {
                format!("request body exceeds the limit of {limit} bytes")
            }
            Self::TooManyRows { rows, limit } => {
                format!("the request has {rows} rows, the limit is {limit}")
            }
            Self::RowsOverLimit { limit } => {
                format!("the request has more than {limit} rows, the limit")
            }
            Self::TooManyValues { limit } => format!(
                "the JSON body holds more than {limit} values, more than a request within the row limit needs"
            ),
            Self::BodyUnreadable(m) => format!("cannot read the request body: {m}"),
            Self::MalformedJson(m) => format!("malformed JSON: {m}"),
            Self::BadRequest(m) => m.clone(),
            Self::BadTensor { input, reason } => format!("input `{input}`: {reason}"),
            Self::BadBinary(m) => format!("invalid binary tensor data: {m}"),
            Self::InvalidVersion(v) => {
                format!("invalid model version {v:?}: versions are positive integers")
            }
            Self::UnsupportedMediaType(found) => {
                format!("unsupported content type {found:?}: use application/json or text/csv")
            }
            Self::ModelNotFound(name) => format!("model `{name}` is not served here"),
            Self::RouteNotFound => "no such endpoint".to_owned(),
            Self::MethodNotAllowed => "method not allowed on this endpoint".to_owned(),
            Self::AdminDisabled => {
                "admin endpoints are disabled: the server has no admin token".to_owned()
            }
            Self::Unauthorized => {
                "missing or malformed `Authorization: Bearer <token>` header".to_owned()
            }
            Self::Forbidden => "the bearer token is not valid".to_owned(),
            Self::Unloaded(name) => {
                format!("model `{name}` is unloaded; load it through the repository API")
            }
            Self::NotMonitored(name) => {
                format!("model `{name}` is served without a monitor: no feedback or report")
            }
            Self::NotManaged(name) => {
                format!("model `{name}` is not backed by a registry on this server")
            }
            Self::Busy { limit } => format!(
                "the server is answering as many inference requests as it admits ({limit}); retry later"
            ),
            Self::UnsupportedEncoding(found) => format!(
                "unsupported content encoding {found:?}: send gzip, deflate or an uncompressed body"
            ),
            Self::Internal(m) => m.clone(),
            Self::Server(e) => e.to_string(),
        }
    }
}

/// The status for an error from a server or the registry. Every variant is
/// named, so a new one cannot silently become a 500.
fn server_status(e: &Error) -> (StatusCode, &'static str) {
    use StatusCode as S;
    const BAD: (StatusCode, &str) = (S::BAD_REQUEST, "BAD_REQUEST");
    const UNAVAILABLE: (StatusCode, &str) = (S::SERVICE_UNAVAILABLE, "TEMPORARILY_UNAVAILABLE");
    const CONFLICT: (StatusCode, &str) = (S::CONFLICT, "INVALID_STATE");
    const INTERNAL: (StatusCode, &str) = (S::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR");
    match e {
        Error::Schema(_) | Error::WidthMismatch { .. } | Error::TypedInput { .. } => BAD,
        // Ranking by a label the model lacks, or a model without
        // probabilities: the request asks what this model cannot give.
        Error::Rank { .. } => BAD,
        Error::VersionNotHeld { .. } => (S::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST"),
        Error::Overloaded { .. } | Error::NotReady { .. } | Error::ShuttingDown => UNAVAILABLE,
        // Input validated against one version and offered to another:
        // transient, worth a retry (the transport itself never sends such
        // input; a server in front of it might).
        Error::SchemaMismatch { .. } => UNAVAILABLE,
        Error::DeadlineExceeded { .. } => (S::GATEWAY_TIMEOUT, "DEADLINE_EXCEEDED"),
        // More rows than a batcher takes in one model call.
        Error::RequestTooLarge { .. } => (S::PAYLOAD_TOO_LARGE, "RESOURCE_EXHAUSTED"),
        Error::Registry(r) => registry_status(r),
        Error::StaleVersion { .. }
        | Error::WrongModel { .. }
        | Error::IncompatibleSchema { .. }
        | Error::WarmupFailed { .. }
        | Error::NoPreviousVersion => CONFLICT,
        // The model, its artifact or the server failed, not the request.
        Error::SchemaDefinition(_)
        | Error::Artifact(_)
        | Error::InvalidModel { .. }
        | Error::InvalidPredictions { .. }
        | Error::Model { .. }
        | Error::ModelPanicked { .. }
        | Error::Component(_) => INTERNAL,
    }
}

/// The status for a registry error (admin endpoints).
fn registry_status(e: &crate::registry::RegistryError) -> (StatusCode, &'static str) {
    use crate::registry::RegistryError as R;
    use StatusCode as S;
    match e {
        R::ModelNotFound { .. }
        | R::VersionNotFound { .. }
        | R::VersionArchived { .. }
        | R::AliasNotFound { .. } => (S::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST"),
        R::InvalidName { .. }
        | R::InvalidAlias { .. }
        | R::InvalidReference { .. }
        | R::SummaryTooLarge { .. } => (S::BAD_REQUEST, "INVALID_PARAMETER_VALUE"),
        R::NoMetric { .. } | R::TooManyAliases { .. } | R::IndexFull { .. } => {
            (S::CONFLICT, "INVALID_STATE")
        }
        R::Conflict { .. } | R::Abandoned { .. } => {
            (S::SERVICE_UNAVAILABLE, "TEMPORARILY_UNAVAILABLE")
        }
        R::Storage(_) | R::Artifact(_) | R::Corrupt { .. } | R::Location { .. } => {
            (S::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR")
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.rejection.status();
        let message = self.rejection.message();
        let body = match self.shape {
            Shape::Oip => json!({ "error": message }),
            Shape::Mlflow => json!({ "error_code": code, "message": message }),
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match &self.rejection {
            Rejection::Server(Error::Overloaded { .. }) | Rejection::Busy { .. } => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(RETRY_AFTER_SECS),
                );
            }
            Rejection::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

/// A crate [`Error`] answers an axum handler with the status the transport
/// itself gives it (400 for schema violations, 503 with `Retry-After` for
/// overload, 504 for a missed deadline, …) and a bounded JSON body
/// `{"error": "..."}`, so a host's own handlers need no mapping of their own.
///
/// ```
/// use axum::response::IntoResponse;
///
/// let response = modelhost::Error::Overloaded { capacity: 64 }.into_response();
/// assert_eq!(response.status(), 503);
/// assert_eq!(response.headers()["retry-after"], "1");
/// ```
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_statuses() {
        let cases: Vec<(Rejection, u16)> = vec![
            (Rejection::BodyTooLarge { limit: 1 }, 413),
            (Rejection::MalformedJson("x".into()), 400),
            (Rejection::UnsupportedMediaType("x".into()), 415),
            (Rejection::Unauthorized, 401),
            (Rejection::Forbidden, 403),
            (Rejection::AdminDisabled, 404),
            (Rejection::Server(Error::Overloaded { capacity: 1 }), 503),
            (
                Rejection::Server(Error::DeadlineExceeded {
                    waited: std::time::Duration::ZERO,
                }),
                504,
            ),
            (Rejection::Server(Error::ShuttingDown), 503),
            (
                Rejection::Server(Error::RequestTooLarge {
                    rows: 65,
                    max_rows: 64,
                }),
                413,
            ),
            (
                Rejection::Server(Error::VersionNotHeld {
                    model: "m".into(),
                    version: 3,
                    held: vec![1],
                }),
                404,
            ),
            (
                Rejection::Server(Error::ModelPanicked {
                    model: "m".into(),
                    version: 1,
                    message: "boom".into(),
                }),
                500,
            ),
        ];
        for (r, status) in cases {
            assert_eq!(r.status().0.as_u16(), status, "{r:?}");
        }
    }

    #[test]
    fn overload_carries_retry_after() {
        let r = ApiError::from(Error::Overloaded { capacity: 4 }).into_response();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
    }

    /// One value of every crate `Error` variant with its status: client
    /// mistakes are 4xx, never 500. (The match in `server_status` names
    /// every variant, so a new one does not compile until it has a status;
    /// this test pins the statuses themselves.)
    #[test]
    fn every_error_variant_has_its_status() {
        use crate::registry::RegistryError;
        use crate::schema::{SchemaDefinitionError, SchemaDiff};
        let schema = crate::FeatureSchema::builder()
            .feature(crate::Feature::float("x"))
            .build()
            .unwrap();
        let violation = schema
            .validate(&crate::FeatureMap::new())
            .map(|_| ())
            .unwrap_err();
        let fp = schema.fingerprint();
        let cases: Vec<(Error, u16)> = vec![
            (Error::Schema(violation), 400),
            (Error::TypedInput { reason: "x".into() }, 400),
            (
                Error::WidthMismatch {
                    expected: 2,
                    found: 3,
                },
                400,
            ),
            (
                Error::SchemaMismatch {
                    expected: fp,
                    found: fp,
                },
                503,
            ),
            (
                Error::RequestTooLarge {
                    rows: 65,
                    max_rows: 64,
                },
                413,
            ),
            (
                Error::VersionNotHeld {
                    model: "m".into(),
                    version: 3,
                    held: vec![1],
                },
                404,
            ),
            (Error::NotReady { reason: "x".into() }, 503),
            (Error::Overloaded { capacity: 1 }, 503),
            (Error::ShuttingDown, 503),
            (
                Error::DeadlineExceeded {
                    waited: std::time::Duration::ZERO,
                },
                504,
            ),
            (
                Error::StaleVersion {
                    current: 2,
                    offered: 1,
                },
                409,
            ),
            (
                Error::WrongModel {
                    serving: "a".into(),
                    offered: "b".into(),
                },
                409,
            ),
            (
                Error::IncompatibleSchema {
                    diff: SchemaDiff::between(&schema, &schema),
                },
                409,
            ),
            (
                Error::WarmupFailed {
                    model: "m".into(),
                    version: 1,
                    reason: "x".into(),
                },
                409,
            ),
            (Error::NoPreviousVersion, 409),
            (
                Error::Registry(RegistryError::ModelNotFound { name: "m".into() }),
                404,
            ),
            (
                Error::Registry(RegistryError::InvalidName { name: "..".into() }),
                400,
            ),
            (Error::SchemaDefinition(SchemaDefinitionError::Empty), 500),
            (Error::InvalidModel { reason: "x".into() }, 500),
            (Error::InvalidPredictions { reason: "x".into() }, 500),
            (Error::model(std::io::Error::other("x")), 500),
            (
                Error::ModelPanicked {
                    model: "m".into(),
                    version: 1,
                    message: "x".into(),
                },
                500,
            ),
            (Error::component(std::io::Error::other("x")), 500),
        ];
        for (e, status) in cases {
            assert_eq!(server_status(&e).0.as_u16(), status, "{e:?}");
        }
    }
}
