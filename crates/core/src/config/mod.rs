//! The configuration file: parsed once, validated in one place.
//!
//! The TOML file (docs/configuration.md) becomes a [`Config`] through
//! [`Config::from_toml`], which is pure so that tests can feed it strings; [`Config::load`]
//! only adds reading the file. Three jobs, three files: this one holds the validated types
//! the rest of the tool reads; `raw` the file as written (serde's input types, and a parse
//! error that never quotes the file); `validate` turns the one into the other. Each table
//! is validated by a function of its own; each numeric setting's default and range is one
//! [`Setting`] in [`settings`], used by the code and checked against docs/configuration.md.
//! Unknown keys and bad values are errors naming the key and the file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod raw;
mod validate;

/// A configuration that could not be read or is invalid.
#[derive(Debug, thiserror::Error)]
#[error("config {}: {message}", file.display())]
pub struct ConfigError {
    /// The file the problem is in.
    pub(crate) file: PathBuf,
    /// What is wrong, naming the key.
    pub(crate) message: String,
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

    /// The coverage of one of SORACOM's own API origins (the API sandbox's included);
    /// `None` for any other (a proxy, a local emulator).
    pub fn of_endpoint(endpoint: &str) -> Option<Coverage> {
        match endpoint {
            "https://api.soracom.io" | "https://api-sandbox.soracom.io" => Some(Coverage::Jp),
            "https://g.api.soracom.io" | "https://g.api-sandbox.soracom.io" => Some(Coverage::G),
            _ => None,
        }
    }

    /// The AWS account SORACOM's services call AWS from in this coverage, when
    /// `[soracom] aws_account_id` does not say (docs/configuration.md, *SORACOM's AWS
    /// account*, gives the public sources; the wording names them).
    pub(crate) fn soracom_account(self) -> &'static str {
        match self {
            Coverage::Jp => "762707677580",
            Coverage::G => "950858143650",
        }
    }
}

/// Where the AWS account id a role trusts came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AccountSource {
    /// `[soracom] aws_account_id`.
    Configured,
    /// The default for this coverage.
    Default(Coverage),
}

/// How the new key replaces the old one in SORACOM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Strategy {
    /// A new credential set per key; every reference is repointed (the seed's way).
    Repoint,
    /// One fixed credential set whose key is replaced in place; references never move.
    InPlace,
}

/// What a missing configuration file is told: the commands that make one, and the page
/// that describes every setting.
const NO_CONFIG: &str = "no such file: `soracom-key-rotator discover` shows the credential sets \
     and keys a configuration could manage, and `soracom-key-rotator init` writes one (give \
     another with --config FILE); every setting is in docs/configuration.md";

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
    pub(crate) roles: RoleSettings,
    /// The file this came from, for errors found later (a setting only one command needs).
    pub(crate) file: PathBuf,
}

/// What `migrate-to-role` needs (docs/ARCHITECTURE.md, *Migrating to a role*): SORACOM's
/// AWS account, which the role must trust, and per target the role and its credential set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RoleSettings {
    /// SORACOM's AWS account id (`[soracom] aws_account_id`); unset, the default of the
    /// target's coverage ([`Config::role_of`]).
    pub(crate) soracom_account_id: Option<String>,
    /// Per target, by its name.
    pub(crate) targets: BTreeMap<String, TargetRole>,
}

/// The role that replaces a target's access key, and the credential set that names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetRole {
    /// The IAM role's name (`role_name`; default `<iam_user>-role`).
    pub name: String,
    /// The `aws-iam-role-credentials` set's id (`role_credential_id`; default
    /// `<credential_prefix>-role`, or `<credential_id>-role` in place). A managed id is
    /// `<prefix>-<yymmdd>[-<n>]`, so `-role` is never taken for a key's set.
    pub(crate) credential_id: String,
}

/// A target's role with the account it trusts: everything `migrate-to-role` needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleTarget {
    /// The role and its set.
    pub role: TargetRole,
    /// SORACOM's AWS account id the trust policy names.
    pub(crate) soracom_account_id: String,
    /// Where that id came from.
    pub(crate) account_source: AccountSource,
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
    pub(crate) rungs: BTreeSet<Rung>,
    /// Warn when a key's rotation is due within this many days (0: never).
    pub(crate) due_warning_days: u32,
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
    pub(crate) const ALL: [Rung; 8] = [
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
    pub(crate) fn default_on(self) -> bool {
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
    pub(crate) fn on(&self, rung: Rung) -> bool {
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
    pub(crate) placement: Placement,
    /// The age no active key may reach (the compliance deadline, e.g. Security Hub IAM.3's
    /// 90 days): rotation starts early enough that the old key is deactivated before it.
    pub max_key_age_days: u32,
    /// Days kept free between the old key's planned deactivation and its deadline, for
    /// failed or missed runs.
    pub deadline_margin_days: u32,
    /// Days after cutover before an old key may be deactivated.
    pub(crate) retire_after_days: u32,
    /// Days after deactivation before an old key is deleted.
    pub(crate) delete_after_days: u32,
    /// Use of an old key up to this long after cutover is not counted against retiring it
    /// (last-used data is coarse and may lag).
    pub(crate) settle_minutes: u32,
    /// Credential set ids made by hand that this target also owns.
    pub(crate) adopt: Vec<String>,
    /// The access key id a set holds, where SORACOM and its description do not say.
    pub(crate) adopt_keys: BTreeMap<String, String>,
    /// A canary cutover: a rotation first moves only these references and waits for
    /// evidence from production before moving the rest (`[targets.canary]`).
    pub(crate) canary: Option<Canary>,
    /// The id of the target's `aws-iam-role-credentials` set once `migrate-to-role` made
    /// it (`TargetRole::credential_id`): while it exists, references move onto it.
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
    /// The role session name (default `DEFAULT_SESSION_NAME`); CloudTrail shows it.
    pub session_name: String,
}

impl AssumeRole {
    /// The 12-digit account id in the ARN.
    pub(crate) fn account_id(&self) -> &str {
        self.arn.split(':').nth(4).unwrap_or_default()
    }
}

/// The role session name when `session_name` is absent.
pub(crate) const DEFAULT_SESSION_NAME: &str = "soracom-key-rotator";

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

#[cfg(test)]
impl SoracomOverride {
    /// Whether the target uses the run's own SORACOM settings.
    pub(crate) fn is_default(&self) -> bool {
        *self == SoracomOverride::default()
    }
}

/// How a target's cutover goes through a canary (docs/ARCHITECTURE.md, *The canary*).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Canary {
    /// Which references move first.
    pub(crate) holders: CanaryHolders,
    /// The canary runs at least this long before the rest moves, however good the evidence.
    pub(crate) min_minutes: u32,
    /// By this many hours after the canary moved, without evidence either way, the
    /// configured choice is made.
    pub(crate) max_hours: u32,
    /// What happens at `max_hours` without evidence.
    pub(crate) without_evidence: WithoutEvidence,
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
pub(crate) enum WithoutEvidence {
    /// Keep the canary as it is and ask a human (exit 3, the blocked rung).
    Hold,
    /// Move the rest, and say that it went ahead without evidence.
    Proceed,
}

impl Canary {
    /// Whether `holder` is one of the named canary holders (by id or name).
    pub(crate) fn names(&self, holder: &crate::model::Holder) -> bool {
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
    pub(crate) fn max(&self) -> time::Duration {
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
    pub(crate) fn strategy(&self) -> Strategy {
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
    pub(crate) fn fixed_id(&self) -> Option<&str> {
        match &self.placement {
            Placement::Fixed { id } => Some(id),
            Placement::Managed { .. } => None,
        }
    }
}

/// A numeric setting: its key, default and allowed range, named once for the code and the
/// tables of docs/configuration.md (a test compares them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The key in its table (`page_size`; a target's keys without `targets[i].`).
    pub(crate) key: &'static str,
    /// The table (`soracom`, `verify`, `notify`, `targets`).
    pub(crate) table: &'static str,
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
    pub(crate) const PAGE_SIZE: Setting = s("soracom", "page_size", 1000, 1, 1000);
    /// References repointed at once.
    pub(crate) const CONCURRENCY: Setting = s("soracom", "concurrency", 16, 1, 64);
    /// Seconds one HTTP request (and each attempt of an AWS call) may take.
    pub(crate) const REQUEST_TIMEOUT_SECONDS: Setting =
        s("soracom", "request_timeout_seconds", 30, 1, 300);
    /// Attempts per call, the first included.
    pub(crate) const RETRY_ATTEMPTS: Setting = s("soracom", "retry_attempts", 5, 1, 10);
    /// The first backoff, in milliseconds.
    pub(crate) const RETRY_BASE_MS: Setting = s("soracom", "retry_base_ms", 500, 1, 60_000);
    /// STS successes in a row.
    pub(crate) const SUCCESSES: Setting = s("verify", "successes", 3, 1, 20);
    /// Milliseconds between two checks.
    pub(crate) const INTERVAL_MS: Setting = s("verify", "interval_ms", 2000, 0, 60_000);
    /// Seconds before verification gives up.
    pub(crate) const TIMEOUT_SECONDS: Setting = s("verify", "timeout_seconds", 120, 1, 3600);
    /// Days before a due rotation the notice warns.
    pub(crate) const DUE_WARNING_DAYS: Setting = s("notify", "due_warning_days", 7, 0, 365);
    /// The age no active key may reach.
    pub const MAX_KEY_AGE_DAYS: Setting = s("targets", "max_key_age_days", 90, 1, 3650);
    /// Days kept free before the deadline.
    pub const DEADLINE_MARGIN_DAYS: Setting = s("targets", "deadline_margin_days", 3, 1, 30);
    /// Days after cutover before an old key may be deactivated.
    pub(crate) const RETIRE_AFTER_DAYS: Setting = s("targets", "retire_after_days", 7, 0, 365);
    /// Days after deactivation before an old key is deleted.
    pub(crate) const DELETE_AFTER_DAYS: Setting = s("targets", "delete_after_days", 7, 0, 365);
    /// Minutes after cutover during which use of the old key is not counted.
    pub(crate) const SETTLE_MINUTES: Setting = s("targets", "settle_minutes", 60, 0, 10_080);
    /// Minutes a canary runs at least.
    pub(crate) const CANARY_MIN_MINUTES: Setting =
        s("targets.canary", "min_minutes", 60, 0, 10_080);
    /// Hours by which a canary without evidence is decided.
    pub(crate) const CANARY_MAX_HOURS: Setting = s("targets.canary", "max_hours", 24, 1, 720);

    /// All of them, for the check of docs/configuration.md.
    #[cfg(test)]
    pub(crate) const ALL: [Setting; 16] = [
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

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            message: match e.kind() {
                // A first run: say how a configuration comes to be.
                std::io::ErrorKind::NotFound => NO_CONFIG.to_string(),
                _ => format!("cannot read: {e}"),
            },
        })?;
        Config::from_toml(&text, path)
    }

    /// The `[soracom]` settings of a configuration that says nothing: every default, for
    /// the commands that need no file (`discover`, `init`).
    pub fn default_soracom() -> Result<SoracomSettings, ConfigError> {
        validate::soracom_settings(raw::RawSoracom::default()).map_err(|message| ConfigError {
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
        let raw = raw::parse(text).map_err(err)?;
        validate::config(raw, file).map_err(err)
    }

    /// What `migrate-to-role` makes for `target`, whose SORACOM API is `endpoint` (the
    /// origin the run reached, when known), and the AWS account its role trusts: the
    /// configured `[soracom] aws_account_id`, else the default of the target's coverage.
    pub fn role_of(
        &self,
        target: &Target,
        endpoint: Option<&str>,
    ) -> Result<RoleTarget, ConfigError> {
        let err = |message: String| ConfigError {
            file: self.file.clone(),
            message,
        };
        let (account, source) = match &self.roles.soracom_account_id {
            Some(id) => (id.clone(), AccountSource::Configured),
            None => {
                let coverage = self.coverage_of(target, endpoint);
                (
                    coverage.soracom_account().to_string(),
                    AccountSource::Default(coverage),
                )
            }
        };
        let role = self
            .roles
            .targets
            .get(&target.name)
            .cloned()
            .ok_or_else(|| err(format!("no target named {:?}", target.name)))?;
        Ok(RoleTarget {
            role,
            soracom_account_id: account,
            account_source: source,
        })
    }

    /// The coverage of `target`'s SORACOM operator: that of the API the run reached when
    /// it is one of SORACOM's, else the configured one (the target's `soracom_coverage` or
    /// `soracom_endpoint`, then `[soracom] coverage`), else Japan, as for the endpoint.
    fn coverage_of(&self, target: &Target, endpoint: Option<&str>) -> Coverage {
        let own = &target.soracom;
        endpoint
            .and_then(Coverage::of_endpoint)
            .or(own.coverage)
            .or_else(|| {
                let own = own.endpoint.as_deref()?;
                let origin = crate::endpoint::origin(own, "soracom_endpoint").ok()?;
                Coverage::of_endpoint(&origin.0)
            })
            .or(self.soracom.coverage)
            .unwrap_or(Coverage::Jp)
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

#[cfg(test)]
mod tests;
