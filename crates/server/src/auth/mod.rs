//! Who is calling and what they may do (DESIGN section 6).
//!
//! Every route declares the [`Role`] it needs where it is registered (`routes.rs`); the
//! [`guard`] middleware in front of it authenticates the request (API key or JWT, from
//! whichever header carries it), applies the caller's rate limit and checks the role, and hands
//! the handler a [`Principal`]. Missing or bad credentials are 401; a missing role is 403.
//!
//! The tenant always comes from the credential, never from a request body or path, so a handler
//! that takes a [`Principal`] cannot read or write another tenant's trail.

pub mod api_keys;
mod cache;
mod failures;
pub mod jwt;
mod presented;
mod rate;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use trailkeep_api::ViewScope;
use trailkeep_event::{Event, Filter};
use trailkeep_store::quota::Place;
use trailkeep_store::{ApiKeyRecord, KeyStore};

pub use failures::{FailureLimiter, Source};
pub use jwt::{ExchangeKey, Hs256Tokens, JwtSettings, JwtVerifier, MIN_SECRET_BYTES, mint_token};
pub use presented::{Missing, Presented, presented};
pub use rate::RateLimiter;

use cache::KeyCache;

use crate::AppState;
use crate::audit::FailedAuth;
use crate::error::ApiError;

/// Seconds since the Unix epoch.
pub fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A permission, granted by a scope string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// `audit:write`: ingest events.
    Write,
    /// `audit:read`: query, history, statistics, proofs.
    Read,
    /// `audit:export`: exports and reports.
    Export,
    /// `audit:admin`: keys, webhooks, rules, retention.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Write, Role::Read, Role::Export, Role::Admin];

    /// The scope string that grants this role.
    pub fn scope(self) -> &'static str {
        match self {
            Role::Write => "audit:write",
            Role::Read => "audit:read",
            Role::Export => "audit:export",
            Role::Admin => "audit:admin",
        }
    }

    /// The role a scope string grants, if any.
    pub fn from_scope(scope: &str) -> Option<Self> {
        Role::ALL.into_iter().find(|r| r.scope() == scope)
    }
}

/// What kind of credential a caller used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// An API key.
    ApiKey,
    /// A JWT.
    Token,
    /// An embed token (`POST /v1/viewer-tokens`): reads, through the viewer's routes only.
    Viewer,
}

impl CredentialKind {
    /// The wire name: `api_key`, `token` or `viewer`.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::ApiKey => "api_key",
            CredentialKind::Token => "token",
            CredentialKind::Viewer => "viewer",
        }
    }
}

/// What a route lets in: a role (or any valid credential), and whether embed tokens may use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// The role needed; `None` admits any valid credential.
    pub role: Option<Role>,
    /// Whether an embed token may call the route (the viewer's own routes, which confine
    /// what they answer to the token's scope).
    pub embed: bool,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The caller's tenant.
    pub tenant: String,
    /// The caller's roles.
    pub roles: HashSet<Role>,
    /// The kind of credential.
    pub kind: CredentialKind,
    /// The API key id, or the token's subject (`None` for a token without one).
    pub id: Option<String>,
    /// When the credential stops working, seconds since the epoch (a token's `exp`, a key's
    /// expiry).
    pub expires_at: Option<i64>,
    /// The API key the credential stands on (the key itself, or the key a token was exchanged
    /// for): revoking it ends the credential.
    pub backing_key: Option<String>,
    /// An embed token's scope: the only events it may see.
    pub view: Option<ViewScope>,
    /// An embed token's viewer (who looks).
    pub viewer: Option<String>,
}

impl Principal {
    /// Fails with 403 unless the caller has `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.roles.contains(&role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this endpoint needs the {} role",
                role.scope()
            )))
        }
    }

    /// The bucket this caller's requests are counted in.
    pub fn rate_key(&self) -> String {
        let kind = match self.kind {
            CredentialKind::ApiKey => "key",
            CredentialKind::Token => "token",
            CredentialKind::Viewer => "viewer",
        };
        // Each viewer of an embed token has a bucket of its own: one key may make tokens for
        // many people looking at once.
        format!(
            "{kind}|{}|{}|{}",
            self.tenant,
            self.id.as_deref().unwrap_or(""),
            self.viewer.as_deref().unwrap_or("")
        )
    }

    /// The caller as an event's `actor`, for events the service writes about what it did.
    pub fn actor(&self) -> serde_json::Value {
        let kind = match self.kind {
            CredentialKind::ApiKey => "api_key",
            CredentialKind::Token => "service",
            CredentialKind::Viewer => {
                return serde_json::json!({"type": "user", "id": self.viewer.as_deref().unwrap_or("viewer")});
            }
        };
        match &self.id {
            Some(id) => serde_json::json!({"type": kind, "id": id}),
            None => serde_json::json!({"type": kind}),
        }
    }

    /// Narrows `filter` to what the credential may see: an embed token's scope. A filter that
    /// names another actor or target than the scope allows is refused (403), not emptied.
    pub fn confine(&self, filter: &mut Filter) -> Result<(), ApiError> {
        let Some(view) = &self.view else {
            return Ok(());
        };
        for (name, allowed, asked) in [
            ("actor_id", &view.actor_id, &mut filter.actor_id),
            ("target_type", &view.target_type, &mut filter.target_type),
            ("target_id", &view.target_id, &mut filter.target_id),
        ] {
            let Some(allowed) = allowed else { continue };
            match asked {
                Some(asked) if asked != allowed => {
                    return Err(ApiError::forbidden(format!(
                        "this embed token shows only the events with {name} {allowed:?}"
                    )));
                }
                _ => *asked = Some(allowed.clone()),
            }
        }
        Ok(())
    }

    /// Whether the credential may see `event` (an embed token's scope holds it).
    pub fn may_see(&self, event: &Event) -> bool {
        let Some(view) = &self.view else {
            return true;
        };
        let actor = event.actor.as_ref().and_then(|a| a.id.as_deref());
        let target = event.target.as_ref();
        let target_type = target.and_then(|t| t.kind.as_deref());
        let target_id = target.and_then(|t| t.id.as_deref());
        view.actor_id.as_deref().is_none_or(|a| actor == Some(a))
            && view
                .target_type
                .as_deref()
                .is_none_or(|t| target_type == Some(t))
            && view
                .target_id
                .as_deref()
                .is_none_or(|t| target_id == Some(t))
    }
}

/// A refused authentication: the 401 to send, and the failure to record when it can be pinned
/// to a tenant.
#[derive(Debug)]
pub struct Refused {
    /// What the client gets.
    pub error: ApiError,
    /// What goes into the tenant's trail, when the tenant is known for sure.
    pub audit: Option<FailedAuth>,
}

impl Refused {
    fn anonymous(detail: impl Into<String>) -> Self {
        Self {
            error: ApiError::unauthorized(detail),
            audit: None,
        }
    }
}

/// Checks credentials: API keys against the store, JWTs against the configured keys.
pub struct Authenticator {
    jwt: JwtVerifier,
    keys: Arc<dyn KeyStore>,
    cache: KeyCache,
    limiter: RateLimiter,
    failures: FailureLimiter,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("jwt", &self.jwt)
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// An authenticator over `jwt` and the keys in `keys`, limiting each credential with
    /// `limiter` and each source address's failures with `failures`.
    pub fn new(
        jwt: JwtVerifier,
        keys: Arc<dyn KeyStore>,
        limiter: RateLimiter,
        failures: FailureLimiter,
    ) -> Self {
        Self {
            jwt,
            keys,
            cache: KeyCache::default(),
            limiter,
            failures,
        }
    }

    /// The bound on failed authentications per source address.
    pub fn failures(&self) -> &FailureLimiter {
        &self.failures
    }

    /// The token verifier (and minter).
    pub fn jwt(&self) -> &JwtVerifier {
        &self.jwt
    }

    /// The rate limiter.
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// The principal a request's credential stands for.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, Refused> {
        match presented(headers).map_err(|m| Refused::anonymous(m.detail()))? {
            Presented::ApiKey { id, secret } => self.api_key(id, secret).await,
            Presented::Jwt(token) => self.token(token).await,
        }
    }

    /// The principal of API key `id` with `secret` (also the client-credentials exchange).
    pub async fn api_key(&self, id: &str, secret: &str) -> Result<Principal, Refused> {
        let record = self.checked_key(id, secret).await?;
        Ok(Principal {
            tenant: record.tenant,
            roles: record
                .roles
                .iter()
                .filter_map(|s| Role::from_scope(s))
                .collect(),
            kind: CredentialKind::ApiKey,
            backing_key: Some(record.id.clone()),
            id: Some(record.id),
            expires_at: record.expires_at,
            view: None,
            viewer: None,
        })
    }

    /// The stored record of API key `id`, once `secret` is checked against it (live, not
    /// expired, not revoked).
    pub async fn checked_key(&self, id: &str, secret: &str) -> Result<ApiKeyRecord, Refused> {
        let record = self
            .key(id)
            .await
            .map_err(|e| Refused {
                error: ApiError::from(e),
                audit: None,
            })?
            .ok_or_else(|| Refused::anonymous("the API key is not valid"))?;
        if let Err(refusal) = api_keys::check(&record, secret, now_seconds()) {
            return Err(Refused {
                error: ApiError::unauthorized("the API key is not valid"),
                audit: Some(FailedAuth {
                    tenant: record.tenant,
                    credential: record.id,
                    reason: refusal.reason(),
                }),
            });
        }
        Ok(record)
    }

    async fn token(&self, token: &str) -> Result<Principal, Refused> {
        let mut claims = self.jwt.verify(token).map_err(|refusal| Refused {
            error: ApiError::unauthorized(refusal.detail),
            audit: refusal
                .signed_by_us_for
                .map(|(tenant, subject)| FailedAuth {
                    tenant,
                    credential: subject.unwrap_or_else(|| "token".into()),
                    reason: "invalid token claims",
                }),
        })?;
        // A token exchanged for an API key dies with the key.
        if let Some(key_id) = &claims.key_id {
            let live = self
                .key(key_id)
                .await
                .map_err(|e| Refused {
                    error: ApiError::from(e),
                    audit: None,
                })?
                .filter(|k| k.tenant == claims.tenant && key_is_live(k, now_seconds()));
            let Some(key) = live else {
                return Err(Refused {
                    error: ApiError::unauthorized(
                        "the API key this token was issued for is revoked or expired",
                    ),
                    audit: Some(FailedAuth {
                        tenant: claims.tenant,
                        credential: key_id.clone(),
                        reason: "token of a revoked key",
                    }),
                });
            };
            if claims.key_binding.as_deref() != Some(api_keys::exchange_binding(&key).as_str()) {
                return Err(Refused {
                    error: ApiError::unauthorized("the token is not valid"),
                    audit: Some(FailedAuth {
                        tenant: claims.tenant,
                        credential: key_id.clone(),
                        reason: "exchange token not bound to its key",
                    }),
                });
            }
            // An exchange token never grants more than its key does.
            claims
                .roles
                .retain(|role| key.roles.iter().any(|scope| scope == role.scope()));
        }
        let kind = if claims.view.is_some() {
            // An embed token reads, whatever else its claims name.
            claims.roles.retain(|role| *role == Role::Read);
            CredentialKind::Viewer
        } else {
            CredentialKind::Token
        };
        Ok(Principal {
            tenant: claims.tenant,
            roles: claims.roles,
            kind,
            backing_key: claims.key_id.clone(),
            id: claims.key_id.or(claims.subject),
            expires_at: claims.expires_at,
            view: claims.view,
            viewer: claims.viewer,
        })
    }

    /// The stored record of key `id`, through the cache.
    async fn key(&self, id: &str) -> Result<Option<ApiKeyRecord>, trailkeep_store::StoreError> {
        if let Some(record) = self.cache.get(id) {
            return Ok(Some(record));
        }
        // A revocation between this lookup and its `put` must not be undone by the put.
        let generation = self.cache.generation();
        let record = self.keys.api_key(id).await?;
        if let Some(record) = &record {
            self.cache.put(record.clone(), generation);
        }
        Ok(record)
    }

    /// Forgets what the cache holds of key `id`: called when the key is revoked, so that the
    /// revocation holds for the very next request.
    pub fn forget_key(&self, id: &str) {
        self.cache.forget(id);
    }

    /// Whether a credential accepted earlier still stands: not expired, and the key it stands
    /// on not revoked. Long-lived responses (event streams) ask this while they run; the `Err`
    /// says why the credential no longer stands.
    pub async fn recheck(&self, principal: &Principal) -> Result<(), &'static str> {
        let now = now_seconds();
        if principal.expires_at.is_some_and(|at| at <= now) {
            return Err("the credential expired");
        }
        if let Some(id) = &principal.backing_key {
            // From the store, not the cache: the stream that asks may have been woken by the
            // very commit that revoked the key, before the cache heard of it.
            match self.keys.api_key(id).await {
                Ok(Some(key)) if key.tenant == principal.tenant && key_is_live(&key, now) => {}
                Ok(_) => return Err("the API key was revoked or expired"),
                Err(_) => return Err("the credential could not be checked"),
            }
        }
        Ok(())
    }
}

/// Whether a key is neither revoked nor expired at `now`.
fn key_is_live(key: &ApiKeyRecord, now: i64) -> bool {
    key.revoked_at.is_none() && key.expires_at.is_none_or(|at| at > now)
}

/// How long a read waits for a place among its tenant's concurrent reads before it is refused.
const READ_PLACE_WAIT: Duration = Duration::from_secs(2);

/// The middleware in front of every authenticated route: refuse a source that failed too often,
/// authenticate, rate-limit, check `role`, take a place among the tenant's concurrent reads
/// (read routes), then hand the [`Principal`] to the handler.
pub async fn guard(
    State((state, access)): State<(AppState, Access)>,
    source: Source,
    mut request: Request,
    next: Next,
) -> Response {
    if let Err(refusal) = source.check(&state.auth.failures) {
        return refusal.into_response();
    }
    let principal = match state.auth.authenticate(request.headers()).await {
        Ok(principal) => principal,
        Err(refused) => {
            metrics::counter!("trailkeep_auth_failures_total").increment(1);
            // A store that could not answer is no failure of the client's.
            if refused.error.problem().status < 500 {
                source.failed(&state.auth.failures);
            }
            if let Some(failure) = refused.audit {
                state.audit.failed_auth(failure);
            }
            return refused.error.into_response();
        }
    };
    if let Err(wait) = state.auth.limiter.check(&principal.rate_key()) {
        metrics::counter!("trailkeep_rate_limited_total").increment(1);
        return ApiError::too_many_requests(wait).into_response();
    }
    if principal.kind == CredentialKind::Viewer && !access.embed {
        return ApiError::forbidden("an embed token opens only the viewer's routes")
            .into_response();
    }
    if let Some(role) = access.role
        && let Err(e) = principal.require(role)
    {
        return e.into_response();
    }
    let _place = if access.role == Some(Role::Read) {
        match read_place(&state, &principal.tenant).await {
            Ok(place) => Some(place),
            Err(e) => return e.into_response(),
        }
    } else {
        None
    };
    request.extensions_mut().insert(principal);
    next.run(request).await
}

/// A place among `tenant`'s concurrent reads, waiting a little for one; 429 when none frees.
async fn read_place(state: &AppState, tenant: &str) -> Result<Place, ApiError> {
    let deadline = tokio::time::Instant::now() + READ_PLACE_WAIT;
    state
        .reads
        .take_waiting(tenant, Some(deadline))
        .await
        .map_err(|_| {
            metrics::counter!("trailkeep_tenant_reads_refused_total").increment(1);
            ApiError::throttled(
                "tenant_reads_busy",
                format!(
                    "this tenant already runs {} reads at once; retry after the Retry-After seconds",
                    state.limits.tenant_concurrent_reads
                ),
                Duration::from_secs(1),
            )
        })
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        // Only the guard puts a principal here; a route without a guard has none, and fails
        // closed.
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("this endpoint needs credentials"))
    }
}
