//! The configuration file: parsed once, validated in one place.
//!
//! The TOML file (DESIGN §4) becomes a [`Config`] through [`Config::from_toml`], which is
//! pure so that tests can feed it strings; [`Config::load`] only adds reading the file.
//! Unknown keys and bad values are errors naming the key and the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
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
}

/// Where and when to notify a human (`[notify]`). Secrets never go into a message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotifySettings {
    /// SNS topic to publish to (`arn:aws:sns:…`).
    pub sns_topic_arn: Option<String>,
    /// Slack-compatible webhook (`{"text": …}` is POSTed); may embed a token, so it is
    /// never logged.
    pub webhook_url: Option<crate::secret::Secret>,
    /// Also send a summary when a rotation succeeded.
    pub on_success: bool,
    /// Warn when a key's rotation is due within this many days (0: never).
    pub due_warning_days: u32,
}

impl NotifySettings {
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
    /// Credential set ids are `<prefix>-<yymmdd>[-<n>]` (repoint strategy; empty for in-place).
    pub credential_prefix: String,
    /// The one credential set whose key is replaced (in-place strategy only).
    pub credential_id: Option<String>,
    /// Rotate when the current key is this many days old.
    pub max_key_age_days: u32,
    /// Days after cutover before an old key may be deactivated.
    pub retire_after_days: u32,
    /// Days after deactivation before an old key is deleted.
    pub delete_after_days: u32,
    /// Use of an old key up to this long after cutover is not counted against retiring it
    /// (last-used data is coarse and may lag).
    pub settle_minutes: u32,
    /// Credential set ids made by hand that this target also owns.
    pub adopt: Vec<String>,
    /// The access key id a set holds, where its description does not say (hand-made sets).
    pub adopt_keys: BTreeMap<String, String>,
    /// How rotation reaches SORACOM.
    pub strategy: Strategy,
}

impl Target {
    /// Whether credential set `id` belongs to this target: `<prefix>-<yymmdd>[-<n>]`
    /// exactly, or listed in `adopt`. Never a substring match.
    pub fn owns(&self, id: &str) -> bool {
        let named = match &self.credential_id {
            Some(fixed) => fixed == id,
            None => crate::model::ManagedId::parse(&self.credential_prefix, id).is_some(),
        };
        named || self.adopt.iter().any(|a| a == id)
    }
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
    on_success: Option<bool>,
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
    retire_after_days: Option<u32>,
    delete_after_days: Option<u32>,
    settle_minutes: Option<u32>,
    #[serde(default)]
    adopt: Vec<String>,
    #[serde(default)]
    adopt_keys: BTreeMap<String, String>,
    strategy: Option<Strategy>,
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

    /// Parses and validates configuration text; `file` is only used in messages.
    pub fn from_toml(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let err = |message: String| ConfigError {
            file: file.to_path_buf(),
            message,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| err(parse_error(text, &e)))?;
        let s = raw.soracom;
        let soracom = SoracomSettings {
            coverage: s.coverage,
            profile: s.profile,
            page_size: range("soracom.page_size", s.page_size, 1000, 1, 1000).map_err(err)?,
            concurrency: range("soracom.concurrency", s.concurrency, 16, 1, 64).map_err(err)?
                as usize,
            request_timeout: Duration::from_secs(
                range(
                    "soracom.request_timeout_seconds",
                    s.request_timeout_seconds,
                    30,
                    1,
                    300,
                )
                .map_err(err)?
                .into(),
            ),
            retry_attempts: range("soracom.retry_attempts", s.retry_attempts, 5, 1, 10)
                .map_err(err)?,
            retry_base: Duration::from_millis(
                range("soracom.retry_base_ms", s.retry_base_ms, 500, 1, 60_000)
                    .map_err(err)?
                    .into(),
            ),
        };
        if let Some(p) = &soracom.profile {
            if p.is_empty() || p.contains(['/', '\\']) || p.starts_with('.') {
                return Err(err(format!("soracom.profile: {p:?} is not a profile name")));
            }
        }
        let v = raw.verify;
        let verify = VerifySettings {
            successes: range("verify.successes", v.successes, 3, 1, 20).map_err(err)?,
            interval: Duration::from_millis(
                range("verify.interval_ms", v.interval_ms, 2000, 0, 60_000)
                    .map_err(err)?
                    .into(),
            ),
            timeout: Duration::from_secs(
                range("verify.timeout_seconds", v.timeout_seconds, 120, 1, 3600)
                    .map_err(err)?
                    .into(),
            ),
        };
        if raw.targets.is_empty() {
            return Err(err(
                "targets: at least one [[targets]] table is required".into()
            ));
        }
        let mut targets = Vec::with_capacity(raw.targets.len());
        for (i, t) in raw.targets.into_iter().enumerate() {
            let key = |field: &str| format!("targets[{i}].{field}");
            check_name(&key("name"), &t.name).map_err(err)?;
            if targets.iter().any(|o: &Target| o.name == t.name) {
                return Err(err(format!(
                    "{}: {:?} is used by two targets",
                    key("name"),
                    t.name
                )));
            }
            check_iam_user(&key("iam_user"), &t.iam_user).map_err(err)?;
            // Two targets on one user would see each other's new keys as unlinked (and a
            // fresh one as an orphan), and share its two key slots: one target per user.
            if let Some(o) = targets.iter().find(|o: &&Target| o.iam_user == t.iam_user) {
                return Err(err(format!(
                    "{}: {:?} is also the user of target {:?}; give each target its own IAM user",
                    key("iam_user"),
                    t.iam_user,
                    o.name
                )));
            }
            let strategy = t.strategy.unwrap_or(Strategy::Repoint);
            let (credential_prefix, credential_id) =
                match (strategy, t.credential_prefix, t.credential_id) {
                    (Strategy::Repoint, Some(p), None) => {
                        check_credential_id(&key("credential_prefix"), &p).map_err(err)?;
                        (p, None)
                    }
                    (Strategy::InPlace, None, Some(id)) => {
                        check_credential_id(&key("credential_id"), &id).map_err(err)?;
                        (String::new(), Some(id))
                    }
                    (Strategy::Repoint, _, _) => {
                        return Err(err(format!(
                            "{}: required (and {} is only for strategy = \"in-place\")",
                            key("credential_prefix"),
                            key("credential_id")
                        )))
                    }
                    (Strategy::InPlace, _, _) => {
                        return Err(err(format!(
                    "{}: required with strategy = \"in-place\" (and {} is only for \"repoint\")",
                    key("credential_id"),
                    key("credential_prefix")
                )))
                    }
                };
            let clash = targets.iter().find(|o: &&Target| {
                (!credential_prefix.is_empty() && o.credential_prefix == credential_prefix)
                    || (credential_id.is_some() && o.credential_id == credential_id)
            });
            if let Some(o) = clash {
                let field = if credential_id.is_some() {
                    "credential_id"
                } else {
                    "credential_prefix"
                };
                return Err(err(format!(
                    "{}: also used by target {:?}",
                    key(field),
                    o.name
                )));
            }
            for (j, id) in t.adopt.iter().enumerate() {
                check_credential_id(&format!("{}[{j}]", key("adopt")), id).map_err(err)?;
            }
            for (id, access_key) in &t.adopt_keys {
                let k = format!("{}.{id}", key("adopt_keys"));
                check_credential_id(&k, id).map_err(err)?;
                if access_key.len() < 16
                    || access_key.len() > 128
                    || !access_key
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                {
                    return Err(err(format!("{k}: {access_key:?} is not an access key id")));
                }
            }
            targets.push(Target {
                max_key_age_days: range(&key("max_key_age_days"), t.max_key_age_days, 90, 1, 3650)
                    .map_err(err)?,
                retire_after_days: range(&key("retire_after_days"), t.retire_after_days, 7, 0, 365)
                    .map_err(err)?,
                delete_after_days: range(&key("delete_after_days"), t.delete_after_days, 7, 0, 365)
                    .map_err(err)?,
                settle_minutes: range(&key("settle_minutes"), t.settle_minutes, 60, 0, 10_080)
                    .map_err(err)?,
                name: t.name,
                iam_user: t.iam_user,
                credential_prefix,
                credential_id,
                adopt: t.adopt,
                adopt_keys: t.adopt_keys,
                strategy,
            });
        }
        for (i, t) in targets.iter().enumerate() {
            if let Some(id) = &t.credential_id {
                if let Some(o) = targets.iter().find(|o| o.name != t.name && o.owns(id)) {
                    return Err(err(format!(
                        "targets[{i}].credential_id: {id:?} already belongs to target {:?}",
                        o.name
                    )));
                }
            }
            for (j, id) in t.adopt.iter().enumerate() {
                if let Some(o) = targets.iter().find(|o| o.name != t.name && o.owns(id)) {
                    return Err(err(format!(
                        "targets[{i}].adopt[{j}]: {id:?} already belongs to target {:?}",
                        o.name
                    )));
                }
            }
        }
        let notify = notify_settings(raw.notify).map_err(err)?;
        Ok(Config {
            soracom,
            verify,
            targets,
            notify,
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
    Ok(NotifySettings {
        sns_topic_arn: n.sns_topic_arn,
        webhook_url: n.webhook_url.map(crate::secret::Secret::new),
        on_success: n.on_success.unwrap_or(false),
        due_warning_days: range("notify.due_warning_days", n.due_warning_days, 7, 0, 365)?,
    })
}

fn range(key: &str, value: Option<u32>, default: u32, min: u32, max: u32) -> Result<u32, String> {
    let v = value.unwrap_or(default);
    if v < min || v > max {
        return Err(format!("{key}: {v} is out of range ({min}..={max})"));
    }
    Ok(v)
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
        assert_eq!(c.targets[2].strategy, Strategy::InPlace);
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
        assert!(c.notify.on_success);
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
}
