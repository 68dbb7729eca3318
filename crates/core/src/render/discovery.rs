//! `discover` as text: the sets found, the users owning their keys, the proposal; and what
//! `init` says it wrote.

use std::path::Path;

use time::OffsetDateTime;

use crate::discover::{Discovery, KeySource, Owner, Proposal};
use crate::words::Words;

impl Discovery {
    /// The report as text: sets, users and keys, the proposal. Key ids are masked.
    pub fn render_text(&self) -> String {
        let mut t = String::new();
        self.sets_text(&mut t);
        self.users_text(&mut t);
        self.proposal_text(&mut t);
        t.push_str(
            "\nWrite this proposal as a configuration with `soracom-key-rotator init [--config FILE]`.\n",
        );
        t
    }

    /// Every `aws-credentials` set: when made and used, its key and owner, its holders.
    fn sets_text(&self, t: &mut String) {
        t.push_str(&format!(
            "Credential sets of type aws-credentials: {}\n",
            self.sets.len()
        ));
        for s in &self.sets {
            t.push_str(&format!(
                "  {}  created {}, last used {}\n",
                s.id,
                day(s.created),
                s.last_used
                    .map_or_else(|| "never".to_string(), |d| day(Some(d)))
            ));
            let key = match (&s.key, s.key_source) {
                (Some(k), Some(KeySource::Api)) => format!("key {k} (reported by SORACOM)"),
                (Some(k), _) => format!("key {k} (named in its description)"),
                (None, _) => "key unknown (SORACOM reports none)".to_string(),
            };
            let owner = match &s.owner {
                Owner::User(u) => format!("owned by IAM user {u}"),
                Owner::OtherAccount => "owned by no user of this account (another account)".into(),
                Owner::KeyUnknown => "owner unknown".into(),
            };
            t.push_str(&format!("    {key}, {owner}\n"));
            if s.holders.is_empty() {
                t.push_str("    referenced by nothing\n");
            }
            for h in &s.holders {
                t.push_str(&format!("    referenced by {h}\n"));
            }
        }
    }

    /// The users owning those keys, with every key of theirs.
    fn users_text(&self, t: &mut String) {
        t.push_str(&format!(
            "\nIAM users owning those keys: {}\n",
            self.users.len()
        ));
        for u in &self.users {
            t.push_str(&format!("  {}\n", u.user));
            for k in &u.keys {
                let used = k.key.last_used.as_ref().map_or_else(
                    || "never used".to_string(),
                    |l| {
                        format!(
                            "last used {} ({}, {})",
                            day(Some(l.at)),
                            l.service,
                            l.region
                        )
                    },
                );
                let sets = if k.sets.is_empty() {
                    "in no set".to_string()
                } else {
                    format!("in {}", k.sets.join(", "))
                };
                t.push_str(&format!(
                    "    key {} {}, created {}, {} days old, {used}, {sets}{}\n",
                    k.key.id,
                    k.key.status.words(),
                    day(Some(k.key.created)),
                    k.age_days,
                    if k.fails_iam3 {
                        "; FAILS Security Hub IAM.3 (active, older than 90 days)"
                    } else {
                        ""
                    }
                ));
            }
        }
    }

    /// The proposed targets, and the sets not proposed.
    fn proposal_text(&self, t: &mut String) {
        t.push_str(&format!(
            "\nProposed targets: {}\n",
            self.proposal.targets.len()
        ));
        for p in &self.proposal.targets {
            t.push_str(&format!(
                "  {} (IAM user {}): credential_prefix {}{}",
                p.name,
                p.iam_user,
                p.credential_prefix,
                if p.prefix_inferred {
                    ""
                } else {
                    " (new: no set id has the form <prefix>-<yymmdd>)"
                }
            ));
            if !p.managed.is_empty() {
                t.push_str(&format!(", sets {}", p.managed.join(", ")));
            }
            if !p.adopt.is_empty() {
                t.push_str(&format!(", adopted {}", p.adopt.join(", ")));
            }
            t.push('\n');
        }
        if !self.proposal.not_proposed.is_empty() {
            t.push_str("\nNot proposed:\n");
            for n in &self.proposal.not_proposed {
                t.push_str(&format!("  {}\n", n.words()));
            }
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
