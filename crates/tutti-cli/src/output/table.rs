//! Column alignment shared by `get` and `describe`: Go's `text/tabwriter` rules, which is what
//! kubectl prints through. Cells end with a tab; a column's width is set by the consecutive
//! lines that have a cell in it, so a line without tabs starts a new block. The last cell of a
//! line is never padded.

/// Padding between columns of `get` tables (kubectl's table printer).
pub const TABLE_PADDING: usize = 3;
/// Padding between label and value in `describe` output (kubectl's describers).
pub const DESCRIBE_PADDING: usize = 2;

/// Aligns tab-separated `text` the way Go's `tabwriter.NewWriter(out, 0, 8, padding, ' ', 0)`
/// does. Every line of the result ends with a newline.
pub fn align(text: &str, padding: usize) -> String {
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let mut out = String::with_capacity(text.len() * 2);
    let mut widths = Vec::new();
    format_block(&lines, 0, lines.len(), &mut widths, padding, &mut out);
    out
}

/// Go's `Writer.format`: finds the blocks of lines that have a cell in column `widths.len()`,
/// sizes that column per block and recurses into the next column.
fn format_block(
    lines: &[Vec<&str>],
    mut line0: usize,
    line1: usize,
    widths: &mut Vec<usize>,
    padding: usize,
    out: &mut String,
) {
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        write_lines(lines, line0, this, widths, out);
        line0 = this;
        let mut width = 0;
        while this < line1 && column + 1 < lines[this].len() {
            width = width.max(display_width(lines[this][column]) + padding);
            this += 1;
        }
        widths.push(width);
        format_block(lines, line0, this, widths, padding, out);
        widths.pop();
        line0 = this;
    }
    write_lines(lines, line0, line1, widths, out);
}

fn write_lines(lines: &[Vec<&str>], from: usize, to: usize, widths: &[usize], out: &mut String) {
    for cells in &lines[from..to] {
        let last = cells.len().saturating_sub(1);
        for (j, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if j < last
                && let Some(w) = widths.get(j)
            {
                out.extend(std::iter::repeat_n(
                    ' ',
                    w.saturating_sub(display_width(cell)),
                ));
            }
        }
        out.push('\n');
    }
}

fn display_width(s: &str) -> usize {
    s.chars().count()
}

/// A `get`-style table: a header row and data rows with the same number of cells.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// The table as kubectl prints it: headers, then rows, columns three spaces apart.
    pub fn render(&self) -> String {
        self.render_rows(true)
    }

    /// The table, with or without its header line.
    pub fn render_rows(&self, header: bool) -> String {
        let mut text = String::new();
        if header {
            text.push_str(&self.headers.join("\t"));
            text.push('\n');
        }
        for row in &self.rows {
            text.push_str(&row.join("\t"));
            text.push('\n');
        }
        align(&text, TABLE_PADDING)
    }

    /// Column widths (cell plus padding) this table's header and rows need; watch output keeps
    /// later rows under the columns of the first print.
    pub fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self
            .headers
            .iter()
            .map(|h| display_width(h) + TABLE_PADDING)
            .collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(display_width(cell) + TABLE_PADDING);
            }
        }
        widths
    }
}

/// One row padded to fixed `widths` (the last cell unpadded), growing a width when a cell is
/// wider than any seen before.
pub fn render_row(row: &[String], widths: &mut Vec<usize>) -> String {
    let mut out = String::new();
    for (j, cell) in row.iter().enumerate() {
        out.push_str(cell);
        if j + 1 < row.len() {
            let need = display_width(cell) + TABLE_PADDING;
            if widths.len() <= j {
                widths.push(need);
            }
            if widths[j] < need {
                widths[j] = need;
            }
            out.extend(std::iter::repeat_n(' ', widths[j] - display_width(cell)));
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn get_tables_align_like_kubectl() {
        let t = Table {
            headers: s(&["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]),
            rows: vec![
                s(&["nginx", "3/3", "3", "3", "10s"]),
                s(&["a-much-longer-name", "0/1", "0", "0", "2m5s"]),
            ],
        };
        let expected = "\
NAME                 READY   UP-TO-DATE   AVAILABLE   AGE
nginx                3/3     3            3           10s
a-much-longer-name   0/1     0            0           2m5s
";
        assert_eq!(t.render(), expected);
    }

    #[test]
    fn describe_blocks_restart_after_lines_without_tabs() {
        let text = "Name:\tnginx\nRollingUpdateStrategy:\t25% max unavailable\nPod Template:\n  Labels:\tapp=nginx\n  Containers:\n   nginx:\n    Image:\tnginx\n    Environment:\t<none>\n  Volumes:\t<none>\n";
        let expected = "\
Name:                   nginx
RollingUpdateStrategy:  25% max unavailable
Pod Template:
  Labels:  app=nginx
  Containers:
   nginx:
    Image:        nginx
    Environment:  <none>
  Volumes:        <none>
";
        assert_eq!(align(text, DESCRIBE_PADDING), expected);
    }

    #[test]
    fn nested_columns_are_sized_per_block() {
        // The second column is sized only by the lines that have a third cell.
        let text = "a\tbb\tc\naaaa\tb\tc\nx\ty\n";
        assert_eq!(align(text, 1), "a    bb c\naaaa b  c\nx    y\n");
    }

    #[test]
    fn watch_rows_keep_the_first_widths_and_grow() {
        let t = Table {
            headers: s(&["NAME", "AGE"]),
            rows: vec![s(&["web", "1s"])],
        };
        let mut widths = t.widths();
        assert_eq!(render_row(&s(&["db", "5s"]), &mut widths), "db     5s\n");
        assert_eq!(
            render_row(&s(&["much-longer", "5s"]), &mut widths),
            "much-longer   5s\n"
        );
        assert_eq!(widths[0], 14);
    }
}
