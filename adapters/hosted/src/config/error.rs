//! Configuration errors that name the entry (`[[partition]] 1 "io-a"`) with the line
//! and column in the file.

use std::fmt;

/// A configuration file error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigFileError {
    /// The file.
    pub path: String,
    /// 1-based line (0 if unknown).
    pub line: usize,
    /// 1-based column (0 if unknown).
    pub column: usize,
    /// The entry concerned, e.g. `[[window]] 2` or `[[partition]] 0 "control"`.
    pub entry: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigFileError {
    /// An error at byte `offset` of `source` (its entry found from the tables around).
    #[must_use]
    pub fn at(path: &str, source: &str, offset: Option<usize>, message: &str) -> Self {
        let offset = offset.unwrap_or(0).min(source.len());
        let (line, column) = line_column(source, offset);
        Self {
            path: path.to_owned(),
            line,
            column,
            entry: entry_label(source, offset),
            message: message.trim().to_owned(),
        }
    }
}

impl fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: in {}: {}",
            self.path, self.line, self.column, self.entry, self.message
        )
    }
}

impl std::error::Error for ConfigFileError {}

/// 1-based line and column (in characters) of byte `offset`.
#[must_use]
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

/// The table that holds byte `offset`: `[[name]] index` (with its `name = "..."` if it
/// has one) for arrays of tables, `[name]` for tables, `top level` otherwise.
#[must_use]
pub fn entry_label(source: &str, offset: usize) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    let mut current: Option<(String, Option<usize>, usize)> = None;
    let mut pos = 0;
    for line in source.split_inclusive('\n') {
        let trimmed = line.trim();
        if pos > offset && !(trimmed.starts_with('[') && pos <= offset + trimmed.len()) {
            break;
        }
        if let Some(name) = trimmed.strip_prefix("[[").and_then(|t| t.split("]]").next()) {
            let name = name.trim().to_owned();
            let index = match counts.iter_mut().find(|(n, _)| *n == name) {
                Some((_, c)) => {
                    *c += 1;
                    *c - 1
                }
                None => {
                    counts.push((name.clone(), 1));
                    0
                }
            };
            if pos <= offset {
                current = Some((name, Some(index), pos));
            }
        } else if let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.split(']').next())
            && pos <= offset
        {
            current = Some((name.trim().to_owned(), None, pos));
        }
        pos += line.len();
    }
    match current {
        None => "top level".to_owned(),
        Some((name, None, _)) => format!("[{name}]"),
        Some((name, Some(index), at)) => match table_name(&source[at..]) {
            Some(n) => format!("[[{name}]] {index} \"{n}\""),
            None => format!("[[{name}]] {index}"),
        },
    }
}

/// The `name = "..."` key of the table starting at the beginning of `rest`.
fn table_name(rest: &str) -> Option<String> {
    for line in rest.lines().skip(1) {
        let t = line.trim();
        if t.starts_with('[') {
            return None;
        }
        if let Some(v) =
            t.strip_prefix("name").map(str::trim_start).and_then(|v| v.strip_prefix('='))
        {
            return Some(v.trim().trim_matches('"').to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{entry_label, line_column};

    #[test]
    fn labels_name_the_array_entry() {
        let src = "a = 1\n[[partition]]\nname = \"x\"\n[[partition]]\nname = \"y\"\nport = 3\n[sched]\nz = 1\n";
        assert_eq!(entry_label(src, 2), "top level");
        let at = src.find("port").unwrap_or(0);
        assert_eq!(entry_label(src, at), "[[partition]] 1 \"y\"");
        assert_eq!(line_column(src, at), (6, 1));
        assert_eq!(entry_label(src, src.len() - 1), "[sched]");
    }
}
