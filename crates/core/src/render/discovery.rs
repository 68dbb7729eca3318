//! `discover` as text: the sets found, the users owning their keys, the proposal; and what
//! `init` says it wrote.

use std::path::Path;

use time::OffsetDateTime;

use super::table::{labelled, Grid};
use crate::discover::{Discovery, KeySource, Owner, Proposal};
use crate::words::Words;

impl Discovery {
    /// The report as text: sets, users and keys, the proposal, as tables within `width`
    /// columns when given (a terminal's), else each row on one line. Key ids are masked.
    pub fn render_text(&self, width: Option<u16>) -> String {
        let mut t = String::new();
        self.sets_text(width, &mut t);
        self.users_text(width, &mut t);
        self.proposal_text(width, &mut t);
        t.push_str("\nWrite it as a configuration: soracom-key-rotator init [--config FILE]\n");
        t
    }

    /// Every `aws-credentials` set: when made and used, its key and owner, its holders.
    fn sets_text(&self, width: Option<u16>, t: &mut String) {
        t.push_str(&format!(
            "Credential sets of type aws-credentials: {}\n",
            self.sets.len()
        ));
        if self.sets.is_empty() {
            return;
        }
        let mut tab = Grid::new(&["SET", "CREATED", "LAST USED", "KEY", "OWNER (IAM USER)"]);
        let mut refs = Grid::new(&["REFERENCE", "SET"]);
        for s in &self.sets {
            let key = match (&s.key, s.key_source) {
                (Some(k), Some(KeySource::Api)) => format!("{k} (SORACOM)"),
                (Some(k), _) => format!("{k} (description)"),
                (None, _) => "unknown (SORACOM reports none)".to_string(),
            };
            let owner = match &s.owner {
                Owner::User(u) => u.clone(),
                Owner::OtherAccount => "another account (no user of this one)".into(),
                Owner::KeyUnknown => "unknown".into(),
            };
            for h in &s.holders {
                refs.row(vec![h.to_string(), s.id.clone()]);
            }
            tab.row(vec![
                s.id.clone(),
                day(s.created),
                s.last_used
                    .map_or_else(|| "never".to_string(), |d| day(Some(d))),
                key,
                owner,
            ]);
        }
        t.push_str(&tab.render(width));
        if refs.is_empty() {
            t.push_str("  nothing references them\n");
        } else {
            t.push('\n');
            t.push_str(&refs.render(width));
        }
    }

    /// The users owning those keys, with every key of theirs.
    fn users_text(&self, width: Option<u16>, t: &mut String) {
        t.push_str(&format!(
            "\nIAM users owning those keys: {}\n",
            self.users.len()
        ));
        if self.users.is_empty() {
            return;
        }
        // A table per user, whose keys in no set say so (the sets above name their keys).
        for u in &self.users {
            t.push_str(&format!("  {}:\n", u.user));
            let mut tab = Grid::new(&["KEY", "STATUS", "CREATED", "AGE", "LAST USED"]).nested();
            for k in &u.keys {
                let used = k.key.last_used.as_ref().map_or_else(
                    || "never".to_string(),
                    |l| format!("{} ({}, {})", day(Some(l.at)), l.service, l.region),
                );
                let mut status = k.key.status.words();
                if k.sets.is_empty() {
                    status.push_str(", in no set");
                }
                if k.fails_iam3 {
                    status.push_str(", FAILS IAM.3");
                }
                tab.row(vec![
                    k.key.id.to_string(),
                    status,
                    day(Some(k.key.created)),
                    format!("{} days", k.age_days),
                    used,
                ]);
            }
            t.push_str(&tab.render(width));
        }
        if self
            .users
            .iter()
            .flat_map(|u| &u.keys)
            .any(|k| k.fails_iam3)
        {
            t.push_str(
                "  FAILS IAM.3: active and older than 90 days, which Security Hub IAM.3 fails\n",
            );
        }
    }

    /// The proposed targets, and the sets not proposed.
    fn proposal_text(&self, width: Option<u16>, t: &mut String) {
        t.push_str(&format!(
            "\nProposed targets: {}\n",
            self.proposal.targets.len()
        ));
        if !self.proposal.targets.is_empty() {
            let mut tab =
                Grid::new(&["TARGET", "IAM USER", "CREDENTIAL PREFIX", "SETS", "ADOPTED"]);
            for p in &self.proposal.targets {
                let prefix = if p.prefix_inferred {
                    p.credential_prefix.clone()
                } else {
                    format!(
                        "{} (new: no set id has the form <prefix>-<yymmdd>)",
                        p.credential_prefix
                    )
                };
                let list = |v: &[String]| {
                    if v.is_empty() {
                        "-".to_string()
                    } else {
                        v.join("\n")
                    }
                };
                tab.row(vec![
                    p.name.clone(),
                    p.iam_user.clone(),
                    prefix,
                    list(&p.managed),
                    list(&p.adopt),
                ]);
            }
            t.push_str(&tab.render(width));
        }
        if !self.proposal.not_proposed.is_empty() {
            t.push_str("\nNot proposed:\n");
            let rows: Vec<(String, String)> = self
                .proposal
                .not_proposed
                .iter()
                .map(|n| ("-".to_string(), n.words()))
                .collect();
            t.push_str(&labelled(&rows, width));
        }
    }
}

/// What `init` prints once it wrote `proposal` to `path`: the targets, what was left out,
/// and the command to run next.
pub fn written(path: &Path, proposal: &Proposal) -> String {
    format!(
        "wrote {}: {} target(s) ({}); {} set(s) not proposed.\n\
     Read it, then: soracom-key-rotator --config {} plan\n",
        path.display(),
        proposal.targets.len(),
        proposal
            .targets
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        proposal.not_proposed.len(),
        path.display()
    )
}

/// A day, or `unknown`.
fn day(t: Option<OffsetDateTime>) -> String {
    t.map_or_else(|| "unknown".to_string(), |t| t.date().to_string())
}
