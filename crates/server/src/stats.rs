//! `GET /v1/stats`: totals, unique actors, failed logins, and counts grouped by action,
//! category, target type, outcome, actor or day, over the events matching the usual filters.

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use trailkeep_api::{GroupCount, StatsResponse};
use trailkeep_store::GroupBy;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::events::json_response;
use crate::listing::{FILTER_PARAMS, parse_filter};
use crate::params::Params;

/// `GET /v1/stats?group_by=action,day&since=...`.
#[utoipa::path(
    get,
    path = "/v1/stats",
    tag = "views",
    summary = "Counts over the matching events",
    description = "Totals, unique actors and failed sign-ins over the events matching the filters, and counts grouped by action, category, target type, outcome, actor or day: at most 1,000 values per group, largest first; `truncated` names the groups that had more.",
    params(crate::openapi::params::FilterParams, crate::openapi::params::StatsParams),
    responses(
        (status = 200, description = "The counts", body = StatsResponse),
        (status = 400, description = "A parameter is invalid", body = trailkeep_api::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn stats(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Response, ApiError> {
    let allowed: Vec<&str> = FILTER_PARAMS.iter().copied().chain(["group_by"]).collect();
    let params = Params::parse(&uri, &allowed)?;
    let mut filter = parse_filter(&params)?;
    principal.confine(&mut filter)?;
    let mut group_by = Vec::new();
    for value in params.all("group_by") {
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let group = GroupBy::parse(name).ok_or_else(|| {
                let known: Vec<&str> = GroupBy::ALL.iter().map(|g| g.as_str()).collect();
                ApiError::bad_request(
                    "bad_parameter",
                    format!("group_by {name:?} is not one of {}", known.join(", ")),
                )
            })?;
            if !group_by.contains(&group) {
                group_by.push(group);
            }
        }
    }
    let stats = state
        .store
        .stats(&principal.tenant, &filter, &group_by)
        .await?;
    let body = StatsResponse {
        total: stats.total,
        unique_actors: stats.unique_actors,
        failed_logins: stats.failed_logins,
        groups: stats
            .groups
            .into_iter()
            .map(|(group, counts)| {
                let rows = counts
                    .into_iter()
                    .map(|(value, count)| GroupCount { value, count })
                    .collect();
                (group.as_str().to_owned(), rows)
            })
            .collect(),
        truncated: stats
            .truncated
            .iter()
            .map(|g| g.as_str().to_owned())
            .collect(),
    };
    let bytes = serde_json::to_vec(&body).map_err(|e| ApiError::internal(&e))?;
    Ok(json_response(StatusCode::OK, bytes))
}
