//! The documentation's links hold: every relative link and anchor in README.md,
//! CONTRIBUTING.md and docs/*.md names a file that exists and, for a Markdown file, a
//! heading it has. Anchors are made from headings as GitHub makes them: lower case, spaces
//! to `-`, punctuation dropped, a repeated heading numbered `-1`, `-2`, ….
//!
//! Links inside code (fenced blocks, `inline code`) are text, not links, and are left out;
//! so are links with a scheme (`https:`, `mailto:`): they are not the repository's to keep.
//!
//! The code's own references hold too: every `docs/<page>.md#<anchor>` the sources name
//! (the runbook entries the tool's text sends a person to, the pages its errors cite)
//! names a page and a heading that exist.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The documents whose links are checked, relative to the repository's root.
fn documents() -> Vec<PathBuf> {
    let mut out = vec![PathBuf::from("README.md"), PathBuf::from("CONTRIBUTING.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ is readable")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .map(|p| PathBuf::from("docs").join(p.file_name().expect("a file name")))
        .collect();
    docs.sort();
    out.extend(docs);
    out
}

/// The lines of `text` outside fenced code blocks, with their line numbers (from 1).
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<(char, usize)> = None;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        let marker = t.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = marker.map_or(0, |m| t.chars().take_while(|c| *c == m).count());
        match (fence, marker) {
            (None, Some(m)) if run >= 3 => fence = Some((m, run)),
            (Some((m, n)), Some(c)) if c == m && run >= n && t[run..].trim().is_empty() => {
                fence = None;
            }
            (None, _) => out.push((i + 1, line)),
            _ => {}
        }
    }
    out
}

/// `line` without its code spans (`` `…` ``, ``` ``…`` ```).
fn without_code(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let ticks = rest[start..].chars().take_while(|c| *c == '`').count();
        let after = &rest[start + ticks..];
        let close = "`".repeat(ticks);
        match after.find(&close) {
            Some(end) => rest = &after[end + ticks..],
            None => {
                // An unclosed span is literal text.
                out.push_str(&rest[start..start + ticks]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A heading's anchor as GitHub makes it (before numbering repeats): the rendered text in
/// lower case, letters, digits, `-` and `_` kept, each space a `-`, the rest dropped.
fn slug(heading: &str) -> String {
    let text = link_texts(heading);
    text.trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// `s` with each link `[text](target)` as its text, as a heading renders.
fn link_texts(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(open) = rest.find('[') {
        let Some(mid) = rest[open..].find("](").map(|m| open + m) else {
            break;
        };
        let Some(close) = rest[mid..].find(')').map(|c| mid + c) else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(&rest[open + 1..mid]);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// Every anchor the headings of `text` make, a repeated one numbered as GitHub does.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (_, line) in prose(text) {
        let t = line.trim_start();
        let level = t.chars().take_while(|c| *c == '#').count();
        if level == 0 || level > 6 || line.len() - t.len() > 3 {
            continue;
        }
        let rest = &t[level..];
        if !(rest.is_empty() || rest.starts_with(' ')) {
            continue;
        }
        let heading = rest.trim().trim_end_matches('#').trim();
        let base = slug(heading);
        let mut anchor = base.clone();
        let mut n = 0;
        while out.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        out.insert(anchor);
    }
    out
}

/// Every link target in `text` with its line: inline links and images `[…](target)` and
/// reference definitions `[label]: target`, outside code.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in prose(text) {
        let line = without_code(line);
        let t = line.trim_start();
        if t.starts_with('[') {
            if let Some(end) = t.find("]:") {
                let target = t[end + 2..].split_whitespace().next().unwrap_or_default();
                out.push((n, target.trim_matches(['<', '>']).to_string()));
                continue;
            }
        }
        let mut rest = line.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let target = match after.strip_prefix('<') {
                Some(a) => a.split('>').next().unwrap_or_default(),
                None => {
                    // Up to the parenthesis that closes the link (a URL may hold a pair).
                    let mut depth = 0usize;
                    let end = after
                        .char_indices()
                        .find(|(_, c)| match c {
                            '(' => {
                                depth += 1;
                                false
                            }
                            ')' if depth == 0 => true,
                            ')' => {
                                depth -= 1;
                                false
                            }
                            _ => false,
                        })
                        .map_or(after.len(), |(j, _)| j);
                    after[..end].split_whitespace().next().unwrap_or_default()
                }
            };
            out.push((n, target.to_string()));
            rest = after;
        }
    }
    out
}

/// Whether `target` leaves the repository's own files: it has a scheme.
fn external(target: &str) -> bool {
    let scheme = target.split(':').next().unwrap_or_default();
    target.contains(':')
        && !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

/// `path` with `.` and `..` resolved, without touching the file system.
fn normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// What is wrong with the links of `doc` (relative to the root), one line each.
fn broken(doc: &Path) -> Vec<String> {
    let root = root();
    let text = std::fs::read_to_string(root.join(doc))
        .unwrap_or_else(|e| panic!("{}: {e}", doc.display()));
    let own = anchors(&text);
    let mut out = Vec::new();
    for (line, target) in links(&text) {
        if target.is_empty() {
            out.push(format!("{}:{line}: an empty link", doc.display()));
            continue;
        }
        if external(&target) {
            continue;
        }
        let (path, anchor) = match target.split_once('#') {
            Some((p, a)) => (p, Some(a)),
            None => (target.as_str(), None),
        };
        let file = if path.is_empty() {
            doc.to_path_buf()
        } else {
            let base = doc.parent().unwrap_or(Path::new(""));
            normal(&base.join(path))
        };
        if file.starts_with("..") || file.is_absolute() {
            out.push(format!(
                "{}:{line}: link `{target}` leaves the repository",
                doc.display()
            ));
            continue;
        }
        let full = root.join(&file);
        if !full.exists() {
            out.push(format!(
                "{}:{line}: link `{target}`: {} does not exist",
                doc.display(),
                file.display()
            ));
            continue;
        }
        let Some(anchor) = anchor else {
            continue;
        };
        if file.extension().is_none_or(|x| x != "md") {
            // A line of a source file (`#L10`) is GitHub's to show, not a heading.
            continue;
        }
        let found = if file == doc {
            own.contains(anchor)
        } else {
            let other = std::fs::read_to_string(&full).unwrap_or_default();
            anchors(&other).contains(anchor)
        };
        if !found {
            out.push(format!(
                "{}:{line}: link `{target}`: no heading of {} makes the anchor #{anchor}",
                doc.display(),
                file.display()
            ));
        }
    }
    out
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let docs = documents();
    assert!(
        docs.len() > 3,
        "README.md, CONTRIBUTING.md and docs/*.md: {docs:?}"
    );
    let mut checked = 0;
    let mut wrong = Vec::new();
    for doc in &docs {
        let text = std::fs::read_to_string(root().join(doc))
            .unwrap_or_else(|e| panic!("{}: {e}", doc.display()));
        checked += links(&text).len();
        wrong.extend(broken(doc));
    }
    assert!(checked > 0, "no link found: the link reader is broken");
    assert!(
        wrong.is_empty(),
        "{} broken link(s):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every `docs/<page>.md` or `docs/<page>.md#<anchor>` named in `text`.
fn doc_references(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("docs/") {
        let tail = &rest[i..];
        let len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || "_-./#".contains(c)))
            .unwrap_or(tail.len());
        let name = tail[..len].trim_end_matches(['.', '#']);
        if name.contains(".md") {
            out.push(name.to_string());
        }
        rest = &tail[len.max(1)..];
    }
    out
}

#[test]
fn every_page_and_anchor_the_code_names_exists() {
    let root = root();
    let mut files = Vec::new();
    for krate in std::fs::read_dir(root.join("crates"))
        .expect("crates/ is readable")
        .filter_map(Result::ok)
    {
        sources(&krate.path().join("src"), &mut files);
    }
    let mut wrong = Vec::new();
    let mut runbook = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for reference in doc_references(&text) {
            let (page, anchor) = match reference.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (reference.as_str(), None),
            };
            let Ok(doc) = std::fs::read_to_string(root.join(page)) else {
                wrong.push(format!("{}: {reference}: no such page", file.display()));
                continue;
            };
            if page == "docs/runbooks.md" && anchor.is_some() {
                runbook += 1;
            }
            if let Some(a) = anchor.filter(|a| !anchors(&doc).contains(*a)) {
                wrong.push(format!(
                    "{}: {reference}: no heading of {page} makes #{a}",
                    file.display()
                ));
            }
        }
    }
    assert!(
        runbook >= 15,
        "only {runbook} runbook links found in the sources"
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn references_to_docs_are_read_from_code() {
    let text =
        r#"see docs/runbooks.md#a-canary-failed", "(docs/configuration.md)", docs/commands.md."#;
    assert_eq!(
        doc_references(text),
        [
            "docs/runbooks.md#a-canary-failed",
            "docs/configuration.md",
            "docs/commands.md"
        ]
    );
}

#[test]
fn anchors_are_made_as_github_makes_them() {
    for (heading, anchor) in [
        ("Install", "install"),
        ("Notice: due_soon", "notice-due_soon"),
        ("`[notify]`", "notify"),
        ("`[targets.canary]`", "targetscanary"),
        (
            "Exit 3: both key slots are taken",
            "exit-3-both-key-slots-are-taken",
        ),
        (
            "First contact: `discover` and `init`",
            "first-contact-discover-and-init",
        ),
        (
            "Deploy on [AWS Lambda](https://aws.amazon.com/lambda/)",
            "deploy-on-aws-lambda",
        ),
        ("What's new?", "whats-new"),
        ("Rollback — refused", "rollback--refused"),
    ] {
        assert_eq!(slug(heading), anchor, "{heading}");
    }
    let text = "# A\n\n```sh\n# not a heading\n```\n\n## A\n### B #\n";
    let made: Vec<String> = anchors(text).into_iter().collect();
    assert_eq!(made, ["a", "a-1", "b"]);
}

#[test]
fn links_in_code_are_not_links() {
    let text = "See [x](a.md) and `[y](b.md)`.\n\n```\n[z](c.md)\n```\n[d]: <d.md>\n";
    let found: Vec<String> = links(text).into_iter().map(|(_, t)| t).collect();
    assert_eq!(found, ["a.md", "d.md"]);
    assert!(external("https://example.com/x"));
    assert!(external("mailto:ops@example.com"));
    assert!(!external("docs/runbooks.md#exit-1"));
}
