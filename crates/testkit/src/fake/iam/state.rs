//! The in-memory IAM behind [`super::FakeIam`]: accounts with their users, access keys,
//! roles, managed policies and groups, and the rules real IAM and STS apply to them.
//!
//! Everything here is synchronous and takes the time it acts at as an argument: the port
//! ([`super::FakeIam`]) decides when a call acts (after its hook) and reads the clock then.
//! A refusal is a [`Reject`]: IAM's error code and message, which the port turns into the
//! [`rotator::Error::Aws`] the real adapter would return.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rotator_core::model::{KeyStatus, LastUsed};
use serde_json::Value;
use time::OffsetDateTime;

/// At most this many access keys per user (IAM's fixed quota).
pub const MAX_KEYS_PER_USER: usize = 2;
/// At most this many tags per user or role (IAM's quota).
pub const MAX_TAGS: usize = 50;
/// At most this many managed policies attached to a role (IAM's default quota).
pub const MAX_ROLE_POLICIES: usize = 10;
/// Uses kept per key: enough to report the last one outside any lag a test sets.
const MAX_USES_KEPT: usize = 32;
/// Tries to draw an access key id no key has before giving up (a collision of 16
/// characters of 36 is as good as impossible: the bound only keeps the loop finite).
const MAX_ID_DRAWS: usize = 16;

/// An IAM error answer (every one of them a 4xx: IAM says the request is wrong).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    /// IAM's error code, e.g. `NoSuchEntity`.
    pub code: &'static str,
    /// IAM's message.
    pub message: String,
}

impl Reject {
    fn new(code: &'static str, message: impl Into<String>) -> Reject {
        Reject {
            code,
            message: message.into(),
        }
    }

    fn no_such(what: &str, name: &str) -> Reject {
        Reject::new(
            "NoSuchEntity",
            format!("The {what} with name {name} cannot be found."),
        )
    }

    fn no_key(id: &str) -> Reject {
        Reject::new(
            "NoSuchEntity",
            format!("The Access Key with id {id} cannot be found"),
        )
    }

    fn validation(message: impl Into<String>) -> Reject {
        Reject::new(
            "ValidationError",
            format!("1 validation error detected: {}", message.into()),
        )
    }

    fn malformed() -> Reject {
        Reject::new("MalformedPolicyDocument", "Syntax errors in policy.")
    }
}

/// What an IAM call answers.
pub type Answer<T> = Result<T, Reject>;

/// How the fake's STS and last-use reporting behave.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long a new key fails STS after its creation.
    pub sts_delay: Duration,
    /// How old a use must be before `GetAccessKeyLastUsed` reports it.
    pub last_used_lag: Duration,
    /// Whether a successful `GetCallerIdentity` counts as a use of the key (service `sts`).
    pub sts_records_use: bool,
    /// The region STS calls are made in (reported as the region of their use).
    pub region: String,
}

/// A deterministic source of ids and secrets (SplitMix64 over the seed).
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn string(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len)
            .map(|_| {
                let i = usize::try_from(self.next() % alphabet.len() as u64).unwrap_or(0);
                char::from(alphabet[i])
            })
            .collect()
    }
}

/// One access key.
#[derive(Clone, Debug)]
pub struct Key {
    /// `AKIA` and 16 upper-case letters and digits.
    pub id: String,
    /// 40 characters.
    pub secret: String,
    /// Active or inactive.
    pub status: KeyStatus,
    /// When it was created (exact; IAM reports it to the second).
    pub created: OffsetDateTime,
    /// Its uses, oldest first, at most [`MAX_USES_KEPT`].
    pub uses: Vec<LastUsed>,
}

/// One IAM user.
#[derive(Clone, Debug)]
pub struct User {
    /// The name, as created.
    pub name: String,
    /// `arn:aws:iam::<account>:user/<name>`.
    pub arn: String,
    /// The ARN of its permissions boundary.
    pub boundary: Option<String>,
    /// Its tags, in the order they were first set.
    pub tags: Vec<(String, String)>,
    /// Inline policies: name to document, in name order.
    pub inline: BTreeMap<String, String>,
    /// ARNs of attached managed policies, in attachment order.
    pub attached: Vec<String>,
    /// Names of the groups it is in.
    pub groups: Vec<String>,
    /// Its access keys, in creation order.
    pub keys: Vec<Key>,
}

/// One IAM role.
#[derive(Clone, Debug)]
pub struct RoleRec {
    /// The name.
    pub name: String,
    /// `arn:aws:iam::<account>:role/<name>`.
    pub arn: String,
    /// The trust policy document.
    pub trust: String,
    /// The description.
    pub description: String,
    /// The ARN of its permissions boundary.
    pub boundary: Option<String>,
    /// Its tags, in the order given.
    pub tags: Vec<(String, String)>,
    /// Inline policies: name to document, in name order.
    pub inline: BTreeMap<String, String>,
    /// ARNs of attached managed policies, in attachment order.
    pub attached: Vec<String>,
}

/// What `CreateRole` is given.
#[derive(Clone, Debug)]
pub struct RoleSpec<'a> {
    /// The name.
    pub name: &'a str,
    /// The trust policy document.
    pub trust: &'a str,
    /// The description.
    pub description: &'a str,
    /// The permissions boundary's ARN.
    pub boundary: Option<&'a str>,
    /// The tags.
    pub tags: Vec<(String, String)>,
}

/// One AWS account's IAM.
#[derive(Clone, Debug, Default)]
pub struct Account {
    /// Users by name.
    pub users: BTreeMap<String, User>,
    /// Roles by name.
    pub roles: BTreeMap<String, RoleRec>,
    /// Customer managed policies: ARN to (name, document).
    pub policies: BTreeMap<String, (String, String)>,
    /// Group names.
    pub groups: BTreeSet<String>,
}

/// Every account, the settings, and the id source.
#[derive(Clone, Debug)]
pub struct World {
    /// Accounts by 12-digit id.
    pub accounts: BTreeMap<String, Account>,
    /// STS and last-use behaviour.
    pub settings: Settings,
    /// Every secret access key ever issued, deleted keys' included: what a world's secret
    /// scan looks for.
    pub issued: Vec<String>,
    rng: Rng,
}

/// `t` to the second, as IAM reports times.
pub fn to_second(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

/// How long from `since` to `now` (zero if `since` is later).
fn elapsed(now: OffsetDateTime, since: OffsetDateTime) -> Duration {
    Duration::try_from(now - since).unwrap_or(Duration::ZERO)
}

/// Whether two IAM names are the same name (IAM names are unique regardless of case).
fn same_name(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// A JSON policy document IAM would take (a JSON object), or `MalformedPolicyDocument`.
fn check_document(document: &str) -> Answer<()> {
    match serde_json::from_str::<Value>(document) {
        Ok(Value::Object(_)) => Ok(()),
        _ => Err(Reject::malformed()),
    }
}

impl World {
    /// A world with one empty account, `account`.
    pub fn new(seed: u64, account: &str, settings: Settings) -> World {
        let mut accounts = BTreeMap::new();
        accounts.insert(account.to_string(), Account::default());
        World {
            accounts,
            settings,
            issued: Vec::new(),
            rng: Rng(seed),
        }
    }

    /// Adds an empty account (an account already there stays as it is).
    pub fn add_account(&mut self, id: &str) -> Answer<()> {
        if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Reject::validation(format!(
                "Value '{id}' is not a 12-digit AWS account id"
            )));
        }
        self.accounts.entry(id.to_string()).or_default();
        Ok(())
    }

    /// The account `id`.
    pub fn account(&self, id: &str) -> Answer<&Account> {
        self.accounts
            .get(id)
            .ok_or_else(|| Reject::no_such("account", id))
    }

    fn account_mut(&mut self, id: &str) -> Answer<&mut Account> {
        self.accounts
            .get_mut(id)
            .ok_or_else(|| Reject::no_such("account", id))
    }

    /// User `name` of account `acct`.
    pub fn user(&self, acct: &str, name: &str) -> Answer<&User> {
        self.account(acct)?
            .users
            .get(name)
            .ok_or_else(|| Reject::no_such("user", name))
    }

    fn user_mut(&mut self, acct: &str, name: &str) -> Answer<&mut User> {
        self.account_mut(acct)?
            .users
            .get_mut(name)
            .ok_or_else(|| Reject::no_such("user", name))
    }

    /// Role `name` of account `acct`.
    pub fn role(&self, acct: &str, name: &str) -> Answer<&RoleRec> {
        self.account(acct)?
            .roles
            .get(name)
            .ok_or_else(|| Reject::no_such("role", name))
    }

    fn role_mut(&mut self, acct: &str, name: &str) -> Answer<&mut RoleRec> {
        self.account_mut(acct)?
            .roles
            .get_mut(name)
            .ok_or_else(|| Reject::no_such("role", name))
    }

    /// `CreateUser`: names of 1 to 64 of `A-Z a-z 0-9 + = , . @ _ -`, unique regardless
    /// of case.
    pub fn create_user(&mut self, acct: &str, name: &str) -> Answer<()> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
        if name.is_empty() || name.len() > 64 || !name.chars().all(allowed) {
            return Err(Reject::validation(format!(
                "Value '{name}' at 'userName' failed to satisfy constraint: Member must \
                 satisfy regular expression pattern: [\\w+=,.@-]+ and have length 1 to 64"
            )));
        }
        let account = self.account_mut(acct)?;
        if account.users.keys().any(|u| same_name(u, name)) {
            return Err(Reject::new(
                "EntityAlreadyExists",
                format!("User with name {name} already exists."),
            ));
        }
        let user = User {
            name: name.to_string(),
            arn: format!("arn:aws:iam::{acct}:user/{name}"),
            boundary: None,
            tags: Vec::new(),
            inline: BTreeMap::new(),
            attached: Vec::new(),
            groups: Vec::new(),
            keys: Vec::new(),
        };
        account.users.insert(name.to_string(), user);
        Ok(())
    }

    /// The names of the users of `acct` after `after`, at most `n`, in the order IAM lists
    /// them (by name, regardless of case), and whether more follow.
    pub fn users_page(
        &self,
        acct: &str,
        after: Option<&str>,
        n: usize,
    ) -> Answer<(Vec<String>, bool)> {
        let mut names: Vec<&String> = self.account(acct)?.users.keys().collect();
        names.sort_by_key(|n| (n.to_ascii_lowercase(), (*n).clone()));
        let rest: Vec<String> = names
            .into_iter()
            .filter(|n| {
                after.is_none_or(|a| {
                    (n.to_ascii_lowercase(), n.as_str()) > (a.to_ascii_lowercase(), a)
                })
            })
            .cloned()
            .collect();
        let more = rest.len() > n;
        Ok((rest.into_iter().take(n).collect(), more))
    }

    fn key_exists(&self, id: &str) -> bool {
        self.accounts
            .values()
            .flat_map(|a| a.users.values())
            .any(|u| u.keys.iter().any(|k| k.id == id))
    }

    fn new_key_id(&mut self) -> Answer<String> {
        const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        for _ in 0..MAX_ID_DRAWS {
            let id = format!("AKIA{}", self.rng.string(UPPER_DIGITS, 16));
            if !self.key_exists(&id) {
                return Ok(id);
            }
        }
        Err(Reject::new("ServiceFailure", "no free access key id"))
    }

    /// `CreateAccessKey`: at most [`MAX_KEYS_PER_USER`] per user; returns (id, secret).
    pub fn create_key(
        &mut self,
        acct: &str,
        user: &str,
        now: OffsetDateTime,
    ) -> Answer<(String, String)> {
        const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        if self.user(acct, user)?.keys.len() >= MAX_KEYS_PER_USER {
            return Err(Reject::new(
                "LimitExceeded",
                format!("Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS_PER_USER}"),
            ));
        }
        let id = self.new_key_id()?;
        let secret = self.rng.string(SECRET, 40);
        self.issued.push(secret.clone());
        self.user_mut(acct, user)?.keys.push(Key {
            id: id.clone(),
            secret: secret.clone(),
            status: KeyStatus::Active,
            created: now,
            uses: Vec::new(),
        });
        Ok((id, secret))
    }

    /// `ListAccessKeys`: (id, status, creation time to the second) of each key of the user.
    pub fn key_metas(
        &self,
        acct: &str,
        user: &str,
    ) -> Answer<Vec<(String, KeyStatus, OffsetDateTime)>> {
        Ok(self
            .user(acct, user)?
            .keys
            .iter()
            .map(|k| (k.id.clone(), k.status, to_second(k.created)))
            .collect())
    }

    /// `UpdateAccessKey`: the key must be the user's.
    pub fn set_status(
        &mut self,
        acct: &str,
        user: &str,
        id: &str,
        status: KeyStatus,
    ) -> Answer<()> {
        let key = self
            .user_mut(acct, user)?
            .keys
            .iter_mut()
            .find(|k| k.id == id)
            .ok_or_else(|| Reject::no_key(id))?;
        key.status = status;
        Ok(())
    }

    /// `DeleteAccessKey`: the key must be the user's (a gone key is `NoSuchEntity`, as in
    /// IAM: the port forgives it, as the adapter does).
    pub fn delete_key(&mut self, acct: &str, user: &str, id: &str) -> Answer<()> {
        let keys = &mut self.user_mut(acct, user)?.keys;
        let before = keys.len();
        keys.retain(|k| k.id != id);
        if keys.len() == before {
            return Err(Reject::no_key(id));
        }
        Ok(())
    }

    /// The key `id` in any account, with the ARN and name of its user.
    pub fn find_key(&self, id: &str) -> Option<(&User, &Key)> {
        self.accounts
            .values()
            .flat_map(|a| a.users.values())
            .find_map(|u| u.keys.iter().find(|k| k.id == id).map(|k| (u, k)))
    }

    fn find_key_mut(&mut self, id: &str) -> Option<(String, &mut Key)> {
        self.accounts
            .values_mut()
            .flat_map(|a| a.users.values_mut())
            .find_map(|u| {
                let arn = u.arn.clone();
                u.keys.iter_mut().find(|k| k.id == id).map(|k| (arn, k))
            })
    }

    /// `GetAccessKeyLastUsed`: the latest use at least the configured lag old, to the
    /// second; `None` if there is none yet. A key that is gone is `NoSuchEntity` (moto's
    /// answer; the adapter fails `list_keys` on it).
    pub fn reported_use(&self, id: &str, now: OffsetDateTime) -> Answer<Option<LastUsed>> {
        let (_, key) = self.find_key(id).ok_or_else(|| Reject::no_key(id))?;
        let lag = self.settings.last_used_lag;
        Ok(key
            .uses
            .iter()
            .rev()
            .find(|u| elapsed(now, u.at) >= lag)
            .map(|u| LastUsed {
                at: to_second(u.at),
                service: u.service.clone(),
                region: u.region.clone(),
            }))
    }

    /// Records a use of key `id` (in any account).
    pub fn record_use(&mut self, id: &str, used: LastUsed) -> Answer<()> {
        let (_, key) = self.find_key_mut(id).ok_or_else(|| Reject::no_key(id))?;
        key.uses.push(used);
        if key.uses.len() > MAX_USES_KEPT {
            key.uses.remove(0);
        }
        Ok(())
    }

    /// `sts:GetCallerIdentity` signed with (`id`, `secret`): the user's ARN when the key
    /// exists, is active, is older than the STS delay and the secret is its own.
    pub fn caller(&mut self, id: &str, secret: &str, now: OffsetDateTime) -> Answer<String> {
        let invalid = || {
            Reject::new(
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            )
        };
        let settings = self.settings.clone();
        let (arn, key) = self.find_key_mut(id).ok_or_else(invalid)?;
        if key.status != KeyStatus::Active || elapsed(now, key.created) < settings.sts_delay {
            return Err(invalid());
        }
        if key.secret != secret {
            return Err(Reject::new(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you \
                 provided. Check your AWS Secret Access Key and signing method.",
            ));
        }
        if settings.sts_records_use {
            self.record_use(
                id,
                LastUsed {
                    at: now,
                    service: "sts".into(),
                    region: settings.region,
                },
            )?;
        }
        Ok(arn)
    }
}

/// Whether `c` may be in a tag key or value: `[\p{L}\p{Z}\p{N}_.:/=+\-@]`.
fn tag_char(c: char) -> bool {
    c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || "_.:/=+-@".contains(c)
}

/// IAM's checks of one tag (what the API's constraints say: `ValidationError`). The
/// value is never quoted back: it may be a secret (a role's external id).
fn check_tag(n: usize, key: &str, value: &str) -> Answer<()> {
    let at = |part: &str| format!("at 'tags.{n}.member.{part}' failed to satisfy constraint");
    if key.is_empty() || key.chars().count() > 128 {
        return Err(Reject::validation(format!(
            "Value '{key}' {}: Member must have length between 1 and 128",
            at("key")
        )));
    }
    if !key.chars().all(tag_char) {
        return Err(Reject::validation(format!(
            "Value '{key}' {}: Member must satisfy regular expression pattern: \
             [\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-@]+",
            at("key")
        )));
    }
    if value.chars().count() > 256 {
        return Err(Reject::validation(format!(
            "Value {}: Member must have length less than or equal to 256",
            at("value")
        )));
    }
    if !value.chars().all(tag_char) {
        return Err(Reject::validation(format!(
            "Value {}: Member must satisfy regular expression pattern: \
             [\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-@]*",
            at("value")
        )));
    }
    Ok(())
}

/// The checks of the tags of one request: at most [`MAX_TAGS`], each valid, no key twice
/// (IAM compares tag keys regardless of case).
fn check_tags(tags: &[(String, String)]) -> Answer<()> {
    if tags.len() > MAX_TAGS {
        return Err(Reject::validation(format!(
            "Value at 'tags' failed to satisfy constraint: Member must have length less \
             than or equal to {MAX_TAGS}"
        )));
    }
    for (i, (k, v)) in tags.iter().enumerate() {
        check_tag(i + 1, k, v)?;
        if tags[..i].iter().any(|(o, _)| same_name(o, k)) {
            return Err(Reject::new(
                "InvalidInput",
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            ));
        }
    }
    Ok(())
}

impl World {
    /// `TagUser` with one tag: a key already there (regardless of case, keeping its first
    /// spelling) gets the new value in place; a new key needs room under [`MAX_TAGS`].
    pub fn tag(&mut self, acct: &str, user: &str, key: &str, value: &str) -> Answer<()> {
        check_tag(1, key, value)?;
        let tags = &mut self.user_mut(acct, user)?.tags;
        if let Some(tag) = tags.iter_mut().find(|(k, _)| same_name(k, key)) {
            tag.1 = value.to_string();
            return Ok(());
        }
        if tags.len() >= MAX_TAGS {
            return Err(Reject::new(
                "LimitExceeded",
                format!("Cannot exceed quota for TagsPerUser: {MAX_TAGS}"),
            ));
        }
        tags.push((key.to_string(), value.to_string()));
        Ok(())
    }

    /// `UntagUser`: at most [`MAX_TAGS`] keys, each a valid key; absent ones are ignored.
    pub fn untag(&mut self, acct: &str, user: &str, keys: &[String]) -> Answer<()> {
        if keys.len() > MAX_TAGS {
            return Err(Reject::validation(format!(
                "Value at 'tagKeys' failed to satisfy constraint: Member must have length \
                 less than or equal to {MAX_TAGS}"
            )));
        }
        for (i, k) in keys.iter().enumerate() {
            check_tag(i + 1, k, "")?;
        }
        let tags = &mut self.user_mut(acct, user)?.tags;
        tags.retain(|(k, _)| !keys.iter().any(|gone| same_name(gone, k)));
        Ok(())
    }

    /// `CreateRole`: tags checked, the trust policy a JSON object, the name new (regardless
    /// of case). Returns the role as made.
    pub fn create_role(&mut self, acct: &str, spec: RoleSpec<'_>) -> Answer<RoleRec> {
        check_tags(&spec.tags)?;
        check_document(spec.trust)?;
        let account = self.account_mut(acct)?;
        if account.roles.keys().any(|r| same_name(r, spec.name)) {
            return Err(Reject::new(
                "EntityAlreadyExists",
                format!("Role with name {} already exists.", spec.name),
            ));
        }
        let role = RoleRec {
            name: spec.name.to_string(),
            arn: format!("arn:aws:iam::{acct}:role/{}", spec.name),
            trust: spec.trust.to_string(),
            description: spec.description.to_string(),
            boundary: spec.boundary.map(str::to_string),
            tags: spec.tags,
            inline: BTreeMap::new(),
            attached: Vec::new(),
        };
        account.roles.insert(role.name.clone(), role.clone());
        Ok(role)
    }

    /// `PutRolePolicy`: creates or replaces the inline policy.
    pub fn put_role_policy(
        &mut self,
        acct: &str,
        role: &str,
        name: &str,
        document: &str,
    ) -> Answer<()> {
        check_document(document)?;
        let role = self.role_mut(acct, role)?;
        role.inline.insert(name.to_string(), document.to_string());
        Ok(())
    }

    /// The name of the managed policy `arn`, if it exists: an AWS managed one
    /// (`arn:aws:iam::aws:policy/…`) always does, a customer one if its account has it.
    fn policy_name(&self, arn: &str) -> Option<String> {
        if let Some(rest) = arn.strip_prefix("arn:aws:iam::aws:policy/") {
            return rest.rsplit('/').next().map(str::to_string);
        }
        let account = arn.split(':').nth(4)?;
        self.accounts
            .get(account)?
            .policies
            .get(arn)
            .map(|(name, _)| name.clone())
    }

    fn no_policy(arn: &str) -> Reject {
        Reject::new(
            "NoSuchEntity",
            format!("Policy {arn} does not exist or is not attachable."),
        )
    }

    /// `AttachRolePolicy`: the policy must exist; attaching it again changes nothing; at
    /// most [`MAX_ROLE_POLICIES`].
    pub fn attach_role_policy(&mut self, acct: &str, role: &str, arn: &str) -> Answer<()> {
        self.role(acct, role)?;
        if self.policy_name(arn).is_none() {
            return Err(World::no_policy(arn));
        }
        let attached = &mut self.role_mut(acct, role)?.attached;
        if attached.iter().any(|a| a == arn) {
            return Ok(());
        }
        if attached.len() >= MAX_ROLE_POLICIES {
            return Err(Reject::new(
                "LimitExceeded",
                format!("Cannot exceed quota for PoliciesPerRole: {MAX_ROLE_POLICIES}"),
            ));
        }
        attached.push(arn.to_string());
        Ok(())
    }

    /// `GetUserPolicy`: the document of the user's inline policy `name`.
    pub fn user_policy(&self, acct: &str, user: &str, name: &str) -> Answer<String> {
        self.user(acct, user)?
            .inline
            .get(name)
            .cloned()
            .ok_or_else(|| Reject::no_such("user policy", name))
    }

    /// `ListAttachedUserPolicies`: (name, ARN) of each policy attached to the user.
    pub fn user_attached(&self, acct: &str, user: &str) -> Answer<Vec<(String, String)>> {
        Ok(self
            .user(acct, user)?
            .attached
            .iter()
            .map(|arn| {
                let name = self.policy_name(arn).unwrap_or_else(|| arn.clone());
                (name, arn.clone())
            })
            .collect())
    }

    /// `CreatePolicy`: a customer managed policy of `acct`; returns its ARN.
    pub fn create_policy(&mut self, acct: &str, name: &str, document: &str) -> Answer<String> {
        check_document(document)?;
        let arn = format!("arn:aws:iam::{acct}:policy/{name}");
        let account = self.account_mut(acct)?;
        if account.policies.contains_key(&arn) {
            return Err(Reject::new(
                "EntityAlreadyExists",
                format!("A policy called {name} already exists."),
            ));
        }
        account
            .policies
            .insert(arn.clone(), (name.to_string(), document.to_string()));
        Ok(arn)
    }

    /// `PutUserPolicy`: creates or replaces the user's inline policy.
    pub fn put_user_policy(
        &mut self,
        acct: &str,
        user: &str,
        name: &str,
        document: &str,
    ) -> Answer<()> {
        check_document(document)?;
        let user = self.user_mut(acct, user)?;
        user.inline.insert(name.to_string(), document.to_string());
        Ok(())
    }

    /// `AttachUserPolicy`: the policy must exist; attaching it again changes nothing.
    pub fn attach_user_policy(&mut self, acct: &str, user: &str, arn: &str) -> Answer<()> {
        self.user(acct, user)?;
        if self.policy_name(arn).is_none() {
            return Err(World::no_policy(arn));
        }
        let attached = &mut self.user_mut(acct, user)?.attached;
        if !attached.iter().any(|a| a == arn) {
            attached.push(arn.to_string());
        }
        Ok(())
    }

    /// `PutUserPermissionsBoundary`: the policy must exist.
    pub fn set_user_boundary(&mut self, acct: &str, user: &str, arn: &str) -> Answer<()> {
        self.user(acct, user)?;
        if self.policy_name(arn).is_none() {
            return Err(World::no_policy(arn));
        }
        self.user_mut(acct, user)?.boundary = Some(arn.to_string());
        Ok(())
    }

    /// `CreateGroup`.
    pub fn create_group(&mut self, acct: &str, name: &str) -> Answer<()> {
        let account = self.account_mut(acct)?;
        if account.groups.iter().any(|g| same_name(g, name)) {
            return Err(Reject::new(
                "EntityAlreadyExists",
                format!("Group with name {name} already exists."),
            ));
        }
        account.groups.insert(name.to_string());
        Ok(())
    }

    /// `AddUserToGroup`: both must exist; adding again changes nothing.
    pub fn add_user_to_group(&mut self, acct: &str, user: &str, group: &str) -> Answer<()> {
        if !self.account(acct)?.groups.contains(group) {
            return Err(Reject::no_such("group", group));
        }
        let groups = &mut self.user_mut(acct, user)?.groups;
        if !groups.iter().any(|g| g == group) {
            groups.push(group.to_string());
        }
        Ok(())
    }
}

/// The account and role name of a role ARN, `arn:<partition>:iam::<account>:role/<path/name>`.
pub fn parse_role_arn(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let name = resource.strip_prefix("role/")?.rsplit('/').next()?;
    (!name.is_empty()).then_some((account, name))
}

fn one_or_many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// The external ids a statement's condition demands (`sts:ExternalId` under any
/// operator), or `None` if it demands none.
fn demanded_ids(statement: &Value) -> Option<Vec<&str>> {
    let conditions = statement.get("Condition")?.as_object()?;
    let ids: Vec<&str> = conditions
        .values()
        .filter_map(|op| op.as_object()?.get("sts:ExternalId"))
        .flat_map(one_or_many)
        .filter_map(Value::as_str)
        .collect();
    (!ids.is_empty()).then_some(ids)
}

/// Whether a trust policy lets `sts:AssumeRole` be called with `external_id`: some `Allow`
/// statement for that action demands no external id or this one. The principal is not
/// checked (every test role trusts the accounts that assume it).
pub fn trust_allows(trust: &str, external_id: Option<&str>) -> bool {
    let Ok(doc) = serde_json::from_str::<Value>(trust) else {
        return false;
    };
    let Some(statements) = doc.get("Statement").map(one_or_many) else {
        return false;
    };
    statements.into_iter().any(|s| {
        let allows = s.get("Effect").and_then(Value::as_str) == Some("Allow");
        let assumes = s.get("Action").map(one_or_many).is_some_and(|actions| {
            actions
                .iter()
                .any(|a| matches!(a.as_str(), Some("sts:AssumeRole" | "sts:*" | "*")))
        });
        let id_ok = match demanded_ids(s) {
            None => true,
            Some(ids) => external_id.is_some_and(|e| ids.contains(&e)),
        };
        allows && assumes && id_ok
    })
}
