//! Where a finished export or report goes besides the server's own download route: a
//! directory under a root the operator allows, an e-mail through the configured SMTP server, or
//! the configured webhook endpoint, signed as Standard Webhooks signs. What is delivered is a
//! [`Parcel`]: a job's main file, the files that go with it, and the words that describe them.
//!
//! Every destination is configured by the operator ([`Deliveries`]); a tenant only picks one
//! and, for e-mail, a recipient (within the allowed domains, when the operator names some). A
//! destination the server is not configured for is refused before any job is queued
//! ([`Deliveries::check`]). A delivery that fails fails the attempt, which is retried.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lettre::message::header::ContentTransferEncoding;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Body, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{FileDigest, SharedLinks, file_name};

/// What a finished job hands to its destination.
#[derive(Debug, Clone)]
pub struct Parcel {
    /// The job's id: the webhook message is `msg_<id>`, so a retried delivery keeps its id.
    pub id: String,
    /// The tenant: a directory destination writes into the tenant's own folder.
    pub tenant: String,
    /// The main file, the one a destination's size bound applies to.
    pub file: PathBuf,
    /// Its name, size and SHA-256.
    pub digest: FileDigest,
    /// Small files that go wherever the main file goes (an export's signed manifest).
    pub notes: Vec<PathBuf>,
    /// Files only a directory receives besides (an export's proofs).
    pub copies: Vec<PathBuf>,
    /// The e-mail's subject.
    pub subject: String,
    /// The e-mail's text; a line on how to get the file follows it.
    pub text: String,
    /// The webhook message's `type` (`audit.export.completed`, ...).
    pub event_type: &'static str,
    /// The webhook message's `data`, to which the file (base64) or its links are added.
    pub data: Value,
}

/// Where a finished export or report goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Destination {
    /// Kept on the server for `GET /v1/exports/{id}/file`.
    Download,
    /// Copied, with an export's manifest and proofs, into `<directory_root>/<tenant>/<path>`.
    Directory {
        /// A relative path under the root (no `..`).
        path: String,
    },
    /// Sent as an attachment, with an export's manifest, to `to`.
    Email {
        /// The recipient's address.
        to: String,
    },
    /// Posted, with an export's manifest, to the operator's `exports.webhook` endpoint.
    Webhook,
}

impl Destination {
    /// The destination's name as the API spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Destination::Download => "download",
            Destination::Directory { .. } => "directory",
            Destination::Email { .. } => "email",
            Destination::Webhook => "webhook",
        }
    }
}

/// How SMTP connections are secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain SMTP upgraded with STARTTLS (refused if the server does not offer it).
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No TLS: only for a relay on the same host or a test.
    None,
}

/// `[smtp]`: the server that sends export e-mails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// Host name.
    pub host: String,
    /// Port.
    pub port: u16,
    /// `starttls`, `tls` or `none`.
    pub security: SmtpSecurity,
    /// User name, when the server wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// Its password.
    #[serde(default)]
    pub password: Option<String>,
    /// The sender address.
    pub from: String,
    /// Largest file sent as an attachment; a larger export is sent as signed links when
    /// `exports.public_url` is set, and fails saying so when it is not.
    #[serde(default = "default_max_attachment")]
    pub max_attachment_bytes: u64,
    /// Recipient domains allowed (`example.com`); empty allows any.
    #[serde(default)]
    pub allowed_domains: Vec<String>,
}

fn default_max_attachment() -> u64 {
    10 * 1024 * 1024
}

/// `[exports.webhook]`: the endpoint exports are posted to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// The URL.
    pub url: String,
    /// The Standard Webhooks signing secret, `whsec_` and base64.
    pub secret: String,
    /// Largest file posted (base64 in the JSON payload); a larger export is posted as signed
    /// links when `exports.public_url` is set, and fails saying so when it is not.
    #[serde(default = "default_max_attachment")]
    pub max_file_bytes: u64,
}

/// The destinations the operator configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deliveries {
    /// Root of `directory` destinations.
    pub directory_root: Option<PathBuf>,
    /// The SMTP server of `email` destinations.
    pub smtp: Option<SmtpSettings>,
    /// The endpoint of `webhook` destinations.
    pub webhook: Option<WebhookSettings>,
}

/// Whether `text` is an e-mail address (`ann@example.com`, or `Ann <ann@example.com>`).
pub fn is_email_address(text: &str) -> bool {
    text.parse::<Mailbox>().is_ok()
}

/// A relative path with no `..`, no root and nothing empty.
fn relative(path: &str) -> Result<PathBuf, String> {
    let parsed = Path::new(path);
    let plain = !path.is_empty()
        && path.len() <= 255
        && parsed
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if plain {
        Ok(parsed.to_owned())
    } else {
        Err("a directory destination's path is relative, without `..` (at most 255 bytes)".into())
    }
}

impl Deliveries {
    /// Whether `destination` can be delivered here; the reason when not.
    pub fn check(&self, destination: &Destination) -> Result<(), String> {
        let missing = |what: &str| {
            Err(format!(
                "this server is not configured for {} exports ({what})",
                destination.name()
            ))
        };
        match destination {
            Destination::Download => Ok(()),
            Destination::Directory { path } => match &self.directory_root {
                None => missing("exports.directory_root"),
                Some(_) => relative(path).map(|_| ()),
            },
            Destination::Email { to } => match &self.smtp {
                None => missing("[smtp]"),
                Some(smtp) => {
                    let address: Mailbox = to
                        .parse()
                        .map_err(|_| format!("{to:?} is not an e-mail address"))?;
                    let domain = address.email.domain().to_ascii_lowercase();
                    if smtp.allowed_domains.is_empty()
                        || smtp
                            .allowed_domains
                            .iter()
                            .any(|d| d.eq_ignore_ascii_case(&domain))
                    {
                        Ok(())
                    } else {
                        Err(format!(
                            "exports may be e-mailed only to {}",
                            smtp.allowed_domains.join(", ")
                        ))
                    }
                }
            },
            Destination::Webhook => match &self.webhook {
                None => missing("exports.webhook"),
                Some(_) => Ok(()),
            },
        }
    }

    /// Delivers `parcel`; answers what was done, for the job's result. An e-mail or webhook
    /// whose file is above its size bound carries `links` instead of the file, when there are
    /// links (an export's), and fails saying so when there are none.
    pub async fn deliver(
        &self,
        destination: &Destination,
        parcel: &Parcel,
        links: Option<&SharedLinks>,
    ) -> Result<Value, String> {
        self.check(destination)?;
        match destination {
            Destination::Download => Ok(json!({"type": "download"})),
            Destination::Directory { path } => {
                // Each tenant has its own folder under the root: no tenant can place files
                // among another's.
                let root = self.directory_root.as_ref().expect("checked");
                let tenant = relative(&parcel.tenant)
                    .map_err(|_| format!("tenant {:?} cannot name a folder", parcel.tenant))?;
                let dir = root.join(tenant).join(relative(path)?);
                copy_into(&dir, parcel)?;
                Ok(json!({"type": "directory", "path": path}))
            }
            Destination::Email { to } => {
                let smtp = self.smtp.as_ref().expect("checked");
                let file = attached(&parcel.file, smtp.max_attachment_bytes, links)?;
                let linked = file.is_none();
                send_email(smtp, to, file, parcel, links).await?;
                Ok(json!({"type": "email", "to": to, "linked": linked}))
            }
            Destination::Webhook => {
                let webhook = self.webhook.as_ref().expect("checked");
                let file = attached(&parcel.file, webhook.max_file_bytes, links)?;
                let linked = file.is_none();
                let status = post_webhook(webhook, file, parcel, links).await?;
                Ok(json!({"type": "webhook", "status": status, "linked": linked}))
            }
        }
    }
}

/// Copies the parcel's files into `dir` (made if missing), each synced.
fn copy_into(dir: &Path, parcel: &Parcel) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("create the destination directory: {e}"))?;
    let parts = std::iter::once(&parcel.file)
        .chain(&parcel.notes)
        .chain(&parcel.copies);
    for from in parts {
        let to = dir.join(file_name(from));
        std::fs::copy(from, &to)
            .and_then(|_| std::fs::File::open(&to)?.sync_all())
            .map_err(|e| format!("copy {} to the destination: {e}", file_name(from)))?;
    }
    Ok(())
}

/// The file's bytes when it is at most `max`; `None` when it is larger and links go instead;
/// an error when it is larger and there are no links.
fn attached(path: &Path, max: u64, links: Option<&SharedLinks>) -> Result<Option<Vec<u8>>, String> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("read {}: {e}", file_name(path)))?
        .len();
    if size <= max {
        return std::fs::read(path)
            .map(Some)
            .map_err(|e| format!("read {}: {e}", file_name(path)));
    }
    match links {
        Some(_) => Ok(None),
        None => Err(format!(
            "the file is {size} bytes, more than the {max} this destination takes, and there is \
             no link to send instead (exports.public_url, for exports); download it from the \
             server instead"
        )),
    }
}

/// When the links expire, in RFC 3339.
fn expiry(links: &SharedLinks) -> String {
    trailkeep_event::Timestamp::from_micros(links.expires.saturating_mul(1_000_000))
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// The links as the lines of an e-mail.
fn link_lines(links: &SharedLinks) -> String {
    let expires = expiry(links);
    let mut text = format!(
        "The file is too large to attach. Download it, without signing in, until {expires}:\n\n\
         events:   {}\nmanifest: {}\n",
        links.file, links.manifest
    );
    if let Some(proofs) = &links.proofs {
        text.push_str(&format!("proofs:   {proofs}\n"));
    }
    text
}

/// An attachment's bytes in base64, so that they arrive exactly as sent (a text part's line
/// endings would be rewritten on the way, and the file's SHA-256 with them).
fn exact(bytes: Vec<u8>) -> Body {
    Body::new_with_encoding(bytes, ContentTransferEncoding::Base64)
        .unwrap_or_else(|_| unreachable!("any bytes can be base64"))
}

/// Sends the parcel to `to`: `file` attached when given, else the links; its notes are
/// attached either way.
async fn send_email(
    smtp: &SmtpSettings,
    to: &str,
    file: Option<Vec<u8>>,
    parcel: &Parcel,
    links: Option<&SharedLinks>,
) -> Result<(), String> {
    let how = match (&file, links) {
        (None, Some(links)) => link_lines(links),
        _ => "It is attached.\n".to_owned(),
    };
    let text = format!("{}\n{how}", parcel.text);
    let media = |name: &str| {
        ContentType::parse(match name.rsplit('.').next() {
            Some("csv") => "text/csv",
            Some("json") => "application/json",
            Some("ndjson") => "application/x-ndjson",
            Some("pdf") => "application/pdf",
            Some("html") => "text/html",
            _ => "text/plain",
        })
        .expect("a valid media type")
    };
    let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(text));
    if let Some(file) = file {
        parts = parts.singlepart(
            Attachment::new(parcel.digest.name.clone())
                .body(exact(file), media(&parcel.digest.name)),
        );
    }
    for note in &parcel.notes {
        let bytes = std::fs::read(note).map_err(|e| format!("read {}: {e}", file_name(note)))?;
        parts = parts.singlepart(
            Attachment::new(file_name(note)).body(exact(bytes), ContentType::TEXT_PLAIN),
        );
    }
    let message = Message::builder()
        .from(smtp.from.parse().map_err(|e| format!("smtp.from: {e}"))?)
        .to(to
            .parse()
            .map_err(|_| format!("{to:?} is not an e-mail address"))?)
        .subject(parcel.subject.clone())
        .multipart(parts)
        .map_err(|e| format!("build the e-mail: {e}"))?;
    let builder = match smtp.security {
        SmtpSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host),
        SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host),
        SmtpSecurity::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            &smtp.host,
        )),
    }
    .map_err(|e| format!("the SMTP server {}: {e}", smtp.host))?;
    let mut builder = builder
        .port(smtp.port)
        .timeout(Some(Duration::from_secs(60)));
    if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    builder
        .build()
        .send(message)
        .await
        .map_err(|e| format!("send the e-mail through {}: {e}", smtp.host))?;
    Ok(())
}

/// Posts the parcel to the webhook: `file` in base64 when given, else the links.
async fn post_webhook(
    webhook: &WebhookSettings,
    file: Option<Vec<u8>>,
    parcel: &Parcel,
    links: Option<&SharedLinks>,
) -> Result<u16, String> {
    let now = trailkeep_event::Timestamp::now();
    let mut data = parcel.data.clone();
    match (file, links) {
        (Some(file), _) => data["file_base64"] = json!(STANDARD.encode(&file)),
        (None, Some(links)) => {
            data["file_url"] = json!(links.file);
            data["proofs_url"] = json!(links.proofs);
            data["links_expire_at"] = json!(expiry(links));
        }
        (None, None) => unreachable!("attached() refuses a large file without links"),
    }
    let body = json!({
        "type": parcel.event_type,
        "timestamp": now.to_string(),
        "data": data,
    })
    .to_string();
    // Stable across retries: the receiver's idempotency key.
    let id = format!("msg_{}", parcel.id);
    let timestamp = now.as_micros().div_euclid(1_000_000);
    let signature =
        trailkeep_webhooks::signature::sign(&webhook.secret, &id, timestamp, body.as_bytes())?;
    let answer = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("make the HTTP client: {e}"))?
        .post(&webhook.url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| format!("post to the webhook: {e}"))?;
    let status = answer.status();
    if !status.is_success() {
        return Err(format!("the webhook answered {status}"));
    }
    Ok(status.as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_need_their_configuration_and_safe_values() {
        let none = Deliveries::default();
        assert!(none.check(&Destination::Download).is_ok());
        let refused = none.check(&Destination::Webhook).unwrap_err();
        assert!(refused.contains("webhook"), "{refused}");
        let some = Deliveries {
            directory_root: Some("/srv/exports".into()),
            smtp: Some(SmtpSettings {
                host: "localhost".into(),
                port: 25,
                security: SmtpSecurity::None,
                username: None,
                password: None,
                from: "audit@example.com".into(),
                max_attachment_bytes: 1,
                allowed_domains: vec!["example.com".into()],
            }),
            webhook: None,
        };
        let dir = |path: &str| Destination::Directory { path: path.into() };
        assert!(some.check(&dir("acme/2026")).is_ok());
        for bad in ["../etc", "/etc", "", "a/../../b"] {
            assert!(some.check(&dir(bad)).is_err(), "{bad}");
        }
        let email = |to: &str| Destination::Email { to: to.into() };
        assert!(some.check(&email("ann@Example.com")).is_ok());
        assert!(some.check(&email("not an address")).is_err());
        assert!(some.check(&email("eve@elsewhere.org")).is_err());
    }
}
