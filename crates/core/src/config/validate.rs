//! Validation: the file as written ([`super::raw`]) becomes the validated types
//! ([`super::Config`] and the rest), each table by a function of its own, each error naming
//! the key (and never quoting a value that could be a secret).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::raw::{RawCanary, RawConfig, RawNotify, RawSoracom, RawTarget, RawVerify};
use super::{
    settings, AssumeRole, Canary, CanaryHolders, Config, Coverage, NotifySettings, Placement,
    RoleSettings, Rung, Setting, SoracomOverride, SoracomSettings, Strategy, Target, TargetRole,
    VerifySettings, WithoutEvidence, DEFAULT_SESSION_NAME,
};

/// The whole configuration, `file` kept for errors found later. The tables are checked in
/// a fixed order (targets, their roles, `[soracom]`, `[verify]`, `[notify]`), so a file
/// with several mistakes always names the same one first.
pub(super) fn config(raw: RawConfig, file: &Path) -> Result<Config, String> {
    let account = raw.soracom.aws_account_id.clone();
    let roles: Vec<(Option<String>, Option<String>)> = raw
        .targets
        .iter()
        .map(|t| (t.role_name.clone(), t.role_credential_id.clone()))
        .collect();
    let mut targets = targets(raw.targets)?;
    let roles = role_settings(account, &targets, roles)?;
    for t in &mut targets {
        if let Some(r) = roles.targets.get(&t.name) {
            t.role_set_id = r.credential_id.clone();
        }
    }
    Ok(Config {
        soracom: soracom_settings(raw.soracom)?,
        verify: verify_settings(raw.verify)?,
        roles,
        targets,
        notify: notify_settings(raw.notify)?,
        file: file.to_path_buf(),
    })
}

/// The `[soracom]` table.
pub(super) fn soracom_settings(s: RawSoracom) -> Result<SoracomSettings, String> {
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
    let placement = placement(&key, t.strategy, t.credential_prefix, t.credential_id)?;
    check_adopted(&key, &t.adopt, &t.adopt_keys)?;
    let get = |s: Setting, v| s.read(&key(s.key), v);
    let max_key_age_days = get(MAX_KEY_AGE_DAYS, t.max_key_age_days)?;
    let deadline_margin_days = get(DEADLINE_MARGIN_DAYS, t.deadline_margin_days)?;
    let retire_after_days = get(RETIRE_AFTER_DAYS, t.retire_after_days)?;
    let settle_minutes = get(SETTLE_MINUTES, t.settle_minutes)?;
    let canary = t
        .canary
        .map(|c| canary(&key("canary"), &placement, c))
        .transpose()?;
    check_schedule(
        &key,
        Schedule {
            max_key_age_days,
            deadline_margin_days,
            retire_after_days,
            settle_minutes,
        },
        canary.as_ref(),
    )?;
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

/// Where a target's key goes: `credential_prefix` with `strategy = "repoint"` (the
/// default), `credential_id` with `"in-place"`; any other combination is an error naming
/// what is missing and what is out of place.
fn placement(
    key: &dyn Fn(&str) -> String,
    strategy: Option<Strategy>,
    prefix: Option<String>,
    id: Option<String>,
) -> Result<Placement, String> {
    match (strategy.unwrap_or(Strategy::Repoint), prefix, id) {
        (Strategy::Repoint, Some(prefix), None) => {
            check_credential_id(&key("credential_prefix"), &prefix)?;
            Ok(Placement::Managed { prefix })
        }
        (Strategy::InPlace, None, Some(id)) => {
            check_credential_id(&key("credential_id"), &id)?;
            Ok(Placement::Fixed { id })
        }
        (Strategy::Repoint, _, _) => Err(format!(
            "{}: required (and {} is only for strategy = \"in-place\")",
            key("credential_prefix"),
            key("credential_id")
        )),
        (Strategy::InPlace, _, _) => Err(format!(
            "{}: required with strategy = \"in-place\" (and {} is only for \"repoint\")",
            key("credential_id"),
            key("credential_prefix")
        )),
    }
}

/// The ids of a target's hand-made sets (`adopt`, and the sets of `adopt_keys`), and the
/// access key ids `adopt_keys` names.
fn check_adopted(
    key: &dyn Fn(&str) -> String,
    adopt: &[String],
    adopt_keys: &BTreeMap<String, String>,
) -> Result<(), String> {
    for (j, id) in adopt.iter().enumerate() {
        check_credential_id(&format!("{}[{j}]", key("adopt")), id)?;
    }
    for (id, access_key) in adopt_keys {
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
    Ok(())
}

/// A target's schedule settings, as read.
struct Schedule {
    max_key_age_days: u32,
    deadline_margin_days: u32,
    retire_after_days: u32,
    settle_minutes: u32,
}

/// Whether the schedule leaves time before the deadline. The old key is deactivated a
/// grace period after the cutover; with the margin kept free, that must come before the
/// deadline, or the schedule fails its own limit. A canary postpones the rest of the
/// cutover by up to `max_hours`: rotation starts that much earlier.
fn check_schedule(
    key: &dyn Fn(&str) -> String,
    s: Schedule,
    canary: Option<&Canary>,
) -> Result<(), String> {
    let canary_days = canary.map_or(0, |c| c.max_hours.div_ceil(24));
    let grace = s.retire_after_days.max(s.settle_minutes.div_ceil(24 * 60)) + canary_days;
    if grace + s.deadline_margin_days < s.max_key_age_days {
        return Ok(());
    }
    Err(format!(
        "{} ({}) and {} ({}) leave no time before {} ({}){}: the old key could not be \
         deactivated before it reaches that age; lower them or raise {}",
        key("retire_after_days"),
        s.retire_after_days,
        key("deadline_margin_days"),
        s.deadline_margin_days,
        key("max_key_age_days"),
        s.max_key_age_days,
        if canary_days > 0 {
            format!(" with {}.max_hours", key("canary"))
        } else {
            String::new()
        },
        key("max_key_age_days")
    ))
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
