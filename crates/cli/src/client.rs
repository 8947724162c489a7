//! A small client of a running server's HTTP API, for the commands that ask one for work and
//! download what it made (`trailkeep export`, `trailkeep report`).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A server's base URL and the credential the requests carry.
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    /// A client of the server at `base` (`https://audit.example.com`) with `token`.
    pub fn new(base: &str, token: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(600))
                .build()
                .context("make the HTTP client")?,
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    /// A request to `path` with the credential.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// The JSON answer of a request, or the problem the server described.
    pub async fn json(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let answer = request.send().await.context("reach the server")?;
        let status = answer.status();
        let body: Value = answer.json().await.context("read the server's answer")?;
        if !status.is_success() {
            bail!(
                "the server answered {status}: {}",
                body["detail"].as_str().unwrap_or("no detail")
            );
        }
        Ok(body)
    }

    /// The server's ledger verification key (`GET /v1/ledger/key`).
    pub async fn ledger_key(&self) -> anyhow::Result<String> {
        let answer = self
            .request(reqwest::Method::GET, "/v1/ledger/key")
            .send()
            .await
            .context("reach the server")?;
        answer.text().await.context("read the server's key")
    }

    /// Downloads `path` into `to`; answers the bytes written and their SHA-256 (lowercase
    /// hex), hashed on the way.
    pub async fn download(&self, path: &str, to: &Path) -> anyhow::Result<(u64, String)> {
        let mut answer = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .context("reach the server")?;
        if !answer.status().is_success() {
            bail!(
                "downloading {path}: the server answered {}",
                answer.status()
            );
        }
        let mut file = std::io::BufWriter::new(
            std::fs::File::create(to).with_context(|| format!("create {}", to.display()))?,
        );
        let (mut written, mut hash) = (0, Sha256::new());
        while let Some(chunk) = answer.chunk().await.context("download")? {
            file.write_all(&chunk)
                .with_context(|| format!("write {}", to.display()))?;
            hash.update(&chunk);
            written += chunk.len() as u64;
        }
        file.flush()
            .with_context(|| format!("write {}", to.display()))?;
        Ok((written, hex::encode(hash.finalize())))
    }
}

/// A runtime for one command's requests.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the runtime")
}
