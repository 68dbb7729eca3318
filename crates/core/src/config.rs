//! The configuration file: parsed once, validated in one place.
//!
//! The TOML file (the README's *Configuration*) becomes a [`Config`] through
//! [`Config::from_toml`], which is pure so that tests can feed it strings; [`Config::load`]
//! only adds reading the file. Each table is validated by a function of its own; each
//! numeric setting's default and range is one [`Setting`] in [`settings`], used by the
//! code and checked against the README's tables. Unknown keys and bad values are errors
//! naming the key and the file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A configuration that could not be read or is invalid.
#[derive(Debug, thiserror::Error)]
#[error("config {}: {message}", file.display())]
pub struct ConfigError {
    /// The file the problem is in.
    pub file: PathBuf,
    /// What is wrong, naming the key.
    pub message: String,
}

/// The page size used when the server refuses a larger `limit` (the API documents no
/// maximum; 100 is the smallest any client of it is known to use by default).
pub const FALLBACK_PAGE_SIZE: u32 = 100;

/// SORACOM coverage: each has its own API endpoint and its own resources.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize,
)]
pub enum Coverage {
    /// Japan coverage, `https://api.soracom.io`.
    #[serde(rename = "jp")]
    Jp,
    /// Global coverage, `https://g.api.soracom.io`.
    #[serde(rename = "g")]
    G,
}

impl Coverage {
    /// The API origin (without `/v1`) of this coverage.
    pub fn endpoint(self) -> &'static str {
        match self {
            Coverage::Jp => "https://api.soracom.io",
            Coverage::G => "https://g.api.soracom.io",
        }
    }
}

/// How the new key replaces the old one in SORACOM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// A new credential set per key; every reference is repointed (the seed's way).
    Repoint,
    /// One fixed credential set whose key is replaced in place; references never move.
    InPlace,
}

/// The whole validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// SORACOM connection settings.
    pub soracom: SoracomSettings,
    /// How a new key is proven to work before SORACOM sees it.
    pub verify: VerifySettings,
    /// The IAM users whose keys SORACOM holds; at least one.
    pub targets: Vec<Target>,
    /// Where to send notifications (`[notify]`); empty when the table is absent.
    pub notify: NotifySettings,
    /// What `migrate-to-role` makes for each target, and whom the role trusts.
    pub roles: RoleSettings,
    /// The file this came from, for errors found later (a setting only one command needs).
    pub file: PathBuf,
}

/// What `migrate-to-role` needs (docs/ARCHITECTURE.md, *Migrating to a role*): SORACOM's
/// AWS account, which the role must trust, and per target the role and its credential set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleSettings {
    /// SORACOM's AWS account id for the configured coverage (`[soracom] aws_account_id`).
    /// SORACOM's documentation that could be consulted does not state it, so there is no
    /// default: `migrate-to-role` refuses to run without it ([`Config::role_of`]).
    pub soracom_account_id: Option<String>,
    /// Per target, by its name.
    pub targets: BTreeMap<String, TargetRole>,
}

/// The role that replaces a target's access key, and the credential set that names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetRole {
    /// The IAM role's name (`role_name`; default `<iam_user>-role`).
    pub name: String,
    /// The `aws-iam-role-credentials` set's id (`role_credential_id`; default
    /// `<credential_prefix>-role`, or `<credential_id>-role` in place). A managed id is
    /// `<prefix>-<yymmdd>[-<n>]`, so `-role` is never taken for a key's set.
    pub credential_id: String,
}

/// A target's role with the account it trusts: everything `migrate-to-role` needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleTarget {
    /// The role and its set.
    pub role: TargetRole,
    /// SORACOM's AWS account id the trust policy names.
    pub soracom_account_id: String,
}

/// Where and when to notify a human (`[notify]`). Secrets never go into a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifySettings {
    /// SNS topic to publish to (`arn:aws:sns:…`).
    pub sns_topic_arn: Option<String>,
    /// Slack-compatible webhook (`{"text": …}` is POSTed); may embed a token, so it is
    /// never logged.
    pub webhook_url: Option<crate::secret::Secret>,
    /// The rungs of the notification ladder that send messages.
    pub rungs: BTreeSet<Rung>,
    /// Warn when a key's rotation is due within this many days (0: never).
    pub due_warning_days: u32,
    /// The webhook's payload.
    pub webhook_format: WebhookFormat,
}

/// One rung of the notification ladder, each on or off in `[notify]` (`on_<rung>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Rung {
    /// A key's rotation starts within `due_warning_days`.
    DueSoon,
    /// A key was rotated and every reference moved (with the cutover summary).
    Rotated,
    /// An old key was deactivated.
    Deactivated,
    /// An emergency deactivated an exposed key (after its rotation, if it was current).
    Emergency,
    /// An old key (and its set) was deleted.
    Deleted,
    /// An old key's retirement is blocked: it was used after its cutover.
    Blocked,
    /// A run failed, or a safety rule refused what was due.
    Failed,
    /// A key is at risk of being active at its deadline, or is past it.
    Deadline,
}

impl Rung {
    /// Every rung, in the order of a key's life.
    pub const ALL: [Rung; 8] = [
        Rung::DueSoon,
        Rung::Rotated,
        Rung::Deactivated,
        Rung::Emergency,
        Rung::Deleted,
        Rung::Blocked,
        Rung::Failed,
        Rung::Deadline,
    ];

    /// Its name: `on_<name>` in `[notify]`, and the IAM user tag remembering what it told.
    pub fn name(self) -> &'static str {
        match self {
            Rung::DueSoon => "due_soon",
            Rung::Rotated => "rotated",
            Rung::Deactivated => "deactivated",
            Rung::Emergency => "emergency",
            Rung::Deleted => "deleted",
            Rung::Blocked => "blocked",
            Rung::Failed => "failed",
            Rung::Deadline => "deadline",
        }
    }

    /// Whether it is on when `[notify]` does not say: what needs a human is on, news of
    /// routine success is off (`on_success = true` turns those on together).
    pub fn default_on(self) -> bool {
        !matches!(self, Rung::Rotated | Rung::Deactivated | Rung::Deleted)
    }
}

/// The webhook's payload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// Slack-compatible `{"text": …}` (also Mattermost, Rocket.Chat, Google Chat).
    #[default]
    Slack,
    /// Microsoft Teams: a message with an Adaptive Card, as a Teams workflow webhook takes.
    Teams,
}

impl Default for NotifySettings {
    /// No channel; the rungs and the warning window as an empty `[notify]` has them.
    fn default() -> NotifySettings {
        NotifySettings {
            sns_topic_arn: None,
            webhook_url: None,
            rungs: Rung::ALL.into_iter().filter(|r| r.default_on()).collect(),
            due_warning_days: settings::DUE_WARNING_DAYS.default,
            webhook_format: WebhookFormat::default(),
        }
    }
}

impl NotifySettings {
    /// Whether `rung` sends messages.
    pub fn on(&self, rung: Rung) -> bool {
        self.rungs.contains(&rung)
    }

    /// Whether any channel is configured.
    pub fn enabled(&self) -> bool {
        self.sns_topic_arn.is_some() || self.webhook_url.is_some()
    }
}

/// SORACOM connection settings.
#[derive(Clone, Debug)]
pub struct SoracomSettings {
    /// Coverage whose endpoint is used unless `SORACOM_ENDPOINT` overrides it; when absent,
    /// the profile's endpoint or coverage applies, else `jp` (as soracom-cli does).
    pub coverage: Option<Coverage>,
    /// soracom-cli profile name to read the auth key from, when the environment has none.
    pub profile: Option<String>,
    /// Groups requested per page (`limit`); a server that refuses it gets
    /// [`FALLBACK_PAGE_SIZE`] for the rest of the run.
    pub page_size: u32,
    /// References repointed at once.
    pub concurrency: usize,
    /// Time allowed for one HTTP request to SORACOM, and for each attempt of an AWS call.
    pub request_timeout: Duration,
    /// Attempts for one idempotent call (first try included).
    pub retry_attempts: u32,
    /// First backoff delay; it doubles per attempt.
    pub retry_base: Duration,
}

/// How the new key is verified with `sts:GetCallerIdentity`.
#[derive(Clone, Debug)]
pub struct VerifySettings {
    /// Successes in a row required.
    pub successes: u32,
    /// Delay between two checks.
    pub interval: Duration,
    /// Give up after this long.
    pub timeout: Duration,
}

/// One IAM user whose access key SORACOM holds, and the credential sets that carry it.
#[derive(Clone, Debug)]
pub struct Target {
    /// Name used in output and by `--target`.
    pub name: String,
    /// The IAM user whose keys are rotated.
    pub iam_user: String,
    /// Where the target's key goes in SORACOM.
    pub placement: Placement,
    /// The age no active key may reach (the compliance deadline, e.g. Security Hub IAM.3's
    /// 90 days): rotation starts early enough that the old key is deactivated before it.
    pub max_key_age_days: u32,
    /// Days kept free between the old key's planned deactivation and its deadline, for
    /// failed or missed runs.
    pub deadline_margin_days: u32,
    /// Days after cutover before an old key may be deactivated.
    pub retire_after_days: u32,
    /// Days after deactivation before an old key is deleted.
    pub delete_after_days: u32,
    /// Use of an old key up to this long after cutover is not counted against retiring it
    /// (last-used data is coarse and may lag).
    pub settle_minutes: u32,
    /// Credential set ids made by hand that this target also owns.
    pub adopt: Vec<String>,
    /// The access key id a set holds, where SORACOM and its description do not say.
    pub adopt_keys: BTreeMap<String, String>,
    /// A canary cutover: a rotation first moves only these references and waits for
    /// evidence from production before moving the rest (`[targets.canary]`).
    pub canary: Option<Canary>,
    /// The id of the target's `aws-iam-role-credentials` set once `migrate-to-role` made
    /// it ([`TargetRole::credential_id`]): while it exists, references move onto it.
    pub role_set_id: String,
    /// The AWS account the target's IAM user is in, when it is not the caller's: its IAM
    /// calls and the verification of its new key run with credentials of this role.
    pub account: Option<AssumeRole>,
    /// Where the target's credential sets are, when not where `[soracom]` says (another
    /// operator).
    pub soracom: SoracomOverride,
}

/// The role a target's IAM calls run as (`assume_role_arn`, `external_id`, `session_name`).
/// The external id is not treated as a secret: the spoke role trusts only the hub's
/// principal, so the id guards against a confused deputy, not against a stranger (AWS
/// documents it as not secret); `policy` prints it in the trust policy to create.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AssumeRole {
    /// The role's ARN, `arn:<partition>:iam::<account>:role/<path/name>`.
    pub arn: String,
    /// The external id the role's trust policy requires, if any.
    pub external_id: Option<String>,
    /// The role session name (default [`DEFAULT_SESSION_NAME`]); CloudTrail shows it.
    pub session_name: String,
}

impl AssumeRole {
    /// The 12-digit account id in the ARN.
    pub fn account_id(&self) -> &str {
        self.arn.split(':').nth(4).unwrap_or_default()
    }
}

/// The role session name when `session_name` is absent.
pub const DEFAULT_SESSION_NAME: &str = "soracom-key-rotator";

/// A target's own SORACOM operator (`soracom_profile`, or `soracom_coverage` /
/// `soracom_endpoint`; in the Lambda function `soracom_secret`). All absent: `[soracom]`
/// and the process's own credentials. Targets with equal overrides share one login and one
/// observation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SoracomOverride {
    /// soracom-cli profile to read the auth key (and endpoint) from.
    pub profile: Option<String>,
    /// Coverage whose endpoint is used.
    pub coverage: Option<Coverage>,
    /// API origin (https, or http to a loopback host), checked like `SORACOM_ENDPOINT`.
    pub endpoint: Option<String>,
    /// The Lambda function's Secrets Manager secret (name or ARN) with this operator's
    /// AuthKey.
    pub secret: Option<String>,
}

impl SoracomOverride {
    /// Whether the target uses the run's own SORACOM settings.
    pub fn is_default(&self) -> bool {
        *self == SoracomOverride::default()
    }
}

/// How a target's cutover goes through a canary (docs/ARCHITECTURE.md, *The canary*).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canary {
    /// Which references move first.
    pub holders: CanaryHolders,
    /// The canary runs at least this long before the rest moves, however good the evidence.
    pub min_minutes: u32,
    /// By this many hours after the canary moved, without evidence either way, the
    /// configured choice is made.
    pub max_hours: u32,
    /// What happens at `max_hours` without evidence.
    pub without_evidence: WithoutEvidence,
}

/// Which references are the canary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CanaryHolders {
    /// The first holder (in listing order: groups, event handlers, VPGs).
    First,
    /// Holders named by group, event handler or VPG id or name.
    Named(Vec<String>),
}

/// The choice at `max_hours` without evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WithoutEvidence {
    /// Keep the canary as it is and ask a human (exit 3, the blocked rung).
    Hold,
    /// Move the rest, and say that it went ahead without evidence.
    Proceed,
}

impl Canary {
    /// Whether `holder` is one of the named canary holders (by id or name).
    pub fn names(&self, holder: &crate::model::Holder) -> bool {
        use crate::model::Holder;
        let CanaryHolders::Named(names) = &self.holders else {
            return false;
        };
        let (id, name) = match holder {
            Holder::GroupKey {
                group_id,
                group_name,
                ..
            } => (group_id, group_name),
            Holder::EventHandler { handler_id, name } => (handler_id, name),
            Holder::VpgInspection { vpg_id, name } => (vpg_id, name),
        };
        names
            .iter()
            .any(|n| n == id || name.as_ref().is_some_and(|m| m == n))
    }

    /// The longest a canary may last.
    pub fn max(&self) -> time::Duration {
        time::Duration::hours(self.max_hours.into())
    }
}

/// Where a target's key goes in SORACOM: one choice, so no other combination can be
/// written down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// A new credential set `<prefix>-<yymmdd>[-<n>]` per key; references are repointed
    /// (`strategy = "repoint"`, the default).
    Managed {
        /// The id prefix.
        prefix: String,
    },
    /// One fixed credential set whose key is replaced in place (`strategy = "in-place"`).
    Fixed {
        /// The set's id.
        id: String,
    },
}

impl Target {
    /// Whether credential set `id` belongs to this target: `<prefix>-<yymmdd>[-<n>]`
    /// exactly (or the fixed set), or listed in `adopt`. Never a substring match.
    pub fn owns(&self, id: &str) -> bool {
        let named = match &self.placement {
            Placement::Fixed { id: fixed } => fixed == id,
            Placement::Managed { prefix } => crate::model::ManagedId::parse(prefix, id).is_some(),
        };
        named || self.adopt.iter().any(|a| a == id)
    }

    /// The strategy, as the configuration names it.
    pub fn strategy(&self) -> Strategy {
        match self.placement {
            Placement::Managed { .. } => Strategy::Repoint,
            Placement::Fixed { .. } => Strategy::InPlace,
        }
    }

    /// The managed ids' prefix (repoint), if any.
    pub fn prefix(&self) -> Option<&str> {
        match &self.placement {
            Placement::Managed { prefix } => Some(prefix),
            Placement::Fixed { .. } => None,
        }
    }

    /// The fixed set's id (in place), if any.
    pub fn fixed_id(&self) -> Option<&str> {
        match &self.placement {
            Placement::Fixed { id } => Some(id),
            Placement::Managed { .. } => None,
        }
    }
}

/// A numeric setting: its key, default and allowed range, named once for the code and the
/// README's tables (a test compares them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The key in its table (`page_size`; a target's keys without `targets[i].`).
    pub key: &'static str,
    /// The table (`soracom`, `verify`, `notify`, `targets`).
    pub table: &'static str,
    /// The value when the key is absent.
    pub default: u32,
    /// The smallest value accepted.
    pub min: u32,
    /// The largest value accepted.
    pub max: u32,
}

impl Setting {
    /// The value given (or the default), checked against the range; the error names
    /// `key` (the setting's full key, e.g. `targets[0].max_key_age_days`).
    fn read(&self, key: &str, value: Option<u32>) -> Result<u32, String> {
        let v = value.unwrap_or(self.default);
        if v < self.min || v > self.max {
            return Err(format!(
                "{key}: {v} is out of range ({}..={})",
                self.min, self.max
            ));
        }
        Ok(v)
    }

    /// As [`Setting::read`], for a setting of a top-level table.
    fn get(&self, value: Option<u32>) -> Result<u32, String> {
        self.read(&format!("{}.{}", self.table, self.key), value)
    }
}

/// Every numeric setting, with its default and range.
pub mod settings {
    use super::Setting;

    const fn s(
        table: &'static str,
        key: &'static str,
        default: u32,
        min: u32,
        max: u32,
    ) -> Setting {
        Setting {
            key,
            table,
            default,
            min,
            max,
        }
    }

    /// Groups requested per page.
    pub const PAGE_SIZE: Setting = s("soracom", "page_size", 1000, 1, 1000);
    /// References repointed at once.
    pub const CONCURRENCY: Setting = s("soracom", "concurrency", 16, 1, 64);
    /// Seconds one HTTP request (and each attempt of an AWS call) may take.
    pub const REQUEST_TIMEOUT_SECONDS: Setting =
        s("soracom", "request_timeout_seconds", 30, 1, 300);
    /// Attempts per call, the first included.
    pub const RETRY_ATTEMPTS: Setting = s("soracom", "retry_attempts", 5, 1, 10);
    /// The first backoff, in milliseconds.
    pub const RETRY_BASE_MS: Setting = s("soracom", "retry_base_ms", 500, 1, 60_000);
    /// STS successes in a row.
    pub const SUCCESSES: Setting = s("verify", "successes", 3, 1, 20);
    /// Milliseconds between two checks.
    pub const INTERVAL_MS: Setting = s("verify", "interval_ms", 2000, 0, 60_000);
    /// Seconds before verification gives up.
    pub const TIMEOUT_SECONDS: Setting = s("verify", "timeout_seconds", 120, 1, 3600);
    /// Days before a due rotation the notice warns.
    pub const DUE_WARNING_DAYS: Setting = s("notify", "due_warning_days", 7, 0, 365);
    /// The age no active key may reach.
    pub const MAX_KEY_AGE_DAYS: Setting = s("targets", "max_key_age_days", 90, 1, 3650);
    /// Days kept free before the deadline.
    pub const DEADLINE_MARGIN_DAYS: Setting = s("targets", "deadline_margin_days", 3, 1, 30);
    /// Days after cutover before an old key may be deactivated.
    pub const RETIRE_AFTER_DAYS: Setting = s("targets", "retire_after_days", 7, 0, 365);
    /// Days after deactivation before an old key is deleted.
    pub const DELETE_AFTER_DAYS: Setting = s("targets", "delete_after_days", 7, 0, 365);
    /// Minutes after cutover during which use of the old key is not counted.
    pub const SETTLE_MINUTES: Setting = s("targets", "settle_minutes", 60, 0, 10_080);
    /// Minutes a canary runs at least.
    pub const CANARY_MIN_MINUTES: Setting = s("targets.canary", "min_minutes", 60, 0, 10_080);
    /// Hours by which a canary without evidence is decided.
    pub const CANARY_MAX_HOURS: Setting = s("targets.canary", "max_hours", 24, 1, 720);

    /// All of them, for the README check.
    pub const ALL: [Setting; 16] = [
        PAGE_SIZE,
        CONCURRENCY,
        REQUEST_TIMEOUT_SECONDS,
        RETRY_ATTEMPTS,
        RETRY_BASE_MS,
        SUCCESSES,
        INTERVAL_MS,
        TIMEOUT_SECONDS,
        DUE_WARNING_DAYS,
        MAX_KEY_AGE_DAYS,
        DEADLINE_MARGIN_DAYS,
        RETIRE_AFTER_DAYS,
        DELETE_AFTER_DAYS,
        SETTLE_MINUTES,
        CANARY_MIN_MINUTES,
        CANARY_MAX_HOURS,
    ];
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    soracom: RawSoracom,
    #[serde(default)]
    verify: RawVerify,
    #[serde(default)]
    targets: Vec<RawTarget>,
    #[serde(default)]
    notify: RawNotify,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    sns_topic_arn: Option<String>,
    webhook_url: Option<String>,
    webhook_format: Option<WebhookFormat>,
    on_success: Option<bool>,
    on_due_soon: Option<bool>,
    on_rotated: Option<bool>,
    on_deactivated: Option<bool>,
    on_emergency: Option<bool>,
    on_deleted: Option<bool>,
    on_blocked: Option<bool>,
    on_failed: Option<bool>,
    on_deadline: Option<bool>,
    due_warning_days: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSoracom {
    coverage: Option<Coverage>,
    profile: Option<String>,
    page_size: Option<u32>,
    concurrency: Option<u32>,
    request_timeout_seconds: Option<u32>,
    retry_attempts: Option<u32>,
    retry_base_ms: Option<u32>,
    aws_account_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawVerify {
    successes: Option<u32>,
    interval_ms: Option<u32>,
    timeout_seconds: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    name: String,
    iam_user: String,
    credential_prefix: Option<String>,
    credential_id: Option<String>,
    max_key_age_days: Option<u32>,
    deadline_margin_days: Option<u32>,
    retire_after_days: Option<u32>,
    delete_after_days: Option<u32>,
    settle_minutes: Option<u32>,
    #[serde(default)]
    adopt: Vec<String>,
    #[serde(default)]
    adopt_keys: BTreeMap<String, String>,
    strategy: Option<Strategy>,
    canary: Option<RawCanary>,
    role_name: Option<String>,
    role_credential_id: Option<String>,
    assume_role_arn: Option<String>,
    external_id: Option<String>,
    session_name: Option<String>,
    soracom_profile: Option<String>,
    soracom_coverage: Option<Coverage>,
    soracom_endpoint: Option<String>,
    soracom_secret: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCanary {
    #[serde(default)]
    holders: Vec<String>,
    min_minutes: Option<u32>,
    max_hours: Option<u32>,
    without_evidence: Option<WithoutEvidence>,
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

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            message: format!("cannot read: {e}"),
        })?;
        Config::from_toml(&text, path)
    }

    /// The `[soracom]` settings of a configuration that says nothing: every default, for
    /// the commands that need no file (`discover`, `init`).
    pub fn default_soracom() -> Result<SoracomSettings, ConfigError> {
        soracom_settings(RawSoracom::default()).map_err(|message| ConfigError {
            file: PathBuf::from("(defaults)"),
            message,
        })
    }

    /// Parses and validates configuration text; `file` is only used in messages.
    pub fn from_toml(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let err = |message: String| ConfigError {
            file: file.to_path_buf(),
            message,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| err(parse_error(text, &e)))?;
        let account = raw.soracom.aws_account_id.clone();
        let roles: Vec<(Option<String>, Option<String>)> = raw
            .targets
            .iter()
            .map(|t| (t.role_name.clone(), t.role_credential_id.clone()))
            .collect();
        let mut targets = targets(raw.targets).map_err(err)?;
        let roles = role_settings(account, &targets, roles).map_err(err)?;
        for t in &mut targets {
            if let Some(r) = roles.targets.get(&t.name) {
                t.role_set_id = r.credential_id.clone();
            }
        }
        Ok(Config {
            soracom: soracom_settings(raw.soracom).map_err(err)?,
            verify: verify_settings(raw.verify).map_err(err)?,
            roles,
            targets,
            notify: notify_settings(raw.notify).map_err(err)?,
            file: file.to_path_buf(),
        })
    }

    /// What `migrate-to-role` makes for `target`; a configuration error naming
    /// `soracom.aws_account_id` when SORACOM's account is not configured.
    pub fn role_of(&self, target: &Target) -> Result<RoleTarget, ConfigError> {
        let err = |message: String| ConfigError {
            file: self.file.clone(),
            message,
        };
        let account =
            self.roles.soracom_account_id.clone().ok_or_else(|| {
                err("soracom.aws_account_id: required by migrate-to-role: the 12-digit AWS account \
                 SORACOM's services call AWS from for this coverage, which the role must trust \
                 (SORACOM's documentation on IAM role credentials gives it per coverage)"
                .into())
            })?;
        let role = self
            .roles
            .targets
            .get(&target.name)
            .cloned()
            .ok_or_else(|| err(format!("no target named {:?}", target.name)))?;
        Ok(RoleTarget {
            role,
            soracom_account_id: account,
        })
    }

    /// The targets selected by `--target` (all when `None`).
    pub fn select(&self, name: Option<&str>) -> Result<Vec<&Target>, String> {
        match name {
            None => Ok(self.targets.iter().collect()),
            Some(n) => match self.targets.iter().find(|t| t.name == n) {
                Some(t) => Ok(vec![t]),
                None => Err(format!(
                    "no target named {n:?}; the config has: {}",
                    self.targets
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            },
        }
    }
}

/// The `[soracom]` table.
fn soracom_settings(s: RawSoracom) -> Result<SoracomSettings, String> {
    use settings::*;
    if let Some(p) = &s.profile {
        check_profile("soracom.profile", p)?;
    }
    Ok(SoracomSettings {
        coverage: s.coverage,
        profile: s.profile,
        page_size: PAGE_SIZE.get(s.page_size)?,
        concurrency: CONCURRENCY.get(s.concurrency)? as usize,
        request_timeout: Duration::from_secs(
            REQUEST_TIMEOUT_SECONDS
                .get(s.request_timeout_seconds)?
                .into(),
        ),
        retry_attempts: RETRY_ATTEMPTS.get(s.retry_attempts)?,
        retry_base: Duration::from_millis(RETRY_BASE_MS.get(s.retry_base_ms)?.into()),
    })
}

/// `[soracom] aws_account_id` and each target's `role_name` and `role_credential_id`
/// (given in the order of `targets`), with their defaults, each checked and unique.
fn role_settings(
    account: Option<String>,
    targets: &[Target],
    raw: Vec<(Option<String>, Option<String>)>,
) -> Result<RoleSettings, String> {
    if let Some(a) = &account {
        if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "soracom.aws_account_id: {a:?} is not a 12-digit AWS account id"
            ));
        }
    }
    let mut out: BTreeMap<String, TargetRole> = BTreeMap::new();
    for (i, (t, (name, credential_id))) in targets.iter().zip(raw).enumerate() {
        let key = |field: &str| format!("targets[{i}].{field}");
        // Derived names are cut to fit IAM's 64 and SORACOM's 100 characters.
        let name = match name {
            Some(n) => {
                check_role_name(&key("role_name"), &n)?;
                n
            }
            None => format!("{}-role", truncate(&t.iam_user, 59)),
        };
        let credential_id = match credential_id {
            Some(id) => {
                check_credential_id(&key("role_credential_id"), &id)?;
                id
            }
            None => {
                let base = t.prefix().or(t.fixed_id()).unwrap_or(&t.name);
                format!("{}-role", truncate(base, 95))
            }
        };
        if let Some(o) = targets.iter().find(|o| o.owns(&credential_id)) {
            return Err(format!(
                "{}: {credential_id:?} is a key's credential set of target {:?}",
                key("role_credential_id"),
                o.name
            ));
        }
        if let Some((o, _)) = out.iter().find(|(_, r)| r.name == name) {
            return Err(format!(
                "{}: {name:?} is also the role of target {o:?}",
                key("role_name")
            ));
        }
        if let Some((o, _)) = out.iter().find(|(_, r)| r.credential_id == credential_id) {
            return Err(format!(
                "{}: {credential_id:?} is also the role set of target {o:?}",
                key("role_credential_id")
            ));
        }
        out.insert(
            t.name.clone(),
            TargetRole {
                name,
                credential_id,
            },
        );
    }
    Ok(RoleSettings {
        soracom_account_id: account,
        targets: out,
    })
}

/// The first `max` characters of `s` (ASCII in every caller: names were checked).
fn truncate(s: &str, max: usize) -> &str {
    s.get(..max.min(s.len())).unwrap_or(s)
}

/// IAM role names: 1-64 of alphanumerics and `+=,.@_-`.
fn check_role_name(key: &str, v: &str) -> Result<(), String> {
    if v.is_empty()
        || v.len() > 64
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
    {
        return Err(format!("{key}: {v:?} is not a valid IAM role name"));
    }
    Ok(())
}

/// The `[verify]` table.
fn verify_settings(v: RawVerify) -> Result<VerifySettings, String> {
    use settings::*;
    Ok(VerifySettings {
        successes: SUCCESSES.get(v.successes)?,
        interval: Duration::from_millis(INTERVAL_MS.get(v.interval_ms)?.into()),
        timeout: Duration::from_secs(TIMEOUT_SECONDS.get(v.timeout_seconds)?.into()),
    })
}

/// The `[[targets]]` tables, each on its own and then against each other.
fn targets(raw: Vec<RawTarget>) -> Result<Vec<Target>, String> {
    if raw.is_empty() {
        return Err("targets: at least one [[targets]] table is required".into());
    }
    let mut targets: Vec<Target> = Vec::with_capacity(raw.len());
    for (i, t) in raw.into_iter().enumerate() {
        let t = target(i, t)?;
        let key = |field: &str| format!("targets[{i}].{field}");
        if targets.iter().any(|o| o.name == t.name) {
            return Err(format!(
                "{}: {:?} is used by two targets",
                key("name"),
                t.name
            ));
        }
        // Two targets on one user would take each other's new keys for someone else's and
        // share its two key slots: one target per user.
        if let Some(o) = targets.iter().find(|o| o.iam_user == t.iam_user) {
            return Err(format!(
                "{}: {:?} is also the user of target {:?}; give each target its own IAM user",
                key("iam_user"),
                t.iam_user,
                o.name
            ));
        }
        if let Some(o) = targets.iter().find(|o| o.placement == t.placement) {
            let field = match t.placement {
                Placement::Fixed { .. } => "credential_id",
                Placement::Managed { .. } => "credential_prefix",
            };
            return Err(format!("{}: also used by target {:?}", key(field), o.name));
        }
        targets.push(t);
    }
    for (i, t) in targets.iter().enumerate() {
        if let Some(id) = t.fixed_id() {
            if let Some(o) = targets.iter().find(|o| o.name != t.name && o.owns(id)) {
                return Err(format!(
                    "targets[{i}].credential_id: {id:?} already belongs to target {:?}",
                    o.name
                ));
            }
        }
        for (j, id) in t.adopt.iter().enumerate() {
            if let Some(o) = targets.iter().find(|o| o.name != t.name && o.owns(id)) {
                return Err(format!(
                    "targets[{i}].adopt[{j}]: {id:?} already belongs to target {:?}",
                    o.name
                ));
            }
        }
    }
    Ok(targets)
}

/// One `[[targets]]` table, the `i`-th.
fn target(i: usize, t: RawTarget) -> Result<Target, String> {
    use settings::*;
    let key = |field: &str| format!("targets[{i}].{field}");
    check_name(&key("name"), &t.name)?;
    check_iam_user(&key("iam_user"), &t.iam_user)?;
    let placement = match (
        t.strategy.unwrap_or(Strategy::Repoint),
        t.credential_prefix,
        t.credential_id,
    ) {
        (Strategy::Repoint, Some(prefix), None) => {
            check_credential_id(&key("credential_prefix"), &prefix)?;
            Placement::Managed { prefix }
        }
        (Strategy::InPlace, None, Some(id)) => {
            check_credential_id(&key("credential_id"), &id)?;
            Placement::Fixed { id }
        }
        (Strategy::Repoint, _, _) => {
            return Err(format!(
                "{}: required (and {} is only for strategy = \"in-place\")",
                key("credential_prefix"),
                key("credential_id")
            ))
        }
        (Strategy::InPlace, _, _) => {
            return Err(format!(
                "{}: required with strategy = \"in-place\" (and {} is only for \"repoint\")",
                key("credential_id"),
                key("credential_prefix")
            ))
        }
    };
    for (j, id) in t.adopt.iter().enumerate() {
        check_credential_id(&format!("{}[{j}]", key("adopt")), id)?;
    }
    for (id, access_key) in &t.adopt_keys {
        let k = format!("{}.{id}", key("adopt_keys"));
        check_credential_id(&k, id)?;
        if access_key.len() < 16
            || access_key.len() > 128
            || !access_key
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            return Err(format!("{k}: {access_key:?} is not an access key id"));
        }
    }
    let get = |s: Setting, v| s.read(&key(s.key), v);
    let max_key_age_days = get(MAX_KEY_AGE_DAYS, t.max_key_age_days)?;
    let deadline_margin_days = get(DEADLINE_MARGIN_DAYS, t.deadline_margin_days)?;
    let retire_after_days = get(RETIRE_AFTER_DAYS, t.retire_after_days)?;
    let settle_minutes = get(SETTLE_MINUTES, t.settle_minutes)?;
    // The old key is deactivated a grace period after the cutover; with the margin kept
    // free, that must come before the deadline, or the schedule fails its own limit.
    let canary = t
        .canary
        .map(|c| canary(&key("canary"), &placement, c))
        .transpose()?;
    // A canary postpones the rest of the cutover by up to `max_hours`: rotation starts
    // that much earlier.
    let canary_days = canary.as_ref().map_or(0, |c| c.max_hours.div_ceil(24));
    let grace = retire_after_days.max(settle_minutes.div_ceil(24 * 60)) + canary_days;
    if grace + deadline_margin_days >= max_key_age_days {
        return Err(format!(
            "{} ({retire_after_days}) and {} ({deadline_margin_days}) leave no time before {} \
             ({max_key_age_days}){}: the old key could not be deactivated before it reaches \
             that age; lower them or raise {}",
            key("retire_after_days"),
            key("deadline_margin_days"),
            key("max_key_age_days"),
            if canary_days > 0 {
                format!(" with {}.max_hours", key("canary"))
            } else {
                String::new()
            },
            key("max_key_age_days")
        ));
    }
    Ok(Target {
        max_key_age_days,
        deadline_margin_days,
        retire_after_days,
        delete_after_days: get(DELETE_AFTER_DAYS, t.delete_after_days)?,
        settle_minutes,
        name: t.name,
        iam_user: t.iam_user,
        placement,
        adopt: t.adopt,
        adopt_keys: t.adopt_keys,
        canary,
        // Set from the role settings once every target is read.
        role_set_id: String::new(),
        account: assume_role(&key, t.assume_role_arn, t.external_id, t.session_name)?,
        soracom: soracom_override(
            &key,
            t.soracom_profile,
            t.soracom_coverage,
            t.soracom_endpoint,
            t.soracom_secret,
        )?,
    })
}

/// A target's `assume_role_arn`, `external_id` and `session_name` (the last two only with
/// the first), checked as IAM and STS define them.
fn assume_role(
    key: &dyn Fn(&str) -> String,
    arn: Option<String>,
    external_id: Option<String>,
    session_name: Option<String>,
) -> Result<Option<AssumeRole>, String> {
    let Some(arn) = arn else {
        for (k, v) in [
            ("external_id", &external_id),
            ("session_name", &session_name),
        ] {
            if v.is_some() {
                return Err(format!("{}: only with {}", key(k), key("assume_role_arn")));
            }
        }
        return Ok(None);
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let valid = matches!(parts.as_slice(),
    ["arn", partition, "iam", "", account, resource]
        if partition.starts_with("aws")
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && resource.strip_prefix("role/").is_some_and(|n| {
                !n.is_empty()
                    && n.len() <= 512
                    && n.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c))
            }));
    if !valid {
        return Err(format!(
            "{}: {arn:?} is not an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)",
            key("assume_role_arn")
        ));
    }
    if let Some(id) = &external_id {
        if id.len() < 2
            || id.len() > 1224
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@:/_-".contains(c))
        {
            return Err(format!(
                "{}: must be 2-1224 characters of A-Z a-z 0-9 + = , . @ : / _ -",
                key("external_id")
            ));
        }
    }
    let session_name = session_name.unwrap_or_else(|| DEFAULT_SESSION_NAME.into());
    if session_name.len() < 2
        || session_name.len() > 64
        || !session_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
    {
        return Err(format!(
            "{}: {session_name:?} must be 2-64 characters of A-Z a-z 0-9 + = , . @ _ -",
            key("session_name")
        ));
    }
    Ok(Some(AssumeRole {
        arn,
        external_id,
        session_name,
    }))
}

/// A target's SORACOM override: a profile, or a coverage and/or an endpoint (the endpoint
/// held to the rules of `SORACOM_ENDPOINT`: https, or http to a loopback host); a secret
/// name for the Lambda function.
fn soracom_override(
    key: &dyn Fn(&str) -> String,
    profile: Option<String>,
    coverage: Option<Coverage>,
    endpoint: Option<String>,
    secret: Option<String>,
) -> Result<SoracomOverride, String> {
    if let Some(p) = &profile {
        check_profile(&key("soracom_profile"), p)?;
        if coverage.is_some() || endpoint.is_some() {
            return Err(format!(
                "{}: give a profile or soracom_coverage/soracom_endpoint, not both",
                key("soracom_profile")
            ));
        }
    }
    let endpoint = match endpoint {
        Some(e) => Some(
            crate::endpoint::origin(&e, &key("soracom_endpoint"))
                .map_err(|e| e.to_string())?
                .0,
        ),
        None => None,
    };
    if let Some(s) = &secret {
        // A name (1-512 of A-Z a-z 0-9 / _ + = . @ -) or an ARN (which adds `:`).
        if s.is_empty()
            || s.len() > 2048
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-:".contains(c))
        {
            return Err(format!(
                "{}: {s:?} is not a Secrets Manager secret name or ARN",
                key("soracom_secret")
            ));
        }
    }
    Ok(SoracomOverride {
        profile,
        coverage,
        endpoint,
        secret,
    })
}

/// A soracom-cli profile name: a file name, no `/`, `\` or leading `.`.
fn check_profile(key: &str, p: &str) -> Result<(), String> {
    if p.is_empty() || p.contains(['/', '\\']) || p.starts_with('.') {
        return Err(format!("{key}: {p:?} is not a profile name"));
    }
    Ok(())
}

/// A target's `[targets.canary]` table (`key` names it).
fn canary(key: &str, placement: &Placement, c: RawCanary) -> Result<Canary, String> {
    use settings::{CANARY_MAX_HOURS, CANARY_MIN_MINUTES};
    if matches!(placement, Placement::Fixed { .. }) {
        return Err(format!(
            "{key}: an in-place set switches every reference at once; a canary needs \
             strategy = \"repoint\""
        ));
    }
    let get = |s: Setting, v| s.read(&format!("{key}.{}", s.key), v);
    let min_minutes = get(CANARY_MIN_MINUTES, c.min_minutes)?;
    let max_hours = get(CANARY_MAX_HOURS, c.max_hours)?;
    if u64::from(min_minutes) > u64::from(max_hours) * 60 {
        return Err(format!(
            "{key}.min_minutes ({min_minutes}) is longer than {key}.max_hours ({max_hours})"
        ));
    }
    let holders = match c.holders.as_slice() {
        [] => CanaryHolders::First,
        [one] if one == "first" => CanaryHolders::First,
        names => {
            for (j, n) in names.iter().enumerate() {
                if n.is_empty() || n.len() > 128 || n == "first" {
                    return Err(format!(
                        "{key}.holders[{j}]: a group, event handler or VPG id or name, or \
                         [\"first\"] alone"
                    ));
                }
            }
            CanaryHolders::Named(names.to_vec())
        }
    };
    Ok(Canary {
        holders,
        min_minutes,
        max_hours,
        without_evidence: c.without_evidence.unwrap_or(WithoutEvidence::Hold),
    })
}

/// The `[notify]` table.
fn notify_settings(n: RawNotify) -> Result<NotifySettings, String> {
    if let Some(arn) = &n.sns_topic_arn {
        let parts: Vec<&str> = arn.split(':').collect();
        if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[5].is_empty() {
            return Err(format!(
                "notify.sns_topic_arn: {arn:?} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
            ));
        }
    }
    if let Some(url) = &n.webhook_url {
        // The URL may carry a token: name the key, never quote the value.
        if !(url.starts_with("https://") || url.starts_with("http://"))
            || url.contains(char::is_whitespace)
        {
            return Err("notify.webhook_url: must be an http(s) URL".into());
        }
    }
    let rungs = Rung::ALL
        .into_iter()
        .filter(|r| {
            let said = match r {
                Rung::DueSoon => n.on_due_soon,
                Rung::Rotated => n.on_rotated,
                Rung::Deactivated => n.on_deactivated,
                Rung::Emergency => n.on_emergency,
                Rung::Deleted => n.on_deleted,
                Rung::Blocked => n.on_blocked,
                Rung::Failed => n.on_failed,
                Rung::Deadline => n.on_deadline,
            };
            // `on_success`, from before the ladder, speaks for the rungs of routine success.
            let success = (!r.default_on()).then_some(n.on_success).flatten();
            said.or(success).unwrap_or(r.default_on())
        })
        .collect();
    Ok(NotifySettings {
        sns_topic_arn: n.sns_topic_arn,
        webhook_url: n.webhook_url.map(crate::secret::Secret::new),
        rungs,
        due_warning_days: settings::DUE_WARNING_DAYS.get(n.due_warning_days)?,
        webhook_format: n.webhook_format.unwrap_or_default(),
    })
}

fn check_name(key: &str, v: &str) -> Result<(), String> {
    if v.is_empty()
        || v.len() > 64
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(format!(
            "{key}: {v:?} must be 1-64 characters of A-Z a-z 0-9 - _ ."
        ));
    }
    Ok(())
}

/// IAM user names: 1-64 of alphanumerics and `+=,.@_-`.
fn check_iam_user(key: &str, v: &str) -> Result<(), String> {
    if v.is_empty()
        || v.len() > 64
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
    {
        return Err(format!("{key}: {v:?} is not a valid IAM user name"));
    }
    Ok(())
}

/// Credential set ids go into URL paths; keep them to characters that need no escaping.
fn check_credential_id(key: &str, v: &str) -> Result<(), String> {
    if v.is_empty()
        || v.len() > 100
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(format!(
            "{key}: {v:?} must be 1-100 characters of A-Z a-z 0-9 - _ ."
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[soracom]
coverage = "g"
[[targets]]
name = "funnel"
iam_user = "soracom-funnel-sample-user"
credential_prefix = "aws-soracom-funnel-sample"
[[targets]]
name = "funk"
iam_user = "funk-user"
credential_prefix = "aws-funk"
max_key_age_days = 30
adopt = ["hand-made"]
adopt_keys = { "hand-made" = "AKIAIOSFODNN7EXAMPLE" }
[[targets]]
name = "fixed"
iam_user = "fixed-user"
strategy = "in-place"
credential_id = "aws-fixed"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("test.toml"))
    }

    #[test]
    fn parses_defaults_and_several_targets() {
        let c = parse(GOOD).map_err(|e| e.to_string());
        let c = match c {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(c.soracom.coverage, Some(Coverage::G));
        assert_eq!(c.soracom.page_size, 1000);
        assert_eq!(c.verify.successes, 3);
        assert_eq!(c.targets.len(), 3);
        assert_eq!(c.targets[0].settle_minutes, 60);
        assert_eq!(c.targets[2].strategy(), Strategy::InPlace);
        assert_eq!(
            c.targets[2].placement,
            Placement::Fixed {
                id: "aws-fixed".into()
            }
        );
        assert!(c.targets[2].owns("aws-fixed") && !c.targets[2].owns("aws-fixed-261128"));
        assert!(c.targets[1].owns("aws-funk-261128") && c.targets[1].owns("hand-made"));
        assert_eq!(
            c.targets[1].adopt_keys.get("hand-made").map(String::as_str),
            Some("AKIAIOSFODNN7EXAMPLE")
        );
        assert_eq!(c.targets[0].max_key_age_days, 90);
        assert_eq!(c.targets[1].max_key_age_days, 30);
        assert_eq!(c.targets[1].adopt, vec!["hand-made".to_string()]);
        assert_eq!(c.select(Some("funk")).map(|v| v.len()), Ok(1));
        assert!(c.select(Some("nope")).is_err());
        assert!(!c.notify.enabled());
        assert_eq!(c.notify.due_warning_days, 7);
    }

    #[test]
    fn parses_the_notify_table() {
        let text = format!(
            "{GOOD}\n[notify]\nsns_topic_arn = \"arn:aws:sns:us-east-1:123456789012:rotator\"\nwebhook_url = \"https://hooks.example.com/T0/B0/tok\"\non_success = true\ndue_warning_days = 0\n"
        );
        let c = match parse(&text) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert!(c.notify.enabled());
        // `on_success`, from before the ladder, turns on the rungs of routine success.
        for r in [
            Rung::Rotated,
            Rung::Deactivated,
            Rung::Deleted,
            Rung::Failed,
        ] {
            assert!(c.notify.on(r), "{r:?}");
        }
        assert_eq!(c.notify.due_warning_days, 0);
        assert_eq!(
            c.notify.webhook_url.as_ref().map(|u| u.expose()),
            Some("https://hooks.example.com/T0/B0/tok")
        );
        assert!(!format!("{:?}", c.notify).contains("tok"));
    }

    #[test]
    fn parse_errors_give_the_position_never_the_text() {
        let secret = "https://hooks.example.com/services/T0/B0/s3cr3t-token";
        for text in [
            format!("[soracom]\nwebhook_url = \"{secret}\"\n"),
            format!("[notify]\ndue_warning_days = \"{secret}\"\n"),
            format!("[notify]\nwebhook_url = \"{secret}\" extra\n"),
            format!("{secret} = 1\n"),
            format!("[[targets]]\nname = '{secret}\n"),
            "[soracom]\ncoverage = \"xoxb-123-s3cr3t\"\n".to_string(),
        ] {
            let msg = parse(&text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(msg.contains("test.toml") && msg.contains("line "), "{msg}");
            assert!(
                !msg.contains("s3cr3t") && !msg.contains("hooks.example"),
                "{msg}"
            );
        }
        let msg = parse("[notify]\ndue_warning_days = \"x\"\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            msg.contains("line 2, column 20 (due_warning_days)"),
            "{msg}"
        );
    }

    #[test]
    fn errors_name_the_key_and_the_file() {
        let cases = [
            ("[soracom]\ncoverage = \"eu\"\n", "coverage"),
            ("[soracom]\nbogus = 1\n", "bogus"),
            ("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\nextra=1\n", "extra"),
            ("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\nmax_key_age_days=0\n", "targets[0].max_key_age_days"),
            ("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\nmax_key_age_days=\"x\"\n", "max_key_age_days"),
            ("[[targets]]\nname=\"a\"\niam_user=\"bad user\"\ncredential_prefix=\"p\"\n", "targets[0].iam_user"),
            ("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p/x\"\n", "targets[0].credential_prefix"),
            ("[[targets]]\nname=\"a\"\niam_user=\"u\"\n", "credential_prefix"),
            ("", "at least one"),
            ("[verify]\nsuccesses = 0\n[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n", "verify.successes"),
            ("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n[[targets]]\nname=\"a\"\niam_user=\"v\"\ncredential_prefix=\"q\"\n", "targets[1].name"),
            ("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n[[targets]]\nname=\"b\"\niam_user=\"v\"\ncredential_prefix=\"p\"\n", "targets[1].credential_prefix"),
            ("[[targets]]\nname=\"a\"\niam_user=\"u\"\nstrategy=\"in-place\"\ncredential_prefix=\"p\"\n", "targets[0].credential_id"),
            ("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\ncredential_id=\"x\"\n", "targets[0].credential_prefix"),
            ("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\nadopt_keys={\"h\"=\"nope\"}\n", "targets[0].adopt_keys.h"),
            ("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\nsettle_minutes=99999\n", "targets[0].settle_minutes"),
            ("[[targets]]\nname=\"a\"\niam_user=\"u\"\nstrategy=\"sideways\"\ncredential_prefix=\"p\"\n", "strategy"),
            ("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n[[targets]]\nname=\"b\"\niam_user=\"u\"\ncredential_prefix=\"q\"\n", "targets[1].iam_user"),
            ("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n[[targets]]\nname=\"b\"\niam_user=\"v\"\ncredential_prefix=\"q\"\nadopt=[\"p-220810\"]\n", "targets[1].adopt[0]"),
            ("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n[[targets]]\nname=\"b\"\niam_user=\"v\"\nstrategy=\"in-place\"\ncredential_id=\"p-220810\"\n", "targets[1].credential_id"),
            ("[soracom]\nprofile = \"../x\"\n[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n", "soracom.profile"),
            ("not toml =", "test.toml"),
            ("[notify]\nsns_topic = \"x\"\n[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n", "sns_topic"),
            ("[notify]\nsns_topic_arn = \"arn:aws:s3:::b\"\n[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n", "notify.sns_topic_arn"),
            ("[notify]\nwebhook_url = \"ftp://x\"\n[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n", "notify.webhook_url"),
            ("[notify]\ndue_warning_days = 999\n[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n", "notify.due_warning_days"),
        ];
        for (text, needle) in cases {
            match parse(text) {
                Ok(_) => panic!("accepted: {text}"),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.contains(needle), "{text:?} -> {msg}");
                    assert!(msg.contains("test.toml"), "{msg}");
                }
            }
        }
    }

    /// `migrate-to-role`'s settings: defaults derived from the user and the prefix (or the
    /// fixed id), never a key set's id, unique; SORACOM's account required only when asked.
    #[test]
    fn role_settings_have_defaults_and_the_account_is_required_only_by_migration() {
        let c = match parse(GOOD) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let funnel = &c.roles.targets["funnel"];
        assert_eq!(funnel.name, "soracom-funnel-sample-user-role");
        assert_eq!(funnel.credential_id, "aws-soracom-funnel-sample-role");
        assert_eq!(c.roles.targets["fixed"].credential_id, "aws-fixed-role");
        let msg = c
            .role_of(&c.targets[0])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            msg.contains("soracom.aws_account_id") && msg.contains("test.toml"),
            "{msg}"
        );
        let long = format!(
            "[soracom]\naws_account_id = \"111122223333\"\n[[targets]]\nname=\"a\"\niam_user=\"{}\"\ncredential_prefix=\"p\"\nrole_name=\"r\"\nrole_credential_id=\"p-r\"\n",
            "u".repeat(64)
        );
        let c = match parse(&long) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let role = c.role_of(&c.targets[0]).map_err(|e| e.to_string());
        assert_eq!(
            role.map(|r| (r.role.name, r.role.credential_id, r.soracom_account_id)),
            Ok(("r".into(), "p-r".into(), "111122223333".into()))
        );
        let t = |extra: &str| {
            format!("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n{extra}")
        };
        let two = "[[targets]]\nname=\"b\"\niam_user=\"v\"\ncredential_prefix=\"q\"\n";
        for (text, needle) in [
            (
                format!("[soracom]\naws_account_id = \"12\"\n{}", t("")),
                "soracom.aws_account_id",
            ),
            (t("role_name = \"bad name\"\n"), "targets[0].role_name"),
            (
                t("role_credential_id = \"a/b\"\n"),
                "targets[0].role_credential_id",
            ),
            (
                t("role_credential_id = \"p-261128\"\n"),
                "targets[0].role_credential_id",
            ),
            (
                format!("{}{two}role_name = \"u-role\"\n", t("")),
                "targets[1].role_name",
            ),
            (
                format!("{}{two}role_credential_id = \"p-role\"\n", t("")),
                "targets[1].role_credential_id",
            ),
        ] {
            match parse(&text) {
                Ok(_) => panic!("accepted: {text}"),
                Err(e) => assert!(e.to_string().contains(needle), "{text:?} -> {e}"),
            }
        }
    }

    /// A target in another account or of another operator: its settings are read and
    /// checked; bad ones name their key.
    #[test]
    fn accounts_and_operators_are_read_and_checked() {
        let t = |extra: &str| {
            format!("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n{extra}")
        };
        let ok = parse(&t(
            "assume_role_arn = \"arn:aws:iam::222233334444:role/path/r\"\nexternal_id = \"x-1\"\n\
             soracom_endpoint = \"http://127.0.0.1:9/v1\"\nsoracom_secret = \"op-b\"\n",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let target = &ok.targets[0];
        let role = target.account.clone().unwrap_or_else(|| panic!("no role"));
        assert_eq!(role.account_id(), "222233334444");
        assert_eq!(role.session_name, DEFAULT_SESSION_NAME);
        assert_eq!(role.external_id.as_deref(), Some("x-1"));
        assert_eq!(
            target.soracom.endpoint.as_deref(),
            Some("http://127.0.0.1:9")
        );
        assert_eq!(target.soracom.secret.as_deref(), Some("op-b"));
        assert!(parse(&t(""))
            .is_ok_and(|c| c.targets[0].account.is_none() && c.targets[0].soracom.is_default()));
        for (extra, needle) in [
            (
                "assume_role_arn = \"arn:aws:iam::12:role/r\"\n",
                "targets[0].assume_role_arn",
            ),
            (
                "assume_role_arn = \"arn:aws:iam::222233334444:user/r\"\n",
                "targets[0].assume_role_arn",
            ),
            ("external_id = \"abc\"\n", "targets[0].external_id"),
            ("session_name = \"abc\"\n", "targets[0].session_name"),
            (
                "assume_role_arn = \"arn:aws:iam::222233334444:role/r\"\nsession_name = \"a b\"\n",
                "targets[0].session_name",
            ),
            (
                "assume_role_arn = \"arn:aws:iam::222233334444:role/r\"\nexternal_id = \"a\"\n",
                "targets[0].external_id",
            ),
            ("soracom_profile = \"../x\"\n", "targets[0].soracom_profile"),
            (
                "soracom_profile = \"b\"\nsoracom_coverage = \"g\"\n",
                "targets[0].soracom_profile",
            ),
            (
                "soracom_endpoint = \"http://example.com\"\n",
                "targets[0].soracom_endpoint",
            ),
            ("soracom_secret = \"a b\"\n", "targets[0].soracom_secret"),
        ] {
            let text = t(extra);
            match parse(&text) {
                Ok(_) => panic!("accepted: {text}"),
                Err(e) => assert!(e.to_string().contains(needle), "{text:?} -> {e}"),
            }
        }
    }

    /// A schedule that cannot deactivate the old key before its deadline is refused, and
    /// the message names every key involved.
    #[test]
    fn impossible_schedules_are_config_errors() {
        let t = |extra: &str| {
            format!("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n{extra}")
        };
        for extra in [
            "max_key_age_days = 90\nretire_after_days = 90\n",
            "max_key_age_days = 90\nretire_after_days = 120\n",
            "max_key_age_days = 10\nretire_after_days = 7\ndeadline_margin_days = 3\n",
            // The settle window (a week) is the grace period when it is longer.
            "max_key_age_days = 9\nretire_after_days = 1\nsettle_minutes = 10080\ndeadline_margin_days = 2\n",
            "max_key_age_days = 3\nretire_after_days = 0\ndeadline_margin_days = 3\n",
        ] {
            match parse(&t(extra)) {
                Ok(_) => panic!("accepted: {extra}"),
                Err(e) => {
                    let msg = e.to_string();
                    for key in [
                        "targets[0].max_key_age_days",
                        "targets[0].retire_after_days",
                        "targets[0].deadline_margin_days",
                        "test.toml",
                    ] {
                        assert!(msg.contains(key), "{extra:?} -> {msg}");
                    }
                }
            }
        }
        for extra in [
            "",
            "max_key_age_days = 30\nretire_after_days = 3\ndeadline_margin_days = 2\n",
            "max_key_age_days = 3\nretire_after_days = 0\nsettle_minutes = 60\ndeadline_margin_days = 1\n",
        ] {
            if let Err(e) = parse(&t(extra)) {
                panic!("refused {extra:?}: {e}");
            }
        }
    }

    #[test]
    fn a_canary_is_read_checked_and_moves_rotation_earlier() {
        let base = "[[targets]]\nname = \"a\"\niam_user = \"u\"\ncredential_prefix = \"p\"\n";
        let c = parse(&format!("{base}[targets.canary]\n")).expect("defaults");
        let canary = c.targets[0].canary.clone().expect("canary");
        assert_eq!(canary.holders, CanaryHolders::First);
        assert_eq!((canary.min_minutes, canary.max_hours), (60, 24));
        assert_eq!(canary.without_evidence, WithoutEvidence::Hold);
        let c = parse(&format!(
            "{base}[targets.canary]\nholders = [\"g1\", \"h2\"]\nmin_minutes = 5\nmax_hours = 2\nwithout_evidence = \"proceed\"\n"
        ))
        .expect("named");
        let canary = c.targets[0].canary.clone().expect("canary");
        assert_eq!(
            canary.holders,
            CanaryHolders::Named(vec!["g1".into(), "h2".into()])
        );
        assert_eq!(canary.without_evidence, WithoutEvidence::Proceed);
        for (bad, names) in [
            (
                "min_minutes = 200\nmax_hours = 1\n",
                "targets[0].canary.min_minutes",
            ),
            ("max_hours = 0\n", "targets[0].canary.max_hours"),
            (
                "holders = [\"first\", \"g1\"]\n",
                "targets[0].canary.holders[0]",
            ),
            ("without_evidence = \"maybe\"\n", "without_evidence"),
            ("colour = 1\n", "colour"),
        ] {
            let err = parse(&format!("{base}[targets.canary]\n{bad}"))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(names), "{bad:?} -> {err}");
        }
        let err = parse(
            "[[targets]]\nname = \"a\"\niam_user = \"u\"\nstrategy = \"in-place\"\ncredential_id = \"x\"\n[targets.canary]\n",
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("targets[0].canary"), "{err}");
        // A week-long canary on a tight schedule leaves no time before the deadline.
        let err = parse(&format!(
            "{base}max_key_age_days = 12\nretire_after_days = 3\ndeadline_margin_days = 2\n[targets.canary]\nmax_hours = 168\n"
        ))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("targets[0].max_key_age_days"), "{err}");
    }

    /// The README's configuration tables say what the code does: every numeric setting's
    /// default and range, table by table.
    #[test]
    fn the_readme_tables_match_the_settings() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"));
        let mut table = "";
        let mut rows = std::collections::BTreeMap::new();
        for line in readme.lines() {
            let heading = line.trim();
            for t in ["soracom", "verify", "notify", "targets.canary"] {
                if heading.starts_with(&format!("`[{t}]`")) {
                    table = t;
                }
            }
            if heading.starts_with("`[[targets]]`") {
                table = "targets";
            }
            if heading.starts_with("## ") {
                // A section without a table heading ends the tables of the last one.
                if !heading.contains("[notify]") {
                    table = "";
                }
            }
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if table.is_empty() || cells.len() < 4 || !cells[1].starts_with('`') {
                continue;
            }
            let key = cells[1].trim_matches('`');
            rows.insert((table, key), (cells[2].to_string(), cells[3].to_string()));
        }
        for s in settings::ALL {
            let (default, allowed) = rows
                .get(&(s.table, s.key))
                .unwrap_or_else(|| panic!("README has no row for {}.{}", s.table, s.key));
            assert_eq!(
                default,
                &s.default.to_string(),
                "{}.{} default",
                s.table,
                s.key
            );
            assert_eq!(
                allowed,
                &format!("{}–{}", s.min, s.max),
                "{}.{} range",
                s.table,
                s.key
            );
        }
        // The settings that are not numbers have their rows too.
        for (table, key) in [
            ("soracom", "coverage"),
            ("soracom", "profile"),
            ("soracom", "aws_account_id"),
            ("targets", "role_name"),
            ("targets", "role_credential_id"),
            ("targets", "assume_role_arn"),
            ("targets", "external_id"),
            ("targets", "session_name"),
            ("targets", "soracom_profile"),
            ("targets", "soracom_coverage"),
            ("targets", "soracom_endpoint"),
            ("targets", "soracom_secret"),
        ] {
            assert!(
                rows.contains_key(&(table, key)),
                "README has no row for {table}.{key}"
            );
        }
        for r in Rung::ALL {
            let key = format!("on_{}", r.name());
            let (default, allowed) = rows
                .get(&("notify", key.as_str()))
                .unwrap_or_else(|| panic!("README has no row for notify.{key}"));
            assert_eq!(default, &r.default_on().to_string(), "notify.{key} default");
            assert_eq!(allowed, "true, false", "notify.{key}");
        }
    }
}
