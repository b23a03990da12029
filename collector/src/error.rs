//! The one error type of the HTTP API and how it becomes a response.
//!
//! Every variant maps to a status in [`ApiError::status_code`] and to a stable reason
//! string in [`ApiError::reason`]; the body is always `IngestError {reason, message}`.
//! Server-side failures (5xx) are logged here with their detail and answered with a
//! generic message, so database errors never reach clients.

use crate::store::DbError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use harbinger_shared::wire::IngestError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not valid zstd. 415 when the `Content-Encoding` is unknown.
    #[error("{message}")]
    BadEncoding { message: String, unsupported: bool },
    /// 413: the body (compressed or decompressed) is over the configured limit.
    #[error("{0}")]
    TooLarge(String),
    /// 400: the body is not a protocol batch; the message names the JSON path.
    #[error("{0}")]
    BadJson(String),
    /// 400: a protocol version this collector does not speak.
    #[error("{0}")]
    UnsupportedVersion(String),
    /// 400: a non-finite value, a bad metric or label name, an empty host id.
    #[error("{0}")]
    Invalid(String),
    /// 400: a timestamp too far ahead of the collector's clock.
    #[error("{0}")]
    FutureTimestamp(String),
    /// 400: a timestamp beyond the history horizon.
    #[error("{0}")]
    TooOld(String),
    /// 415: a `Content-Type` other than JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 400: a query parameter is missing or malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 404: the named host or incident does not exist.
    #[error("{0}")]
    NotFound(String),
    /// 503: the store does not answer.
    #[error("store unavailable")]
    Unavailable(#[source] DbError),
    /// 500: the store failed; the detail is logged, not sent.
    #[error("store error: {0}")]
    Store(#[from] DbError),
    /// 500: anything else that should not happen; the detail is logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadEncoding {
                unsupported: true, ..
            } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BadEncoding { .. } => StatusCode::BAD_REQUEST,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BadJson(_)
            | ApiError::UnsupportedVersion(_)
            | ApiError::Invalid(_)
            | ApiError::FutureTimestamp(_)
            | ApiError::TooOld(_)
            | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotFound(_) | ApiError::Store(DbError::NotFound) => StatusCode::NOT_FOUND,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable reason sent in the body and counted in `/metrics`.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::BadEncoding { .. } => "bad_encoding",
            ApiError::TooLarge(_) => "too_large",
            ApiError::BadJson(_) => "bad_json",
            ApiError::UnsupportedVersion(_) => "unsupported_version",
            ApiError::Invalid(_) => "invalid",
            ApiError::FutureTimestamp(_) => "future_timestamp",
            ApiError::TooOld(_) => "too_old",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::NotFound(_) | ApiError::Store(DbError::NotFound) => "not_found",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Store(_) | ApiError::Internal(_) => "internal",
        }
    }

    /// The message a client may see.
    fn public_message(&self) -> String {
        if self.status_code().is_server_error() {
            match self {
                ApiError::Unavailable(_) => "the store is not answering; retry later".to_owned(),
                _ => "internal error; see the collector's log".to_owned(),
            }
        } else {
            self.to_string()
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, source = ?std::error::Error::source(&self), "request failed");
        }
        let body = IngestError {
            reason: self.reason().to_owned(),
            message: self.public_message(),
        };
        (status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_hide_their_detail() {
        let err = ApiError::Internal("secret path /var/lib/x".into());
        assert_eq!(err.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!err.public_message().contains("/var/lib/x"));
        let client = ApiError::TooOld("series node_load1 point at 5 is older".into());
        assert_eq!(
            client.public_message(),
            "series node_load1 point at 5 is older"
        );
        assert_eq!(client.reason(), "too_old");
    }

    #[test]
    fn unknown_encoding_is_415_but_broken_zstd_is_400() {
        let unknown = ApiError::BadEncoding {
            message: "gzip".into(),
            unsupported: true,
        };
        let broken = ApiError::BadEncoding {
            message: "bad frame".into(),
            unsupported: false,
        };
        assert_eq!(unknown.status_code(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(broken.status_code(), StatusCode::BAD_REQUEST);
        assert_eq!(
            ApiError::Store(DbError::NotFound).status_code(),
            StatusCode::NOT_FOUND
        );
    }
}
