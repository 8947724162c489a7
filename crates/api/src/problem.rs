//! RFC 9457 problem details: the body of every error on `/v1`.

use serde::{Deserialize, Serialize};

/// The media type of a problem body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// An RFC 9457 problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:trailkeep:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong this time, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Stable machine-readable code (also the last part of `type`).
    pub code: String,
    /// For validation problems: each bad field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemError>,
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProblemError {
    /// In a batch, the position of the event the error is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// Path of the field, such as `actor.id`; empty for the whole event.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl Problem {
    /// A problem with `status`, stable `code`, `title` and optional `detail`.
    pub fn new(status: u16, code: &str, title: &str, detail: Option<String>) -> Self {
        Self {
            kind: format!("urn:trailkeep:problem:{code}"),
            title: title.to_owned(),
            status,
            detail,
            code: code.to_owned(),
            errors: Vec::new(),
        }
    }
}
