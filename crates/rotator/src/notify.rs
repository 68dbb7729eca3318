//! Delivery of the notification ladder's messages ([`rotator_core::notify`] decides what
//! to tell): SNS and/or a webhook. A delivery failure is logged and counted, never raised:
//! it must not hide the run's own outcome or change its exit code.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use aws_config::SdkConfig;
use rotator_core::config::{NotifySettings, WebhookFormat};
use rotator_core::notify::{payload, Notice};
use rotator_core::secret::Secret;
use serde::Serialize;

/// Time allowed for one webhook POST.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// A notification that could not be delivered.
#[derive(Debug, thiserror::Error)]
#[error("notify via {channel}: {message}")]
pub(crate) struct NotifyError {
    /// `sns` or `webhook`.
    pub(crate) channel: &'static str,
    /// What went wrong (never the webhook URL, which may carry a token).
    pub(crate) message: String,
}

/// A channel a [`Notice`] can be sent through.
pub(crate) trait Notifier: Send + Sync {
    /// Sends one notice.
    fn send(&self, notice: &Notice) -> impl Future<Output = Result<(), NotifyError>> + Send;
}

/// Publishes to an SNS topic.
#[derive(Clone, Debug)]
pub(crate) struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsNotifier {
    /// A notifier for `topic_arn` using the SDK configuration of the run.
    pub(crate) fn new(sdk: &SdkConfig, topic_arn: impl Into<String>) -> SnsNotifier {
        SnsNotifier {
            client: aws_sdk_sns::Client::new(sdk),
            topic_arn: topic_arn.into(),
        }
    }
}

impl Notifier for SnsNotifier {
    async fn send(&self, notice: &Notice) -> Result<(), NotifyError> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&notice.subject)
            .message(&notice.text)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| NotifyError {
                channel: "sns",
                message: format!("Publish: {}", crate::error::aws_error_text(&e).1),
            })
    }
}

/// POSTs a message to a webhook URL: Slack-compatible JSON (`{"text": …}`) or a Microsoft
/// Teams message with an Adaptive Card.
#[derive(Clone, Debug)]
pub(crate) struct WebhookNotifier {
    http: reqwest::Client,
    url: Secret,
    format: WebhookFormat,
}

impl WebhookNotifier {
    /// A notifier for `url` (kept as a secret: webhook URLs embed their token).
    pub(crate) fn new(url: Secret, format: WebhookFormat) -> Result<WebhookNotifier, NotifyError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(WEBHOOK_TIMEOUT)
            .user_agent(concat!("soracom-key-rotator/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError {
                channel: "webhook",
                message: e.without_url().to_string(),
            })?;
        Ok(WebhookNotifier { http, url, format })
    }
}

impl Notifier for WebhookNotifier {
    async fn send(&self, notice: &Notice) -> Result<(), NotifyError> {
        let body = payload(self.format, notice);
        let err = |message: String| NotifyError {
            channel: "webhook",
            message,
        };
        let resp = self
            .http
            .post(self.url.expose())
            .json(&body)
            .send()
            .await
            .map_err(|e| err(e.without_url().to_string()))?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(err(format!("HTTP {}", status.as_u16())))
        }
    }
}

/// How many notices went out, and how many deliveries failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// Deliveries that succeeded (one per notice and channel).
    pub sent: usize,
    /// Deliveries that failed (logged).
    pub failed: usize,
}

/// The channels `[notify]` configures.
#[derive(Clone, Debug, Default)]
pub(crate) struct Notifiers {
    /// SNS, when `sns_topic_arn` is set.
    pub(crate) sns: Option<SnsNotifier>,
    /// The webhook, when `webhook_url` is set.
    pub(crate) webhook: Option<WebhookNotifier>,
}

impl Notifiers {
    /// Builds the configured channels; `sdk` is the run's AWS configuration.
    pub(crate) fn from_settings(
        settings: &NotifySettings,
        sdk: &SdkConfig,
    ) -> Result<Notifiers, NotifyError> {
        Ok(Notifiers {
            sns: settings
                .sns_topic_arn
                .as_ref()
                .map(|arn| SnsNotifier::new(sdk, arn)),
            webhook: settings
                .webhook_url
                .clone()
                .map(|url| WebhookNotifier::new(url, settings.webhook_format))
                .transpose()?,
        })
    }

    /// Sends each notice through every channel. Failures are logged, counted and otherwise
    /// ignored: the run's outcome stands. Returns, beside the counts, whether each notice
    /// reached at least one channel (then it counts as told).
    pub(crate) async fn deliver(&self, notices: &[Notice]) -> (Delivery, Vec<bool>) {
        let mut d = Delivery::default();
        let mut told = Vec::with_capacity(notices.len());
        for n in notices {
            let mut any = false;
            if let Some(s) = &self.sns {
                any |= record(&mut d, n, s.send(n).await);
            }
            if let Some(w) = &self.webhook {
                any |= record(&mut d, n, w.send(n).await);
            }
            told.push(any);
        }
        (d, told)
    }
}

fn record(d: &mut Delivery, n: &Notice, r: Result<(), NotifyError>) -> bool {
    match r {
        Ok(()) => {
            d.sent += 1;
            tracing::info!(target_name = %n.target, rung = n.rung.name(), "notification sent");
            true
        }
        Err(e) => {
            d.failed += 1;
            tracing::warn!(target_name = %n.target, rung = n.rung.name(), error = %e, "notification not delivered");
            false
        }
    }
}

/// Where a run's notices go: the channels `[notify]` configures, or a recorder in tests.
pub trait Deliver: Send + Sync {
    /// Sends each notice through every configured channel: the counts, and whether each
    /// notice reached at least one channel. Failures are logged, never raised.
    fn deliver<'a>(
        &'a self,
        settings: &'a NotifySettings,
        notices: &'a [Notice],
    ) -> Pin<Box<dyn Future<Output = (Delivery, Vec<bool>)> + Send + 'a>>;
}

/// The real channels: SNS through the run's AWS configuration, and the webhook.
#[derive(Clone, Debug)]
pub struct Channels {
    /// The AWS configuration the SNS client uses.
    pub sdk: SdkConfig,
}

impl Deliver for Channels {
    fn deliver<'a>(
        &'a self,
        settings: &'a NotifySettings,
        notices: &'a [Notice],
    ) -> Pin<Box<dyn Future<Output = (Delivery, Vec<bool>)> + Send + 'a>> {
        Box::pin(async move {
            match Notifiers::from_settings(settings, &self.sdk) {
                Ok(n) => n.deliver(notices).await,
                Err(e) => {
                    tracing::warn!(error = %e, "notifications not set up");
                    let d = Delivery {
                        sent: 0,
                        failed: notices.len(),
                    };
                    (d, vec![false; notices.len()])
                }
            }
        })
    }
}
