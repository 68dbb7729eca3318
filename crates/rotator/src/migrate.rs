//! `migrate-to-role`, carried out: observe the user's policies, the role and the credential
//! sets, decide with [`role::plan`], then create (or adopt) the role, give it the user's
//! policies and register the `aws-iam-role-credentials` set (docs/ARCHITECTURE.md,
//! *Migrating to a role*).
//!
//! Each step is idempotent and the set is registered last, so a run that fails anywhere
//! leaves a state the next run adopts and finishes. Nothing is done when the role or the
//! set of that name is someone else's (exit 3). No reference is moved here: moving them
//! to the role set, holder by holder, is the canary's job ([`MigrationReport::role_set`]
//! names what it moves onto).

use rotator_core::config::{RoleTarget, Target};
use rotator_core::migration::{MigrationOutcome, MigrationReport, MigrationStep, RoleSet};
use rotator_core::role::{self, ExternalId, PolicyAction, RoleAction, SetAction, UserPolicies};
use rotator_core::secret::Secret;

use crate::error::{Error, Result};
use crate::iam::IamApi;
use crate::ids::Ids;
use crate::soracom::SoracomApi;

/// Plans and (unless `dry_run`) carries out `migrate-to-role` for `target`. An error means
/// nothing was changed: the configuration lacks what the role needs (`Error::Config`), or
/// IAM or SORACOM could not be read. A failure after that is in the report.
pub(crate) async fn migrate_to_role<I: IamApi, S: SoracomApi>(
    iam: &I,
    soracom: &S,
    (target, settings): (&Target, &RoleTarget),
    dry_run: bool,
    ids: &dyn Ids,
) -> Result<MigrationReport> {
    let user: UserPolicies = iam.user_policies(&target.iam_user).await?;
    let existing = iam.role(&settings.role.name).await?;
    let sets = soracom.list_credentials().await?;
    let plan = role::plan(target, settings, &user, existing.as_ref(), &sets);
    let mut report = MigrationReport {
        target: target.name.clone(),
        iam_user: target.iam_user.clone(),
        dry_run,
        outcome: MigrationOutcome::Planned,
        role_arn: match &plan.role {
            RoleAction::Adopt { arn, .. } | RoleAction::Foreign { arn, .. } => Some(arn.clone()),
            RoleAction::Create => None,
        },
        role_set: None,
        steps: Vec::new(),
        error: None,
        next: String::new(),
        plan,
    };
    if let Some(why) = report.plan.refusal() {
        report.outcome = MigrationOutcome::Refused;
        report.error = Some(why);
        report.next = "nothing was changed; fix the name clash, then run again".into();
        return Ok(report);
    }
    if dry_run {
        report.next = if report.plan.changes() {
            "run without --dry-run to do this".into()
        } else {
            "nothing to do: the role and its set are in place".into()
        };
        if !report.plan.changes() {
            report.role_set = role_set(&report);
        }
        return Ok(report);
    }
    let changes = report.plan.changes();
    match carry_out(iam, soracom, target, &mut report, ids).await {
        Ok(()) => {
            report.outcome = if changes {
                MigrationOutcome::Done
            } else {
                MigrationOutcome::NothingToDo
            };
            report.role_set = role_set(&report);
            report.next = format!(
                "no reference was moved: point references at credential set {} one holder at a \
                 time, event handlers first (SORACOM documents their Lambda action as accepting \
                 role credentials), and keep a holder there only if its data keeps arriving",
                report.plan.credential_id
            );
        }
        Err(e) => {
            report.outcome = MigrationOutcome::Failed;
            report.error = Some(e.to_string());
            report.next =
                "what was done stays: run again, the next run adopts it and goes on".into();
        }
    }
    Ok(report)
}

fn role_set(report: &MigrationReport) -> Option<RoleSet> {
    Some(RoleSet {
        credential_id: report.plan.credential_id.clone(),
        role_arn: report.role_arn.clone()?,
    })
}

/// Records a step; a failed one ends the run with its error.
fn step(report: &mut MigrationReport, what: String, outcome: Result<()>) -> Result<()> {
    report.steps.push(MigrationStep {
        step: what,
        ok: outcome.is_ok(),
        error: outcome.as_ref().err().map(ToString::to_string),
    });
    outcome
}

/// The steps: role, inline policies, managed policies, then the set (last, so only a
/// complete role is ever registered).
async fn carry_out<I: IamApi, S: SoracomApi>(
    iam: &I,
    soracom: &S,
    target: &Target,
    report: &mut MigrationReport,
    ids: &dyn Ids,
) -> Result<()> {
    let name = report.plan.role_name.clone();
    let (arn, external_id) = match report.plan.role.clone() {
        RoleAction::Adopt { arn, external_id } => (arn, external_id),
        RoleAction::Foreign { .. } => return Ok(()),
        RoleAction::Create => {
            let created = create_role(iam, target, report, ids).await;
            let what = format!("create IAM role {name}");
            let (arn, id) = match created {
                Ok(v) => v,
                Err(e) => return step(report, what, Err(e)),
            };
            step(report, what, Ok(()))?;
            report.role_arn = Some(arn.clone());
            (arn, id)
        }
    };
    for p in report.plan.inline_policies.clone() {
        if p.action == PolicyAction::Add {
            let done = iam.put_role_policy(&name, &p.name, &p.text).await;
            step(
                report,
                format!("put inline policy {} on {name}", p.name),
                done,
            )?;
        }
    }
    for p in report.plan.attached_policies.clone() {
        if p.action == PolicyAction::Add {
            let done = iam.attach_role_policy(&name, &p.arn).await;
            step(report, format!("attach {} to {name}", p.arn), done)?;
        }
    }
    if report.plan.credential_set == SetAction::Create {
        let id = report.plan.credential_id.clone();
        let done = register(soracom, &id, &arn, &external_id).await;
        step(
            report,
            format!("register credential set {id} ({})", role::ROLE_CREDENTIALS),
            done,
        )?;
    }
    Ok(())
}

/// Creates the role with a new external id in its trust policy and its tag.
async fn create_role<I: IamApi>(
    iam: &I,
    target: &Target,
    report: &MigrationReport,
    ids: &dyn Ids,
) -> Result<(String, ExternalId)> {
    let id =
        ExternalId::generate(&mut |b| ids.fill(b)).map_err(|e| Error::Random(e.to_string()))?;
    let account = &report.plan.soracom_account_id;
    let tags = [
        (role::TAG_TARGET.to_string(), Secret::new(&target.name)),
        (role::TAG_EXTERNAL_ID.to_string(), id.0.clone()),
    ];
    match iam
        .create_role(
            &report.plan.role_name,
            &role::trust_document(account, &id),
            &role::role_description(target),
            report.plan.permissions_boundary.as_deref(),
            &tags,
        )
        .await
    {
        Ok(r) => Ok((r.arn, id)),
        // Another run made it meanwhile: the next run judges it (adopts it if it is ours).
        Err(Error::Aws { code: Some(c), .. }) if c == "EntityAlreadyExists" => {
            Err(Error::Busy(format!(
                "IAM role {} appeared while this run was creating it (another run?); run again",
                report.plan.role_name
            )))
        }
        // IAM's words about a rejected trust policy may quote it: never the external id.
        Err(Error::Aws {
            op,
            code,
            message,
            retryable,
        }) => Err(Error::Aws {
            op,
            code,
            message: message.replace(id.0.expose(), role::REDACTED),
            retryable,
        }),
        Err(e) => Err(e),
    }
}

/// Registers the role set; after an answer that leaves it open whether it was created,
/// the listing decides (a create is never sent twice).
async fn register<S: SoracomApi>(
    soracom: &S,
    id: &str,
    arn: &str,
    external_id: &ExternalId,
) -> Result<()> {
    let description = role::set_description(arn);
    match soracom
        .create_role_credential(id, &description, arn, &external_id.0)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_definite_rejection() => Err(e),
        Err(e) => {
            let sets = soracom.list_credentials().await?;
            let ours = sets.iter().any(|s| {
                s.id == id && s.kind == role::ROLE_CREDENTIALS && role::linked_role(s) == Some(arn)
            });
            if ours {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}
