//! Shared helpers for the integration tests: a started emulator, a client, a login.

use std::time::Duration;

use reqwest::{Client, Method, RequestBuilder};
use serde_json::{json, Value};
use soracom_emulator::Emulator;

pub const KEY_ID: &str = "keyId-test";
pub const KEY: &str = "secret-test";

pub fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"))
}

/// A started emulator that accepts `KEY_ID`/`KEY`, and a logged-in session.
pub struct Env {
    pub emu: Emulator,
    pub http: Client,
    pub api_key: String,
    pub token: String,
}

impl Env {
    pub async fn new() -> Env {
        let emu = Emulator::start()
            .await
            .unwrap_or_else(|e| panic!("start: {e}"));
        emu.add_auth_key(KEY_ID, KEY);
        let http = client();
        let (api_key, token) = login(&http, &emu).await;
        Env {
            emu,
            http,
            api_key,
            token,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/v1{path}", self.emu.endpoint())
    }

    /// A request carrying the session's API key and token.
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.req_url(method, &self.url(path))
    }

    /// A request to a whole URL (e.g. a `Link` header's) with the session's key and token.
    pub fn req_url(&self, method: Method, url: &str) -> RequestBuilder {
        self.http
            .request(method, url)
            .header("X-Soracom-API-Key", &self.api_key)
            .header("X-Soracom-Token", &self.token)
    }

    /// Every item of a paged list, following `x-soracom-next-key` or else the `Link` URL,
    /// and the number of pages; panics on a non-200 page or after `max_pages` pages.
    pub async fn collect_pages(
        &self,
        path: &str,
        query: &[(&str, &str)],
        max_pages: usize,
    ) -> (Vec<Value>, usize) {
        let mut items = Vec::new();
        let mut page = get_page(self.req(Method::GET, path).query(query)).await;
        for pages in 1..=max_pages {
            assert_eq!(page.status, 200, "page {pages}");
            items.extend(page.items.iter().cloned());
            let next = match (&page.next_key, &page.link) {
                (Some(key), _) => {
                    let mut q: Vec<(&str, &str)> = query
                        .iter()
                        .copied()
                        .filter(|(k, _)| *k != "last_evaluated_key")
                        .collect();
                    q.push(("last_evaluated_key", key));
                    Some(self.req(Method::GET, path).query(&q))
                }
                (None, Some(link)) => {
                    let url = link_url(link).unwrap_or_else(|| panic!("bad link {link:?}"));
                    Some(self.req_url(Method::GET, &url))
                }
                (None, None) => None,
            };
            match next {
                Some(rb) => page = get_page(rb).await,
                None => return (items, pages),
            }
        }
        panic!("more than {max_pages} pages")
    }

    pub async fn relogin(&mut self) {
        let (a, t) = login(&self.http, &self.emu).await;
        self.api_key = a;
        self.token = t;
    }
}

/// One page of a paged list.
pub struct Page {
    pub status: u16,
    pub items: Vec<Value>,
    /// `x-soracom-next-key`, if sent (possibly empty).
    pub next_key: Option<String>,
    /// `link`, if sent.
    pub link: Option<String>,
}

pub async fn get_page(rb: RequestBuilder) -> Page {
    let resp = rb.send().await.unwrap_or_else(|e| panic!("send: {e}"));
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (next_key, link) = (header("x-soracom-next-key"), header("link"));
    let status = resp.status().as_u16();
    let items = resp.json::<Vec<Value>>().await.unwrap_or_default();
    Page {
        status,
        items,
        next_key,
        link,
    }
}

/// The URL of a `<url>; rel=next` link.
pub fn link_url(link: &str) -> Option<String> {
    let (url, rest) = link.strip_prefix('<')?.split_once('>')?;
    (rest.trim() == "; rel=next").then(|| url.to_owned())
}

pub async fn login(http: &Client, emu: &Emulator) -> (String, String) {
    let resp = http
        .post(format!("{}/v1/auth", emu.endpoint()))
        .json(&json!({"authKeyId": KEY_ID, "authKey": KEY}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("auth: {e}"));
    assert_eq!(resp.status(), 200);
    let body: Value = resp
        .json()
        .await
        .unwrap_or_else(|e| panic!("auth body: {e}"));
    let s = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
    (s("apiKey"), s("token"))
}

/// Status and JSON body (Null when the body is empty or not JSON).
pub async fn send(rb: RequestBuilder) -> (u16, Value) {
    let resp = rb.send().await.unwrap_or_else(|e| panic!("send: {e}"));
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap_or_else(|e| panic!("body: {e}"));
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}
