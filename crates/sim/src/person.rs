//! A person acting between any two steps, as people do in the IAM and SORACOM consoles:
//! making, deleting and switching keys, making, deleting and rewriting sets, pointing
//! holders elsewhere, editing what sits beside a reference, touching the tool's tags,
//! writing error logs, using an old key.

use rotator_core::records::lease_key;
use serde_json::{json, Value};
use soracom_emulator::{LogEntry, LogLevel, LogResourceType, LogService};

use crate::choice::Choices;
use crate::oracle::{Kind, Ledger, Snapshot, Touch};
use crate::world::{at_once, SimWorld};

/// What a person did, for the trace; `None` when the chosen act had nothing to act on.
pub struct Act {
    /// In words.
    pub what: String,
    /// Whether it leaves something only a person can resolve (a key of theirs on the
    /// user, a reference moved to their set, a key blocked by use), so that convergence
    /// is not owed.
    pub needs_human: bool,
}

/// The acts, in the order [`act`] weighs them.
const WEIGHTS: [u32; 12] = [
    6, // create a key
    5, // delete a key
    6, // deactivate or re-activate a key
    3, // create a set of their own
    4, // delete a set
    3, // rewrite a set
    8, // point a holder at another set
    8, // edit what sits beside a reference
    4, // delete or edit one of the tool's tags
    3, // write an error log
    3, // use a key
    2, // point a holder at a set that does not exist
];

/// One act of a person, chosen by `choices`, at step `step`.
pub fn act(
    world: &mut SimWorld,
    ledger: &mut Ledger,
    choices: &mut Choices,
    step: u64,
) -> Option<Act> {
    let snap = Snapshot::take(world);
    let t = choices.below(world.targets.len());
    let user = world.targets.get(t)?.user.clone();
    let mut p = Person {
        world,
        ledger,
        choices,
        step,
        user,
    };
    match p.choices.weighted(&WEIGHTS) {
        0 => p.create_key(&snap),
        1 => p.delete_key(&snap),
        2 => p.switch_key(&snap),
        3 => p.create_set(),
        4 => p.delete_set(&snap),
        5 => p.rewrite_set(&snap),
        6 => {
            let theirs = ledger_sets(p.ledger);
            point_holder(
                p.world,
                &snap,
                &mut toucher(p.ledger, p.step),
                theirs,
                p.choices,
                false,
            )
        }
        7 => edit_beside(p.world, &snap, &mut toucher(p.ledger, p.step), p.choices),
        8 => touch_tag(p.world, &snap, (&p.user, p.ledger, p.step), p.choices),
        9 => Some(p.write_log()),
        10 => p.use_key(&snap),
        _ => point_holder(
            p.world,
            &snap,
            &mut toucher(p.ledger, p.step),
            Vec::new(),
            p.choices,
            true,
        ),
    }
}

/// What a person changes, recorded in `ledger` at `step`, as a function.
fn toucher(ledger: &mut Ledger, step: u64) -> impl FnMut(Kind, &str) + '_ {
    move |kind, object| {
        ledger.touches.push(Touch {
            kind,
            object: object.to_string(),
            step,
        });
    }
}

/// A person at work on one target's IAM user, at one step.
struct Person<'a> {
    world: &'a mut SimWorld,
    ledger: &'a mut Ledger,
    choices: &'a mut Choices,
    step: u64,
    user: String,
}

impl Person<'_> {
    /// Records what the person changed.
    fn touch(&mut self, kind: Kind, object: &str) {
        self.ledger.touches.push(Touch {
            kind,
            object: object.to_string(),
            step: self.step,
        });
    }

    /// The user's keys.
    fn user_keys(&self, snap: &Snapshot) -> Vec<String> {
        snap.keys
            .iter()
            .filter(|(_, k)| k.user == self.user)
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn create_key(&mut self, snap: &Snapshot) -> Option<Act> {
        let helper = self.world.iam.helper();
        let (id, secret) = at_once(helper.create_access_key(&self.user))?.ok()?;
        self.touch(Kind::Keys, &id);
        self.ledger.person_keys.insert(id.clone());
        self.world.planted.push(secret);
        // A run announced it is creating a key on this user: until it records the key it
        // made, one new key after the announcement counts as that run's
        // (crates/core/src/records.rs, `creating`). IAM cannot tell the two apart.
        let announced = snap
            .tags
            .get(&self.user)
            .into_iter()
            .flatten()
            .any(|(k, _)| k.starts_with("soracom-key-rotator:creating:"));
        if announced {
            self.ledger.announced_over.insert(id.clone());
        }
        Some(Act {
            what: format!("created key {id} for {}", self.user),
            needs_human: true,
        })
    }

    fn delete_key(&mut self, snap: &Snapshot) -> Option<Act> {
        let id = pick(&self.user_keys(snap), self.choices)?;
        at_once(self.world.iam.helper().delete_access_key(&self.user, &id))?.ok()?;
        self.touch(Kind::Keys, &id);
        Some(Act {
            what: format!("deleted key {id} of {}", self.user),
            needs_human: true,
        })
    }

    fn switch_key(&mut self, snap: &Snapshot) -> Option<Act> {
        let id = pick(&self.user_keys(snap), self.choices)?;
        let active = !snap.keys.get(&id)?.active;
        at_once(
            self.world
                .iam
                .helper()
                .set_key_status(&self.user, &id, active),
        )?
        .ok()?;
        self.touch(Kind::Keys, &id);
        let done = if active {
            "re-activated"
        } else {
            "deactivated"
        };
        Some(Act {
            what: format!("{done} key {id} of {}", self.user),
            needs_human: true,
        })
    }

    fn create_set(&mut self) -> Option<Act> {
        let id = format!("person-set-{}", self.step);
        self.world.emu.put_credential(
            &id,
            "aws-credentials",
            "mine",
            json!({"accessKeyId": "AKIAPERSONPERSON0001", "secretAccessKey": "person-secret-not-a-real-one-000000000000"}),
            0,
        );
        self.touch(Kind::Sets, &id);
        self.ledger.person_sets.insert(id.clone());
        Some(Act {
            what: format!("created set {id} of their own"),
            needs_human: false,
        })
    }

    fn delete_set(&mut self, snap: &Snapshot) -> Option<Act> {
        let id = pick(&snap.sets.keys().cloned().collect::<Vec<_>>(), self.choices)?;
        self.world.emu.remove_credential(&id);
        self.touch(Kind::Sets, &id);
        Some(Act {
            what: format!("deleted set {id}"),
            needs_human: true,
        })
    }

    fn rewrite_set(&mut self, snap: &Snapshot) -> Option<Act> {
        let known: Vec<String> = self
            .ledger
            .person_keys
            .iter()
            .chain(&self.world.seed_keys)
            .filter(|k| snap.keys.contains_key(*k))
            .cloned()
            .collect();
        let (act, set, key) = rewrite_set(
            self.world,
            snap,
            &known,
            &mut toucher(self.ledger, self.step),
            self.choices,
        )?;
        if crate::oracle::owned(&self.world.targets, &set) {
            self.ledger.handed_over.insert(key);
        }
        Some(act)
    }

    /// An error log as Funnel writes one when AWS refuses its credentials.
    fn write_log(&mut self) -> Act {
        let now = self.world.clock_now();
        self.world.emu.emit_log(LogEntry {
            service: LogService::Funnel,
            resource_type: LogResourceType::Subscriber,
            resource_id: "440101234567890".into(),
            time: i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
            log_level: LogLevel::Error,
            body: json!({"message": "Failed to put record: UnrecognizedClientException", "statusCode": 400})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        });
        Act {
            what: "wrote a Funnel error log".into(),
            needs_human: self.world.targets.iter().any(|t| t.canary),
        }
    }

    fn use_key(&mut self, snap: &Snapshot) -> Option<Act> {
        let id = pick(&self.user_keys(snap), self.choices)?;
        at_once(self.world.iam.helper().use_key(&id, "s3", "ap-northeast-1"))?.ok()?;
        self.touch(Kind::Keys, &id);
        Some(Act {
            what: format!("used key {id} from elsewhere"),
            needs_human: true,
        })
    }
}

fn ledger_sets(ledger: &Ledger) -> Vec<String> {
    ledger.person_sets.iter().cloned().collect()
}

fn pick(items: &[String], choices: &mut Choices) -> Option<String> {
    if items.is_empty() {
        return None;
    }
    items.get(choices.below(items.len())).cloned()
}

/// Rewrites a set: a key whose secret a person knows (`known`: theirs, or one made by
/// hand before the tool ran; the tool's secrets are never shown to anyone), or a key
/// that does not exist.
fn rewrite_set(
    world: &SimWorld,
    snap: &Snapshot,
    known: &[String],
    touch: &mut impl FnMut(Kind, &str),
    choices: &mut Choices,
) -> Option<(Act, String, String)> {
    let id = pick(&snap.sets.keys().cloned().collect::<Vec<_>>(), choices)?;
    let (key, secret) = match pick(known, choices) {
        Some(k) if choices.chance(600) => {
            let secret = snap.keys.get(&k)?.secret.clone();
            (k, secret)
        }
        _ => (
            "AKIANOSUCHKEY0000001".to_string(),
            "no-such-secret-0000000000000000000000000".to_string(),
        ),
    };
    let c = world.emu.credential(&id)?;
    world.emu.put_credential(
        &id,
        &c.kind,
        &c.description,
        json!({"accessKeyId": key, "secretAccessKey": secret}),
        c.create_ms,
    );
    touch(Kind::Sets, &id);
    let act = Act {
        what: format!("rewrote set {id} to hold key {key}"),
        needs_human: true,
    };
    Some((act, id, key))
}

/// Points one reference of a holder at one of `sets` (their own) or, when `missing`, at
/// a set of the target's names that does not exist.
fn point_holder(
    world: &SimWorld,
    snap: &Snapshot,
    touch: &mut impl FnMut(Kind, &str),
    sets: Vec<String>,
    choices: &mut Choices,
    missing: bool,
) -> Option<Act> {
    let refs = snap.references();
    let (holder, from) = refs.get(choices.below(refs.len()))?.clone();
    let to = if missing {
        format!("{}-991231", world.targets.first()?.prefix)
    } else {
        let mut candidates = sets;
        candidates.extend(snap.sets.keys().filter(|s| **s != from).cloned());
        pick(&candidates, choices)?
    };
    let mut value = snap.holders.get(&holder)?.clone();
    replace_ref(&mut value, &from, &to);
    write_holder(world, &holder, value)?;
    touch(Kind::of_holder(&holder), &holder);
    Some(Act {
        what: format!("pointed {holder} from {from} at {to}"),
        needs_human: true,
    })
}

/// Edits something beside a holder's references: a handler's webhook URL and rule, a
/// group's other namespace, a VPG's content type.
fn edit_beside(
    world: &mut SimWorld,
    snap: &Snapshot,
    touch: &mut impl FnMut(Kind, &str),
    choices: &mut Choices,
) -> Option<Act> {
    let holders: Vec<String> = snap.holders.keys().cloned().collect();
    let holder = pick(&holders, choices)?;
    let mut value = snap.holders.get(&holder)?.clone();
    let token = format!("edited-by-a-person-token-{:08x}", choices.below(1 << 30));
    match Kind::of_holder(&holder) {
        Kind::Handlers => {
            let actions = value.get_mut("actionConfigList")?.as_array_mut()?;
            for a in actions.iter_mut() {
                if let Some(url) = a.pointer_mut("/properties/url") {
                    *url =
                        Value::String(format!("https://partner.example.invalid/new?token={token}"));
                }
            }
            if let Some(mb) = value.pointer_mut("/ruleConfig/properties/limitTotalTrafficMegaByte")
            {
                *mb = Value::String("250".into());
            }
        }
        Kind::Groups => {
            value.as_object_mut()?.insert(
                "SoracomAir".into(),
                json!({"metadata": {"enabled": false}, "userdata": token}),
            );
        }
        _ => {
            let report = value.get_mut("report")?.as_object_mut()?;
            report.insert("contentType".into(), Value::String("text".into()));
        }
    }
    write_holder(world, &holder, value)?;
    world.planted.push(token);
    touch(Kind::of_holder(&holder), &holder);
    Some(Act {
        what: format!("edited {holder} beside its references"),
        needs_human: false,
    })
}

/// Deletes or garbles one of the tool's tags on `user` at `step` (a lease among them: the
/// ledger keeps when).
fn touch_tag(
    world: &SimWorld,
    snap: &Snapshot,
    (user, ledger, step): (&str, &mut Ledger, u64),
    choices: &mut Choices,
) -> Option<Act> {
    let tags: Vec<String> = snap
        .tags
        .get(user)?
        .iter()
        .filter(|(k, v)| {
            k.starts_with("soracom-key-rotator") || v.starts_with("soracom-key-rotator")
        })
        .map(|(k, _)| k.clone())
        .collect();
    let key = pick(&tags, choices)?;
    if key.starts_with(&lease_key("")) {
        ledger.leases_taken.push(step);
    }
    let helper = world.iam.helper();
    if choices.chance(500) {
        at_once(helper.untag_user(user, std::slice::from_ref(&key)))?.ok()?;
        Some(Act {
            what: format!("deleted tag {key} of {user}"),
            needs_human: true,
        })
    } else {
        at_once(helper.tag_user(user, &key, "edited by a person"))?.ok()?;
        Some(Act {
            what: format!("edited tag {key} of {user}"),
            needs_human: true,
        })
    }
}

/// Replaces the references to `from` in `value` by `to`, in their shapes.
fn replace_ref(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                let is_ref = k == "credentialsId" || k == "$credentialsId";
                if is_ref && v.as_str() == Some(from) {
                    *v = Value::String(to.to_string());
                } else {
                    replace_ref(v, from, to);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|v| replace_ref(v, from, to)),
        _ => {}
    }
}

/// Writes `value` into `holder`, as the console would.
fn write_holder(world: &SimWorld, holder: &str, value: Value) -> Option<()> {
    let (kind, id) = holder.split_once(':')?;
    match kind {
        "group" => {
            for (ns, v) in value.as_object()? {
                world.emu.set_group_namespace(id, ns, v.clone());
            }
            Some(())
        }
        "handler" => {
            world.emu.add_event_handler(value);
            Some(())
        }
        _ => {
            world.emu.add_vpg(id, value);
            Some(())
        }
    }
}
