//! Notifications: tell a human when a run needs attention, over SNS and/or a webhook.
//!
//! [`notices`] is a pure function of a [`RunReport`] and the `[notify]` settings: it
//! picks what deserves a message — a failure, a refusal by a safety rule (this covers an
//! old key still used after cutover), a rotation past due that did not happen, a rotation
//! due within `due_warning_days`, and, when `on_success` is set, a success summary — and
//! words each message with the target, what happened, the masked key ids and what to do.
//! Messages are built only from the report, which never holds a secret.
//!
//! [`Notifiers::deliver`] sends them through every configured [`Notifier`]. A delivery
//! failure is logged and counted, never raised: it must not hide the run's own outcome or
//! change its exit code.

use std::future::Future;
use std::time::Duration;

use aws_config::SdkConfig;
use serde::Serialize;

use crate::config::NotifySettings;
use crate::plan::{fmt_time, Repair};
use crate::report::{Outcome, RunReport, TargetReport};
use crate::secret::Secret;
use crate::wording::Words;

/// Longest SNS subject (SNS allows 100 characters).
const MAX_SUBJECT: usize = 100;
/// Time allowed for one webhook POST.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a message is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NoticeKind {
    /// A step failed; the state is safe and the next run resumes.
    Failed,
    /// A safety rule refused what was due; a human must act.
    Refused,
    /// Rotation is due now and this run did not rotate (a plan, or rotation is off).
    PastDue,
    /// Rotation becomes due within the warning window.
    DueSoon,
    /// The run changed something and everything succeeded.
    Succeeded,
}

/// One message about one target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    /// The target it is about.
    pub target: String,
    /// Why it is sent.
    pub kind: NoticeKind,
    /// A one-line subject (at most 100 characters, for SNS).
    pub subject: String,
    /// The message: what happened, the keys (masked), what to do.
    pub text: String,
}

/// A notification that could not be delivered.
#[derive(Debug, thiserror::Error)]
#[error("notify via {channel}: {message}")]
pub struct NotifyError {
    /// `sns` or `webhook`.
    pub channel: &'static str,
    /// What went wrong (never the webhook URL, which may carry a token).
    pub message: String,
}

/// The messages a run deserves under `settings`, in target order.
pub fn notices(report: &RunReport, settings: &NotifySettings) -> Vec<Notice> {
    report
        .targets
        .iter()
        .filter_map(|t| notice_for(report, t, settings))
        .collect()
}

fn notice_for(report: &RunReport, t: &TargetReport, settings: &NotifySettings) -> Option<Notice> {
    let due = t.plan.as_ref().map(|p| &p.due);
    let rotated = t
        .plan
        .as_ref()
        .is_some_and(|p| p.repair.iter().any(|a| matches!(a, Repair::Rotate { .. })));
    let (kind, headline, todo) = match t.outcome {
        Outcome::Failed => (
            NoticeKind::Failed,
            format!("{} FAILED", report.command),
            t.next.clone().unwrap_or_else(|| {
                "the state is safe; fix the cause and the next run resumes".into()
            }),
        ),
        Outcome::Refused => (
            NoticeKind::Refused,
            format!("{} REFUSED by a safety rule", report.command),
            "a human must act: read the reason, fix it, then run reconcile again".into(),
        ),
        Outcome::Done if settings.on_success => (
            NoticeKind::Succeeded,
            if rotated {
                "key rotated".to_string()
            } else {
                format!("{} done", report.command)
            },
            t.next.clone().unwrap_or_else(|| "nothing".into()),
        ),
        Outcome::Planned | Outcome::NothingDue if due.is_some_and(|d| d.now) => (
            NoticeKind::PastDue,
            "rotation is PAST DUE".into(),
            "run `soracom-key-rotator reconcile` (or check that the scheduled run is enabled)"
                .into(),
        ),
        // A rotation happened: the plan's due date is the old key's.
        Outcome::Done if rotated => return None,
        Outcome::Planned | Outcome::NothingDue | Outcome::Done => {
            let next = due.and_then(|d| d.next)?;
            let window = time::Duration::days(i64::from(settings.due_warning_days));
            if settings.due_warning_days == 0 || next > report.now.saturating_add(window) {
                return None;
            }
            (
                NoticeKind::DueSoon,
                format!("rotation due {}", fmt_time(next)),
                "nothing, if reconcile runs on a schedule: it rotates the key when due; \
                 otherwise run `soracom-key-rotator reconcile` after that time"
                    .into(),
            )
        }
    };
    let mut text = format!(
        "soracom-key-rotator: target {} (IAM user {}): {headline}.\n",
        t.target, t.iam_user
    );
    if let Some(e) = &t.error {
        text.push_str(&format!("What happened: {e}\n"));
    }
    if let Some(p) = &t.plan {
        match &p.current {
            Some(c) => {
                let key = match c.link.key() {
                    Some(k) => format!("key {k}"),
                    None => "an unknown key".into(),
                };
                let age = c
                    .age_days
                    .map(|d| format!(", {d} days old"))
                    .unwrap_or_default();
                text.push_str(&format!(
                    "Current: credential set {} holds {key}{age}.\n",
                    c.set_id
                ));
            }
            None => text.push_str("Current: no credential set is in use.\n"),
        }
        text.push_str(&format!(
            "Rotation: {} ({}).\n",
            if p.due.now { "due" } else { "not due" },
            p.due.reason.words()
        ));
    }
    if !t.steps.is_empty() {
        text.push_str("Steps:\n");
        for s in &t.steps {
            text.push_str(&format!(
                "  {s}
"
            ));
        }
    }
    if t.references.total > 0 {
        text.push_str(&format!(
            "References moved: {}/{}.\n",
            t.references.moved, t.references.total
        ));
    }
    text.push_str(&format!("What to do: {todo}\n"));
    let subject = truncate(
        &format!("soracom-key-rotator: {}: {headline}", t.target),
        MAX_SUBJECT,
    );
    Some(Notice {
        target: t.target.clone(),
        kind,
        subject,
        text,
    })
}

/// Cuts `s` to at most `max` characters (SNS subjects must also be one line).
fn truncate(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect()
}

/// A channel a [`Notice`] can be sent through.
pub trait Notifier: Send + Sync {
    /// Sends one notice.
    fn send(&self, notice: &Notice) -> impl Future<Output = Result<(), NotifyError>> + Send;
}

/// Publishes to an SNS topic.
#[derive(Clone, Debug)]
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsNotifier {
    /// A notifier for `topic_arn` using the SDK configuration of the run.
    pub fn new(sdk: &SdkConfig, topic_arn: impl Into<String>) -> SnsNotifier {
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
                message: aws_sdk_sns::error::DisplayErrorContext(e).to_string(),
            })
    }
}

/// POSTs Slack-compatible JSON (`{"text": …}`) to a webhook URL.
#[derive(Clone, Debug)]
pub struct WebhookNotifier {
    http: reqwest::Client,
    url: Secret,
}

impl WebhookNotifier {
    /// A notifier for `url` (kept as a secret: webhook URLs embed their token).
    pub fn new(url: Secret) -> Result<WebhookNotifier, NotifyError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(WEBHOOK_TIMEOUT)
            .user_agent(concat!("soracom-key-rotator/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError {
                channel: "webhook",
                message: e.without_url().to_string(),
            })?;
        Ok(WebhookNotifier { http, url })
    }
}

impl Notifier for WebhookNotifier {
    async fn send(&self, notice: &Notice) -> Result<(), NotifyError> {
        let body = serde_json::json!({"text": format!("*{}*\n{}", notice.subject, notice.text)});
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
pub struct Notifiers {
    /// SNS, when `sns_topic_arn` is set.
    pub sns: Option<SnsNotifier>,
    /// The webhook, when `webhook_url` is set.
    pub webhook: Option<WebhookNotifier>,
}

impl Notifiers {
    /// Builds the configured channels; `sdk` is the run's AWS configuration.
    pub fn from_settings(
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
                .map(WebhookNotifier::new)
                .transpose()?,
        })
    }

    /// Sends what `report` deserves through every channel. Failures are logged, counted
    /// and otherwise ignored: the run's outcome stands.
    pub async fn deliver(&self, report: &RunReport, settings: &NotifySettings) -> Delivery {
        let mut d = Delivery::default();
        for n in notices(report, settings) {
            if let Some(s) = &self.sns {
                record(&mut d, &n, s.send(&n).await);
            }
            if let Some(w) = &self.webhook {
                record(&mut d, &n, w.send(&n).await);
            }
        }
        d
    }
}

fn record(d: &mut Delivery, n: &Notice, r: Result<(), NotifyError>) {
    match r {
        Ok(()) => {
            d.sent += 1;
            tracing::info!(target_name = %n.target, kind = ?n.kind, "notification sent");
        }
        Err(e) => {
            d.failed += 1;
            tracing::warn!(target_name = %n.target, kind = ?n.kind, error = %e, "notification not delivered");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Current, Due, DueReason, Link, Plan};
    use crate::report::{Moves, Step};
    use crate::secret::AccessKeyId;
    use time::macros::datetime;

    const KEY: &str = "AKIAIOSFODNN7EXAMPLE";

    fn target(outcome: Outcome, due_now: bool, next_days: i64) -> TargetReport {
        let now = datetime!(2026-11-28 00:00 UTC);
        TargetReport {
            target: "funnel".into(),
            iam_user: "funnel-user".into(),
            outcome,
            plan: Some(Plan {
                target: "funnel".into(),
                current: Some(Current {
                    set_id: "aws-x-260901".into(),
                    link: Link::Description(AccessKeyId::new(KEY)),
                    age_days: Some(88),
                }),
                due: Due {
                    now: due_now,
                    reason: DueReason::Requested,
                    next: Some(now + time::Duration::days(next_days)),
                },
                repair: if outcome == Outcome::Done {
                    vec![Repair::Rotate {
                        new_set_id: "aws-x-261128".into(),
                    }]
                } else {
                    vec![]
                },
                cutover: vec![],
                retire: vec![],
                refusal: None,
                blocked: Vec::new(),
                upcoming: Vec::new(),
                notes: vec![],
            }),
            steps: vec![Step {
                what: format!("created access key {}", AccessKeyId::new(KEY)),
                ok: outcome != Outcome::Failed,
            }],
            references: Moves::default(),
            error: (outcome == Outcome::Failed).then(|| "AWS CreateAccessKey: boom".into()),
            next: None,
        }
    }

    fn report(command: &str, t: TargetReport) -> RunReport {
        RunReport {
            command: command.into(),
            now: datetime!(2026-11-28 00:00 UTC),
            dry_run: false,
            targets: vec![t],
        }
    }

    fn settings(on_success: bool, days: u32) -> NotifySettings {
        NotifySettings {
            sns_topic_arn: None,
            webhook_url: None,
            on_success,
            due_warning_days: days,
        }
    }

    #[test]
    fn picks_what_needs_a_human() {
        let cases = [
            (
                Outcome::Failed,
                false,
                50,
                false,
                7,
                Some(NoticeKind::Failed),
            ),
            (
                Outcome::Refused,
                true,
                -1,
                false,
                7,
                Some(NoticeKind::Refused),
            ),
            (
                Outcome::Planned,
                true,
                -1,
                false,
                7,
                Some(NoticeKind::PastDue),
            ),
            (
                Outcome::NothingDue,
                false,
                3,
                false,
                7,
                Some(NoticeKind::DueSoon),
            ),
            (Outcome::NothingDue, false, 3, false, 0, None),
            (Outcome::NothingDue, false, 30, false, 7, None),
            (Outcome::Done, true, -1, false, 7, None),
            (
                Outcome::Done,
                true,
                -1,
                true,
                7,
                Some(NoticeKind::Succeeded),
            ),
        ];
        for (outcome, now, next, on_success, days, want) in cases {
            let r = report("reconcile", target(outcome, now, next));
            let got = notices(&r, &settings(on_success, days));
            assert_eq!(
                got.first().map(|n| n.kind),
                want,
                "{outcome:?} now={now} next={next}"
            );
        }
    }

    #[test]
    fn a_message_names_target_what_keys_and_todo_but_no_full_key_id() {
        let r = report("reconcile", target(Outcome::Failed, false, 50));
        let n = &notices(&r, &settings(false, 7))[0];
        assert!(n.subject.contains("funnel") && n.subject.contains("FAILED"));
        assert!(n.subject.chars().count() <= MAX_SUBJECT);
        for needle in [
            "funnel-user",
            "CreateAccessKey: boom",
            "AKIA************MPLE",
            "aws-x-260901",
            "What to do:",
        ] {
            assert!(n.text.contains(needle), "{needle} missing:\n{}", n.text);
        }
        assert!(!n.text.contains(KEY), "{}", n.text);
    }
}
