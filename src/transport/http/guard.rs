//! Checks made on a request's headers before any byte of its body is read.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, Rejection};
use super::router::Shared;

/// Content encodings the transport decodes (`identity` is no encoding).
const ENCODINGS: [&str; 3] = ["gzip", "deflate", "identity"];

/// Middleware: a client that sends `Expect: 100-continue` with a declared
/// `Content-Length` over the body limit gets 413 instead of `100 Continue`,
/// and an unknown `Content-Encoding` gets 415, before the body is touched:
/// nothing is read or decompressed for nothing.
pub(crate) async fn declared_body(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let mlflow = request.uri().path().ends_with("/invocations");
    let reject = |rejection: Rejection| {
        if mlflow {
            ApiError::mlflow(rejection).into_response()
        } else {
            ApiError::from(rejection).into_response()
        }
    };
    let headers = request.headers();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    // Only a client waiting for `100 Continue` has not sent its body yet;
    // answering any other one before reading would reset the connection
    // under the body it is still sending, and it would never see the 413
    // (the body limit stops reading at the limit instead).
    let waits_to_send = headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if waits_to_send && declared.is_some_and(|n| n > shared.body_limit as u64) {
        return reject(Rejection::BodyTooLarge {
            limit: shared.body_limit,
        });
    }
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let text = value.to_str().unwrap_or("");
        for coding in text.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            if !ENCODINGS.iter().any(|e| e.eq_ignore_ascii_case(coding)) {
                let shown: String = coding.chars().take(64).collect();
                return reject(Rejection::UnsupportedEncoding(shown));
            }
        }
        if text.is_empty() && !value.is_empty() {
            return reject(Rejection::UnsupportedEncoding("(not text)".to_owned()));
        }
    }
    next.run(request).await
}
