//! One face for a world's two kinds of backend: moto and the proxy in front of it, or the
//! in-memory fakes ([`crate::fake`]). A scenario arranges, breaks and inspects IAM through
//! [`Admin`] and [`Proxy`] alike, so the same test reads the same on either.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::aws_proxy::{AwsCall, AwsFault, AwsFaultKind, AwsProxy};
use crate::fake::{self, Action, Failure, Gate, Port, Rule, Script, Verdict};
use crate::moto::{self, KeyInfo};

/// Arranges and inspects IAM: moto's helper, or the fake's.
#[derive(Clone)]
pub enum Admin {
    /// moto, through the SDK.
    Moto(Box<moto::Iam>),
    /// The in-memory IAM.
    Fake(fake::iam::Iam),
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Admin::Moto(_) => "Admin::Moto",
            Admin::Fake(_) => "Admin::Fake",
        })
    }
}

/// An error of either backend, as text.
fn text<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

impl Admin {
    /// Creates a user.
    pub async fn create_user(&self, name: &str) -> Result<(), String> {
        match self {
            Admin::Moto(i) => i.create_user(name).await.map_err(text),
            Admin::Fake(i) => i.create_user(name).await.map_err(text),
        }
    }

    /// The ARN of `user`.
    pub async fn user_arn(&self, user: &str) -> Result<String, String> {
        match self {
            Admin::Moto(i) => i.user_arn(user).await.map_err(text),
            Admin::Fake(i) => i.user_arn(user).await.map_err(text),
        }
    }

    /// Creates an access key of `user`: (id, secret).
    pub async fn create_access_key(&self, user: &str) -> Result<(String, String), String> {
        match self {
            Admin::Moto(i) => i.create_access_key(user).await.map_err(text),
            Admin::Fake(i) => i.create_access_key(user).await.map_err(text),
        }
    }

    /// The keys of `user`.
    pub async fn list_keys(&self, user: &str) -> Result<Vec<KeyInfo>, String> {
        match self {
            Admin::Moto(i) => i.list_keys(user).await.map_err(text),
            Admin::Fake(i) => i.list_keys(user).await.map_err(text),
        }
    }

    /// Activates (`true`) or deactivates key `id` of `user`.
    pub async fn set_key_status(&self, user: &str, id: &str, active: bool) -> Result<(), String> {
        match self {
            Admin::Moto(i) => i.set_key_status(user, id, active).await.map_err(text),
            Admin::Fake(i) => i.set_key_status(user, id, active).await.map_err(text),
        }
    }

    /// Deletes key `id` of `user`.
    pub async fn delete_access_key(&self, user: &str, id: &str) -> Result<(), String> {
        match self {
            Admin::Moto(i) => i.delete_access_key(user, id).await.map_err(text),
            Admin::Fake(i) => i.delete_access_key(user, id).await.map_err(text),
        }
    }

    /// When key `id` was last used, by which service, in which region.
    pub async fn last_used(
        &self,
        id: &str,
    ) -> Result<Option<(SystemTime, String, String)>, String> {
        match self {
            Admin::Moto(i) => i.last_used(id).await.map_err(text),
            Admin::Fake(i) => i.last_used(id).await.map_err(text),
        }
    }

    /// Uses the key as something outside the tool would: an STS call signed with it (the
    /// backend records the use); the caller's ARN.
    pub async fn use_key(&self, id: &str, secret: &str) -> Result<String, String> {
        match self {
            Admin::Moto(i) => i.use_key(id, secret).await.map_err(text),
            Admin::Fake(i) => i.sign_sts(id, secret).await.map_err(text),
        }
    }

    /// The tags of `user`.
    pub async fn tags(&self, user: &str) -> Result<Vec<(String, String)>, String> {
        match self {
            Admin::Moto(i) => i.tags(user).await.map_err(text),
            Admin::Fake(i) => i.tags(user).await.map_err(text),
        }
    }

    /// Sets a tag on `user`.
    pub async fn tag_user(&self, user: &str, key: &str, value: &str) -> Result<(), String> {
        match self {
            Admin::Moto(i) => i.tag_user(user, key, value).await.map_err(text),
            Admin::Fake(i) => i.tag_user(user, key, value).await.map_err(text),
        }
    }

    /// The fake's helper, for what only the fake can do.
    ///
    /// # Panics
    /// On moto.
    pub fn fake(&self) -> &fake::iam::Iam {
        match self {
            Admin::Fake(i) => i,
            Admin::Moto(_) => panic!("this needs the in-memory IAM"),
        }
    }

    /// moto's helper, for what only moto can do (its SDK client).
    ///
    /// # Panics
    /// On the fake.
    pub fn moto(&self) -> &moto::Iam {
        match self {
            Admin::Moto(i) => i,
            Admin::Fake(_) => panic!("this needs moto"),
        }
    }
}

/// Where AWS faults are armed and AWS calls are counted: the proxy in front of moto, or the
/// fakes' script.
#[derive(Clone)]
pub enum Proxy {
    /// The HTTP proxy in front of moto.
    Real(Arc<AwsProxy>),
    /// The script every fake call goes through.
    Fake(Arc<FakeProxy>),
}

/// The fakes' face of the proxy: AWS faults become rules of the script, tagged with the
/// fault they stand for, so a call shows which fault it got.
pub struct FakeProxy {
    /// The script every fake call goes through.
    pub script: Arc<Script>,
    kinds: std::sync::Mutex<Vec<AwsFaultKind>>,
}

impl FakeProxy {
    /// The proxy face of `script`.
    pub fn new(script: Arc<Script>) -> FakeProxy {
        FakeProxy {
            script,
            kinds: std::sync::Mutex::default(),
        }
    }

    fn kinds(&self) -> std::sync::MutexGuard<'_, Vec<AwsFaultKind>> {
        self.kinds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Proxy::Real(p) => p.fmt(f),
            Proxy::Fake(_) => f.write_str("Proxy::Fake"),
        }
    }
}

impl Proxy {
    /// The proxy's address (moto only).
    ///
    /// # Panics
    /// On the fakes.
    pub fn endpoint(&self) -> String {
        match self {
            Proxy::Real(p) => p.endpoint(),
            Proxy::Fake(_) => panic!("the fakes have no AWS endpoint"),
        }
    }

    /// Arms an AWS fault.
    pub fn add_fault(&self, fault: AwsFault) {
        match self {
            Proxy::Real(p) => p.add_fault(fault),
            Proxy::Fake(f) => {
                let tag = {
                    let mut kinds = f.kinds();
                    kinds.push(fault.kind);
                    kinds.len() as u64 - 1
                };
                f.script.add(rule_of(&fault).tagged(tag));
            }
        }
    }

    /// Removes every AWS fault (the fakes: every rule, SORACOM's too).
    pub fn clear_faults(&self) {
        match self {
            Proxy::Real(p) => p.clear_faults(),
            Proxy::Fake(f) => f.script.clear(),
        }
    }

    /// Every AWS call made (the fakes: by action and outcome; no secrets are carried, the
    /// ledger harvests the fake IAM's keys itself).
    pub fn calls(&self) -> Vec<AwsCall> {
        match self {
            Proxy::Real(p) => p.calls(),
            Proxy::Fake(f) => {
                let kinds = f.kinds().clone();
                f.script
                    .seen()
                    .into_iter()
                    .filter(|s| s.call.port == Port::Iam)
                    .map(|s| AwsCall {
                        action: s.call.op,
                        status: match &s.verdict {
                            Verdict::Proceed => 200,
                            Verdict::Refuse(Failure::Status { status, .. })
                            | Verdict::ActThenFail(Failure::Status { status, .. }) => *status,
                            _ => 0,
                        },
                        access_key_id: s.call.signer,
                        fault: s.tag.and_then(|t| kinds.get(t as usize).cloned()),
                        error_code: match &s.verdict {
                            Verdict::Refuse(Failure::Status { code, .. })
                            | Verdict::ActThenFail(Failure::Status { code, .. }) => {
                                Some(code.clone())
                            }
                            _ => None,
                        },
                        secrets: Vec::new(),
                    })
                    .collect()
            }
        }
    }

    /// Calls that acted and then hung (a process killed right after).
    pub fn held(&self) -> u64 {
        match self {
            Proxy::Real(p) => p.held(),
            Proxy::Fake(f) => f
                .script
                .calls()
                .iter()
                .filter(|(c, v)| c.port == Port::Iam && *v == Verdict::ActThenHang)
                .count() as u64,
        }
    }

    /// AWS calls per action.
    pub fn call_counts(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for c in self.calls() {
            *out.entry(c.action).or_insert(0) += 1;
        }
        out
    }
}

/// The script rule that does to a fake call what `fault` does through the proxy.
pub fn rule_of(fault: &AwsFault) -> Rule {
    let status = |status: u16, code: &str| {
        Action::Verdict(Verdict::Refuse(Failure::Status {
            status,
            code: code.into(),
        }))
    };
    let action = match &fault.kind {
        AwsFaultKind::InternalError => status(500, "InternalFailure"),
        AwsFaultKind::Throttling => status(400, "Throttling"),
        AwsFaultKind::AccessDenied => status(403, "AccessDenied"),
        AwsFaultKind::LimitExceeded => status(409, "LimitExceeded"),
        AwsFaultKind::NoSuchEntity => status(404, "NoSuchEntity"),
        AwsFaultKind::Drop | AwsFaultKind::Hang => {
            Action::Verdict(Verdict::Refuse(Failure::Timeout))
        }
        AwsFaultKind::SucceedThenDrop => Action::Verdict(Verdict::ActThenFail(Failure::Timeout)),
        AwsFaultKind::SucceedThenHang => Action::Verdict(Verdict::ActThenHang),
        AwsFaultKind::AlterSecret => Action::Verdict(Verdict::ActThenAlter),
        AwsFaultKind::Delay(d) => Action::Hold(delay_gate(*d)),
        // No code can be read from the answer: the status alone.
        AwsFaultKind::Unparseable(s) => status(*s, ""),
    };
    Rule::on(Port::Iam, &fault.action, fault.nth, action).times(fault.times)
}

/// A gate that opens by itself after `d` of the (paused) clock: a call held that long.
fn delay_gate(d: Duration) -> Gate {
    let gate = Gate::new();
    let open = gate.clone();
    tokio::spawn(async move {
        open.reached().await;
        tokio::time::sleep(d).await;
        open.release();
    });
    gate
}
