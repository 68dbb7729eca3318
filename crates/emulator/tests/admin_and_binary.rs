//! The admin API under `/_emulator` and the `soracom-emulator` binary.

use std::process::Stdio;
use std::time::Duration;

use crate::common::{client, send, Env};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn admin_api() {
    let env = Env::new().await;
    env.emu.seed_funnel_sample("AKIA", "ADMINSECRET");
    env.emu.add_event_handler(
        json!({"name": "h", "status": "active", "ruleConfig": {}, "actionConfigList": []}),
    );
    let admin = |path: &str| format!("{}/_emulator{path}", env.emu.endpoint());

    let (code, state) = send(env.http.get(admin("/state"))).await;
    assert_eq!(code, 200);
    assert_eq!(
        state["credentials"][0]["credentials"],
        json!({"accessKeyId": "AKIA"})
    );
    assert_eq!(state["groups"].as_array().map(Vec::len), Some(2));
    assert_eq!(state["eventHandlers"].as_array().map(Vec::len), Some(1));
    assert!(!state.to_string().contains("ADMINSECRET"));

    let post = |path: &str, body: Value| env.http.post(admin(path)).json(&body);
    let fault =
        json!({"operation": "listGroups", "kind": {"status": {"status": 502, "body": "html"}}});
    assert_eq!(send(post("/faults", fault)).await.0, 204);
    assert_eq!(send(env.req(Method::GET, "/groups")).await.0, 502);
    assert_eq!(
        send(post(
            "/faults",
            json!({"operation": "*", "times": 0, "kind": "drop"})
        ))
        .await
        .0,
        204
    );
    assert_eq!(send(env.http.delete(admin("/faults"))).await.0, 204);
    assert_eq!(send(post("/faults", json!({"nope": 1}))).await.0, 400);

    assert_eq!(
        send(post("/page-size", json!({"pageSize": 1}))).await.0,
        204
    );
    let resp = env
        .req(Method::GET, "/groups")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(resp.headers().contains_key("x-soracom-next-key"));

    assert_eq!(
        send(post("/clock", json!({"nowMs": 1_600_000_000_000_i64})))
            .await
            .0,
        204
    );
    let (_, created) = send(
        env.req(Method::POST, "/credentials/x")
            .json(&json!({"type": "psk", "credentials": {"key": "k"}})),
    )
    .await;
    assert_eq!(created["createDateTime"], 1_600_000_000_000_i64);
    assert_eq!(send(post("/clock", json!({"nowMs": null}))).await.0, 204);

    assert_eq!(
        send(post(
            "/rate-limit",
            json!({"limit": 1, "windowSeconds": 60})
        ))
        .await
        .0,
        204
    );
    assert_eq!(send(env.req(Method::GET, "/event_handlers")).await.0, 200);
    assert_eq!(send(env.req(Method::GET, "/event_handlers")).await.0, 429);
    assert_eq!(send(post("/rate-limit", Value::Null)).await.0, 204);
    assert_eq!(send(env.req(Method::GET, "/event_handlers")).await.0, 200);

    assert_eq!(send(post("/latency", json!({"ms": 0}))).await.0, 204);

    // A set's last use, and answers without the access key id.
    let seed_set = "aws-soracom-funnel-sample-220810";
    let used = json!({"credentialsId": seed_set, "atMs": 1_650_000_000_000_i64});
    assert_eq!(send(post("/credential-used", used)).await.0, 204);
    assert_eq!(
        env.emu.credential(seed_set).map(|c| c.last_used_ms),
        Some(1_650_000_000_000)
    );
    let unknown = json!({"credentialsId": "nope", "atMs": 1});
    assert_eq!(send(post("/credential-used", unknown)).await.0, 404);
    assert_eq!(
        send(post("/credential-used", json!({"atMs": 1}))).await.0,
        400
    );
    assert_eq!(
        send(post("/omit-access-key-id", json!({"omit": true})))
            .await
            .0,
        204
    );
    let (_, list) = send(env.req(Method::GET, "/credentials")).await;
    assert_eq!(list[0]["credentials"], json!({}));
    assert_eq!(list[0]["lastUsedDateTime"], 1_650_000_000_000_i64);
    assert_eq!(
        send(post("/omit-access-key-id", json!({"omit": false})))
            .await
            .0,
        204
    );
    let (_, list) = send(env.req(Method::GET, "/credentials")).await;
    assert_eq!(list[0]["credentials"], json!({"accessKeyId": "AKIA"}));

    // Paging mode and `limit` maximum (page size is still 1, so test-1 has a next page).
    assert_eq!(send(post("/paging", json!({"mode": "link"}))).await.0, 204);
    let resp = env
        .req(Method::GET, "/groups")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(resp.headers().contains_key("link"));
    assert!(!resp.headers().contains_key("x-soracom-next-key"));
    assert_eq!(send(post("/paging", json!({"mode": "nope"}))).await.0, 400);
    assert_eq!(
        send(post("/paging", json!({"mode": "documented"}))).await.0,
        204
    );
    assert_eq!(
        send(post("/max-limit", json!({"maxLimit": 100}))).await.0,
        204
    );
    let over = env.req(Method::GET, "/groups").query(&[("limit", "1000")]);
    assert_eq!(send(over).await.0, 400);
    assert_eq!(
        send(post("/max-limit", json!({"maxLimit": null}))).await.0,
        204
    );
    let over = env.req(Method::GET, "/groups").query(&[("limit", "1000")]);
    assert_eq!(send(over).await.0, 200);

    // Error logs: written through the admin API, listed by the API and the state.
    let entry = json!({
        "service": "Funnel", "resourceType": "Subscriber", "resourceId": "440100000000001",
        "time": 1_650_000_000_000_i64, "logLevel": "error",
        "body": {"message": "AccessDenied"},
    });
    assert_eq!(send(post("/logs", entry.clone())).await.0, 204);
    let mut bad_entry = entry.clone();
    bad_entry["service"] = json!("Nope");
    assert_eq!(send(post("/logs", bad_entry)).await.0, 400);
    let mut bad_entry = entry.clone();
    bad_entry["body"] = json!("not an object");
    assert_eq!(send(post("/logs", bad_entry)).await.0, 400);
    let (_, logs) = send(env.req(Method::GET, "/logs")).await;
    let mut expected = entry.clone();
    expected["operatorId"] = json!(env.emu.operator_id());
    assert_eq!(logs, json!([expected]));
    let (_, state) = send(env.http.get(admin("/state"))).await;
    assert_eq!(state["logs"], logs);

    // VPGs: added through the admin API, with or without an inspection configuration.
    let inspection = json!({"enabled": true, "report": {"credentialsId": seed_set}});
    let vpg = json!({"vpgId": "vpg-1", "inspection": inspection});
    assert_eq!(send(post("/vpgs", vpg)).await.0, 204);
    assert_eq!(send(post("/vpgs", json!({"vpgId": "vpg-2"}))).await.0, 204);
    assert_eq!(send(post("/vpgs", json!({"inspection": {}}))).await.0, 400);
    assert_eq!(env.emu.vpg_inspection("vpg-1"), Some(inspection.clone()));
    let (_, state) = send(env.http.get(admin("/state"))).await;
    let vpgs = state["virtualPrivateGateways"].clone();
    assert_eq!(vpgs.as_array().map(Vec::len), Some(2));
    assert_eq!(vpgs[0]["inspection"], inspection);
    assert!(vpgs[1].get("inspection").is_none());
    let (code, stats) = send(env.http.get(admin("/stats"))).await;
    assert_eq!(code, 200);
    assert_eq!(stats["callCounts"]["listEventHandlers"], 3);
    // Admin calls are not recorded.
    assert!(env
        .emu
        .requests()
        .iter()
        .all(|r| !r.path.starts_with("/_emulator")));
}

/// The scale seed spreads the referencing groups over the list; stats count statuses.
#[tokio::test]
async fn scale_seed_and_status_counts() {
    let env = Env::new().await;
    env.emu.seed_scale("AKIA", "SCALESECRET", 10, 4);
    let groups = env.emu.groups();
    assert_eq!(groups.len(), 10);
    let referencing: Vec<usize> = groups
        .iter()
        .enumerate()
        .filter(|(_, g)| {
            g["configuration"]["SoracomFunnel"]["credentialsId"]
                == json!("aws-soracom-funnel-sample-220810")
        })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(referencing.len(), 4);
    assert!(referencing[0] < 3 && referencing[3] >= 7, "{referencing:?}");
    env.emu.seed_scale("AKIA", "SCALESECRET", 3, 99);
    assert_eq!(env.emu.groups().len(), 13);

    env.emu.reset_stats();
    env.emu.set_rate_limit(Some(soracom_emulator::RateLimit {
        limit: 1,
        window: Duration::from_secs(60),
    }));
    assert_eq!(send(env.req(Method::GET, "/groups")).await.0, 200);
    assert_eq!(send(env.req(Method::GET, "/groups")).await.0, 429);
    let admin = format!("{}/_emulator/stats", env.emu.endpoint());
    let (code, stats) = send(env.http.get(admin)).await;
    assert_eq!(code, 200);
    assert_eq!(stats["statusCounts"]["200"], 1);
    assert_eq!(stats["statusCounts"]["429"], 1);
    assert_eq!(stats["callCounts"]["listGroups"], 2);
}

fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_soracom-emulator"));
    cmd.env_remove("SORACOM_EMULATOR_AUTH_KEY")
        .env_remove("SEED_AWS_ACCESS_KEY_ID")
        .env_remove("SEED_AWS_SECRET_ACCESS_KEY")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

#[cfg(unix)]
#[tokio::test]
async fn binary_serves_seeded_state() {
    let mut child = binary()
        .args([
            "--listen",
            "127.0.0.1:0",
            "--auth-key-id",
            "keyId-bin",
            "--seed",
            "funnel-sample",
            "--page-size",
            "1",
        ])
        .env("SORACOM_EMULATOR_AUTH_KEY", "secret-bin")
        .env("SEED_AWS_ACCESS_KEY_ID", "AKIABIN")
        .env("SEED_AWS_SECRET_ACCESS_KEY", "BINSECRET")
        .spawn()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("stdout"));
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .unwrap_or_else(|_| panic!("no listen line in time"))
        .unwrap_or_else(|e| panic!("read: {e}"))
        .unwrap_or_default();
    let endpoint = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();

    let http = client();
    let (code, auth) = send(
        http.post(format!("{endpoint}/v1/auth"))
            .json(&json!({"authKeyId": "keyId-bin", "authKey": "secret-bin"})),
    )
    .await;
    assert_eq!(code, 200);
    let resp = http
        .get(format!("{endpoint}/v1/groups"))
        .header(
            "X-Soracom-API-Key",
            auth["apiKey"].as_str().unwrap_or_default(),
        )
        .header(
            "X-Soracom-Token",
            auth["token"].as_str().unwrap_or_default(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-soracom-next-key"));
    let (_, state) = send(http.get(format!("{endpoint}/_emulator/state"))).await;
    assert_eq!(
        state["credentials"][0]["credentialsId"],
        "aws-soracom-funnel-sample-220810"
    );

    // SIGTERM stops it cleanly.
    let pid = child.id().unwrap_or_else(|| panic!("no pid")).to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().await;
    assert!(killed.is_ok_and(|s| s.success()));
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap_or_else(|_| panic!("did not stop on SIGTERM"))
        .unwrap_or_else(|e| panic!("wait: {e}"));
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn binary_refuses_bad_setups() {
    let cases: [&[&str]; 3] = [
        &["--listen", "0.0.0.0:0"],
        &["--listen", "127.0.0.1:0", "--auth-key-id", "k"],
        &["--listen", "127.0.0.1:0", "--seed", "funnel-sample"],
    ];
    for args in cases {
        let out = tokio::time::timeout(Duration::from_secs(20), binary().args(args).output())
            .await
            .unwrap_or_else(|_| panic!("{args:?} did not exit"))
            .unwrap_or_else(|e| panic!("run: {e}"));
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(out.stdout.is_empty(), "{args:?} printed {:?}", out.stdout);
    }
}
