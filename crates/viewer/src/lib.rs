//! The viewer: a web UI for people who would rather look than read JSON (DESIGN section 6,
//! `/ui`).
//!
//! Its files are plain HTML, CSS and JavaScript modules written for this project, with no
//! third-party browser code and no build step: they are compiled into the binary as they are
//! in `assets/`, so `trailkeep serve` answers `/ui` on a machine without Node.js. The browser
//! does the cryptography itself (WebCrypto's SHA-256 and Ed25519), so a proof is checked by the
//! person looking at it, not by the server that sent it.
//!
//! Every file is served with [`content_security_policy`]: nothing but this origin may be
//! fetched, framed, or run.

/// One file of the viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// Its path under `/ui/`.
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub bytes: &'static [u8],
}

macro_rules! assets {
    ($($path:literal => $content_type:expr),* $(,)?) => {
        /// Every file, by its path under `/ui/`.
        pub const ASSETS: &[Asset] = &[$(Asset {
            path: $path,
            content_type: $content_type,
            bytes: include_bytes!(concat!("../assets/", $path)),
        }),*];
    };
}

const JS: &str = "text/javascript; charset=utf-8";

assets! {
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "icon.svg" => "image/svg+xml",
    "js/app.js" => JS,
    "js/api.js" => JS,
    "js/dom.js" => JS,
    "js/jcs.js" => JS,
    "js/proof.js" => JS,
    "js/query.js" => JS,
    "js/events.js" => JS,
    "js/histogram.js" => JS,
    "js/drawer.js" => JS,
    "js/verify.js" => JS,
    "js/pages.js" => JS,
    "js/forms.js" => JS,
}

/// The file at `path` (relative to `/ui/`; empty for the page itself).
pub fn asset(path: &str) -> Option<&'static Asset> {
    let path = if path.is_empty() { "index.html" } else { path };
    ASSETS.iter().find(|a| a.path == path)
}

/// The Content-Security-Policy of every viewer response: scripts, styles, images and
/// connections from this origin only, no plugins, no inline code, no `<base>` or form posts
/// elsewhere, DOM sinks closed to strings (Trusted Types), and framing by `frame_ancestors`
/// only (origins an operator lets embed the viewer; none means no one but this origin). An
/// ancestor that is not an origin (`https://app.example.com`, `https://*.example.com:8443`) or
/// `'self'` is refused.
pub fn content_security_policy(frame_ancestors: &[String]) -> Result<String, String> {
    if let Some(bad) = frame_ancestors.iter().find(|a| !is_origin(a)) {
        return Err(format!(
            "{bad:?} is not an origin a page may be framed by (such as https://app.example.com, or 'self')"
        ));
    }
    let ancestors = if frame_ancestors.is_empty() {
        "'self'".to_owned()
    } else {
        frame_ancestors.join(" ")
    };
    Ok(format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; \
         form-action 'none'; frame-ancestors {ancestors}; \
         require-trusted-types-for 'script'; trusted-types 'none'"
    ))
}

/// Whether `text` is `'self'` or an http(s) origin: scheme, host (a leading `*.` allowed),
/// optional port, nothing more.
fn is_origin(text: &str) -> bool {
    if text == "'self'" {
        return true;
    }
    let Some(rest) = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
    else {
        return false;
    };
    let (host, port) = rest.split_once(':').unwrap_or((rest, "80"));
    let host = host.strip_prefix("*.").unwrap_or(host);
    !host.is_empty()
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && !port.is_empty()
        && port.len() <= 5
        && port.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_page_imports_is_served() {
        let mut imports = 0;
        for module in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let text = std::str::from_utf8(module.bytes).expect("utf-8");
            // `import {...} from './x.js';`, on one line or closing several.
            for (_, rest) in text
                .match_indices("} from '")
                .map(|(i, _)| text.split_at(i + 8))
            {
                let from = rest.split('\'').next().unwrap_or_default();
                let name = from.trim_start_matches("./");
                assert!(
                    asset(&format!("js/{name}")).is_some(),
                    "{} imports {from}, which is not among the assets",
                    module.path
                );
                imports += 1;
            }
        }
        assert!(imports > 20, "only {imports} imports found");
        let page = std::str::from_utf8(asset("").expect("the page").bytes).unwrap();
        for referenced in ["style.css", "js/app.js", "icon.svg"] {
            assert!(
                page.contains(referenced) && asset(referenced).is_some(),
                "{referenced}"
            );
        }
        assert!(asset("../Cargo.toml").is_none());
    }

    #[test]
    fn the_policy_names_no_other_origin_unless_told() {
        let policy = content_security_policy(&[]).unwrap();
        assert!(policy.contains("default-src 'none'"));
        assert!(policy.contains("connect-src 'self'"));
        assert!(policy.contains("frame-ancestors 'self'"));
        assert!(!policy.contains("http"));
        let embedded = content_security_policy(&[
            "https://app.example.com".into(),
            "https://*.example.org:8443".into(),
        ])
        .unwrap();
        assert!(
            embedded
                .contains("frame-ancestors https://app.example.com https://*.example.org:8443;")
        );
        for bad in [
            "*",
            "https://a.example; script-src *",
            "javascript:",
            "https://",
            "'unsafe-inline'",
        ] {
            assert!(content_security_policy(&[bad.into()]).is_err(), "{bad}");
        }
    }
}
