//! The configuration file as written: the serde input types, before any check, and the
//! error a file that is not TOML (or not of this shape) gets, which never quotes the file.
//! [`super::validate`] turns these into the validated types.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Coverage, Strategy, WebhookFormat, WithoutEvidence};

/// Reads `text` as the configuration's shape: unknown keys and wrong types are errors,
/// worded by [`parse_error`].
pub(super) fn parse(text: &str) -> Result<RawConfig, String> {
    toml::from_str(text).map_err(|e| parse_error(text, &e))
}

/// The whole file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) soracom: RawSoracom,
    #[serde(default)]
    pub(super) verify: RawVerify,
    #[serde(default)]
    pub(super) targets: Vec<RawTarget>,
    #[serde(default)]
    pub(super) notify: RawNotify,
}

/// `[notify]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    pub(super) sns_topic_arn: Option<String>,
    pub(super) webhook_url: Option<String>,
    pub(super) webhook_format: Option<WebhookFormat>,
    pub(super) on_success: Option<bool>,
    pub(super) on_due_soon: Option<bool>,
    pub(super) on_rotated: Option<bool>,
    pub(super) on_deactivated: Option<bool>,
    pub(super) on_emergency: Option<bool>,
    pub(super) on_deleted: Option<bool>,
    pub(super) on_blocked: Option<bool>,
    pub(super) on_failed: Option<bool>,
    pub(super) on_deadline: Option<bool>,
    pub(super) due_warning_days: Option<u32>,
}

/// `[soracom]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSoracom {
    pub(super) coverage: Option<Coverage>,
    pub(super) profile: Option<String>,
    pub(super) page_size: Option<u32>,
    pub(super) concurrency: Option<u32>,
    pub(super) request_timeout_seconds: Option<u32>,
    pub(super) retry_attempts: Option<u32>,
    pub(super) retry_base_ms: Option<u32>,
    pub(super) aws_account_id: Option<String>,
}

/// `[verify]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVerify {
    pub(super) successes: Option<u32>,
    pub(super) interval_ms: Option<u32>,
    pub(super) timeout_seconds: Option<u32>,
}

/// One `[[targets]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTarget {
    pub(super) name: String,
    pub(super) iam_user: String,
    pub(super) credential_prefix: Option<String>,
    pub(super) credential_id: Option<String>,
    pub(super) max_key_age_days: Option<u32>,
    pub(super) deadline_margin_days: Option<u32>,
    pub(super) retire_after_days: Option<u32>,
    pub(super) delete_after_days: Option<u32>,
    pub(super) settle_minutes: Option<u32>,
    #[serde(default)]
    pub(super) adopt: Vec<String>,
    #[serde(default)]
    pub(super) adopt_keys: BTreeMap<String, String>,
    pub(super) strategy: Option<Strategy>,
    pub(super) canary: Option<RawCanary>,
    pub(super) role_name: Option<String>,
    pub(super) role_credential_id: Option<String>,
    pub(super) assume_role_arn: Option<String>,
    pub(super) external_id: Option<String>,
    pub(super) session_name: Option<String>,
    pub(super) soracom_profile: Option<String>,
    pub(super) soracom_coverage: Option<Coverage>,
    pub(super) soracom_endpoint: Option<String>,
    pub(super) soracom_secret: Option<String>,
}

/// A target's `[targets.canary]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCanary {
    #[serde(default)]
    pub(super) holders: Vec<String>,
    pub(super) min_minutes: Option<u32>,
    pub(super) max_hours: Option<u32>,
    pub(super) without_evidence: Option<WithoutEvidence>,
}

/// A TOML error as `line L, column C: what`, never quoting the file: a value in the wrong
/// place (say a `webhook_url`) may be a secret. Quoted values in the parser's message are
/// left out too.
fn parse_error(text: &str, e: &toml::de::Error) -> String {
    let message = hide_quoted(e.message().lines().next().unwrap_or_default());
    let Some(span) = e.span() else {
        return message;
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    // The key of that line, when it is one of ours (anything else could be a pasted secret).
    let key = text
        .lines()
        .nth(line - 1)
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim())
        .filter(|k| KNOWN_KEYS.contains(k));
    match key {
        Some(k) => format!("line {line}, column {column} ({k}): {message}"),
        None => format!("line {line}, column {column}: {message}"),
    }
}

/// Every key of the configuration file, for naming the key of a line in a parse error.
const KNOWN_KEYS: &[&str] = &[
    "coverage",
    "profile",
    "page_size",
    "concurrency",
    "request_timeout_seconds",
    "retry_attempts",
    "retry_base_ms",
    "successes",
    "interval_ms",
    "timeout_seconds",
    "sns_topic_arn",
    "webhook_url",
    "on_success",
    "due_warning_days",
    "name",
    "iam_user",
    "credential_prefix",
    "credential_id",
    "max_key_age_days",
    "retire_after_days",
    "delete_after_days",
    "settle_minutes",
    "adopt",
    "adopt_keys",
    "strategy",
    "canary",
    "holders",
    "min_minutes",
    "max_hours",
    "without_evidence",
    "aws_account_id",
    "role_name",
    "role_credential_id",
];

/// `message` with every `"…"` and `'…'` part replaced by `…`, and every `` `…` `` part
/// too unless it looks like a key or a word of ours (lowercase letters and underscores, at
/// most 32 of them: a misspelt key is worth naming, a pasted token is not).
fn hide_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quote: Option<(char, String)> = None;
    let word = |s: &str| {
        !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    };
    for c in message.chars() {
        match &mut quote {
            Some((q, inner)) if c == *q => {
                if *q == '`' && word(inner) {
                    out.push('`');
                    out.push_str(inner);
                    out.push('`');
                } else {
                    out.push('…');
                }
                quote = None;
            }
            Some((_, inner)) => inner.push(c),
            None if matches!(c, '"' | '\'' | '`') => quote = Some((c, String::new())),
            None => out.push(c),
        }
    }
    if quote.is_some() {
        out.push('…');
    }
    out
}
