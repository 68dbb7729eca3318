//! Shared helpers for the integration tests: a started emulator, a client, a login.
#![allow(dead_code)]

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
        self.http
            .request(method, self.url(path))
            .header("X-Soracom-API-Key", &self.api_key)
            .header("X-Soracom-Token", &self.token)
    }

    pub async fn relogin(&mut self) {
        let (a, t) = login(&self.http, &self.emu).await;
        self.api_key = a;
        self.token = t;
    }
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
