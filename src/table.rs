//! A plain-text table for the operator commands (`status`, `elect`, `stress`): columns padded
//! to their widest cell, numbers right-aligned, so output reads well in a terminal and in a log.

/// A table being built: a header row, then data rows of the same width.
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds one row (missing cells print empty, extra cells are dropped).
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let mut cells: Vec<String> = cells.into_iter().map(Into::into).collect();
        cells.resize(self.header.len(), String::new());
        self.rows.push(cells);
    }

    /// The table as text, one line per row, ending with a newline.
    pub fn render(&self) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|c| {
                std::iter::once(&self.header[c])
                    .chain(self.rows.iter().map(|r| &r[c]))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String], numeric: bool| {
            let mut out = String::new();
            for (c, cell) in cells.iter().enumerate() {
                if c > 0 {
                    out.push_str("  ");
                }
                let pad = widths[c].saturating_sub(cell.chars().count());
                if numeric && looks_numeric(cell) {
                    out.push_str(&" ".repeat(pad));
                    out.push_str(cell);
                } else {
                    out.push_str(cell);
                    out.push_str(&" ".repeat(pad));
                }
            }
            out.truncate(out.trim_end().len());
            out.push('\n');
            out
        };
        let mut out = line(&self.header, false);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        out.push_str(&line(&rule, false));
        for row in &self.rows {
            out.push_str(&line(row, true));
        }
        out
    }
}

/// Whether a cell is a number (right-aligned): digits with an optional sign, point or unit.
fn looks_numeric(cell: &str) -> bool {
    let trimmed = cell.trim_end_matches(['%', 's']);
    !trimmed.is_empty() && trimmed.parse::<f64>().is_ok()
}

/// A float with `digits` decimals, or `-` when absent.
pub fn num(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_padded_and_numbers_right_aligned() {
        let mut t = Table::new(["node", "lag"]);
        t.row(["instance-1", "0"]);
        t.row(["i2", "120"]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "node        lag");
        assert_eq!(lines[1], "----------  ---");
        assert_eq!(lines[2], "instance-1    0");
        assert_eq!(lines[3], "i2          120");
    }

    #[test]
    fn short_rows_are_filled() {
        let mut t = Table::new(["a", "b"]);
        t.row(["x"]);
        assert_eq!(t.render().lines().nth(2), Some("x"));
    }
}
