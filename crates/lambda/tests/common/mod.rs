//! Harness for the Lambda tests: moto (IAM, STS, Secrets Manager, SSM, SNS) started by
//! scripts/with-moto behind the AWS fault proxy, the SORACOM emulator in-process, and a
//! webhook listener on 127.0.0.1 — each test's world with its own IAM user, secret,
//! parameter and topic. The handler's logs are captured at the most verbose level the
//! function can be set to, and searched for secrets with everything else it wrote.
//!
//! The world itself (emulator, proxy, IAM user, ledger, clock, seeding, the contract and
//! secret checks) is [`testkit::world::World`], which this harness's [`World`] wraps and
//! dereferences to; what is the Lambda's own is here: the handler's AWS configuration,
//! Secrets Manager, SSM, SNS, the webhook, and the function's clock.

use std::sync::{Arc, Mutex, OnceLock};

use aws_config::SdkConfig;
use serde_json::{json, Value};
use testkit::moto;
use testkit::world::{Moto, Options};
use time::OffsetDateTime;

pub use testkit::world::{eventually, PREFIX};

pub const AUTH_KEY_ID: &str = "keyId-lambda-test";
pub const AUTH_KEY: &str = "secret-lambda-soracom-auth-key-0123456789";

/// One test's world: the shared [`testkit::world::World`] (reached through `Deref`:
/// `w.emu`, `w.proxy`, `w.travel(…)`) and the function's own AWS resources.
pub struct World {
    world: testkit::world::World,
    /// The handler's AWS configuration (through the proxy; a blank one in memory).
    pub sdk: SdkConfig,
    pub secret_id: String,
    pub parameter: String,
    pub topic_arn: String,
    pub webhook: Webhook,
    /// The function's own stores, in memory (a world on [`Moto::Memory`]).
    memory: Option<Memory>,
}

/// Secrets Manager, SSM and SNS of an in-memory world: the AuthKey, the configuration and
/// the messages published (the webhook's are in [`World::webhook`]).
#[derive(Clone)]
struct Memory {
    key: Arc<Mutex<rotator::Stored>>,
    config: Arc<Mutex<String>>,
    sns: Arc<Mutex<Vec<(String, String)>>>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl rotator::KeyStore for Memory {
    fn name(&self) -> String {
        "memory-secret".into()
    }

    async fn load(&self) -> rotator::Result<rotator::Stored> {
        Ok(locked(&self.key).clone())
    }

    async fn store(
        &self,
        key: &rotator_core::endpoint::AuthKey,
        replaced: Option<&str>,
    ) -> rotator::Result<()> {
        *locked(&self.key) = rotator::Stored {
            key: key.clone(),
            replaced: replaced.map(str::to_string),
        };
        Ok(())
    }
}

impl rotator_lambda::ConfigSource for Memory {
    fn name(&self) -> String {
        "memory-parameter".into()
    }

    async fn load(&self) -> Result<String, rotator_lambda::HandlerError> {
        Ok(locked(&self.config).clone())
    }
}

/// The channels of an in-memory world: SNS messages and webhook bodies recorded as the
/// real channels would have sent them.
struct Channels {
    sns: Arc<Mutex<Vec<(String, String)>>>,
    webhook: Arc<Mutex<Vec<Value>>>,
}

impl rotator::Deliver for Channels {
    fn deliver<'a>(
        &'a self,
        settings: &'a rotator_core::config::NotifySettings,
        notices: &'a [rotator_core::notify::Notice],
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = (rotator::Delivery, Vec<bool>)> + Send + 'a>,
    > {
        Box::pin(async move {
            let mut d = rotator::Delivery::default();
            for n in notices {
                if settings.sns_topic_arn.is_some() {
                    locked(&self.sns).push((n.subject.clone(), n.text.clone()));
                    d.sent += 1;
                }
                if settings.webhook_url.is_some() {
                    locked(&self.webhook)
                        .push(rotator_core::notify::payload(settings.webhook_format, n));
                    d.sent += 1;
                }
            }
            let told = settings.sns_topic_arn.is_some() || settings.webhook_url.is_some();
            (d, vec![told; notices.len()])
        })
    }
}

impl std::ops::Deref for World {
    type Target = testkit::world::World;

    fn deref(&self) -> &testkit::world::World {
        &self.world
    }
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

impl World {
    /// A world on the shared moto.
    pub async fn new() -> World {
        World::with(Moto::Shared).await
    }

    /// A world on the given moto ([`Moto::Authenticated`]: its own, whose clock travels
    /// with the world's, so keys made "later" are younger).
    pub async fn with(moto: Moto) -> World {
        captured_logs();
        if moto == Moto::Memory {
            return World::in_memory().await;
        }
        let world = testkit::world::World::start(Options {
            harness: "lambda",
            user_prefix: "lambda-user",
            auth_key: (AUTH_KEY_ID, AUTH_KEY),
            sam_user: Some("rotator"),
            moto,
        })
        .await;
        let sdk = world.sdk_config().await;
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
        // The webhook URL may embed a token: it is a secret too.
        world.plant_secret(&webhook.url);
        let w = World {
            world,
            sdk,
            secret_id,
            parameter: format!("/{}", moto::unique("rotator-config")),
            topic_arn,
            webhook,
            memory: None,
        };
        w.put_config().await;
        w
    }

    /// A world on the in-memory fakes: Secrets Manager, SSM, SNS and the webhook in memory
    /// too (the test's runtime must start paused).
    async fn in_memory() -> World {
        let world = testkit::world::World::start(Options {
            harness: "lambda",
            user_prefix: "lambda-user",
            auth_key: (AUTH_KEY_ID, AUTH_KEY),
            sam_user: Some("rotator"),
            moto: Moto::Memory,
        })
        .await;
        let url = "https://hooks.example.invalid/services/T000/B000/memory-token".to_string();
        world.plant_secret(&url);
        let memory = Memory {
            key: Arc::new(Mutex::new(rotator::Stored {
                key: rotator_core::endpoint::AuthKey {
                    id: AUTH_KEY_ID.into(),
                    secret: rotator_core::Secret::new(AUTH_KEY),
                },
                replaced: None,
            })),
            config: Arc::default(),
            sns: Arc::default(),
        };
        let w = World {
            world,
            sdk: SdkConfig::builder().build(),
            secret_id: "memory-secret".into(),
            parameter: "memory-parameter".into(),
            topic_arn: "arn:aws:sns:us-east-1:123456789012:memory-topic".into(),
            webhook: Webhook {
                url,
                bodies: Arc::default(),
            },
            memory: Some(memory),
        };
        w.put_config().await;
        w
    }

    pub fn config_text(&self) -> String {
        self.config_with("", "")
    }

    /// The configuration with more lines in `[notify]` and in the target.
    pub fn config_with(&self, notify: &str, target: &str) -> String {
        format!(
            "[soracom]\nretry_base_ms = 20\n\n[verify]\nsuccesses = 2\ninterval_ms = 10\ntimeout_seconds = 20\n\n\
             [notify]\nsns_topic_arn = \"{}\"\nwebhook_url = \"{}\"\n{notify}\n\
             [[targets]]\nname = \"funnel\"\niam_user = \"{}\"\ncredential_prefix = \"{PREFIX}\"\n{target}",
            self.topic_arn, self.webhook.url, self.user
        )
    }

    pub async fn put_config(&self) {
        self.put_config_text(&self.config_text()).await;
    }

    /// Stores `text` as the function's configuration (the SSM parameter).
    pub async fn put_config_text(&self, text: &str) {
        if let Some(m) = &self.memory {
            *locked(&m.config) = text.to_string();
            return;
        }
        aws_sdk_ssm::Client::new(&self.sdk)
            .put_parameter()
            .name(&self.parameter)
            .value(text)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .expect("put parameter");
    }

    /// A first key registered by hand as `<prefix>-220810`, used by group test-1.
    pub async fn seed(&self) -> String {
        self.seed_key(&format!("{PREFIX}-220810"), &["test-1"])
            .await
            .0
    }

    /// The clock handed to the function: the real time plus the days travelled
    /// ([`testkit::world::World::travel`] moves it, and the emulator's with it).
    pub fn clock(&self) -> testkit::world::Live<'_> {
        testkit::world::Live::new(self)
    }

    pub async fn key_count(&self) -> usize {
        self.keys().await.len()
    }

    /// The SNS messages moto recorded for this world's topic (from /moto-api/data.json).
    pub async fn sns_messages(&self) -> Vec<(String, String)> {
        if let Some(m) = &self.memory {
            return locked(&m.sns).clone();
        }
        let data: Value = reqwest::get(format!("{}/moto-api/data.json", self.moto_endpoint()))
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

    /// Nothing the handler returned, sent or logged holds a secret of this world's
    /// history (handed to it, sent to SORACOM or issued by it, created by IAM), the webhook
    /// URL included. Every notification received and the handler's logs are searched with
    /// what the test handed to [`testkit::world::World::wrote`] (its responses and errors).
    pub async fn assert_no_secret(&self) {
        for text in self.webhook.texts() {
            self.wrote(&text);
        }
        for (subject, message) in self.sns_messages().await {
            self.wrote(&subject);
            self.wrote(&message);
        }
        self.wrote(&logs());
        self.world.assert_no_secret();
    }
}

/// Invokes the handler in-process with `event`, this world's ports (configuration from the
/// SSM parameter, the AuthKey in Secrets Manager, the world's moving clock) and `metrics`
/// as the sink of the embedded-metric-format lines.
pub async fn invoke_with(
    w: &World,
    event: Value,
    metrics: &(dyn Fn(&str) + Send + Sync),
) -> Result<Value, rotator_lambda::HandlerError> {
    if let Some(m) = &w.memory {
        return invoke_in_memory(w, m, event, metrics).await;
    }
    let store = rotator_lambda::aws::SecretsManagerStore::new(&w.sdk, Some(w.secret_id.clone()));
    let config =
        rotator_lambda::aws::RuntimeConfig::from_vars(&w.sdk, Some(w.parameter.clone()), None);
    invoke_as(w, event, &store, &config, true, metrics).await
}

/// As [`invoke_with`], with the AuthKey's store and the configuration's source given, and
/// whether any SORACOM endpoint is allowed (the emulator's is not one of SORACOM's).
pub async fn invoke_as(
    w: &World,
    event: Value,
    store: &rotator_lambda::aws::SecretsManagerStore,
    config: &rotator_lambda::aws::RuntimeConfig,
    allow_any_endpoint: bool,
    metrics: &(dyn Fn(&str) + Send + Sync),
) -> Result<Value, rotator_lambda::HandlerError> {
    let iam = rotator::AwsIam::new(w.sdk.clone());
    let clock = w.clock();
    let secret_store =
        |id: &str| rotator_lambda::aws::SecretsManagerStore::new(&w.sdk, Some(id.to_string()));
    let ports = rotator_lambda::Ports {
        iam: &iam,
        key_store: store,
        secret_store: &secret_store,
        config,
        dial: &rotator::soracom::HttpDial {
            clock: std::sync::Arc::new(rotator::SystemClock::new()),
        },
        notify: &rotator::Channels { sdk: w.sdk.clone() },
        soracom_endpoint: Some(w.emu.endpoint()),
        allow_any_endpoint,
        clock: &clock,
        ids: &rotator::OsIds::default(),
        metrics,
    };
    rotator_lambda::handle(event, &ports).await
}

/// [`invoke_with`] on the in-memory fakes: the fake IAM, SORACOM in memory, the paused
/// clock, the AuthKey and configuration in memory, the channels recorded.
async fn invoke_in_memory(
    w: &World,
    m: &Memory,
    event: Value,
    metrics: &(dyn Fn(&str) + Send + Sync),
) -> Result<Value, rotator_lambda::HandlerError> {
    let f = w.fakes();
    let others = |_: &str| m.clone();
    let channels = Channels {
        sns: m.sns.clone(),
        webhook: w.webhook.bodies.clone(),
    };
    let ports = rotator_lambda::Ports {
        iam: &f.iam,
        key_store: m,
        secret_store: &others,
        config: m,
        dial: &f.dial,
        notify: &channels,
        soracom_endpoint: Some(w.emu.endpoint()),
        allow_any_endpoint: true,
        clock: &*f.clock,
        ids: &*f.ids,
        metrics,
    };
    let result = rotator_lambda::handle(event, &ports).await;
    // An invocation takes a moment: what the test does next happens later than anything
    // the run recorded.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    result
}
