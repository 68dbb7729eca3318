//! The two shapes text reports are laid out in, over comfy-table: a [`Grid`] (a header
//! row, then a row per item) and labelled lines (a label, then its text). Neither draws
//! borders; columns are two spaces apart.
//!
//! Given the terminal's width, a cell too long for its column wraps at its spaces (a
//! label's text wraps under the text, not under the label), and no column of a grid is
//! made narrower than its longest word, so an id or a key is never cut. A grid that cannot
//! fit that way is shown as records instead, one labelled line per column and a blank
//! line between items, as psql's expanded display is. Without a width (a pipe, a log)
//! every row stays on one line. The widths are chosen here and fixed on comfy-table's
//! columns, which then wraps the text within them.

use comfy_table::presets::NOTHING;
use comfy_table::{ColumnConstraint, ContentArrangement, Table, Width};

/// How far a report's tables are indented under their heading (and a nested one more).
const INDENT: usize = 2;
/// The space between two columns.
const GAP: usize = 2;

/// Rows under a header, laid out by [`Grid::render`].
pub(super) struct Grid {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    indent: usize,
}

impl Grid {
    /// A grid with these column names.
    pub(super) fn new(header: &[&'static str]) -> Grid {
        Grid {
            header: header.to_vec(),
            rows: Vec::new(),
            indent: INDENT,
        }
    }

    /// The grid indented one step more (under a heading of its own).
    pub(super) fn nested(mut self) -> Grid {
        self.indent += INDENT;
        self
    }

    /// Adds an item, a cell per column (a cell may hold lines).
    pub(super) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Whether it has no item.
    pub(super) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The grid as text within `width` columns when given: a table if it fits without
    /// cutting a word, else records.
    pub(super) fn render(&self, width: Option<u16>) -> String {
        let mut cells: Vec<Vec<String>> = vec![self.header.iter().map(|h| h.to_string()).collect()];
        cells.extend(self.rows.iter().cloned());
        let mut t = bare();
        t.set_header(self.header.clone());
        for r in &self.rows {
            t.add_row(r.clone());
        }
        match widths(&cells, width, self.indent, false) {
            Fit::Natural => indented(&t, self.indent),
            Fit::Fixed(w) => {
                fixed(&mut t, w);
                indented(&t, self.indent)
            }
            Fit::TooNarrow => self.records(width),
        }
    }

    /// Each item as labelled lines, the column names as labels, a blank line between.
    fn records(&self, width: Option<u16>) -> String {
        let items: Vec<String> = self
            .rows
            .iter()
            .map(|r| {
                let rows: Vec<(String, String)> = self
                    .header
                    .iter()
                    .zip(r)
                    .map(|(h, c)| (h.to_string(), c.clone()))
                    .collect();
                labelled_at(&rows, width, self.indent)
            })
            .collect();
        items.join("\n")
    }
}

/// `rows` as labelled lines: each label, then its text, the texts aligned.
pub(super) fn labelled(rows: &[(String, String)], width: Option<u16>) -> String {
    labelled_at(rows, width, INDENT)
}

/// [`labelled`], indented by `indent`.
fn labelled_at(rows: &[(String, String)], width: Option<u16>, indent: usize) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|(l, t)| vec![l.clone(), t.clone()])
        .collect();
    let mut t = bare();
    for (label, text) in rows {
        t.add_row(vec![label.as_str(), text.as_str()]);
    }
    if let Fit::Fixed(w) = widths(&cells, width, indent, true) {
        fixed(&mut t, w);
    }
    indented(&t, indent)
}

/// `text` with each line longer than `width` broken at its spaces, the rest of it indented
/// two more than the line; a line `keep` says to leave alone (a JSON document, where a
/// break could land inside a string) stays whole, as does a word longer than the room.
pub(super) fn wrapped(text: &str, width: Option<u16>, keep: impl Fn(&str) -> bool) -> String {
    let Some(width) = width.map(usize::from) else {
        return text.to_string();
    };
    let mut out = String::new();
    for line in text.lines() {
        if line.chars().count() <= width || keep(line) {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let mut current = " ".repeat(indent);
        let mut empty = true;
        for word in line.split_whitespace() {
            let fits = current.chars().count() + 1 + word.chars().count() <= width;
            if !empty && !fits {
                out.push_str(&current);
                out.push('\n');
                current = " ".repeat(indent + 2);
                empty = true;
            }
            if !empty {
                current.push(' ');
            }
            current.push_str(word);
            empty = false;
        }
        out.push_str(&current);
        out.push('\n');
    }
    out
}

/// The widest line of a cell, and its longest word.
fn measure(cell: &str) -> (usize, usize) {
    let line = cell.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    let word = cell
        .split_whitespace()
        .map(|w| w.chars().count())
        .max()
        .unwrap_or(0);
    (line, word)
}

/// How columns fit a width.
enum Fit {
    /// As wide as their content: no width, or room enough.
    Natural,
    /// At these widths, text wrapping within them.
    Fixed(Vec<usize>),
    /// Not without cutting a word.
    TooNarrow,
}

/// Each column's width within `width`: as wide as its widest line where all fit; else
/// the widest columns narrowed first, never below their longest word, unless `squeeze`
/// (labelled lines: the labels stay whole and the text wraps however narrow).
fn widths(cells: &[Vec<String>], width: Option<u16>, indent: usize, squeeze: bool) -> Fit {
    let Some(width) = width.map(usize::from) else {
        return Fit::Natural;
    };
    let columns = cells.iter().map(Vec::len).max().unwrap_or(0);
    let mut natural = vec![0; columns];
    let mut least = vec![1; columns];
    for row in cells {
        for (i, cell) in row.iter().enumerate() {
            let (line, word) = measure(cell);
            natural[i] = natural[i].max(line);
            least[i] = least[i].max(word);
        }
    }
    let room = width.saturating_sub(indent + GAP * columns.saturating_sub(1));
    if squeeze {
        // The labels stay whole; the text takes what is left.
        let labels: usize = natural.iter().take(columns.saturating_sub(1)).sum();
        least = natural.clone();
        if let Some(last) = least.last_mut() {
            *last = room.saturating_sub(labels).clamp(1, (*last).max(1));
        }
    }
    if natural.iter().sum::<usize>() <= room {
        return Fit::Natural;
    }
    if least.iter().sum::<usize>() > room {
        return Fit::TooNarrow;
    }
    // Narrow the widest column that may give way, a character at a time, until all fit.
    let mut w = natural;
    while w.iter().sum::<usize>() > room {
        let widest = (0..columns)
            .filter(|&i| w[i] > least[i])
            .max_by_key(|&i| (w[i], std::cmp::Reverse(i)));
        match widest {
            Some(i) => w[i] -= 1,
            None => break,
        }
    }
    Fit::Fixed(w)
}

/// Fixes each column of `t` to its width in `w` (text wraps within it).
fn fixed(t: &mut Table, w: Vec<usize>) {
    for (column, width) in t.column_iter_mut().zip(w) {
        // comfy-table's fixed width counts the column's padding, a space either side.
        let width = u16::try_from(width + GAP).unwrap_or(u16::MAX);
        column.set_constraint(ColumnConstraint::Absolute(Width::Fixed(width)));
    }
}

/// `t` as text, indented by `indent`, without trailing spaces, one line a row (more where a
/// cell wraps).
fn indented(t: &Table, indent: usize) -> String {
    let mut out = String::new();
    for line in t.lines() {
        let line = line.trim_end();
        if !line.is_empty() {
            // The first column's left padding is one space of the indent.
            out.push_str(&" ".repeat(indent.saturating_sub(1)));
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// A table with no borders whose columns are as wide as their content, unless fixed.
fn bare() -> Table {
    let mut t = Table::new();
    t.load_preset(NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<(String, String)> {
        vec![
            ("due now".into(), "rotate the current key".into()),
            (
                "note".into(),
                "credential set p-1 names no access key and the evidence is ambiguous; \
                 record its key in adopt_keys"
                    .into(),
            ),
        ]
    }

    /// Without a width every row is one line; with one, no line is wider than it and a
    /// long text wraps under its own column.
    #[test]
    fn labelled_lines_keep_to_the_width_and_align() {
        let free = labelled(&rows(), None);
        assert_eq!(free.lines().count(), 2, "{free}");
        assert!(
            free.starts_with("  due now  rotate the current key\n"),
            "{free}"
        );
        let narrow = labelled(&rows(), Some(60));
        assert!(narrow.lines().count() > 2, "{narrow}");
        for line in narrow.lines() {
            assert!(line.chars().count() <= 60, "{line:?}");
        }
        let column = |l: &str| l.len() - l.trim_start().len();
        let wrapped: Vec<&str> = narrow.lines().skip(2).collect();
        assert!(
            wrapped.iter().all(|l| column(l) == "  due now  ".len()),
            "{narrow}"
        );
    }

    fn grid() -> Grid {
        let mut g = Grid::new(&["KEY", "STATUS", "SET"]);
        g.row(vec![
            "AKIA************AAA1".into(),
            "active".into(),
            "aws-soracom-funnel-sample-220810".into(),
        ]);
        g.row(vec![
            "AKIA************AAA2".into(),
            "inactive".into(),
            "aws-soracom-funnel-sample-270224 (current)".into(),
        ]);
        g
    }

    /// A long line breaks at its spaces under its own indent; a kept one stays whole.
    #[test]
    fn long_lines_wrap_under_their_indent() {
        let text = "  one two three four five six\n      {\"a b c d e f g h\": 1}\n";
        assert_eq!(wrapped(text, None, |_| false), text);
        assert_eq!(
            wrapped(text, Some(16), |l| l.starts_with("      ")),
            "  one two three\n    four five\n    six\n      {\"a b c d e f g h\": 1}\n"
        );
    }

    /// A grid's header and rows line up; no line ends in spaces.
    #[test]
    fn a_grid_aligns_its_columns() {
        let text = grid().render(None);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "  KEY                   STATUS    SET");
        assert_eq!(
            lines[1],
            "  AKIA************AAA1  active    aws-soracom-funnel-sample-220810"
        );
        assert_eq!(
            lines[2],
            "  AKIA************AAA2  inactive  aws-soracom-funnel-sample-270224 (current)"
        );
        // Narrower, a cell wraps at a space; a word is never cut.
        let wrapped = grid().render(Some(70));
        assert!(
            wrapped.contains("aws-soracom-funnel-sample-270224\n"),
            "{wrapped}"
        );
        assert!(
            wrapped.lines().all(|l| l.chars().count() <= 70),
            "{wrapped}"
        );
        // Too narrow for a table without cutting one: records.
        let records = grid().render(Some(50));
        assert_eq!(
            records,
            "  KEY     AKIA************AAA1\n  STATUS  active\n  SET     \
             aws-soracom-funnel-sample-220810\n\n  KEY     AKIA************AAA2\n  STATUS  \
             inactive\n  SET     aws-soracom-funnel-sample-270224\n          (current)\n"
        );
    }
}
