//! Finding and rewriting references to credential sets inside SORACOM JSON.
//!
//! References come in more than one shape (SORACOM's API spec): a string `credentialsId`
//! (Funnel, event handler actions) or an object `{"$credentialsId": …}` (Funk, Beam).
//! Rather than naming fields per service, the walker visits the whole value; the
//! rewriter writes each reference back in the shape it was read, changing nothing else.

use serde_json::{Map, Value};

use crate::model::{Holder, Ref, Seg, Shape, Slot};

/// Member holding a plain string reference.
const STRING_KEY: &str = "credentialsId";
/// Member of an object reference.
const OBJECT_KEY: &str = "$credentialsId";
/// Deeper nesting than this is not configuration; it is not searched.
const MAX_DEPTH: usize = 64;

/// Every reference inside `value`, in document order.
pub fn find_refs(value: &Value) -> Vec<Ref> {
    let mut out = Vec::new();
    let mut path = Vec::new();
    walk(value, &mut path, &mut out, 0);
    out
}

fn walk(value: &Value, path: &mut Vec<Seg>, out: &mut Vec<Ref>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Object(map) => {
            if let Some(Value::String(id)) = map.get(OBJECT_KEY) {
                out.push(Ref {
                    path: path.clone(),
                    shape: Shape::Object,
                    set_id: id.clone(),
                });
            }
            for (k, v) in map {
                if k == STRING_KEY {
                    if let Value::String(id) = v {
                        let mut p = path.clone();
                        p.push(Seg::Key(k.clone()));
                        out.push(Ref {
                            path: p,
                            shape: Shape::String,
                            set_id: id.clone(),
                        });
                        continue;
                    }
                }
                path.push(Seg::Key(k.clone()));
                walk(v, path, out, depth + 1);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                walk(v, path, out, depth + 1);
                path.pop();
            }
        }
        _ => {}
    }
}

/// The slots of one group's configuration that reference a set `wanted` accepts.
pub fn group_slots(
    group_id: &str,
    group_name: Option<&str>,
    configuration: &Map<String, Value>,
    wanted: impl Fn(&str) -> bool,
) -> Vec<Slot> {
    let mut slots = Vec::new();
    for (namespace, ns_value) in configuration {
        let Value::Object(keys) = ns_value else {
            continue;
        };
        for (key, value) in keys {
            // A reference directly at the top-level key (Funnel's `credentialsId`) is found
            // by walking a one-member object, so its path starts with the key itself.
            let mut wrapper = Map::new();
            wrapper.insert(key.clone(), value.clone());
            let refs: Vec<Ref> = find_refs(&Value::Object(wrapper))
                .into_iter()
                .filter(|r| wanted(&r.set_id))
                .filter_map(|mut r| {
                    // Paths are kept relative to the key's value.
                    if r.path.first() == Some(&Seg::Key(key.clone())) {
                        r.path.remove(0);
                        Some(r)
                    } else {
                        None
                    }
                })
                .collect();
            if !refs.is_empty() {
                slots.push(Slot {
                    holder: Holder::GroupKey {
                        group_id: group_id.to_string(),
                        group_name: group_name.map(str::to_string),
                        namespace: namespace.clone(),
                        key: key.clone(),
                    },
                    value: value.clone(),
                    refs,
                });
            }
        }
    }
    slots
}

/// The slot of an event handler, if it references a set `wanted` accepts.
pub fn handler_slot(handler: &Value, wanted: impl Fn(&str) -> bool) -> Option<Slot> {
    let handler_id = handler.get("handlerId")?.as_str()?.to_string();
    let name = handler
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string);
    whole_slot(Holder::EventHandler { handler_id, name }, handler, wanted)
}

/// The slot of a VPG's Junction inspection configuration, if its report references a set
/// `wanted` accepts.
pub fn vpg_slot(vpg: &Value, wanted: impl Fn(&str) -> bool) -> Option<Slot> {
    let vpg_id = vpg.get("vpgId")?.as_str()?.to_string();
    let inspection = vpg.get("inspection")?;
    let name = vpg
        .get("tags")
        .and_then(|t| t.get("name"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    whole_slot(Holder::VpgInspection { vpg_id, name }, inspection, wanted)
}

/// The slot of `holder`, whose `value` is written back whole, if it references a set
/// `wanted` accepts.
fn whole_slot(holder: Holder, value: &Value, wanted: impl Fn(&str) -> bool) -> Option<Slot> {
    let refs: Vec<Ref> = find_refs(value)
        .into_iter()
        .filter(|r| wanted(&r.set_id))
        .collect();
    (!refs.is_empty()).then(|| Slot {
        holder,
        value: value.clone(),
        refs,
    })
}

/// `value` with every reference to `from` replaced by `to`, each in its own shape.
pub fn rewrite(value: &Value, refs: &[Ref], from: &str, to: &str) -> Value {
    let mut out = value.clone();
    for r in refs.iter().filter(|r| r.set_id == from) {
        let Some(target) = pointer_mut(&mut out, &r.path) else {
            continue;
        };
        match r.shape {
            Shape::String => *target = Value::String(to.to_string()),
            Shape::Object => {
                if let Value::Object(map) = target {
                    map.insert(OBJECT_KEY.to_string(), Value::String(to.to_string()));
                }
            }
        }
    }
    out
}

/// The set `value` names where `r` was found, read in `r`'s shape; `None` when nothing
/// of that shape is there any more.
pub fn set_at(value: &Value, r: &Ref) -> Option<String> {
    let mut v = value.clone();
    match (pointer_mut(&mut v, &r.path)?, r.shape) {
        (Value::String(s), Shape::String) => Some(s.clone()),
        (Value::Object(m), Shape::Object) => m
            .get(OBJECT_KEY)
            .and_then(Value::as_str)
            .map(str::to_string),
        _ => None,
    }
}

/// Whether `value` references `to` wherever `refs` said `from` was.
pub fn points_to(value: &Value, refs: &[Ref], from: &str, to: &str) -> bool {
    refs.iter().filter(|r| r.set_id == from).all(|r| {
        let mut v = value.clone();
        match (pointer_mut(&mut v, &r.path), r.shape) {
            (Some(Value::String(s)), Shape::String) => s == to,
            (Some(Value::Object(m)), Shape::Object) => {
                m.get(OBJECT_KEY).and_then(Value::as_str) == Some(to)
            }
            _ => false,
        }
    })
}

fn pointer_mut<'a>(value: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    let mut cur = value;
    for seg in path {
        cur = match (seg, cur) {
            (Seg::Key(k), Value::Object(m)) => m.get_mut(k)?,
            (Seg::Index(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_every_shape() {
        let cfg = json!({
            "SoracomFunnel": {"credentialsId": "a-1", "enabled": true, "destination": {"provider": "aws"}},
            "SoracomFunk": {"credentialsId": {"$credentialsId": "a-2"}, "enabled": true},
            "SoracomBeam": {"http://beam.soracom.io:8888/x": {"auth": {"sigv4": {"$credentialsId": "a-3", "region": "x"}}}},
            "SoracomAir": {"metadata": {"enabled": true}},
        });
        let Value::Object(map) = cfg else {
            panic!("object")
        };
        let slots = group_slots("g1", Some("test-1"), &map, |id| id.starts_with("a-"));
        let found: Vec<(String, String, Shape)> = slots
            .iter()
            .flat_map(|s| {
                let ns = match &s.holder {
                    Holder::GroupKey { namespace, .. } => namespace.clone(),
                    Holder::EventHandler { .. } | Holder::VpgInspection { .. } => String::new(),
                };
                s.refs
                    .iter()
                    .map(move |r| (ns.clone(), r.set_id.clone(), r.shape))
            })
            .collect();
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found.contains(&("SoracomFunnel".into(), "a-1".into(), Shape::String)));
        assert!(found.contains(&("SoracomFunk".into(), "a-2".into(), Shape::Object)));
        assert!(found.contains(&("SoracomBeam".into(), "a-3".into(), Shape::Object)));
    }

    #[test]
    fn rewrites_in_the_shape_read_and_nothing_else() {
        let funk = json!({"$credentialsId": "old", "note": "keep"});
        let refs = find_refs(&json!({"credentialsId": funk.clone()}));
        assert_eq!(refs.len(), 1);
        let refs: Vec<Ref> = refs
            .into_iter()
            .map(|mut r| {
                r.path.remove(0);
                r
            })
            .collect();
        let new = rewrite(&funk, &refs, "old", "new");
        assert_eq!(new, json!({"$credentialsId": "new", "note": "keep"}));
        assert!(points_to(&new, &refs, "old", "new"));
        assert!(!points_to(&funk, &refs, "old", "new"));

        let handler = json!({
            "handlerId": "h1", "name": "lambda",
            "actionConfigList": [
                {"type": "SendMailAction", "properties": {"to": "a@b"}},
                {"type": "InvokeAWSLambdaAction", "properties": {"credentialsId": "old", "functionName": "f"}},
            ]
        });
        let slot = handler_slot(&handler, |id| id == "old");
        let Some(slot) = slot else {
            panic!("handler slot")
        };
        let new = rewrite(&slot.value, &slot.refs, "old", "new");
        assert_eq!(
            new["actionConfigList"][1]["properties"]["credentialsId"],
            "new"
        );
        assert_eq!(
            new["actionConfigList"][1]["properties"]["functionName"],
            "f"
        );
        assert_eq!(new["actionConfigList"][0], handler["actionConfigList"][0]);
    }

    #[test]
    fn ignores_unwanted_ids_and_non_string_values() {
        let v = json!({"credentialsId": 5, "x": {"credentialsId": "other"}, "y": [{"$credentialsId": null}]});
        assert_eq!(find_refs(&v).len(), 1);
        let Value::Object(map) = json!({"SoracomFunnel": {"credentialsId": "other"}}) else {
            panic!()
        };
        assert!(group_slots("g", None, &map, |id| id == "mine").is_empty());
    }

    #[test]
    fn deep_values_do_not_overflow() {
        let mut v = json!({"credentialsId": "deep"});
        for _ in 0..(MAX_DEPTH + 10) {
            v = json!([v]);
        }
        assert!(find_refs(&v).is_empty());
    }
}
