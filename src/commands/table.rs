//! Aligned text tables for the terminal.
//!
//! Owns column alignment only. Must never: decide what is shown (the commands
//! do), pad the last column (no trailing white space), or print a control
//! character raw.

/// A table: a header row and data rows, all of the same width.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headings.
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Add a row (missing cells are empty, extra cells are dropped). A cell
    /// holding a control character is escaped ([`super::text::guard`]).
    pub fn row(&mut self, cells: Vec<String>) {
        let mut cells: Vec<String> = cells.into_iter().map(super::text::guard).collect();
        cells.resize(self.header.len(), String::new());
        self.rows.push(cells);
    }

    /// True when there are no data rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, two spaces between columns, one line per row.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let last = row.len().saturating_sub(1);
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                if i == last {
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    line.push_str(&" ".repeat(w - cell.chars().count() + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_lines_have_no_trailing_space() {
        let mut t = Table::new(&["ID", "NAME", "STATUS"]);
        t.row(vec!["1".into(), "web-1".into(), "complete".into()]);
        t.row(vec!["12345".into(), "db".into(), String::new()]);
        assert_eq!(
            t.render(),
            "ID     NAME   STATUS\n1      web-1  complete\n12345  db\n"
        );
    }

    #[test]
    fn control_characters_in_cells_are_escaped() {
        let mut t = Table::new(&["NAME"]);
        t.row(vec!["a\tb\n\u{1b}[2J".into()]);
        assert_eq!(t.render(), "NAME\na\\tb\\n\\u{1b}[2J\n");
    }

    #[test]
    fn short_rows_are_padded() {
        let mut t = Table::new(&["A", "B"]);
        t.row(vec!["x".into()]);
        assert_eq!(t.render(), "A  B\nx\n");
        assert!(!t.is_empty());
    }
}
