//! The emulated API's normal behaviour: auth, credentials, groups, event handlers, errors,
//! and what the emulator records.

use std::time::Duration;

use crate::common::{client, get_page, link_url, send, Env, KEY, KEY_ID};
use reqwest::Method;
use serde_json::{json, Value};
use soracom_emulator::{
    Emulator, ErrorEnvelope, LogEntry, LogLevel, LogResourceType, LogService, PagingMode,
};

#[tokio::test]
async fn auth_ok_and_bad() {
    let emu = Emulator::start().await.unwrap_or_else(|e| panic!("{e}"));
    emu.add_auth_key(KEY_ID, KEY);
    emu.add_sam_auth_key("keyId-sam", "secret-sam", "rotator");
    let http = client();
    let auth = |body: Value| http.post(format!("{}/v1/auth", emu.endpoint())).json(&body);

    let (status, body) = send(auth(json!({"authKeyId": KEY_ID, "authKey": KEY}))).await;
    assert_eq!(status, 200);
    assert_eq!(body["operatorId"], emu.operator_id());
    assert!(body["apiKey"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(body["token"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(body.get("userName").is_none());

    let (status, body) = send(auth(
        json!({"authKeyId": "keyId-sam", "authKey": "secret-sam"}),
    ))
    .await;
    assert_eq!((status, body["userName"].clone()), (200, json!("rotator")));

    let (status, body) = send(auth(json!({"authKeyId": KEY_ID, "authKey": "wrong"}))).await;
    assert_eq!((status, body["code"].clone()), (401, json!("AUTH0001")));
    let (status, _) = send(auth(json!({"email": "a@b", "password": "x"}))).await;
    assert_eq!(status, 401);
    let (status, _) = send(auth(json!([1]))).await;
    assert_eq!(status, 400);
    let (status, _) = send(
        http.post(format!("{}/v1/auth", emu.endpoint()))
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = send(auth(
        json!({"authKeyId": KEY_ID, "authKey": KEY, "tokenTimeoutSeconds": 172_801}),
    ))
    .await;
    assert_eq!(status, 400);
    emu.shutdown().await;
}

#[tokio::test]
async fn headers_required() {
    let env = Env::new().await;
    let url = env.url("/credentials");
    let (status, body) = send(env.http.get(&url)).await;
    assert_eq!((status, body["code"].clone()), (401, json!("AUTH0003")));
    let (status, _) = send(env.http.get(&url).header("X-Soracom-API-Key", &env.api_key)).await;
    assert_eq!(status, 401);
    let (status, body) = send(
        env.http
            .get(&url)
            .header("X-Soracom-API-Key", &env.api_key)
            .header("X-Soracom-Token", "forged"),
    )
    .await;
    assert_eq!((status, body["code"].clone()), (401, json!("AUTH0004")));
    let (status, _) = send(env.req(Method::GET, "/credentials")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn token_expiry() {
    let mut env = Env::new().await;
    env.emu.expire_tokens();
    let (status, body) = send(env.req(Method::GET, "/groups")).await;
    assert_eq!((status, body["code"].clone()), (401, json!("AUTH0010")));
    env.relogin().await;
    assert_eq!(send(env.req(Method::GET, "/groups")).await.0, 200);

    // TTL against the emulator clock.
    env.emu.set_now_ms(Some(1_000_000));
    env.emu.set_token_ttl(Duration::from_secs(60));
    env.relogin().await;
    env.emu.set_now_ms(Some(1_059_999));
    assert_eq!(send(env.req(Method::GET, "/groups")).await.0, 200);
    env.emu.set_now_ms(Some(1_060_000));
    assert_eq!(send(env.req(Method::GET, "/groups")).await.0, 401);

    // tokenTimeoutSeconds wins over the default TTL.
    let (status, body) = send(
        env.http
            .post(env.url("/auth"))
            .json(&json!({"authKeyId": KEY_ID, "authKey": KEY, "tokenTimeoutSeconds": 600})),
    )
    .await;
    assert_eq!(status, 200);
    let get = |now| {
        env.emu.set_now_ms(Some(now));
        env.http
            .get(env.url("/groups"))
            .header(
                "X-Soracom-API-Key",
                body["apiKey"].as_str().unwrap_or_default(),
            )
            .header(
                "X-Soracom-Token",
                body["token"].as_str().unwrap_or_default(),
            )
    };
    assert_eq!(send(get(1_060_000 + 599_000)).await.0, 200);
    assert_eq!(send(get(1_060_000 + 600_000)).await.0, 401);
}

#[tokio::test]
async fn credentials_crud_never_returns_secrets() {
    let env = Env::new().await;
    env.emu.set_now_ms(Some(1_700_000_000_000));
    let body = json!({
        "type": "aws-credentials",
        "description": "rotated",
        "credentials": {"accessKeyId": "AKIA1", "secretAccessKey": "SECRET1"},
    });
    let (status, created) = send(env.req(Method::POST, "/credentials/my-set").json(&body)).await;
    assert_eq!(status, 201);
    assert_eq!(
        created,
        json!({
            "credentialsId": "my-set", "type": "aws-credentials", "description": "rotated",
            "credentials": {"accessKeyId": "AKIA1"}, "createDateTime": 1_700_000_000_000_i64,
            "updateDateTime": 1_700_000_000_000_i64, "lastUsedDateTime": 0,
        })
    );
    let stored = env
        .emu
        .credential("my-set")
        .unwrap_or_else(|| panic!("stored"));
    assert_eq!(stored.credentials["secretAccessKey"], "SECRET1");

    let (status, dup) = send(env.req(Method::POST, "/credentials/my-set").json(&body)).await;
    assert_eq!((status, dup["code"].clone()), (400, json!("CRD0002")));
    for bad in [
        json!([]),
        json!({"credentials": {}}),
        json!({"type": "aws-credentials"}),
    ] {
        assert_eq!(
            send(env.req(Method::POST, "/credentials/x").json(&bad))
                .await
                .0,
            400
        );
    }

    env.emu.set_now_ms(Some(1_700_000_100_000));
    env.emu.mark_credential_used("my-set", 1_700_000_050_000);
    let update = json!({"type": "aws-credentials", "credentials": {"accessKeyId": "AKIA2", "secretAccessKey": "SECRET2"}});
    let (status, updated) = send(env.req(Method::PUT, "/credentials/my-set").json(&update)).await;
    assert_eq!(status, 200);
    assert_eq!(updated["updateDateTime"], 1_700_000_100_000_i64);
    assert_eq!(updated["createDateTime"], 1_700_000_000_000_i64);
    assert_eq!(updated["lastUsedDateTime"], 1_700_000_050_000_i64);
    assert_eq!(updated["credentials"], json!({"accessKeyId": "AKIA2"}));
    assert_eq!(
        env.emu
            .credential("my-set")
            .map(|c| c.credentials["secretAccessKey"].clone()),
        Some(json!("SECRET2"))
    );
    assert_eq!(
        send(env.req(Method::PUT, "/credentials/nope").json(&update))
            .await
            .0,
        404
    );

    let (status, list) = send(env.req(Method::GET, "/credentials")).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["credentials"], json!({"accessKeyId": "AKIA2"}));
    let raw = env.requests_text().await;
    assert!(!raw.contains("SECRET"), "a response leaked a secret: {raw}");

    let (status, _) = send(env.req(Method::DELETE, "/credentials/my-set")).await;
    assert_eq!(status, 204);
    assert_eq!(
        send(env.req(Method::DELETE, "/credentials/my-set")).await.0,
        404
    );
    assert!(env.emu.credential_ids().is_empty());
}

/// The spec's example `credentials` of every type (`components/examples`), each value a
/// marked secret except an AWS set's access key id.
fn every_type() -> Vec<(&'static str, Value)> {
    vec![
        ("api-token-credentials", json!({"token": "SECRET-token"})),
        (
            "aws-credentials",
            json!({"accessKeyId": "AKIAVIEW", "secretAccessKey": "SECRET-aws"}),
        ),
        (
            "aws-iam-role-credentials",
            json!({"roleArn": "SECRET-arn", "externalId": "SECRET-ext"}),
        ),
        (
            "azure-credentials",
            json!({"key": "SECRET-az", "policyName": "SECRET-pol"}),
        ),
        (
            "azureIoT-credentials",
            json!({"sharedAccessKey": "SECRET-sak", "sharedAccessKeyName": "SECRET-n"}),
        ),
        ("esrij-credentials", json!({"refererUrl": "SECRET-url"})),
        (
            "google-service-account-json",
            json!({"credentials": "SECRET-json"}),
        ),
        (
            "infoteria-platio-credentials",
            json!({"secretToken": "SECRET-st", "tokenId": "SECRET-ti"}),
        ),
        (
            "kii-thingif-credentials",
            json!({"app_id": "SECRET-a", "app_key": "SECRET-k", "client_id": "SECRET-c", "client_secret": "SECRET-s"}),
        ),
        ("psk", json!({"key": "SECRET-psk"})),
        (
            "pubnub-credentials",
            json!({"pubKey": "SECRET-pub", "subKey": "SECRET-sub"}),
        ),
        (
            "username-password-credentials",
            json!({"username": "SECRET-u", "password": "SECRET-p"}),
        ),
        (
            "x509",
            json!({"ca": "SECRET-ca", "cert": "SECRET-cert", "key": "SECRET-key"}),
        ),
    ]
}

/// No credential answer (create, update, list, admin state) shows a secret, for any type;
/// an AWS set shows its access key id unless the omit knob is on.
#[tokio::test]
async fn no_secret_in_any_credentials_answer() {
    let env = Env::new().await;
    let mut texts = Vec::new();
    for (i, (kind, credentials)) in every_type().into_iter().enumerate() {
        let body = json!({"type": kind, "credentials": credentials});
        let path = format!("/credentials/set-{i}");
        let resp = env.req(Method::POST, &path).json(&body).send().await;
        let resp = resp.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resp.status(), 201, "{kind}");
        let created = resp.text().await.unwrap_or_default();
        let resp = env.req(Method::PUT, &path).json(&body).send().await;
        let resp = resp.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resp.status(), 200, "{kind}");
        let updated = resp.text().await.unwrap_or_default();
        let expected = if kind == "aws-credentials" {
            json!({"accessKeyId": "AKIAVIEW"})
        } else {
            json!({})
        };
        for text in [&created, &updated] {
            let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            assert_eq!(v["credentials"], expected, "{kind}: {text}");
        }
        texts.extend([created, updated]);
    }
    texts.push(env.requests_text().await);
    let (_, state) = send(
        env.http
            .get(format!("{}/_emulator/state", env.emu.endpoint())),
    )
    .await;
    texts.push(state.to_string());
    for text in &texts {
        assert!(
            !text.contains("SECRET"),
            "an answer leaked a secret: {text}"
        );
    }
    assert!(texts.iter().any(|t| t.contains("AKIAVIEW")));

    // The knob: answers without accessKeyId, from create, update and list alike.
    env.emu.set_omit_access_key_id(true);
    let body = json!({"type": "aws-credentials", "credentials": {"accessKeyId": "AKIAHIDE", "secretAccessKey": "SECRET-h"}});
    let (status, created) = send(env.req(Method::POST, "/credentials/hidden").json(&body)).await;
    assert_eq!((status, created["credentials"].clone()), (201, json!({})));
    let (status, updated) = send(env.req(Method::PUT, "/credentials/hidden").json(&body)).await;
    assert_eq!((status, updated["credentials"].clone()), (200, json!({})));
    let (_, list) = send(env.req(Method::GET, "/credentials")).await;
    let list = list.as_array().cloned().unwrap_or_default();
    assert!(!list.is_empty() && list.iter().all(|c| c["credentials"] == json!({})));
    // The admin state still shows what the store holds, the key id but no secret.
    let (_, state) = send(
        env.http
            .get(format!("{}/_emulator/state", env.emu.endpoint())),
    )
    .await;
    assert!(state.to_string().contains("AKIAHIDE") && !state.to_string().contains("SECRET"));
    env.emu.set_omit_access_key_id(false);
    let (_, list) = send(env.req(Method::GET, "/credentials")).await;
    assert!(list.to_string().contains("AKIAHIDE"));
}

trait ResponsesText {
    async fn requests_text(&self) -> String;
}

impl ResponsesText for Env {
    /// Every response body the API gives for the read operations, concatenated.
    async fn requests_text(&self) -> String {
        let mut out = String::new();
        for path in ["/credentials", "/groups", "/event_handlers"] {
            let resp = self
                .req(Method::GET, path)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            out.push_str(&resp.text().await.unwrap_or_default());
        }
        out
    }
}

#[tokio::test]
async fn seed_funnel_sample() {
    let env = Env::new().await;
    env.emu.seed_funnel_sample("AKIASEED", "SEEDSECRET");
    let c = env
        .emu
        .credential("aws-soracom-funnel-sample-220810")
        .unwrap_or_else(|| panic!("seeded"));
    assert_eq!(
        (c.kind.as_str(), c.create_ms),
        ("aws-credentials", 1_660_089_600_000)
    );
    let g = env
        .emu
        .group_by_name("test-2")
        .unwrap_or_else(|| panic!("group"));
    assert_eq!(
        g["configuration"]["SoracomFunnel"]["credentialsId"],
        "aws-soracom-funnel-sample-220810"
    );
    assert_eq!(g["operatorId"], env.emu.operator_id());
    let (_, list) = send(env.req(Method::GET, "/credentials")).await;
    assert!(list[0].get("description").is_none());
    assert!(!env.requests_text().await.contains("SEEDSECRET"));
}

#[tokio::test]
async fn groups_paging() {
    let env = Env::new().await;
    for i in 0..7 {
        env.emu.add_group(&format!("g{i}"), json!({}));
    }
    env.emu.set_page_size(3);
    let mut ids = Vec::new();
    let mut key: Option<String> = None;
    let mut pages = 0;
    for _ in 0..10 {
        let mut rb = env.req(Method::GET, "/groups");
        if let Some(k) = &key {
            rb = rb.query(&[("last_evaluated_key", k)]);
        }
        let resp = rb.send().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resp.status(), 200);
        let next = resp
            .headers()
            .get("x-soracom-next-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let page: Vec<Value> = resp.json().await.unwrap_or_else(|e| panic!("{e}"));
        pages += 1;
        ids.extend(
            page.iter()
                .map(|g| g["groupId"].as_str().unwrap_or_default().to_owned()),
        );
        if let Some(n) = &next {
            assert_eq!(
                Some(n.as_str()),
                page.last().and_then(|g| g["groupId"].as_str())
            );
        }
        key = next;
        if key.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = env
        .emu
        .groups()
        .iter()
        .map(|g| g["groupId"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(ids.len(), 7);

    // `limit` lowers the page size but cannot raise it.
    let resp = env
        .req(Method::GET, "/groups")
        .query(&[("limit", "2")])
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(resp.headers().contains_key("x-soracom-next-key"));
    let page: Vec<Value> = resp.json().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.len(), 2);
    let (_, page) = send(env.req(Method::GET, "/groups").query(&[("limit", "50")])).await;
    assert_eq!(page.as_array().map(Vec::len), Some(3));
    for bad in ["0", "x", "-1"] {
        assert_eq!(
            send(env.req(Method::GET, "/groups").query(&[("limit", bad)]))
                .await
                .0,
            400
        );
    }
    // Unknown parameters are ignored; tag filters work.
    let (status, page) = send(env.req(Method::GET, "/groups").query(&[
        ("tag_name", "name"),
        ("tag_value", "g4"),
        ("whatever", "1"),
    ]))
    .await;
    assert_eq!(status, 200);
    assert_eq!(page.as_array().map(Vec::len), Some(1));

    let id = &ids[0];
    let (status, g) = send(env.req(Method::GET, &format!("/groups/{id}"))).await;
    assert_eq!((status, g["tags"]["name"].clone()), (200, json!("g0")));
    assert_eq!(send(env.req(Method::GET, "/groups/none")).await.0, 404);
}

/// Each paging mode leads through every group; the broken ones signal more pages without a
/// usable key.
#[tokio::test]
async fn groups_paging_modes_and_max_limit() {
    let env = Env::new().await;
    for i in 0..7 {
        env.emu.add_group(&format!("g{i}"), json!({}));
    }
    let all: Vec<Value> = env.emu.groups();
    env.emu.set_page_size(3);
    let query = [
        ("tag_name", "name"),
        ("tag_value", "g"),
        ("tag_value_match_mode", "prefix"),
    ];
    for mode in [
        PagingMode::Documented,
        PagingMode::NextKey,
        PagingMode::Link,
        PagingMode::Both,
    ] {
        env.emu.set_paging_mode(mode);
        let first = get_page(env.req(Method::GET, "/groups").query(&query)).await;
        let (has_key, has_link) = match mode {
            PagingMode::Link => (false, true),
            PagingMode::Both => (true, true),
            _ => (true, false),
        };
        assert_eq!(first.next_key.is_some(), has_key, "{mode:?}");
        assert_eq!(first.link.is_some(), has_link, "{mode:?}");
        if let Some(link) = &first.link {
            // The form the Go SDK parses, keeping the request's conditions.
            let url = link_url(link).unwrap_or_else(|| panic!("{link}"));
            assert!(
                url.starts_with(&format!("{}/v1/groups?", env.emu.endpoint())),
                "{url}"
            );
            assert!(url.contains("tag_value_match_mode=prefix"), "{url}");
            let key = all[2]["groupId"].as_str().unwrap_or_default();
            assert!(
                url.ends_with(&format!("&last_evaluated_key={key}")),
                "{url}"
            );
        }
        let (items, pages) = env.collect_pages("/groups", &query, 10).await;
        assert_eq!((items, pages), (all.clone(), 3), "{mode:?}");
    }

    // A key on each page but the last, which carries the header empty.
    env.emu.set_paging_mode(PagingMode::EmptyOnLastPage);
    let first = get_page(env.req(Method::GET, "/groups")).await;
    let key = all[2]["groupId"].as_str().unwrap_or_default();
    assert_eq!(
        (first.next_key.as_deref(), first.link.as_deref()),
        (Some(key), None)
    );
    let last = get_page(env.req(Method::GET, "/groups").query(&[(
        "last_evaluated_key",
        all[5]["groupId"].as_str().unwrap_or_default(),
    )]))
    .await;
    assert_eq!(
        (last.items.len(), last.next_key.as_deref(), last.link),
        (1, Some(""), None)
    );

    env.emu.set_paging_mode(PagingMode::LinkWithoutKey);
    let first = get_page(env.req(Method::GET, "/groups").query(&[("limit", "2")])).await;
    assert_eq!(first.next_key, None);
    let url = first.link.as_deref().and_then(link_url).unwrap_or_default();
    assert_eq!(url, format!("{}/v1/groups?limit=2", env.emu.endpoint()));

    // The first page leads on; the second leads back to itself.
    env.emu.set_paging_mode(PagingMode::RepeatKey);
    let first = get_page(env.req(Method::GET, "/groups")).await;
    let key = all[2]["groupId"].as_str().unwrap_or_default();
    assert_eq!(first.next_key.as_deref(), Some(key));
    let second = get_page(
        env.req(Method::GET, "/groups")
            .query(&[("last_evaluated_key", key)]),
    )
    .await;
    assert_eq!(
        (second.items, second.next_key.as_deref(), second.link),
        (all[3..6].to_vec(), Some(key), None)
    );

    // A `limit` above the maximum is refused; at or below it, and without one, it is not.
    env.emu.set_paging_mode(PagingMode::Documented);
    env.emu.set_page_size(100);
    env.emu.set_max_limit(Some(100));
    let (status, body) = send(env.req(Method::GET, "/groups").query(&[("limit", "1000")])).await;
    assert_eq!((status, body["code"].clone()), (400, json!("COM0001")));
    assert_eq!(
        send(env.req(Method::GET, "/groups").query(&[("limit", "100")]))
            .await
            .0,
        200
    );
    assert_eq!(send(env.req(Method::GET, "/groups")).await.0, 200);
    env.emu.set_max_limit(None);
    let (status, page) = send(env.req(Method::GET, "/groups").query(&[("limit", "1000")])).await;
    assert_eq!((status, page.as_array().map(Vec::len)), (200, Some(7)));
}

fn log(service: LogService, imsi: &str, time: i64, message: &str) -> LogEntry {
    let mut body = serde_json::Map::new();
    body.insert("message".into(), json!(message));
    LogEntry {
        service,
        resource_type: LogResourceType::Subscriber,
        resource_id: imsi.into(),
        time,
        log_level: LogLevel::Error,
        body,
    }
}

/// `GET /v1/logs`: newest first, filtered by service, resource and time, paged with both
/// headers by default; auth and faults apply as to any call.
#[tokio::test]
async fn logs_filter_page_and_auth() {
    let env = Env::new().await;
    let (a, b) = ("440100000000001", "440100000000002");
    env.emu
        .emit_log(log(LogService::Funnel, a, 1_000, "f-a-1000"));
    env.emu
        .emit_log(log(LogService::Funk, a, 3_000, "k-a-3000"));
    env.emu
        .emit_log(log(LogService::Funnel, b, 2_000, "f-b-2000"));
    env.emu
        .emit_log(log(LogService::Funnel, a, 4_000, "f-a-4000"));
    let mut device = log(LogService::Harvest, "dev-1", 5_000, "h-dev-5000");
    device.resource_type = LogResourceType::Device;
    device.log_level = LogLevel::Warning;
    env.emu.emit_log(device);

    let messages = |items: &[Value]| -> Vec<String> {
        items
            .iter()
            .map(|e| e["body"]["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let (status, all) = send(env.req(Method::GET, "/logs")).await;
    assert_eq!(status, 200);
    let all = all.as_array().cloned().unwrap_or_default();
    assert_eq!(
        messages(&all),
        ["h-dev-5000", "f-a-4000", "k-a-3000", "f-b-2000", "f-a-1000"]
    );
    assert_eq!(
        all[0],
        json!({
            "operatorId": env.emu.operator_id(), "service": "Harvest", "resourceType": "Device",
            "resourceId": "dev-1", "time": 5_000, "logLevel": "warning",
            "body": {"message": "h-dev-5000"},
        })
    );
    assert_eq!(env.emu.logs(), all);

    let get = |query: &[(&str, &str)]| {
        let rb = env.req(Method::GET, "/logs").query(query);
        async move {
            let (status, v) = send(rb).await;
            (
                status,
                messages(v.as_array().map(Vec::as_slice).unwrap_or_default()),
            )
        }
    };
    assert_eq!(
        get(&[("service", "Funnel")]).await,
        (
            200,
            vec!["f-a-4000".into(), "f-b-2000".into(), "f-a-1000".into()]
        )
    );
    assert_eq!(
        get(&[
            ("service", "Funnel"),
            ("resource_type", "Subscriber"),
            ("resource_id", a)
        ])
        .await,
        (200, vec!["f-a-4000".into(), "f-a-1000".into()])
    );
    assert_eq!(
        get(&[("resource_type", "Device")]).await,
        (200, vec!["h-dev-5000".into()])
    );
    // `from` and `to` are inclusive.
    assert_eq!(
        get(&[("from", "2000"), ("to", "4000")]).await,
        (
            200,
            vec!["f-a-4000".into(), "k-a-3000".into(), "f-b-2000".into()]
        )
    );
    assert_eq!(get(&[("from", "6000")]).await, (200, vec![]));
    for bad in [
        [("service", "funnel")],
        [("resource_type", "Sim")],
        [("from", "yesterday")],
        [("to", "1.5")],
        [("limit", "0")],
    ] {
        assert_eq!(get(&bad).await.0, 400, "{bad:?}");
    }

    // Paged: both headers by default (getLogs' description names `link`, its parameter
    // `x-soracom-next-key`); following either leads through every match, in order.
    env.emu.set_page_size(2);
    let query = [("service", "Funnel")];
    let first = get_page(env.req(Method::GET, "/logs").query(&query)).await;
    assert_eq!(first.items.len(), 2);
    let key = first.next_key.clone().unwrap_or_default();
    let url = first.link.as_deref().and_then(link_url).unwrap_or_default();
    assert!(!key.is_empty() && url.contains("service=Funnel"), "{url}");
    let (items, pages) = env.collect_pages("/logs", &query, 5).await;
    assert_eq!((messages(&items).len(), pages), (3, 2));
    let next = get_page(env.req_url(Method::GET, &url)).await;
    assert_eq!(messages(&next.items), ["f-a-1000"]);
    assert_eq!((next.next_key, next.link), (None, None));
    env.emu.set_paging_mode(PagingMode::Link);
    let (linked, _) = env.collect_pages("/logs", &query, 5).await;
    assert_eq!(linked, items);
    env.emu.set_max_limit(Some(1));
    assert_eq!(get(&[("limit", "2")]).await.0, 400);
    env.emu.set_max_limit(None);

    // Auth, faults and counts as for every call.
    assert_eq!(send(env.http.get(env.url("/logs"))).await.0, 401);
    env.emu.add_fault(soracom_emulator::Fault {
        operation: "getLogs".into(),
        nth: 1,
        times: 1,
        kind: soracom_emulator::FaultKind::Status {
            status: 503,
            body: soracom_emulator::FaultBody::Json,
        },
    });
    assert_eq!(get(&[]).await.0, 503);
    assert_eq!(get(&[]).await.0, 200);
    assert!(env
        .emu
        .call_counts()
        .get("getLogs")
        .is_some_and(|n| *n > 10));
    assert_eq!(send(env.req(Method::POST, "/logs")).await.0, 405);
}

/// The seed's Funnel configuration shape, as a Junction inspection report.
fn inspection(credentials_id: &str, enabled: bool) -> Value {
    json!({
        "enabled": enabled,
        "report": {
            "credentialsId": credentials_id,
            "enabled": true,
            "contentType": "json",
            "destination": {
                "provider": "aws",
                "service": "aws-iot",
                "resourceUrl": "https://xxxx.iot.ap-northeast-1.amazonaws.com/soracom/%{imsi}",
            },
        },
    })
}

/// VPGs: list (paged, tag filter), get, and set_inspection as the spec answers it.
#[tokio::test]
async fn vpgs_list_get_and_set_inspection() {
    let env = Env::new().await;
    env.emu.set_now_ms(Some(1_700_000_000_000));
    env.emu.add_vpg("vpg-a", inspection("set-old", true));
    env.emu.add_vpg("vpg-b", Value::Null);
    env.emu.add_vpg("vpg-c", inspection("set-other", false));

    let (status, a) = send(env.req(Method::GET, "/virtual_private_gateways/vpg-a")).await;
    assert_eq!(status, 200);
    assert_eq!(
        a,
        json!({
            "vpgId": "vpg-a", "operatorId": env.emu.operator_id(),
            "createdTime": 1_700_000_000_000_i64, "lastModifiedTime": 1_700_000_000_000_i64,
            "status": "running", "tags": {"name": ""}, "junctionEnabled": true,
            "inspection": inspection("set-old", true),
        })
    );
    let (_, b) = send(env.req(Method::GET, "/virtual_private_gateways/vpg-b")).await;
    assert!(b.get("inspection").is_none() && b["junctionEnabled"] == json!(false));
    let (status, missing) = send(env.req(Method::GET, "/virtual_private_gateways/none")).await;
    assert_eq!((status, missing["code"].clone()), (404, json!("VPG0001")));

    // Paged by vpgId with x-soracom-next-key, like groups; the paging knobs apply.
    env.emu.set_page_size(2);
    let first = get_page(env.req(Method::GET, "/virtual_private_gateways")).await;
    assert_eq!(
        (first.items.len(), first.next_key.as_deref(), first.link),
        (2, Some("vpg-b"), None)
    );
    let (items, pages) = env.collect_pages("/virtual_private_gateways", &[], 5).await;
    assert_eq!((items, pages), (env.emu.vpgs(), 2));
    env.emu.set_paging_mode(PagingMode::Link);
    let (items, _) = env
        .collect_pages("/virtual_private_gateways", &[("limit", "1")], 5)
        .await;
    assert_eq!(items.len(), 3);
    env.emu.set_paging_mode(PagingMode::Documented);
    env.emu.set_max_limit(Some(10));
    let over = env
        .req(Method::GET, "/virtual_private_gateways")
        .query(&[("limit", "11")]);
    assert_eq!(send(over).await.0, 400);
    env.emu.set_max_limit(None);
    let (status, tagged) = send(
        env.req(Method::GET, "/virtual_private_gateways")
            .query(&[("tag_name", "name"), ("tag_value", "")]),
    )
    .await;
    assert_eq!((status, tagged.as_array().map(Vec::len)), (200, Some(2)));

    // set_inspection replaces the configuration; 200 without a body, as the spec says.
    env.emu.set_now_ms(Some(1_700_000_100_000));
    let path = "/virtual_private_gateways/vpg-a/junction/set_inspection";
    let resp = env
        .req(Method::POST, path)
        .json(&inspection("set-new", true))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.map(|b| b.is_empty()).unwrap_or(false));
    assert_eq!(
        env.emu.vpg_inspection("vpg-a"),
        Some(inspection("set-new", true))
    );
    let a = env.emu.vpg("vpg-a").unwrap_or_default();
    assert_eq!(a["lastModifiedTime"], 1_700_000_100_000_i64);
    assert_eq!(a["inspection"]["report"]["credentialsId"], "set-new");
    // Only the one VPG changed.
    assert_eq!(
        env.emu.vpg_inspection("vpg-c"),
        Some(inspection("set-other", false))
    );
    assert_eq!(env.emu.vpg_inspection("vpg-b"), None);
    assert_eq!(env.emu.vpg_inspection("none"), None);

    let body = inspection("x", true);
    let missing = "/virtual_private_gateways/none/junction/set_inspection";
    assert_eq!(
        send(env.req(Method::POST, missing).json(&body)).await.0,
        404
    );
    for bad in [json!([]), json!({"enabled": "yes"}), json!({"report": "x"})] {
        assert_eq!(
            send(env.req(Method::POST, path).json(&bad)).await.0,
            400,
            "{bad}"
        );
    }
    assert_eq!(
        env.emu.vpg_inspection("vpg-a"),
        Some(inspection("set-new", true))
    );
    assert_eq!(send(env.req(Method::GET, path)).await.0, 405);
    assert_eq!(
        send(env.http.get(env.url("/virtual_private_gateways")))
            .await
            .0,
        401
    );
    let counts = env.emu.call_counts();
    // One set, one for a missing VPG, three refused bodies; the GET is unrouted.
    assert_eq!(counts.get("setInspectionConfiguration"), Some(&5));
    assert!(
        counts.contains_key("getVirtualPrivateGateway")
            && counts.contains_key("listVirtualPrivateGateways")
    );
}

#[tokio::test]
async fn put_configuration_merges_only_given_keys() {
    let env = Env::new().await;
    env.emu.seed_funnel_sample("AKIA", "S");
    env.emu.set_now_ms(Some(1_700_000_000_000));
    let group = env
        .emu
        .group_by_name("test-1")
        .unwrap_or_else(|| panic!("group"));
    let id = group["groupId"].as_str().unwrap_or_default().to_owned();
    let other_before = env.emu.group_by_name("test-2");
    let path = format!("/groups/{id}/configuration/SoracomFunnel");
    let (status, after) = send(
        env.req(Method::PUT, &path)
            .json(&json!([{"key": "credentialsId", "value": "new-set"}])),
    )
    .await;
    assert_eq!(status, 200);
    let mut expected = group["configuration"].clone();
    expected["SoracomFunnel"]["credentialsId"] = json!("new-set");
    assert_eq!(after["configuration"], expected);
    assert_eq!(after["lastModifiedTime"], 1_700_000_000_000_i64);
    assert_eq!(env.emu.group_by_name("test-2"), other_before);

    let (status, after) = send(
        env.req(
            Method::PUT,
            &format!("/groups/{id}/configuration/SoracomFunk"),
        )
        .json(&json!([{"key": "credentialsId", "value": {"$credentialsId": "x"}}])),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        after["configuration"]["SoracomFunnel"],
        expected["SoracomFunnel"]
    );
    assert_eq!(
        after["configuration"]["SoracomFunk"]["credentialsId"]["$credentialsId"],
        "x"
    );

    let ok = json!([{"key": "a", "value": 1}]);
    let bad_ns = format!("/groups/{id}/configuration/SoracomNope");
    assert_eq!(send(env.req(Method::PUT, &bad_ns).json(&ok)).await.0, 400);
    let missing = "/groups/none/configuration/SoracomFunnel";
    assert_eq!(send(env.req(Method::PUT, missing).json(&ok)).await.0, 404);
    for bad in [
        json!({"key": "a", "value": 1}),
        json!([{"key": "a"}]),
        json!([{"key": 1, "value": 1}]),
        json!(["a"]),
    ] {
        assert_eq!(
            send(env.req(Method::PUT, &path).json(&bad)).await.0,
            400,
            "{bad}"
        );
    }
    assert_eq!(
        env.emu
            .group_by_name("test-1")
            .map(|g| g["configuration"].clone()),
        Some(after["configuration"].clone())
    );
}

#[tokio::test]
async fn event_handlers_list_get_update() {
    let env = Env::new().await;
    let handler = json!({
        "name": "lambda", "status": "active",
        "ruleConfig": {"type": "SubscriberDailyTrafficRule", "properties": {"limitTotalTrafficMegaByte": 10}},
        "actionConfigList": [{"type": "InvokeAWSLambdaAction", "properties": {"credentialsId": "old", "executionDateTimeConst": "IMMEDIATELY"}}],
        "targetOperatorId": "OP0012345678",
    });
    let id = env.emu.add_event_handler(handler.clone());
    let fixed = env.emu.add_event_handler(json!({"handlerId": "h-fixed", "name": "n", "status": "inactive", "ruleConfig": {}, "actionConfigList": []}));
    assert_eq!(fixed, "h-fixed");

    let (status, list) = send(env.req(Method::GET, "/event_handlers")).await;
    assert_eq!((status, list.as_array().map(Vec::len)), (200, Some(2)));
    let (status, got) = send(env.req(Method::GET, &format!("/event_handlers/{id}"))).await;
    assert_eq!((status, got["handlerId"].clone()), (200, json!(id)));
    assert_eq!(
        send(env.req(Method::GET, "/event_handlers/none")).await.0,
        404
    );

    let mut update = handler.clone();
    update["actionConfigList"][0]["properties"]["credentialsId"] = json!("new");
    let resp = env
        .req(Method::PUT, &format!("/event_handlers/{id}"))
        .json(&update)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status(), 200);
    let stored = env
        .emu
        .event_handlers()
        .into_iter()
        .find(|h| h["handlerId"] == json!(id))
        .unwrap_or_else(|| panic!("handler"));
    let mut expected = update.clone();
    expected["handlerId"] = json!(id);
    assert_eq!(stored, expected);

    assert_eq!(
        send(env.req(Method::PUT, "/event_handlers/none").json(&update))
            .await
            .0,
        400
    );
    assert_eq!(
        send(
            env.req(Method::PUT, &format!("/event_handlers/{id}"))
                .json(&json!({"name": "x"}))
        )
        .await
        .0,
        400
    );
}

#[tokio::test]
async fn unknown_routes_and_error_envelope() {
    let env = Env::new().await;
    let (status, body) = send(env.req(Method::GET, "/nothing")).await;
    assert_eq!(status, 404);
    assert!(body["code"].is_string() && body["message"].is_string());
    assert_eq!(send(env.req(Method::DELETE, "/groups")).await.0, 405);

    env.emu.set_error_envelope(ErrorEnvelope::ApiCallError);
    let (status, body) = send(env.req(Method::GET, "/groups/none")).await;
    assert_eq!(status, 404);
    assert_eq!(body["httpStatus"], 404);
    assert_eq!(body["errorMessage"]["code"], "GRP0001");
    assert!(body.get("code").is_none());
    env.emu.set_error_envelope(ErrorEnvelope::Plain);
    let (_, body) = send(env.req(Method::GET, "/groups/none")).await;
    assert_eq!(body["code"], "GRP0001");
}

#[tokio::test]
async fn requests_and_counts_are_recorded() {
    let env = Env::new().await;
    env.emu.seed_funnel_sample("AKIA", "S");
    let id = env.emu.groups()[0]["groupId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    env.emu.reset_stats();
    let _ = send(env.req(Method::GET, "/groups").query(&[("limit", "5")])).await;
    let _ = send(
        env.req(
            Method::PUT,
            &format!("/groups/{id}/configuration/SoracomFunnel"),
        )
        .json(&json!([{"key": "enabled", "value": false}])),
    )
    .await;
    let _ = send(env.req(Method::GET, "/nowhere")).await;
    let _ = send(
        env.http
            .get(format!("{}/_emulator/state", env.emu.endpoint())),
    )
    .await;

    let reqs = env.emu.requests();
    assert_eq!(reqs.len(), 3, "{reqs:#?}");
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].path, "/v1/groups");
    assert_eq!(reqs[0].query.as_deref(), Some("limit=5"));
    assert_eq!(reqs[0].operation.as_deref(), Some("listGroups"));
    assert_eq!(reqs[0].status, 200);
    assert!(reqs[0]
        .headers
        .iter()
        .any(|(k, v)| k == "x-soracom-api-key" && *v == env.api_key));
    assert_eq!(
        reqs[1].path,
        format!("/v1/groups/{id}/configuration/SoracomFunnel")
    );
    assert_eq!(
        reqs[1].operation.as_deref(),
        Some("putConfigurationParameters")
    );
    let body: Value =
        serde_json::from_slice(reqs[1].body.as_deref().unwrap_or_default()).unwrap_or(Value::Null);
    assert_eq!(body, json!([{"key": "enabled", "value": false}]));
    assert_eq!((reqs[2].operation.clone(), reqs[2].status), (None, 404));

    let counts = env.emu.call_counts();
    assert_eq!(counts.get("listGroups"), Some(&1));
    assert_eq!(counts.get("putConfigurationParameters"), Some(&1));
    assert_eq!(counts.len(), 2);
    env.emu.reset_stats();
    assert!(env.emu.requests().is_empty() && env.emu.call_counts().is_empty());
}
