//! JSON Web Tokens: verifying them (HS256 with the server's secret; RS256, ES256 and EdDSA with
//! keys from a JWKS file) and minting the short-lived HS256 tokens of the client-credentials
//! exchange.
//!
//! `alg: none` and any algorithm not listed above are refused before a signature is looked at:
//! the algorithm picks the key, and only these four have keys.

use std::collections::HashSet;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use trailkeep_api::ViewScope;
use trailkeep_event::validate_tenant;

use super::Role;

/// Shortest HS256 secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// How tokens are checked and which claims carry what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtSettings {
    /// Required `iss`, when set (also written into tokens this server mints).
    pub issuer: Option<String>,
    /// Required `aud`, when set (also written into tokens this server mints).
    pub audience: Option<String>,
    /// The claim holding the tenant.
    pub tenant_claim: String,
    /// The claim holding the roles; unset means `scope` (space-separated) or else `roles`.
    pub roles_claim: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_seconds: u64,
    /// Lifetime of tokens from `POST /v1/auth/token`, in seconds.
    pub token_ttl_seconds: u64,
    /// Which HS256 tokens (signed with the server's own secret) are accepted.
    pub hs256_tokens: Hs256Tokens,
}

/// Which HS256 tokens a server accepts. With an identity provider's JWKS configured, tokens are
/// expected to come from it: the server's own secret then signs only the tokens of its
/// client-credentials exchange, unless the operator says otherwise, so a leaked secret cannot
/// mint a token for any tenant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hs256Tokens {
    /// `all` without a JWKS, `exchange` with one.
    #[default]
    Auto,
    /// Any token signed with the secret (development tokens from `trailkeep token` too).
    All,
    /// Only tokens of this server's `POST /v1/auth/token`, which name a live API key.
    Exchange,
    /// None: only JWKS keys sign tokens, and the token exchange is off.
    None,
}

impl Hs256Tokens {
    /// The policy in force when a JWKS is (or is not) configured.
    pub fn resolve(self, jwks_configured: bool) -> Self {
        match self {
            Self::Auto if jwks_configured => Self::Exchange,
            Self::Auto => Self::All,
            other => other,
        }
    }
}

impl Default for JwtSettings {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: None,
            tenant_claim: "tenant".into(),
            roles_claim: None,
            leeway_seconds: 30,
            token_ttl_seconds: 900,
            hs256_tokens: Hs256Tokens::Auto,
        }
    }
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// The tenant.
    pub tenant: String,
    /// The roles it grants (unknown scopes are ignored).
    pub roles: HashSet<Role>,
    /// Its subject, when it has one.
    pub subject: Option<String>,
    /// The API key it was exchanged for, when this server minted it.
    pub key_id: Option<String>,
    /// The exchange token's binding to that key's stored secret hash (see
    /// `api_keys::exchange_binding`).
    pub key_binding: Option<String>,
    /// Its `exp`, seconds since the epoch.
    pub expires_at: Option<i64>,
    /// An embed token's scope (`view` claim): such a token only reads, through the viewer's
    /// routes.
    pub view: Option<ViewScope>,
    /// An embed token's viewer (`viewer` claim): who looks, in the embedding product's terms.
    pub viewer: Option<String>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRefusal {
    /// What to tell the client (never the token).
    pub detail: String,
    /// The token's tenant and subject, when its signature was good (it expired, say): then the
    /// failure belongs in that tenant's trail.
    pub signed_by_us_for: Option<(String, Option<String>)>,
}

struct JwksKey {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Verifies tokens and mints exchange tokens.
pub struct JwtVerifier {
    secret: Vec<u8>,
    hs256: DecodingKey,
    /// Which HS256 tokens are accepted (never `Auto`).
    hs256_tokens: Hs256Tokens,
    jwks: Vec<JwksKey>,
    settings: JwtSettings,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("jwks_keys", &self.jwks.len())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The algorithm a JWKS key is for: its `alg` when given, else what its type implies.
fn jwk_algorithm(jwk: &Jwk) -> Result<Algorithm, String> {
    let implied = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        _ => return Err("only RSA, P-256 and Ed25519 keys are supported".into()),
    };
    let algorithm = match jwk.common.key_algorithm {
        Some(alg) => alg
            .to_string()
            .parse::<Algorithm>()
            .map_err(|_| format!("unsupported alg {alg}"))?,
        None => implied,
    };
    if algorithm != implied {
        return Err(format!("alg {algorithm:?} does not fit the key type"));
    }
    Ok(algorithm)
}

impl JwtVerifier {
    /// A verifier for HS256 tokens signed with `secret` (at least 32 bytes) and for tokens
    /// signed by any key of `jwks`.
    pub fn new(
        secret: &[u8],
        jwks: Option<&JwkSet>,
        settings: JwtSettings,
    ) -> Result<Self, String> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "the JWT secret must be at least {MIN_SECRET_BYTES} bytes"
            ));
        }
        validate_claim_names(&settings)?;
        let mut keys = Vec::new();
        for (index, jwk) in jwks
            .map(|set| set.keys.as_slice())
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let name = jwk
                .common
                .key_id
                .clone()
                .unwrap_or_else(|| format!("#{index}"));
            let algorithm = jwk_algorithm(jwk).map_err(|e| format!("JWKS key {name}: {e}"))?;
            let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("JWKS key {name}: {e}"))?;
            keys.push(JwksKey {
                kid: jwk.common.key_id.clone(),
                algorithm,
                key,
            });
        }
        Ok(Self {
            secret: secret.to_vec(),
            hs256: DecodingKey::from_secret(secret),
            hs256_tokens: settings.hs256_tokens.resolve(jwks.is_some()),
            jwks: keys,
            settings,
        })
    }

    /// The settings in force.
    pub fn settings(&self) -> &JwtSettings {
        &self.settings
    }

    /// Which HS256 tokens are accepted (never `Auto`).
    pub fn hs256_policy(&self) -> Hs256Tokens {
        self.hs256_tokens
    }

    /// Whether the client-credentials exchange may mint tokens (its tokens are HS256).
    pub fn exchange_enabled(&self) -> bool {
        self.hs256_tokens != Hs256Tokens::None
    }

    fn validation(&self, algorithm: Algorithm, check_times_and_audience: bool) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.leeway = self.settings.leeway_seconds;
        validation.validate_nbf = check_times_and_audience;
        validation.validate_exp = check_times_and_audience;
        let mut required = vec!["exp"];
        if let Some(issuer) = &self.settings.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        match &self.settings.audience {
            Some(audience) if check_times_and_audience => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            _ => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        validation
    }

    fn keys_for<'a>(&'a self, header: &'a Header) -> Vec<&'a DecodingKey> {
        if header.alg == Algorithm::HS256 {
            if self.hs256_tokens == Hs256Tokens::None {
                return Vec::new();
            }
            return vec![&self.hs256];
        }
        self.jwks
            .iter()
            .filter(|k| k.algorithm == header.alg)
            .filter(|k| header.kid.is_none() || k.kid == header.kid)
            .map(|k| &k.key)
            .collect()
    }

    /// Checks `token` and reads its tenant and roles.
    pub fn verify(&self, token: &str) -> Result<TokenClaims, TokenRefusal> {
        let refuse = |detail: String| TokenRefusal {
            detail,
            signed_by_us_for: None,
        };
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| refuse("the token's header is not a supported JWS header (alg must be HS256, RS256, ES256 or EdDSA)".into()))?;
        let keys = self.keys_for(&header);
        if keys.is_empty() {
            return Err(refuse(format!(
                "no key is configured for tokens signed with {:?}",
                header.alg
            )));
        }
        let mut last = None;
        for key in keys {
            match jsonwebtoken::decode::<Map<String, Value>>(
                token,
                key,
                &self.validation(header.alg, true),
            ) {
                Ok(data) => {
                    let claims = self.claims(data.claims).map_err(refuse)?;
                    if header.alg == Algorithm::HS256
                        && self.hs256_tokens == Hs256Tokens::Exchange
                        && claims.key_id.is_none()
                    {
                        return Err(refuse(
                            "this server accepts HS256 tokens only from its own token exchange"
                                .into(),
                        ));
                    }
                    return Ok(claims);
                }
                Err(e) => last = Some((e, key)),
            }
        }
        let (error, key) = last.expect("at least one key was tried");
        use jsonwebtoken::errors::ErrorKind;
        let detail = match error.kind() {
            ErrorKind::ExpiredSignature => "the token has expired",
            ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)",
            ErrorKind::InvalidAudience => "the token is for another audience (aud)",
            ErrorKind::InvalidIssuer => "the token is from another issuer (iss)",
            ErrorKind::MissingRequiredClaim(_) => {
                "the token lacks a required claim (exp, iss or aud)"
            }
            ErrorKind::InvalidSignature => "the token's signature does not verify",
            _ => "the token is not valid",
        };
        // A good signature with a bad claim (expired, wrong audience) still names a tenant
        // trustworthily: the failure can go into that tenant's trail.
        let signed_by_us_for = if matches!(
            error.kind(),
            ErrorKind::ExpiredSignature
                | ErrorKind::ImmatureSignature
                | ErrorKind::InvalidAudience
                | ErrorKind::InvalidIssuer
        ) {
            let mut lenient = self.validation(header.alg, false);
            lenient.validate_aud = false;
            lenient.iss = None;
            lenient.set_required_spec_claims::<&str>(&[]);
            jsonwebtoken::decode::<Map<String, Value>>(token, key, &lenient)
                .ok()
                .and_then(|data| self.claims(data.claims).ok())
                .map(|claims| (claims.tenant, claims.subject))
        } else {
            None
        };
        Err(TokenRefusal {
            detail: detail.into(),
            signed_by_us_for,
        })
    }

    fn claims(&self, claims: Map<String, Value>) -> Result<TokenClaims, String> {
        let claim = &self.settings.tenant_claim;
        let tenant = claims
            .get(claim)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("the token has no {claim:?} claim naming the tenant"))?;
        validate_tenant(tenant).map_err(|e| format!("the token's tenant claim {e}"))?;
        let roles_value = match &self.settings.roles_claim {
            Some(name) => claims.get(name),
            None => claims.get("scope").or_else(|| claims.get("roles")),
        };
        let roles = match roles_value {
            Some(Value::String(s)) => s.split_whitespace().filter_map(Role::from_scope).collect(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .filter_map(Role::from_scope)
                .collect(),
            _ => HashSet::new(),
        };
        Ok(TokenClaims {
            tenant: tenant.to_owned(),
            roles,
            subject: claims.get("sub").and_then(Value::as_str).map(str::to_owned),
            expires_at: claims.get("exp").and_then(Value::as_i64),
            // Only this server's exchange tokens carry a key id, and always as their subject too.
            key_id: claims
                .get("key_id")
                .and_then(Value::as_str)
                .filter(|id| claims.get("sub").and_then(Value::as_str) == Some(*id))
                .map(str::to_owned),
            key_binding: claims.get("kb").and_then(Value::as_str).map(str::to_owned),
            view: match claims.get("view") {
                None => None,
                Some(view) => Some(
                    serde_json::from_value(view.clone())
                        .map_err(|_| "the token's view claim is not a viewer scope".to_owned())?,
                ),
            },
            viewer: claims
                .get("viewer")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }

    /// Mints an HS256 token for `tenant` with `roles`, valid for `ttl_seconds`, carrying the
    /// configured issuer and audience so that this verifier accepts it; with `key`, an
    /// exchange token of that API key (its id and binding).
    pub fn mint(
        &self,
        tenant: &str,
        roles: &[Role],
        subject: &str,
        key: Option<ExchangeKey<'_>>,
        ttl_seconds: u64,
    ) -> Result<String, String> {
        self.mint_with(tenant, roles, subject, key, ttl_seconds, Map::new())
    }

    /// Mints an embed token for `tenant`: `audit:read` only, showing `view` to `viewer`,
    /// valid for `ttl_seconds`; bound to `key` (so that revoking it ends the token) when the
    /// maker stands on one. Without a key its subject is `viewer`.
    pub fn mint_viewer(
        &self,
        tenant: &str,
        key: Option<ExchangeKey<'_>>,
        view: &ViewScope,
        viewer: &str,
        ttl_seconds: u64,
    ) -> Result<String, String> {
        let mut extra = Map::new();
        extra.insert(
            "view".into(),
            serde_json::to_value(view).map_err(|e| e.to_string())?,
        );
        extra.insert("viewer".into(), viewer.into());
        let subject = key.map_or(viewer, |k| k.id);
        self.mint_with(tenant, &[Role::Read], subject, key, ttl_seconds, extra)
    }

    /// Mints a token of `roles` with `claims` beside the usual ones.
    fn mint_with(
        &self,
        tenant: &str,
        roles: &[Role],
        subject: &str,
        key: Option<ExchangeKey<'_>>,
        ttl_seconds: u64,
        mut claims: Map<String, Value>,
    ) -> Result<String, String> {
        validate_tenant(tenant).map_err(|e| format!("tenant {e}"))?;
        let now = super::now_seconds() as u64;
        claims.insert(self.settings.tenant_claim.clone(), tenant.into());
        let scope = roles
            .iter()
            .map(|r| r.scope())
            .collect::<Vec<_>>()
            .join(" ");
        let roles_claim = self.settings.roles_claim.as_deref().unwrap_or("scope");
        claims.insert(roles_claim.to_owned(), scope.into());
        claims.insert("sub".into(), subject.into());
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), (now + ttl_seconds).into());
        if let Some(key) = key {
            claims.insert("key_id".into(), key.id.into());
            claims.insert("kb".into(), key.binding.into());
        }
        if let Some(issuer) = &self.settings.issuer {
            claims.insert("iss".into(), issuer.clone().into());
        }
        if let Some(audience) = &self.settings.audience {
            claims.insert("aud".into(), audience.clone().into());
        }
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&self.secret),
        )
        .map_err(|e| format!("sign token: {e}"))
    }
}

/// The API key an exchange token stands for.
#[derive(Debug, Clone, Copy)]
pub struct ExchangeKey<'a> {
    /// The key's id.
    pub id: &'a str,
    /// Its binding (`api_keys::exchange_binding`).
    pub binding: &'a str,
}

/// Claims this server reads or writes itself; the tenant and roles cannot be named after them.
const RESERVED_CLAIMS: [&str; 11] = [
    "sub", "iat", "exp", "nbf", "iss", "aud", "jti", "key_id", "kb", "view", "viewer",
];

fn validate_claim_names(settings: &JwtSettings) -> Result<(), String> {
    let tenant = settings.tenant_claim.as_str();
    if tenant.is_empty() || RESERVED_CLAIMS.contains(&tenant) {
        return Err(format!(
            "jwt.tenant_claim must be a claim of its own, not empty or one of {}",
            RESERVED_CLAIMS.join(", ")
        ));
    }
    if let Some(roles) = settings.roles_claim.as_deref()
        && (roles.is_empty() || roles == tenant || RESERVED_CLAIMS.contains(&roles))
    {
        return Err(format!(
            "jwt.roles_claim must differ from jwt.tenant_claim and from {}",
            RESERVED_CLAIMS.join(", ")
        ));
    }
    Ok(())
}

/// Mints an HS256 token for `tenant` with the space-separated `scope`, valid for `ttl_seconds`,
/// with the default claim names and no issuer or audience (development and tests; production
/// tokens come from the identity provider or `POST /v1/auth/token`).
pub fn mint_token(
    secret: &[u8],
    tenant: &str,
    scope: &str,
    ttl_seconds: u64,
) -> Result<String, String> {
    let roles: Vec<Role> = scope
        .split_whitespace()
        .filter_map(Role::from_scope)
        .collect();
    JwtVerifier::new(secret, None, JwtSettings::default())?.mint(
        tenant,
        &roles,
        "cli",
        None,
        ttl_seconds,
    )
}
