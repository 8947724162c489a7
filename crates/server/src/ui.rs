//! `/ui`: the viewer's files (`trailkeep-viewer`), each with the viewer's
//! Content-Security-Policy: nothing from another origin may be fetched, framed or run, and
//! only the origins an operator names may frame the viewer.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::AppState;
use crate::error::ApiError;

/// The viewer's response headers, from the server's settings.
#[derive(Debug, Clone)]
pub struct ViewerHeaders {
    policy: HeaderValue,
}

impl ViewerHeaders {
    /// The headers for a viewer that `frame_ancestors` (origins such as
    /// `https://app.example.com`) may embed; none means only this origin may.
    pub fn new(frame_ancestors: &[String]) -> Result<Self, String> {
        let policy = trailkeep_viewer::content_security_policy(frame_ancestors)?;
        Ok(Self {
            policy: HeaderValue::from_str(&policy).map_err(|e| e.to_string())?,
        })
    }
}

impl Default for ViewerHeaders {
    fn default() -> Self {
        Self::new(&[]).expect("the policy without frame ancestors is valid")
    }
}

/// `GET /ui`: to `/ui/`, where the page's relative addresses resolve.
pub async fn redirect() -> Redirect {
    Redirect::permanent("/ui/")
}

/// `GET /ui/`: the page.
pub async fn page(State(state): State<AppState>) -> Response {
    serve(&state, "")
}

/// `GET /ui/{path}`: a script, the style sheet or the icon.
pub async fn file(State(state): State<AppState>, Path(path): Path<String>) -> Response {
    serve(&state, &path)
}

fn serve(state: &AppState, path: &str) -> Response {
    let Some(asset) = trailkeep_viewer::asset(path) else {
        return ApiError::not_found("no such file in the viewer").into_response();
    };
    let mut response = (StatusCode::OK, asset.bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(header::CONTENT_SECURITY_POLICY, state.viewer.policy.clone());
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The files change with the binary: a browser asks again (cheaply) rather than run old
    // scripts against a new server.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
