//! Reading the credential a request presents: `Authorization: Bearer`, `X-API-Key`, the Kore
//! dialect's `auth` header or Cloudflare's `X-Auth-Key`, each holding an API key or a JWT.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

use super::api_keys;

/// A credential as sent, not yet checked. Its `Debug` shows neither token nor secret.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Presented<'a> {
    /// A JSON Web Token.
    Jwt(&'a str),
    /// An API key: its public id and its secret.
    ApiKey {
        /// The key id.
        id: &'a str,
        /// The secret.
        secret: &'a str,
    },
}

impl std::fmt::Debug for Presented<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Presented::Jwt(_) => f.write_str("Jwt(..)"),
            Presented::ApiKey { id, .. } => write!(f, "ApiKey {{ id: {id:?}, .. }}"),
        }
    }
}

/// Why no credential could be read; each text is safe to show (none repeats the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// No credential header at all.
    Nothing,
    /// `Authorization` with another scheme, or not text.
    BadAuthorization,
    /// Two credential headers that disagree.
    Conflicting,
    /// A value that is neither a JWT nor an API key.
    Unrecognised,
}

impl Missing {
    /// What to tell the client.
    pub fn detail(self) -> &'static str {
        match self {
            Missing::Nothing => {
                "send credentials: Authorization: Bearer <token or API key>, or X-API-Key: <API key>"
            }
            Missing::BadAuthorization => "the Authorization header must be: Bearer <credential>",
            Missing::Conflicting => "send one credential, not several different ones",
            Missing::Unrecognised => "the credential is neither a JWT nor an API key",
        }
    }
}

fn classify(value: &str) -> Result<Presented<'_>, Missing> {
    let value = value.trim();
    if let Some((id, secret)) = api_keys::split(value) {
        return Ok(Presented::ApiKey { id, secret });
    }
    if value.split('.').count() == 3 {
        return Ok(Presented::Jwt(value));
    }
    Err(Missing::Unrecognised)
}

/// The one credential `headers` carry.
pub fn presented(headers: &HeaderMap) -> Result<Presented<'_>, Missing> {
    let mut found: Option<&str> = None;
    if let Some(value) = headers.get(AUTHORIZATION) {
        let text = value.to_str().map_err(|_| Missing::BadAuthorization)?;
        let (scheme, credential) = text.split_once(' ').ok_or(Missing::BadAuthorization)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Missing::BadAuthorization);
        }
        found = Some(credential.trim());
    }
    // `X-Auth-Key` is Cloudflare's (with `X-Auth-Email`, which names the user and is not a
    // credential).
    for name in ["x-api-key", "auth", "x-auth-key"] {
        if let Some(value) = headers.get(name) {
            let text = value.to_str().map_err(|_| Missing::Unrecognised)?.trim();
            match found {
                Some(previous) if previous != text => return Err(Missing::Conflicting),
                _ => found = Some(text),
            }
        }
    }
    classify(found.ok_or(Missing::Nothing)?)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn every_header_carries_either_kind() {
        let id = "tkk_01hzy3q5v8w9x0y1z2a3b4c5d6";
        let secret = "abcdefghijklmnopqrstuvwxyz-_ABCDEFGHIJKLMNO";
        let key = format!("{id}.{secret}");
        // `X-Auth-Key` is Cloudflare's (with `X-Auth-Email`, which names the user and is not a
        // credential).
        for name in ["x-api-key", "auth", "x-auth-key"] {
            assert_eq!(
                presented(&headers(&[(name, &key)])),
                Ok(Presented::ApiKey { id, secret })
            );
            assert_eq!(
                presented(&headers(&[(name, "a.b.c")])),
                Ok(Presented::Jwt("a.b.c"))
            );
        }
        assert_eq!(
            presented(&headers(&[("authorization", "bearer a.b.c")])),
            Ok(Presented::Jwt("a.b.c"))
        );
    }

    #[test]
    fn missing_odd_or_conflicting_credentials_are_refused() {
        assert_eq!(presented(&HeaderMap::new()), Err(Missing::Nothing));
        assert_eq!(
            presented(&headers(&[("authorization", "Basic dXNlcjpwdw==")])),
            Err(Missing::BadAuthorization)
        );
        assert_eq!(
            presented(&headers(&[
                ("authorization", "Bearer a.b.c"),
                ("x-api-key", "x.y.z")
            ])),
            Err(Missing::Conflicting)
        );
        assert_eq!(
            presented(&headers(&[("x-api-key", "hunter2")])),
            Err(Missing::Unrecognised)
        );
    }
}
