//! Plain-text tables for the terminal: aligned columns that wrap and, when a terminal is too
//! narrow even then, drop their least important columns (and say which).

/// One column's layout rules.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub header: String,
    /// Right-aligned (numbers).
    pub right: bool,
    /// Narrowest width the column may be word-wrapped to; None: never wrapped.
    pub wrap_to: Option<usize>,
    /// Columns with a rank are dropped, lowest rank first, when wrapping is not enough.
    pub drop_rank: Option<u8>,
}

impl Column {
    pub fn new(header: &str) -> Column {
        Column {
            header: header.to_string(),
            right: false,
            wrap_to: None,
            drop_rank: None,
        }
    }
    pub fn right(mut self) -> Column {
        self.right = true;
        self
    }
    pub fn wrap(mut self, narrowest: usize) -> Column {
        self.wrap_to = Some(narrowest);
        self
    }
    pub fn droppable(mut self, rank: u8) -> Column {
        self.drop_rank = Some(rank);
        self
    }
}

const GAP: usize = 2;

/// ANSI styles used when colour is on.
pub(crate) const BOLD: &str = "\x1b[1m";
pub(crate) const DIM: &str = "\x1b[2m";
pub(crate) const YELLOW: &str = "\x1b[33m";
pub(crate) const RESET: &str = "\x1b[0m";

/// Wraps `text` in `style` when colour is on.
pub(crate) fn paint(text: &str, style: &str, color: bool) -> String {
    if color && !text.is_empty() {
        format!("{style}{text}{RESET}")
    } else {
        text.to_string()
    }
}

/// Lays out `rows` under `columns` within `width` characters (None: no limit). `styles` gives
/// an optional ANSI style per row (used only when `color`). Returns the text and the headers
/// of columns dropped for lack of width.
pub(crate) fn render(
    columns: &[Column],
    rows: &[Vec<String>],
    styles: &[Option<&str>],
    width: Option<usize>,
    color: bool,
) -> (String, Vec<String>) {
    let mut shown: Vec<usize> = (0..columns.len()).collect();
    let mut dropped = Vec::new();
    let widths = loop {
        let widths = fit(columns, rows, &shown, width);
        let total: usize = widths.iter().sum::<usize>() + GAP * widths.len().saturating_sub(1);
        let too_wide = width.is_some_and(|w| total > w);
        let next_drop = shown
            .iter()
            .enumerate()
            .filter_map(|(at, &c)| Some((columns[c].drop_rank?, at)))
            .min();
        match next_drop {
            Some((_, at)) if too_wide => dropped.push(columns[shown.remove(at)].header.clone()),
            _ => break widths,
        }
    };
    let header: Vec<String> = shown.iter().map(|&c| columns[c].header.clone()).collect();
    let mut out = String::new();
    for line in lines(columns, &shown, &widths, &header) {
        out += &paint(&line, BOLD, color);
        out += "\n";
    }
    out += &widths
        .iter()
        .map(|w| "─".repeat(*w))
        .collect::<Vec<_>>()
        .join(&" ".repeat(GAP));
    out += "\n";
    for (index, row) in rows.iter().enumerate() {
        let cells: Vec<String> = shown
            .iter()
            .map(|&c| row.get(c).cloned().unwrap_or_default())
            .collect();
        let style = styles.get(index).copied().flatten();
        for line in lines(columns, &shown, &widths, &cells) {
            out += &style.map_or(line.clone(), |s| paint(&line, s, color));
            out += "\n";
        }
    }
    (out, dropped)
}

/// Column widths for the shown columns: natural widths, then the widest column that can give
/// narrowed one character at a time until the table fits or nothing can give. A column gives
/// down to its `wrap_to` width, or else down to its widest cell (only its header wraps).
fn fit(
    columns: &[Column],
    rows: &[Vec<String>],
    shown: &[usize],
    width: Option<usize>,
) -> Vec<usize> {
    let widest_cell = |c: usize| {
        rows.iter()
            .map(|r| r.get(c).map_or(0, |cell| chars(cell)))
            .max()
            .unwrap_or(0)
    };
    let mut widths: Vec<usize> = shown
        .iter()
        .map(|&c| widest_cell(c).max(chars(&columns[c].header)))
        .collect();
    let floors: Vec<usize> = shown
        .iter()
        .map(|&c| {
            let longest_header_word = columns[c].header.split(' ').map(chars).max().unwrap_or(0);
            columns[c]
                .wrap_to
                .unwrap_or_else(|| widest_cell(c))
                .max(longest_header_word)
        })
        .collect();
    let Some(limit) = width else { return widths };
    loop {
        let total: usize = widths.iter().sum::<usize>() + GAP * widths.len().saturating_sub(1);
        if total <= limit {
            return widths;
        }
        let candidate = (0..widths.len())
            .filter(|&at| widths[at] > floors[at])
            .max_by_key(|&at| widths[at]);
        match candidate {
            Some(at) => widths[at] -= 1,
            None => return widths,
        }
    }
}

/// The printed lines of one row (a cell may wrap onto several).
fn lines(columns: &[Column], shown: &[usize], widths: &[usize], cells: &[String]) -> Vec<String> {
    let wrapped: Vec<Vec<String>> = cells
        .iter()
        .zip(widths)
        .map(|(cell, &w)| wrap(cell, w))
        .collect();
    let height = wrapped.iter().map(Vec::len).max().unwrap_or(1);
    (0..height)
        .map(|line| {
            let mut text = String::new();
            for (at, &c) in shown.iter().enumerate() {
                let cell = wrapped[at].get(line).map_or("", String::as_str);
                let pad = " ".repeat(widths[at].saturating_sub(chars(cell)));
                if columns[c].right {
                    text += &pad;
                    text += cell;
                } else {
                    text += cell;
                    text += &pad;
                }
                text += &" ".repeat(GAP);
            }
            text.trim_end().to_string()
        })
        .collect()
}

/// Word-wraps `text` to `width` characters; words longer than that are split.
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let room = if line.is_empty() {
                width
            } else {
                width.saturating_sub(chars(&line) + 1)
            };
            if word.len() <= room {
                if !line.is_empty() {
                    line.push(' ');
                }
                line.extend(word.iter());
                break;
            }
            if line.is_empty() {
                let rest = word.split_off(width);
                out.push(word.iter().collect());
                word = rest;
            } else {
                out.push(std::mem::take(&mut line));
            }
        }
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_words_and_splits_long_ones() {
        assert_eq!(wrap("namespaces + cgroup", 10), ["namespaces", "+ cgroup"]);
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 5), [""]);
    }

    #[test]
    fn narrows_wrappable_columns_then_drops_by_rank() {
        let columns = [
            Column::new("name"),
            Column::new("p95").right().droppable(0),
            Column::new("what").wrap(6),
        ];
        let rows = vec![vec![
            "runc".to_string(),
            "44.5 ms".into(),
            "namespaces + cgroup".into(),
        ]];
        let (wide, dropped) = render(&columns, &rows, &[], None, false);
        assert!(
            wide.contains("namespaces + cgroup") && dropped.is_empty(),
            "{wide}"
        );
        let (narrow, dropped) = render(&columns, &rows, &[], Some(24), false);
        assert!(narrow.lines().all(|l| l.chars().count() <= 24), "{narrow}");
        assert!(narrow.contains("44.5 ms") && dropped.is_empty(), "{narrow}");
        let (tiny, dropped) = render(&columns, &rows, &[], Some(14), false);
        assert_eq!(dropped, ["p95"]);
        assert!(!tiny.contains("44.5"), "{tiny}");
    }

    #[test]
    fn colour_only_when_asked() {
        let columns = [Column::new("a")];
        let rows = vec![vec!["x".to_string()]];
        let (plain, _) = render(&columns, &rows, &[Some(DIM)], None, false);
        assert!(!plain.contains('\x1b'));
        let (coloured, _) = render(&columns, &rows, &[Some(DIM)], None, true);
        assert!(coloured.contains(BOLD) && coloured.contains(DIM));
    }
}
