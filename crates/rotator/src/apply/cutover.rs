//! The cutover: every reference moves onto the key in use — the first alone when this run
//! made the key (so that a failure before any move is clean), the rest with bounded
//! concurrency. The key is checked right before the first move and after the last;
//! references that moved onto a key someone switched off meanwhile go back. A holder that
//! refuses the role set stays on the key, for good.

use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet};

use rotator_core::execution::{
    after_check, appeared, back_wait, cutover_key, failed_cutover, key_check, move_back,
    ready_after_wait, refresh, role_refusal, set_check, unproved_wait, AfterCheck, FailedCutover,
    Fresh, KeyCheck, SetCheck,
};
use rotator_core::wording::LeftAlone;
use serde_json::Value;

use super::keys::Rotated;
use super::run::{Stop, TargetRun};
use super::Engine;
use crate::error::{Error, Result};
use crate::iam::IamApi;
use crate::model::{Holder, KeyStatus};
use crate::plan::{resolve, Repoint, View};
use crate::records::{role_tag, KeyRecord};
use crate::refs::points_to;
use crate::report::Change;
use crate::secret::AccessKeyId;
use crate::soracom::SoracomApi;
use crate::wording::Words;

/// What a failed cutover's moves leave.
type Moved<'p> = (Vec<&'p Repoint>, Option<(&'p Repoint, Error)>);

impl<I: IamApi, S: SoracomApi> Engine<'_, I, S> {
    /// Moves every reference of the plan; records the cutover of the key this run made.
    pub(super) async fn cutover(
        &self,
        run: &mut TargetRun<'_>,
        rotated: Option<&Rotated>,
    ) -> Result<(), Stop> {
        let repoints = run.plan.cutover.clone();
        run.moves.total = repoints.len();
        let view = resolve(run.target, run.obs, run.clock.start());
        let key = cutover_key(&run.plan, &view, rotated.map(|r| &r.key.id));
        let dest = repoints.first().map(|r| r.to.clone());
        if let (Some(to), Some(k)) = (&dest, &key) {
            if rotated.is_none() {
                let window = self.config.verify.timeout;
                if let Some(wait) = unproved_wait(&run.obs.keys, k, run.clock.now(), window) {
                    self.clock.sleep(wait).await;
                    run.ok(format!(
                        "waited {} s before the first move: key {k} of {to} is new and this \
                         run did not prove it",
                        wait.as_secs()
                    ));
                }
            }
            self.before_first_move(run, (to, k), rotated).await?;
        }
        let groups = self.groups_now(run, &repoints, rotated).await?;
        let refs: Vec<&Repoint> = repoints.iter().collect();
        let (moved, failure) = self
            .repoint_all(&refs, (rotated.is_some(), groups.as_ref()), run)
            .await;
        run.moves.moved = moved.len();
        if let (Some(to), Some(k), false) = (&dest, &key, moved.is_empty()) {
            self.after_last_move(run, (to, k), (&view, &moved), rotated)
                .await?;
        }
        let failure = match failure {
            Some((a, e)) => self.refused_or_failed(run, a, e).await,
            None => None,
        };
        if let Some((a, e)) = failure {
            return Err(self.failed_move(run, (a, e), moved.len(), rotated).await);
        }
        self.cutover_done(run, rotated).await
    }

    /// The group slots the moves write, as every page of groups shows them right before
    /// the first move (after the key check), so that a slot someone changed since the
    /// observation is left to them ([`refresh`]); `None` when no move is a group's. A
    /// failed listing moves nothing, and the next run resumes.
    async fn groups_now(
        &self,
        run: &mut TargetRun<'_>,
        repoints: &[Repoint],
        rotated: Option<&Rotated>,
    ) -> Result<Option<GroupsNow>, Stop> {
        let wanted: BTreeSet<&str> = repoints
            .iter()
            .filter_map(|r| match &r.slot.holder {
                Holder::GroupKey { group_id, .. } => Some(group_id.as_str()),
                _ => None,
            })
            .collect();
        if wanted.is_empty() {
            return Ok(None);
        }
        match self.observer().group_values(&wanted).await {
            Ok(groups) => Ok(Some(groups)),
            Err(e) => {
                self.hand_over(run, rotated).await;
                Err(Stop::failed(
                    "reading the groups again right before the first move",
                    e,
                    "no reference was moved; the next reconcile resumes the cutover",
                ))
            }
        }
    }

    /// The key references move onto, and (unless this run just made it) the set that holds
    /// it, checked right before the first move: the key switched off or gone, the set
    /// deleted or rewritten, or IAM or SORACOM not telling — nothing moves, and what this
    /// run made goes.
    async fn before_first_move(
        &self,
        run: &mut TargetRun<'_>,
        (to, k): (&str, &AccessKeyId),
        rotated: Option<&Rotated>,
    ) -> Result<(), Stop> {
        let what = format!("checking key {k} of {to} right before the first move");
        let next = "no reference was moved; the next reconcile starts over";
        let why = match self.key_check(run.user(), k).await {
            // The set this run just made and registered needs no second look.
            Ok(KeyCheck::Active) if rotated.is_some() => return Ok(()),
            Ok(KeyCheck::Active) => match self.soracom.list_credentials().await {
                Ok(sets) if appeared(&run.plan.cutover, &run.obs.sets, &sets).is_some() => {
                    return Err(Stop::busy(what, next));
                }
                Ok(sets) => match set_check(&sets, to, k) {
                    SetCheck::Holds => return Ok(()),
                    check => format!("credential set {to} {}", check.words()),
                },
                Err(e) => e.to_string(),
            },
            Ok(check) => format!("access key {k} {}", check.words()),
            Err(e) => e.to_string(),
        };
        if let Some(r) = rotated {
            self.undo(run, &r.set_id, &r.key).await;
        }
        Err(Stop::found(what, why, next))
    }

    /// The key checked after the last move (or the one that failed): references that moved
    /// onto a key someone switched off meanwhile go back where they came from; when IAM
    /// cannot tell, they stay and the next run checks again.
    async fn after_last_move(
        &self,
        run: &mut TargetRun<'_>,
        (to, k): (&str, &AccessKeyId),
        (view, moved): (&View, &[&Repoint]),
        rotated: Option<&Rotated>,
    ) -> Result<(), Stop> {
        let what = format!("checking key {k} of {to} after the last move");
        let check = match self.key_check(run.user(), k).await {
            Ok(check) => check,
            Err(e) => {
                // Not known either way: the references stay; the next run checks again.
                self.hand_over(run, rotated).await;
                return Err(Stop::failed(
                    what,
                    e,
                    "the next reconcile checks the key again and finishes the cutover",
                ));
            }
        };
        match after_check(Some(check)) {
            AfterCheck::GoOn => Ok(()),
            AfterCheck::Back | AfterCheck::Unknown => {
                let back = self.move_back(run, view, moved).await;
                Err(Stop::found(
                    what,
                    format!("access key {k} {}", check.words()),
                    back,
                ))
            }
        }
    }

    /// What IAM says of `key` now.
    async fn key_check(&self, user: &str, key: &AccessKeyId) -> Result<KeyCheck> {
        let statuses = self.iam.key_statuses(user).await?;
        Ok(key_check(&statuses, key))
    }

    /// A failed move onto the role set that the holder refused ([`role_refusal`]): its kind
    /// is recorded as refused and its canary ends; no failure remains unless recording it
    /// failed. Any other failed move stays a failure.
    async fn refused_or_failed<'p>(
        &self,
        run: &mut TargetRun<'_>,
        a: &'p Repoint,
        e: Error,
    ) -> Option<(&'p Repoint, Error)> {
        let Some(kind) = role_refusal(run.target, a, e.rejects_the_value()) else {
            return Some((a, e));
        };
        let user = run.user();
        let tag = role_tag(&kind, true, run.clock.now());
        if let Err(e) = self.record(user, tag, &Refused(a), run).await {
            return Some((a, e));
        }
        let (canary, _) = role_tag(&kind, false, run.clock.start());
        match self.iam.untag(user, &[canary]).await {
            Ok(()) => None,
            Err(e) => Some((a, e)),
        }
    }

    /// A cutover stopped on a failed write ([`failed_cutover`]): nothing moved and the write
    /// was rejected — what this run made goes; otherwise the new set keeps its key and the
    /// next run resumes.
    async fn failed_move(
        &self,
        run: &mut TargetRun<'_>,
        (a, e): (&Repoint, Error),
        moved: usize,
        rotated: Option<&Rotated>,
    ) -> Stop {
        let what = a.words();
        let definite = e.is_definite_rejection();
        if let (FailedCutover::Undo, Some(r)) =
            (failed_cutover(moved, definite, rotated.is_some()), rotated)
        {
            self.undo(run, &r.set_id, &r.key).await;
            return Stop::failed(
                what,
                e,
                "no reference was moved; the new set and key were deleted; run again",
            );
        }
        // The set holds the new key: the next run may resume the cutover at once.
        self.hand_over(run, rotated).await;
        let next = format!(
            "{moved} of {} references moved; the next reconcile resumes the cutover (no new key)",
            run.moves.total
        );
        Stop::failed(what, e, next)
    }

    /// The cutover is done: from now on the set holds the key this run made, and other
    /// runs may act.
    async fn cutover_done(
        &self,
        run: &mut TargetRun<'_>,
        rotated: Option<&Rotated>,
    ) -> Result<(), Stop> {
        let Some(Rotated { set_id, key }) = rotated else {
            return Ok(());
        };
        let held = KeyRecord::HeldBy {
            set_id: set_id.clone(),
            since: run.clock.now(),
        };
        if let Err(e) = self.record_key(run.user(), &key.id, &held).await {
            return Err(Stop::failed(
                format!("recording that {set_id} holds access key {}", key.id),
                e,
                "every reference moved; the next run (in two hours at the latest) records the rest",
            ));
        }
        let previous = run
            .plan
            .current
            .as_ref()
            .and_then(|c| c.link.key().cloned());
        run.changes.push(Change::Rotated {
            key: key.id.clone(),
            set_id: set_id.clone(),
            previous,
        });
        Ok(())
    }

    /// A run that stops during its cutover records that the new set holds its key, so the
    /// next run may resume the cutover at once (a run that dies leaves the key in flight,
    /// and other runs wait out the limit).
    async fn hand_over(&self, run: &mut TargetRun<'_>, rotated: Option<&Rotated>) {
        let Some(Rotated { set_id, key }) = rotated else {
            return;
        };
        let held = KeyRecord::HeldBy {
            set_id: set_id.clone(),
            since: run.clock.now(),
        };
        if let Err(e) = self.record_key(run.user(), &key.id, &held).await {
            run.fail(
                format!("recording that {set_id} holds access key {}", key.id),
                &e,
            );
        }
    }

    /// Moves the references `moved` back where [`move_back`] says, from the keys and the
    /// sets as they are now (when either cannot be read, nothing moves back); what to tell
    /// the operator.
    async fn move_back(&self, run: &mut TargetRun<'_>, view: &View, moved: &[&Repoint]) -> String {
        let (mut back, mut stuck) = (0, 0);
        let mut backs = self.ways_back(run, view, moved).await;
        let onto: Vec<AccessKeyId> = backs.iter().flatten().map(|(_, k)| k.clone()).collect();
        let window = self.config.verify.timeout;
        if let Some(wait) = back_wait(&run.obs.keys, &onto, run.clock.now(), window) {
            self.clock.sleep(wait).await;
            run.ok(format!(
                "waited {} s before moving back: a key references go back to is new and this \
                 run did not prove it",
                wait.as_secs()
            ));
            // The keys and sets may have changed during the wait: read again.
            let again = self.ways_back(run, view, moved).await;
            let now = run.clock.now();
            backs = ready_after_wait(again, &onto, &run.obs.keys, (now, window));
        }
        for reverse in backs {
            let Some((reverse, _)) = reverse else {
                stuck += 1;
                continue;
            };
            match self.repoint_one(&reverse, None).await {
                Ok(Wrote::Moved) => {
                    back += 1;
                    run.ok(format!("moved back: {}", reverse.words()));
                }
                Ok(Wrote::Left(now)) => {
                    stuck += 1;
                    run.ok(LeftAlone {
                        action: &reverse,
                        now: &now,
                    }
                    .words());
                }
                Err(e) => {
                    stuck += 1;
                    run.fail(reverse.words(), &e);
                }
            }
        }
        format!(
            "{back} reference(s) moved back to the previous set; {stuck} could not be: \
             a human must check them now"
        )
    }

    /// Where each of `moved` goes back to ([`move_back`]), from the keys and the sets as IAM
    /// and SORACOM list them now; when either cannot be read, nowhere (the run says why).
    async fn ways_back(
        &self,
        run: &mut TargetRun<'_>,
        view: &View,
        moved: &[&Repoint],
    ) -> Vec<Option<(Repoint, AccessKeyId)>> {
        let active: Vec<AccessKeyId> = self
            .iam
            .key_statuses(run.user())
            .await
            .map(|ks| {
                ks.into_iter()
                    .filter(|(_, s)| *s == KeyStatus::Active)
                    .map(|(id, _)| id)
                    .collect()
            })
            .unwrap_or_default();
        let sets = match self.soracom.list_credentials().await {
            Ok(sets) => sets,
            Err(e) => {
                run.fail(
                    "listing the credential sets to move references back".into(),
                    &e,
                );
                Vec::new()
            }
        };
        move_back(view, moved, (&active, &sets))
    }

    /// Repoints every slot: the first alone when `first_alone` (so a failure before any
    /// move is clean), the rest with bounded concurrency; stops starting new writes after a
    /// failure.
    async fn repoint_all<'p>(
        &self,
        actions: &[&'p Repoint],
        (first_alone, groups): (bool, Option<&GroupsNow>),
        run: &mut TargetRun<'_>,
    ) -> Moved<'p> {
        if actions.is_empty() {
            return (Vec::new(), None);
        }
        self.progress.start("repointing", actions.len() as u64);
        let mut moved: Vec<&'p Repoint> = Vec::new();
        let mut rest = actions;
        if first_alone {
            if let Some((first, tail)) = actions.split_first() {
                match self.repoint_one(first, groups).await {
                    Err(e) => {
                        self.progress.finish();
                        return (moved, Some((first, e)));
                    }
                    Ok(Wrote::Left(now)) => run.ok(LeftAlone {
                        action: first,
                        now: &now,
                    }
                    .words()),
                    Ok(Wrote::Moved) => moved.push(first),
                }
                self.progress.advance();
                rest = tail;
            }
        }
        let stop = AtomicBool::new(false);
        // The futures are made before they are streamed: a stream over a closure that makes
        // them would not be provably `Send` (rustc's higher-ranked lifetime limitation).
        let pending: Vec<_> = rest
            .iter()
            .map(|a| self.repoint_unless_stopped(a, groups, &stop))
            .collect();
        let results: Vec<(&'p Repoint, Option<Result<Wrote>>)> = futures::stream::iter(pending)
            .buffer_unordered(self.config.soracom.concurrency)
            .collect()
            .await;
        self.progress.finish();
        let mut failure = None;
        for (a, r) in results {
            match r {
                Some(Ok(Wrote::Moved)) => moved.push(a),
                Some(Ok(Wrote::Left(now))) => run.ok(LeftAlone {
                    action: a,
                    now: &now,
                }
                .words()),
                Some(Err(e)) if failure.is_none() => failure = Some((a, e)),
                Some(Err(e)) => run.fail(a.words(), &e),
                None => {}
            }
        }
        run.ok(format!(
            "repointed {} of {} references",
            moved.len(),
            actions.len()
        ));
        (moved, failure)
    }

    /// Moves `a` unless another move failed (`stop`); a failure stops the moves not yet
    /// started.
    async fn repoint_unless_stopped<'p>(
        &self,
        a: &'p Repoint,
        groups: Option<&GroupsNow>,
        stop: &AtomicBool,
    ) -> (&'p Repoint, Option<Result<Wrote>>) {
        if stop.load(Ordering::SeqCst) {
            return (a, None);
        }
        let r = self.repoint_one(a, groups).await;
        match &r {
            Ok(_) => self.progress.advance(),
            Err(_) => stop.store(true, Ordering::SeqCst),
        }
        (a, Some(r))
    }

    /// Writes one slot with its references moved, as the holder is right before the write
    /// ([`refresh`]): a group slot as `groups` (the listing right before the first move)
    /// shows it — without one, as observed (moving back what this run just moved) — and an
    /// event handler or a VPG read again. A reference someone moved elsewhere since is left
    /// to them.
    async fn repoint_one(&self, action: &Repoint, groups: Option<&GroupsNow>) -> Result<Wrote> {
        let Repoint { slot, from, to } = action;
        let now = match &slot.holder {
            Holder::GroupKey {
                group_id,
                namespace,
                key,
                ..
            } => match groups {
                Some(g) => g
                    .get(&(group_id.clone(), namespace.clone(), key.clone()))
                    .cloned()
                    .unwrap_or(Value::Null),
                None => slot.value.clone(),
            },
            Holder::EventHandler { handler_id, .. } => {
                self.soracom.get_event_handler(handler_id).await?
            }
            Holder::VpgInspection { vpg_id, .. } => self
                .soracom
                .get_vpg(vpg_id)
                .await?
                .get("inspection")
                .cloned()
                .unwrap_or(Value::Null),
        };
        let value = match refresh(action, &now) {
            Fresh::Write(v) => v,
            Fresh::Already => return Ok(Wrote::Moved),
            Fresh::Moved { now } => {
                tracing::info!(holder = %slot.holder, "changed since observed: left alone");
                return Ok(Wrote::Left(now));
            }
        };
        match &slot.holder {
            Holder::GroupKey {
                group_id,
                namespace,
                key,
                ..
            } => {
                let group = self
                    .soracom
                    .put_group_config(group_id, namespace, key, &value)
                    .await?;
                let echoed = group
                    .configuration
                    .get(namespace)
                    .and_then(|ns| ns.get(key));
                let confirmed =
                    echoed.is_some_and(|v| from.iter().all(|f| points_to(v, &slot.refs, f, to)));
                if !confirmed {
                    return Err(Error::Unconfirmed(format!(
                        "{}: the response does not show {to}",
                        slot.holder
                    )));
                }
            }
            Holder::EventHandler { handler_id, .. } => {
                let mut body = value;
                if let Value::Object(m) = &mut body {
                    m.remove("handlerId");
                }
                self.soracom.update_event_handler(handler_id, &body).await?;
            }
            Holder::VpgInspection { vpg_id, .. } => {
                self.soracom.set_inspection(vpg_id, &value).await?;
            }
        }
        tracing::info!(holder = %slot.holder, to = %to, "repointed");
        Ok(Wrote::Moved)
    }
}

/// The group slots a cutover moves, as a listing right before its first move shows them:
/// (group id, namespace, key) → value.
type GroupsNow = BTreeMap<(String, String, String), Value>;

/// What became of one move.
enum Wrote {
    /// The references are on the destination (written now, or already).
    Moved,
    /// Someone moved them elsewhere after the run read the holder: left where they are
    /// (what they name now).
    Left(Vec<String>),
}

/// A holder's refusal of the role set, as a step of the run.
struct Refused<'a>(&'a Repoint);

impl Words for Refused<'_> {
    fn words(&self) -> String {
        format!(
            "{} refused the role set {}: it stays on the key (its kind is recorded as refused)",
            self.0.slot.holder, self.0.to
        )
    }
}
