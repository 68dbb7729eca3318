//! A new key: announced, created, recorded as this tool's and in flight, verified with STS,
//! then registered (a new set, or in place); and undone when that fails. The announcement
//! and the key's own record are the proof a later run needs to delete a key a dead run
//! left (docs/ARCHITECTURE.md, invariant 2).

use std::time::Duration;

use rotator_core::execution::{
    another_lease, another_run_at_work, failed_create, undo, FailedCreate, Undo,
};
use time::OffsetDateTime;

use super::run::TargetRun;
use super::Engine;
use crate::error::{Error, Result};
use crate::iam::IamApi;
use crate::model::{in_place_description, link_description};
use crate::records::{creating_tag, key_tag, tags_of, KeyRecord, Records};
use crate::report::Change;
use crate::secret::{AccessKeyId, NewAccessKey};
use crate::soracom::SoracomApi;

/// How long after creating a key a run may still write it into SORACOM: well within
/// [`crate::plan::IN_FLIGHT_LIMIT`], after which another run may take it for an orphan.
const WRITE_DEADLINE: Duration = Duration::from_secs(105 * 60);
/// Attempts to create the credential set (each after listing to see whether it exists).
const CREATE_ATTEMPTS: u32 = 3;

/// The key a run made and registered in a new set, still in flight until the cutover.
pub(super) struct Rotated {
    /// The new set.
    pub(crate) set_id: String,
    /// The new key.
    pub(crate) key: NewAccessKey,
}

impl<I: IamApi, S: SoracomApi> Engine<'_, I, S> {
    /// Create → verify → register in a new set `set_id`; on failure everything this created
    /// is removed. `None`: another run is at work (nothing was done).
    pub(super) async fn rotate(
        &self,
        run: &mut TargetRun<'_>,
        set_id: &str,
    ) -> Result<Option<Rotated>> {
        let Some((key, born)) = self.new_verified_key(run, set_id).await? else {
            return Ok(None);
        };
        self.within_deadline(run.user(), &key, born, run).await?;
        if let Err(e) = self.create_set(set_id, &key).await {
            self.undo(run, set_id, &key).await;
            return Err(e);
        }
        run.ok(format!(
            "created credential set {set_id} holding {}",
            key.id
        ));
        // The key stays in flight until the cutover is done: other runs leave the target
        // alone meanwhile.
        Ok(Some(Rotated {
            set_id: set_id.to_string(),
            key,
        }))
    }

    /// Create → verify → put the key into the existing set; every reference switches at
    /// once. If the update cannot be confirmed, the new key is deleted. `false`: another
    /// run is at work (nothing was done).
    pub(super) async fn rotate_in_place(
        &self,
        run: &mut TargetRun<'_>,
        set_id: &str,
        previous: Option<&AccessKeyId>,
    ) -> Result<bool> {
        let at = run.clock.now();
        let Some((key, born)) = self.new_verified_key(run, set_id).await? else {
            return Ok(false);
        };
        let user = run.user();
        self.within_deadline(user, &key, born, run).await?;
        let description = in_place_description(&key.id, previous);
        let (holds_new, err) = self.update_in_place(set_id, &description, &key).await;
        match (holds_new, err) {
            (Some(true), _) => {
                run.ok(format!(
                    "put access key {} into credential set {set_id}",
                    key.id
                ));
                let held = KeyRecord::HeldBy {
                    set_id: set_id.to_string(),
                    since: at,
                };
                self.record_key(user, &key.id, &held).await?;
                run.changes.push(Change::Rotated {
                    key: key.id.clone(),
                    set_id: set_id.to_string(),
                    previous: previous.cloned(),
                });
                Ok(true)
            }
            (Some(false), Some(e)) => {
                let r = self.discard_key(user, &key.id).await;
                run.step(
                    format!("deleted new access key {} (rollback)", key.id),
                    r.is_ok(),
                );
                Err(e)
            }
            (_, e) => {
                run.step(
                    format!(
                        "kept new access key {}: whether {set_id} holds it is unknown; the next run finds out",
                        key.id
                    ),
                    false,
                );
                Err(e.unwrap_or_else(|| Error::Unconfirmed(format!("updating {set_id}"))))
            }
        }
    }

    /// Puts `key` into set `set_id`: whether the set holds it now (`None`: unknown), and the
    /// update's error. Every reference uses this one set: the new key may be deleted only
    /// when the set is known not to hold it — a definite rejection says so; otherwise the
    /// listing must.
    async fn update_in_place(
        &self,
        set_id: &str,
        description: &str,
        key: &NewAccessKey,
    ) -> (Option<bool>, Option<Error>) {
        let err = match self
            .soracom
            .update_credential(set_id, description, key)
            .await
        {
            Ok(set) if set.key().as_ref() == Some(&key.id) => None,
            Ok(_) => Some(Error::Unconfirmed(format!(
                "updateCredential of {set_id} did not show the new key"
            ))),
            Err(e) => Some(e),
        };
        let holds_new = match &err {
            None => Some(true),
            Some(e) if e.is_definite_rejection() => Some(false),
            Some(_) => match self.soracom.list_credentials().await {
                Ok(sets) => Some(
                    sets.iter()
                        .any(|s| s.id == set_id && s.key().as_ref() == Some(&key.id)),
                ),
                Err(_) => None,
            },
        };
        (holds_new, err)
    }

    /// Announces the run's key, creates it, records it as this tool's and in flight, and
    /// verifies it; on failure, whatever was created is deleted. `None`: another run is at
    /// work (nothing was created).
    ///
    /// The announcement (under a run id; then the user's keys before, listed under it) is
    /// written before `CreateAccessKey`, so that a run dying before it hears the answer
    /// still leaves proof that the new key is its own: a later run deletes it once the
    /// announcement is older than [`crate::plan::IN_FLIGHT_LIMIT`]. A key without such
    /// proof is never deleted.
    async fn new_verified_key(
        &self,
        run: &mut TargetRun<'_>,
        set_id: &str,
    ) -> Result<Option<(NewAccessKey, Duration)>> {
        let user = run.user();
        let at = run.clock.now();
        let keys = self.key_ids(user).await?;
        let run_id = self.ids.run_id(at.unix_timestamp());
        let (tag_key, unlisted) = creating_tag(&run_id, at, None);
        if !self
            .claim(user, (&tag_key, &unlisted), Some(&keys), at)
            .await?
        {
            return Ok(None);
        }
        let before = match self.listed(user, (&run_id, at)).await {
            Ok(b) => b,
            Err(e) => {
                self.release(user, &tag_key, run).await;
                return Err(e);
            }
        };
        let created = self.iam.create_key(user).await;
        let born = self.clock.monotonic();
        let key = match created {
            Ok(k) => k,
            Err(e) => {
                self.after_failed_create(user, &tag_key, &before, &e, run)
                    .await;
                return Err(e);
            }
        };
        run.ok(format!("created access key {}", key.id));
        self.record_in_flight(user, (&key, set_id, at), &tag_key, run)
            .await?;
        if let Err(e) = self.verify(user, &key).await {
            let r = self.discard_key(user, &key.id).await;
            run.step(
                format!("deleted unverified access key {}", key.id),
                r.is_ok(),
            );
            return Err(e);
        }
        run.ok(format!(
            "verified access key {} with sts:GetCallerIdentity",
            key.id
        ));
        Ok(Some((key, born)))
    }

    /// The ids of the user's keys now.
    async fn key_ids(&self, user: &str) -> Result<Vec<AccessKeyId>> {
        let keys = self.iam.key_statuses(user).await?;
        Ok(keys.into_iter().map(|(id, _)| id).collect())
    }

    /// Under the run's announcement (written "unlisted"), the user's keys listed and
    /// written into it: the keys before. A key a person made before this listing is in it,
    /// so it can never be taken for this run's (found by the simulator, seed 6519: listed
    /// before the announcement, a person's key made in between was deleted as the run's).
    async fn listed(
        &self,
        user: &str,
        (run_id, at): (&str, OffsetDateTime),
    ) -> Result<Vec<AccessKeyId>> {
        let before = self.key_ids(user).await?;
        let (k, v) = creating_tag(run_id, at, Some(&before));
        self.iam.tag(user, &k, &v).await?;
        Ok(before)
    }

    /// After `CreateAccessKey` failed with `e`: IAM refused (no key) — the announcement
    /// goes; the answer was lost — what the listing shows decides ([`failed_create`]).
    async fn after_failed_create(
        &self,
        user: &str,
        tag_key: &str,
        before: &[AccessKeyId],
        e: &Error,
        run: &mut TargetRun<'_>,
    ) {
        if e.is_definite_rejection() {
            self.release(user, tag_key, run).await;
            return;
        }
        // Without a listing, the announcement stays: the proof a later run needs.
        let Ok(after) = self.iam.list_keys(user).await else {
            return;
        };
        match failed_create(before, &after) {
            FailedCreate::NoneMade => self.release(user, tag_key, run).await,
            FailedCreate::Delete(k) => {
                let r = self.iam.delete_key(user, &k).await;
                run.step(
                    format!("deleted access key {k} created by the failed call"),
                    r.is_ok(),
                );
                if r.is_ok() {
                    self.release(user, tag_key, run).await;
                }
            }
            FailedCreate::Unclear => {}
        }
    }

    /// Records the new key as this tool's and in flight for `set_id` (then the announcement
    /// can go); if that fails, the key is deleted at once (the announcement still proves it
    /// is this run's).
    async fn record_in_flight(
        &self,
        user: &str,
        (key, set_id, at): (&NewAccessKey, &str, OffsetDateTime),
        tag_key: &str,
        run: &mut TargetRun<'_>,
    ) -> Result<()> {
        let record = KeyRecord::InFlight {
            since: at,
            set_id: set_id.to_string(),
        };
        if let Err(e) = self.record_key(user, &key.id, &record).await {
            let r = self.iam.delete_key(user, &key.id).await;
            run.step(
                format!("deleted new access key {} (rollback)", key.id),
                r.is_ok(),
            );
            if r.is_ok() {
                self.release(user, tag_key, run).await;
            }
            return Err(e);
        }
        self.release(user, tag_key, run).await;
        Ok(())
    }

    /// Polls STS with the new key until it succeeds `successes` times in a row as the
    /// target's user, within the timeout (a new key takes seconds to work everywhere).
    async fn verify(&self, user: &str, key: &NewAccessKey) -> Result<()> {
        let v = &self.config.verify;
        let start = self.clock.monotonic();
        let elapsed = || self.clock.monotonic().saturating_sub(start);
        let max_attempts =
            v.timeout.as_millis() / v.interval.as_millis().max(1) + u128::from(v.successes) + 1;
        let (mut streak, mut attempts) = (0u32, 0u128);
        let mut last = String::from("no attempt");
        loop {
            attempts += 1;
            match self.iam.caller_arn(key).await {
                Ok(arn) if arn_is_user(&arn, user) => streak += 1,
                Ok(arn) => {
                    streak = 0;
                    last = format!("the key authenticates as {arn}, not as user {user}");
                }
                Err(e) => {
                    streak = 0;
                    last = e.to_string();
                }
            }
            if streak >= v.successes {
                tracing::info!(key = %key.id, attempts, "new key verified");
                return Ok(());
            }
            if elapsed() + v.interval > v.timeout || attempts >= max_attempts.min(10_000) {
                return Err(Error::Verify {
                    key: key.id.clone(),
                    detail: format!(
                        "{streak} of {} successes in a row after {attempts} attempts in {} s; last: {last}",
                        v.successes,
                        elapsed().as_secs()
                    ),
                });
            }
            self.clock.sleep(v.interval).await;
        }
    }

    /// Gives the key up if the run has taken so long since creating it that another run
    /// could soon take it for a dead run's orphan: it must never reach SORACOM then.
    async fn within_deadline(
        &self,
        user: &str,
        key: &NewAccessKey,
        born: Duration,
        run: &mut TargetRun<'_>,
    ) -> Result<()> {
        if self.clock.monotonic().saturating_sub(born) < WRITE_DEADLINE {
            return Ok(());
        }
        let r = self.discard_key(user, &key.id).await;
        run.step(
            format!("deleted new access key {} (too late to use)", key.id),
            r.is_ok(),
        );
        Err(Error::Unconfirmed(format!(
            "the new key {} is older than this run may hold a key in flight; it was given up",
            key.id
        )))
    }

    /// Creates the set; after an unclear failure, lists to see whether it exists.
    async fn create_set(&self, set_id: &str, key: &NewAccessKey) -> Result<()> {
        let description = link_description(&key.id);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let err = match self
                .soracom
                .create_credential(set_id, &description, key)
                .await
            {
                Ok(set) if set.id == set_id => return Ok(()),
                Ok(set) => {
                    return Err(Error::Unconfirmed(format!(
                        "createCredential answered with set {} instead of {set_id}",
                        set.id
                    )))
                }
                Err(e) => e,
            };
            // Without the listing nothing can be decided: the create's own error stands.
            let Ok(sets) = self.soracom.list_credentials().await else {
                return Err(err);
            };
            match sets.iter().find(|s| s.id == set_id) {
                Some(s) if s.key().as_ref() == Some(&key.id) => return Ok(()),
                Some(_) => return Err(err),
                None if err.is_retryable() && attempt < CREATE_ATTEMPTS => {
                    tracing::warn!(set_id, attempt, error = %err, "credential set not created; trying again");
                    self.clock.sleep(self.config.soracom.retry_base).await;
                }
                None => return Err(err),
            }
        }
    }

    /// Removes what a failed rotation created: the set, then the key and its record —
    /// what a fresh observation allows ([`undo`]): the set only when it is ours and nothing
    /// references it (another run may have moved references onto it).
    pub(super) async fn undo(&self, run: &mut TargetRun<'_>, set_id: &str, key: &NewAccessKey) {
        let fresh = match self.observer().observe_one(run.target).await {
            Ok(o) => o,
            Err(e) => {
                run.fail(
                    format!("observing again to roll back {set_id}; the new set and key are kept"),
                    &e,
                );
                return;
            }
        };
        match undo(&fresh, set_id, &key.id) {
            Undo::KeepReferenced => {
                run.step(
                    format!(
                        "kept new credential set {set_id} and key {}: references were moved onto it meanwhile",
                        key.id
                    ),
                    false,
                );
                return;
            }
            Undo::SetAndKey => {
                let r = self.soracom.delete_credential(set_id).await;
                run.step(
                    format!("deleted new credential set {set_id} (rollback)"),
                    r.is_ok(),
                );
                if r.is_err() {
                    return;
                }
            }
            Undo::KeyOnly => {}
        }
        let r = self.discard_key(run.user(), &key.id).await;
        run.step(
            format!("deleted new access key {} (rollback)", key.id),
            r.is_ok(),
        );
    }

    /// Announces (or leases) the target for this run (`tag`: key and value), then steps
    /// back if any other run's announcement, lease or key in flight is there
    /// ([`another_run_at_work`]), or with no `keys` only another lease ([`another_lease`]):
    /// whether this run may go on. IAM has no lock, so both runs
    /// write and then read, and either sees the other (both may step back; the next run
    /// goes on).
    pub(super) async fn claim(
        &self,
        user: &str,
        (tag_key, tag_value): (&str, &str),
        keys: Option<&[AccessKeyId]>,
        at: OffsetDateTime,
    ) -> Result<bool> {
        self.iam.tag(user, tag_key, tag_value).await?;
        let tags = match self.iam.tags(user).await {
            Ok(t) => t,
            Err(e) => {
                let _ = self.iam.untag(user, &[tag_key.to_string()]).await;
                return Err(e);
            }
        };
        let records = Records::parse(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        // `keys`: the user's keys, when any run at work counts (creating, rolling back);
        // none when only another lease does (retiring).
        let busy = match keys {
            Some(keys) => another_run_at_work(&records, tag_key, keys, at),
            None => another_lease(&records, tag_key, at),
        };
        if busy {
            let _ = self.iam.untag(user, &[tag_key.to_string()]).await;
            return Ok(false);
        }
        Ok(true)
    }

    /// Removes this run's announcement or lease; a failure fails the run (a later run
    /// removes the leftover).
    async fn release(&self, user: &str, tag_key: &str, run: &mut TargetRun<'_>) {
        if let Err(e) = self.iam.untag(user, &[tag_key.to_string()]).await {
            run.fail("removing this run's record from the IAM user".into(), &e);
        }
    }

    /// Deletes a key this run created and gives up, then its record. The record says
    /// "abandoned" first, so that if the deletion fails a later run deletes the key at once
    /// (no run will use it).
    pub(super) async fn discard_key(&self, user: &str, key: &AccessKeyId) -> Result<()> {
        let abandoned = KeyRecord::Abandoned {
            since: self.clock.now(),
        };
        if let Err(e) = self.record_key(user, key, &abandoned).await {
            tracing::warn!(error = %e, key = %key, "recording the key as abandoned failed");
        }
        self.iam.delete_key(user, key).await?;
        self.iam.untag(user, &tags_of(key)).await
    }

    /// Writes a key's own record (its state, and which set it is for).
    pub(super) async fn record_key(
        &self,
        user: &str,
        key: &AccessKeyId,
        record: &KeyRecord,
    ) -> Result<()> {
        let (k, v) = key_tag(key, record);
        self.iam.tag(user, &k, &v).await
    }
}

/// Whether `arn` is the IAM user `user` (any path, any account).
fn arn_is_user(arn: &str, user: &str) -> bool {
    arn.starts_with("arn:") && arn.contains(":user/") && arn.rsplit('/').next() == Some(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_must_name_the_user() {
        assert!(arn_is_user("arn:aws:iam::123456789012:user/u1", "u1"));
        assert!(arn_is_user(
            "arn:aws:iam::123456789012:user/path/to/u1",
            "u1"
        ));
        assert!(!arn_is_user("arn:aws:sts::123456789012:user/moto", "u1"));
        assert!(!arn_is_user("arn:aws:iam::123456789012:user/u10", "u1"));
        assert!(!arn_is_user("arn:aws:sts::1:assumed-role/r/u1", "u1"));
    }
}
