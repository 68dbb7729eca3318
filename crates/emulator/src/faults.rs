//! Fault injection: which calls fail, and how.
//!
//! A `Fault` targets an operationId (or `*`), waits for its `nth` matching call and then fires
//! for `times` consecutive matching calls. `FaultSet` does that counting and nothing else, so
//! the rules can be unit-tested without a server; the server decides what each `FaultKind`
//! means on the wire.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// The operationId it applies to (e.g. `listGroups`), or `*` for every operation.
    pub operation: String,
    /// 1-based: the first matching call (counted from when the fault is added) that fails.
    #[serde(default = "one")]
    pub nth: u32,
    /// How many consecutive matching calls fail; 0 means every one from `nth` on.
    #[serde(default = "one")]
    pub times: u32,
    /// What the failing calls get.
    pub kind: FaultKind,
}

fn one() -> u32 {
    1
}

/// What a faulted call gets instead of its normal answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum FaultKind {
    /// The given status with the given kind of body; the call is not performed.
    Status {
        /// HTTP status to send.
        status: u16,
        /// The body to send with it.
        body: FaultBody,
    },
    /// 429 with the rate-limit headers, `Remaining: 0`.
    RateLimited {
        /// Value of `X-Soracom-Ratelimit-Seconds-Before-Refresh`.
        seconds_before_refresh: u32,
    },
    /// Wait this long (milliseconds in JSON), then handle the call normally.
    Latency(#[serde(with = "duration_ms")] Duration),
    /// Close the connection without answering; the call is not performed.
    Drop,
    /// 401 as for an expired token; the call is not performed.
    ExpiredToken,
    /// Perform the call (state changes), then close the connection without answering.
    SucceedThenDrop,
    /// Perform the call (state changes), count it in [`crate::Emulator::held`], then hold
    /// the connection without answering for at most [`HOLD_LIMIT`]: a test kills the client
    /// meanwhile, which models a process that died right after its call succeeded.
    SucceedThenHang,
}

/// The longest a `SucceedThenHang` call holds its connection before closing it.
pub const HOLD_LIMIT: Duration = Duration::from_secs(30);

/// The body of a `FaultKind::Status` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FaultBody {
    /// A JSON error in the configured envelope.
    Json,
    /// An HTML page such as a load balancer sends (`<html>…502 Bad Gateway…`).
    Html,
    /// The first half of a JSON error body, declared as `application/json`.
    Truncated,
    /// No body at all.
    Empty,
    /// Valid JSON of the wrong shape for every operation (an object with fields of the
    /// wrong types), declared as `application/json`.
    WrongType,
    /// A JSON-looking body of [`HUGE_BODY`] bytes, declared as `application/json`.
    Huge,
}

/// A holder that refuses role credentials: a write that would make it reference an
/// `aws-iam-role-credentials` set is answered 400 and not performed. Which SORACOM services
/// refuse such a set, and how, is not documented (only event handlers' Lambda action is
/// documented as accepting it); this lets tests give a holder of their choice the answer a
/// refusing service would most plausibly give.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RoleRefusal {
    /// Every group's configuration of this namespace (`SoracomFunnel`, `SoracomFunk`, …).
    Namespace(String),
    /// This group (by id), whatever the namespace.
    Group(String),
    /// This event handler (by id).
    EventHandler(String),
    /// Every event handler.
    EventHandlers,
    /// This VPG's Junction inspection (by VPG id).
    Vpg(String),
}

/// Where a write goes, as a [`RoleRefusal`] matches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteTo<'a> {
    /// A group's configuration namespace.
    Group {
        /// The group id.
        id: &'a str,
        /// The namespace.
        namespace: &'a str,
    },
    /// An event handler.
    EventHandler(&'a str),
    /// A VPG's Junction inspection.
    Vpg(&'a str),
}

impl RoleRefusal {
    /// Whether this refusal covers a write to `to`.
    pub(crate) fn covers(&self, to: WriteTo<'_>) -> bool {
        match (self, to) {
            (RoleRefusal::Namespace(n), WriteTo::Group { namespace, .. }) => n == namespace,
            (RoleRefusal::Group(g), WriteTo::Group { id, .. }) => g == id,
            (RoleRefusal::EventHandler(h), WriteTo::EventHandler(id)) => h == id,
            (RoleRefusal::EventHandlers, WriteTo::EventHandler(_)) => true,
            (RoleRefusal::Vpg(v), WriteTo::Vpg(id)) => v == id,
            _ => false,
        }
    }
}

/// Every credential set id `value` refers to: a string under `credentialsId` or
/// `$credentialsId`, at any depth (bounded).
pub(crate) fn referenced_ids(value: &serde_json::Value) -> Vec<&str> {
    fn walk<'v>(v: &'v serde_json::Value, depth: u32, out: &mut Vec<&'v str>) {
        if depth > 64 {
            return;
        }
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("credentialsId" | "$credentialsId", serde_json::Value::String(s)) => {
                            out.push(s)
                        }
                        _ => walk(x, depth + 1, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, depth + 1, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, 0, &mut out);
    out
}

/// Size of a `FaultBody::Huge` body: 50 MiB.
pub const HUGE_BODY: usize = 50 << 20;

/// Serde helper: a `Duration` as whole milliseconds.
pub(crate) mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[derive(Debug)]
struct Armed {
    fault: Fault,
    seen: u32,
}

impl Armed {
    fn first(&self) -> u32 {
        self.fault.nth.max(1)
    }

    fn fires(&self) -> bool {
        self.seen >= self.first()
            && (self.fault.times == 0 || self.seen < self.first().saturating_add(self.fault.times))
    }

    fn spent(&self) -> bool {
        self.fault.times != 0 && self.seen >= self.first().saturating_add(self.fault.times - 1)
    }
}

/// The armed faults, in the order they were added.
#[derive(Debug, Default)]
pub(crate) struct FaultSet {
    armed: Vec<Armed>,
}

impl FaultSet {
    /// Arms a fault; its count starts now.
    pub fn add(&mut self, fault: Fault) {
        self.armed.push(Armed { fault, seen: 0 });
    }

    /// Disarms every fault.
    pub fn clear(&mut self) {
        self.armed.clear();
    }

    /// Counts a call to `operation` against every matching fault and returns the kind of the
    /// first one (oldest first) that fires. A fault due to fire but shadowed by an older one
    /// still uses up that call.
    pub fn on_call(&mut self, operation: &str) -> Option<FaultKind> {
        let mut fired = None;
        for armed in &mut self.armed {
            if armed.fault.operation != "*" && armed.fault.operation != operation {
                continue;
            }
            armed.seen = armed.seen.saturating_add(1);
            if fired.is_none() && armed.fires() {
                fired = Some(armed.fault.kind.clone());
            }
        }
        self.armed.retain(|a| !a.spent());
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(op: &str, nth: u32, times: u32) -> Fault {
        Fault {
            operation: op.into(),
            nth,
            times,
            kind: FaultKind::Drop,
        }
    }

    fn pattern(set: &mut FaultSet, op: &str, calls: usize) -> Vec<bool> {
        (0..calls).map(|_| set.on_call(op).is_some()).collect()
    }

    #[test]
    fn nth_and_times() {
        let mut set = FaultSet::default();
        set.add(fault("listGroups", 2, 2));
        assert_eq!(set.on_call("getGroup"), None);
        assert_eq!(
            pattern(&mut set, "listGroups", 5),
            [false, true, true, false, false]
        );
        assert!(set.armed.is_empty());
    }

    #[test]
    fn forever_and_wildcard() {
        let mut set = FaultSet::default();
        set.add(fault("*", 3, 0));
        assert_eq!(pattern(&mut set, "auth", 2), [false, false]);
        assert_eq!(pattern(&mut set, "listGroups", 4), [true; 4]);
        assert_eq!(set.armed.len(), 1);
        set.clear();
        assert_eq!(set.on_call("auth"), None);
    }

    #[test]
    fn nth_zero_means_first() {
        let mut set = FaultSet::default();
        set.add(fault("auth", 0, 1));
        assert_eq!(pattern(&mut set, "auth", 2), [true, false]);
    }

    #[test]
    fn older_fault_wins_and_both_count() {
        let mut set = FaultSet::default();
        set.add(Fault {
            kind: FaultKind::ExpiredToken,
            ..fault("auth", 1, 1)
        });
        set.add(fault("auth", 1, 2));
        assert_eq!(set.on_call("auth"), Some(FaultKind::ExpiredToken));
        assert_eq!(set.on_call("auth"), Some(FaultKind::Drop));
        assert_eq!(set.on_call("auth"), None);
    }

    #[test]
    fn role_refusals_cover_their_holders_only() {
        let funnel = WriteTo::Group {
            id: "g1",
            namespace: "SoracomFunnel",
        };
        assert!(RoleRefusal::Namespace("SoracomFunnel".into()).covers(funnel));
        assert!(!RoleRefusal::Namespace("SoracomFunk".into()).covers(funnel));
        assert!(RoleRefusal::Group("g1".into()).covers(funnel));
        assert!(!RoleRefusal::Group("g2".into()).covers(funnel));
        assert!(RoleRefusal::EventHandlers.covers(WriteTo::EventHandler("h")));
        assert!(RoleRefusal::EventHandler("h".into()).covers(WriteTo::EventHandler("h")));
        assert!(!RoleRefusal::EventHandler("h".into()).covers(WriteTo::EventHandler("i")));
        assert!(!RoleRefusal::EventHandlers.covers(funnel));
        assert!(RoleRefusal::Vpg("v".into()).covers(WriteTo::Vpg("v")));
        let r: Vec<RoleRefusal> = serde_json::from_str(
            r#"[{"namespace":"SoracomFunnel"},"eventHandlers",{"group":"g"}]"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r[1], RoleRefusal::EventHandlers);
        let v = serde_json::json!({"a": {"credentialsId": "x"}, "b": [{"$credentialsId": "y"}], "credentialsId": 3});
        let mut ids = referenced_ids(&v);
        ids.sort_unstable();
        assert_eq!(ids, ["x", "y"]);
    }

    #[test]
    fn json_shape() {
        let f: Fault = serde_json::from_str(
            r#"{"operation":"listGroups","kind":{"status":{"status":502,"body":"html"}}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((f.nth, f.times), (1, 1));
        let k: FaultKind =
            serde_json::from_str(r#"{"latency":1500}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(k, FaultKind::Latency(Duration::from_millis(1500)));
        let k: FaultKind = serde_json::from_str(r#"{"rateLimited":{"secondsBeforeRefresh":3}}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            k,
            FaultKind::RateLimited {
                seconds_before_refresh: 3
            }
        );
        let k: FaultKind =
            serde_json::from_str(r#""succeedThenDrop""#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(k, FaultKind::SucceedThenDrop);
    }
}
