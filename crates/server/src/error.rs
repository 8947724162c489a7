//! `ApiError`: every failure of a `/v1` handler, turned into an RFC 9457 problem+json response.
//!
//! 5xx bodies say nothing internal: the cause is logged once, here, and the client gets a
//! generic sentence.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use trailkeep_api::{PROBLEM_CONTENT_TYPE, Problem, ProblemError};
use trailkeep_store::StoreError;

/// A failed request.
#[derive(Debug)]
pub struct ApiError {
    problem: Box<Problem>,
    retry_after: Option<u32>,
    www_authenticate: bool,
}

impl ApiError {
    fn new(status: StatusCode, code: &str, title: &str, detail: impl Into<Option<String>>) -> Self {
        Self {
            problem: Box::new(Problem::new(status.as_u16(), code, title, detail.into())),
            retry_after: None,
            www_authenticate: false,
        }
    }

    /// 400: the request is malformed (`code` says how).
    pub fn bad_request(code: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            code,
            "Bad request",
            Some(detail.into()),
        )
    }

    /// 409: the resource is not in a state that allows the request (`code` says why).
    pub fn conflict(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, "Conflict", Some(detail.into()))
    }

    /// 400: one or more events or parameters are invalid.
    pub fn validation(detail: impl Into<String>, errors: Vec<ProblemError>) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "Validation failed",
            Some(detail.into()),
        );
        e.problem.errors = errors;
        e
    }

    /// 400: one field of a request body is invalid.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::validation(
            "the request body is invalid",
            vec![ProblemError {
                index: None,
                field: field.into(),
                message: message.into(),
            }],
        )
    }

    /// 401: missing or invalid credentials.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            Some(detail.into()),
        );
        e.www_authenticate = true;
        e
    }

    /// 403: the credentials lack a role.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Forbidden",
            Some(detail.into()),
        )
    }

    /// 404: nothing here (or nothing this tenant may see).
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            Some(detail.into()),
        )
    }

    /// 405.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method not allowed",
            None,
        )
    }

    /// 413: the body or batch is too large.
    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "Content too large",
            Some(detail.into()),
        )
    }

    /// 415: a content type the endpoint does not take.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported media type",
            Some(detail.into()),
        )
    }

    /// 429: the credential's rate limit is spent; retry after `wait`.
    pub fn too_many_requests(wait: std::time::Duration) -> Self {
        Self::throttled(
            "rate_limited",
            "this credential's rate limit is spent; retry after the Retry-After seconds",
            wait,
        )
    }

    /// 429 with its own `code` and `detail`: a bound other than the credential's rate (the
    /// tenant's concurrent reads, a source's failed authentications); retry after `wait`.
    pub fn throttled(code: &str, detail: impl Into<String>, wait: std::time::Duration) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            code,
            "Too many requests",
            Some(detail.into()),
        );
        e.retry_after = Some(wait.as_secs_f64().ceil().max(1.0) as u32);
        e
    }

    /// 408: the client took too long to send its request.
    pub fn request_timeout(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "Request timeout",
            Some(detail.into()),
        )
    }

    /// 500, with the cause logged and not shown.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error",
            Some("the server failed to answer; the failure has been logged".into()),
        )
    }

    /// 503 with `Retry-After: 1`: the server cannot take this request now, but will soon.
    pub fn unavailable(code: &str, detail: String) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code,
            "Service unavailable",
            Some(detail),
        );
        e.retry_after = Some(1);
        e
    }

    /// The problem this error answers with.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::DuplicateId { index, id } => {
                let mut err = Self::new(
                    StatusCode::CONFLICT,
                    "duplicate_id",
                    "Conflict",
                    Some(format!(
                        "id {id:?} already names a different event; nothing was stored"
                    )),
                );
                err.problem.errors = vec![ProblemError {
                    index: Some(index),
                    field: "id".into(),
                    message: "already names a different event".into(),
                }];
                err
            }
            StoreError::IdempotencyConflict => Self::new(
                StatusCode::CONFLICT,
                "idempotency_conflict",
                "Conflict",
                Some("this Idempotency-Key was already used with a different request".into()),
            ),
            StoreError::OutOfRange(detail) => Self::bad_request("out_of_range", detail),
            StoreError::Conflict(detail) => {
                Self::new(StatusCode::CONFLICT, "conflict", "Conflict", Some(detail))
            }
            StoreError::Overloaded => {
                metrics::counter!("trailkeep_overload_rejections_total").increment(1);
                Self::unavailable(
                    "overloaded",
                    "the server is overloaded; retry shortly".into(),
                )
            }
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "store unavailable");
                Self::unavailable(
                    "unavailable",
                    "the store cannot take requests right now".into(),
                )
            }
            StoreError::Corrupt(_) | StoreError::Internal(_) => Self::internal(&e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&*self.problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.www_authenticate {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
