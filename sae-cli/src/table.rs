//! [`Table`]: rows printed as aligned columns, the human form of `services`
//! and `instances`.

use std::io::{self, Write};

/// How a column's cells line up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// Text: padded on the right.
    Left,
    /// Numbers: padded on the left, so digits line up.
    Right,
}

/// A table: a header row and rows of cells, written with every column as
/// wide as its widest cell and two spaces between columns.
#[derive(Debug)]
pub struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headings and alignments.
    pub fn new(columns: &[(&'static str, Align)]) -> Self {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are empty, extra cells are dropped.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Writes the header and the rows. No line has trailing spaces.
    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        // Widths in chars: the cells are ids, addresses and names, not wide glyphs.
        let width = |cell: &str| cell.chars().count();
        let mut widths: Vec<usize> = self.columns.iter().map(|(name, _)| width(name)).collect();
        for row in &self.rows {
            for (column, cell) in row.iter().enumerate().take(widths.len()) {
                widths[column] = widths[column].max(width(cell));
            }
        }
        let header: Vec<&str> = self.columns.iter().map(|(name, _)| *name).collect();
        self.write_line(out, &header, &widths)?;
        for row in &self.rows {
            let cells: Vec<&str> = (0..widths.len())
                .map(|column| row.get(column).map_or("", String::as_str))
                .collect();
            self.write_line(out, &cells, &widths)?;
        }
        Ok(())
    }

    fn write_line(&self, out: &mut dyn Write, cells: &[&str], widths: &[usize]) -> io::Result<()> {
        let mut line = String::new();
        for (column, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if column > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(width.saturating_sub(cell.chars().count()));
            match self.columns[column].1 {
                Align::Left => {
                    line.push_str(cell);
                    line.push_str(&pad);
                }
                Align::Right => {
                    line.push_str(&pad);
                    line.push_str(cell);
                }
            }
        }
        writeln!(out, "{}", line.trim_end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(table: &Table) -> String {
        let mut out = Vec::new();
        table.write(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let mut table = Table::new(&[
            ("ID", Align::Left),
            ("WEIGHT", Align::Right),
            ("LANE", Align::Left),
        ]);
        table.row(vec!["orders-1".into(), "100".into(), "gray".into()]);
        table.row(vec!["o2".into(), "5".into(), "base".into()]);
        assert_eq!(
            render(&table),
            "ID        WEIGHT  LANE\n\
             orders-1     100  gray\n\
             o2             5  base\n"
        );
    }

    #[test]
    fn short_rows_and_empty_last_cells_leave_no_trailing_spaces() {
        let mut table = Table::new(&[("A", Align::Left), ("B", Align::Left)]);
        table.row(vec!["long cell".into()]);
        table.row(vec!["x".into(), "y".into(), "ignored".into()]);
        assert_eq!(render(&table), "A          B\nlong cell\nx          y\n");
    }
}
