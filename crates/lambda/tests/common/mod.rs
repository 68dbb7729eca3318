//! Harness for the Lambda tests: moto (IAM, STS, Secrets Manager, SSM, SNS) started by
//! scripts/with-moto behind the AWS fault proxy, the SORACOM emulator in-process, and a
//! webhook listener on 127.0.0.1 — each test's world with its own IAM user, secret,
//! parameter and topic. The handler's logs are captured at the most verbose level the
//! function can be set to, and searched for secrets with everything else it wrote.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use serde_json::{json, Value};
use soracom_emulator::Emulator;
use testkit::aws_proxy::AwsProxy;
use testkit::contract::{assert_conforms, recorded, Spec};
use testkit::moto::{self, Iam};
use testkit::secrets::Ledger;
use time::OffsetDateTime;

pub const PREFIX: &str = "aws-soracom-funnel-sample";
pub const AUTH_KEY_ID: &str = "keyId-lambda-test";
pub const AUTH_KEY: &str = "secret-lambda-soracom-auth-key-0123456789";

pub struct World {
    pub emu: Emulator,
    /// In front of moto: every AWS call of the handler goes through it.
    pub proxy: AwsProxy,
    pub iam: Iam,
    /// The handler's AWS configuration (through the proxy).
    pub sdk: SdkConfig,
    pub user: String,
    pub secret_id: String,
    pub parameter: String,
    pub topic_arn: String,
    pub webhook: Webhook,
    /// This world's secrets and what the handler returned, for the no-secret check.
    pub ledger: Ledger,
    /// How far the function's clock is ahead of the real time.
    offset: Mutex<time::Duration>,
}

/// The handler's logs in this test process, at the function's most verbose level.
fn captured_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf: Arc<Mutex<Vec<u8>>> = Arc::default();
        let sink = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(rotator_lambda::log_filter(Some("trace")))
            .with_ansi(false)
            .with_writer(move || LogWriter(sink.clone()))
            .try_init();
        buf
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything the handler logged in this process so far.
pub fn logs() -> String {
    String::from_utf8_lossy(&captured_logs().lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

/// A local HTTP listener recording the JSON bodies POSTed to it.
pub struct Webhook {
    pub url: String,
    pub bodies: Arc<Mutex<Vec<Value>>>,
}

impl Webhook {
    pub async fn start() -> Webhook {
        let bodies: Arc<Mutex<Vec<Value>>> = Arc::default();
        let b = bodies.clone();
        let app = axum::Router::new().route(
            "/hook/T000/B000/token",
            axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
                let b = b.clone();
                async move {
                    b.lock().unwrap_or_else(|e| e.into_inner()).push(v);
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind webhook");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Webhook {
            url: format!("http://{addr}/hook/T000/B000/token"),
            bodies,
        }
    }

    pub fn texts(&self) -> Vec<String> {
        self.bodies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|v| v["text"].as_str().map(str::to_string))
            .collect()
    }
}

pub fn days_from_now(days: i64) -> String {
    (OffsetDateTime::now_utc() + time::Duration::days(days))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

pub fn funnel(set: &str) -> Value {
    json!({"SoracomFunnel": {
        "credentialsId": set, "enabled": true, "contentType": "application/json",
        "destination": {"provider": "aws", "service": "aws-iot", "resourceUrl": "https://x.iot.ap-northeast-1.amazonaws.com/soracom/%{imsi}"}
    }})
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl World {
    pub async fn new() -> World {
        testkit::install_crypto_provider();
        captured_logs();
        let emu = Emulator::start().await.expect("emulator");
        emu.add_sam_auth_key(AUTH_KEY_ID, AUTH_KEY, "rotator");
        let proxy = AwsProxy::start(&moto::endpoint()).await.expect("proxy");
        let sdk = moto::sdk_config(&proxy.endpoint()).await;
        let iam = Iam::connect(&moto::endpoint()).await;
        let user = moto::unique("lambda-user");
        iam.create_user(&user).await.expect("create user");
        let secret_id = moto::unique("soracom-auth");
        aws_sdk_secretsmanager::Client::new(&sdk)
            .create_secret()
            .name(&secret_id)
            .secret_string(json!({"authKeyId": AUTH_KEY_ID, "authKey": AUTH_KEY}).to_string())
            .send()
            .await
            .expect("create secret");
        let topic_arn = aws_sdk_sns::Client::new(&sdk)
            .create_topic()
            .name(moto::unique("rotator"))
            .send()
            .await
            .expect("create topic")
            .topic_arn()
            .expect("topic arn")
            .to_string();
        let webhook = Webhook::start().await;
        let ledger = Ledger::new();
        ledger.add(AUTH_KEY);
        ledger.add(moto::TEST_SECRET_ACCESS_KEY);
        // The webhook URL may embed a token: it is a secret too.
        ledger.add(webhook.url.clone());
        let w = World {
            emu,
            proxy,
            iam,
            sdk,
            user,
            secret_id,
            parameter: format!("/{}", moto::unique("rotator-config")),
            topic_arn,
            webhook,
            ledger,
            offset: Mutex::new(time::Duration::ZERO),
        };
        w.put_config().await;
        w
    }

    pub fn config_text(&self) -> String {
        format!(
            "[soracom]\nretry_base_ms = 20\n\n[verify]\nsuccesses = 2\ninterval_ms = 10\ntimeout_seconds = 20\n\n\
             [notify]\nsns_topic_arn = \"{}\"\nwebhook_url = \"{}\"\n\n\
             [[targets]]\nname = \"funnel\"\niam_user = \"{}\"\ncredential_prefix = \"{PREFIX}\"\n",
            self.topic_arn, self.webhook.url, self.user
        )
    }

    pub async fn put_config(&self) {
        aws_sdk_ssm::Client::new(&self.sdk)
            .put_parameter()
            .name(&self.parameter)
            .value(self.config_text())
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .expect("put parameter");
    }

    /// A first key registered by hand as `<prefix>-220810`, used by group test-1.
    pub async fn seed(&self) -> String {
        let (id, secret) = self.iam.create_access_key(&self.user).await.expect("key");
        self.ledger.add(secret.clone());
        self.emu.put_credential(
            &format!("{PREFIX}-220810"),
            "aws-credentials",
            "",
            json!({"accessKeyId": id, "secretAccessKey": secret}),
            now_ms(),
        );
        self.emu
            .add_group("test-1", funnel(&format!("{PREFIX}-220810")));
        id
    }

    /// The clock handed to the function: the real time plus the days travelled.
    pub fn clock(&self) -> impl Fn() -> OffsetDateTime + Send + Sync + '_ {
        move || OffsetDateTime::now_utc() + *self.offset.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves the function's clock (and the emulator's) to `days` from now.
    pub fn travel(&self, days: i64) {
        let offset = time::Duration::days(days);
        *self.offset.lock().unwrap_or_else(|e| e.into_inner()) = offset;
        let t = OffsetDateTime::now_utc() + offset;
        self.emu
            .set_now_ms(Some((t.unix_timestamp_nanos() / 1_000_000) as i64));
    }

    pub async fn key_count(&self) -> usize {
        self.iam.list_keys(&self.user).await.expect("keys").len()
    }

    /// The SNS messages moto recorded for this world's topic (from /moto-api/data.json).
    pub async fn sns_messages(&self) -> Vec<(String, String)> {
        let data: Value = reqwest::get(format!("{}/moto-api/data.json", moto::endpoint()))
            .await
            .expect("moto data")
            .json()
            .await
            .expect("json");
        let mut out = Vec::new();
        for t in data["sns"]["Topic"].as_array().into_iter().flatten() {
            if t["arn"] != json!(self.topic_arn) {
                continue;
            }
            for n in t["sent_notifications"].as_array().into_iter().flatten() {
                out.push((
                    n[2].as_str().unwrap_or_default().to_string(),
                    n[1].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
        out
    }

    /// Something the handler produced (its response, an error, a notification) that must
    /// hold no secret; searched in [`World::assert_no_secret`].
    pub fn wrote(&self, text: &str) {
        self.ledger.wrote(text.as_bytes());
    }

    /// Nothing the handler returned, sent or logged holds a secret of this world's
    /// history (handed to it, sent to SORACOM or issued by it, created by IAM), the webhook
    /// URL included. Every notification received is searched too.
    pub async fn assert_no_secret(&self) {
        self.ledger.harvest(&self.emu, Some(&self.proxy));
        for text in self.webhook.texts() {
            self.wrote(&text);
        }
        for (subject, message) in self.sns_messages().await {
            self.wrote(&subject);
            self.wrote(&message);
        }
        self.wrote(&logs());
        let scan = self.ledger.scan();
        testkit::figures::append(
            "secrets.jsonl",
            &json!({"harness": "lambda", "secrets": scan.secrets, "bytes": scan.bytes, "found": scan.found.len()}),
        );
        assert!(scan.found.is_empty(), "secrets leaked: {:?}…", scan.found);
    }

    pub fn assert_contract(&self) {
        let reqs = self.emu.requests();
        assert_conforms(Spec::load_default(), recorded(&reqs));
    }
}

/// Polls `f` every 50 ms for at most `limit`.
pub async fn eventually<F: FnMut() -> bool>(limit: Duration, mut f: F) -> bool {
    let start = tokio::time::Instant::now();
    for _ in 0..10_000 {
        if f() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
