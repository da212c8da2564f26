//! `admin import-numbers FILE.csv`: pool numbers from a CSV file, all or nothing.
//!
//! The file is UTF-8 (a leading byte-order mark is skipped), RFC 4180 CSV
//! (read by the `csv` crate): fields separated by `,`, records by `\n` or
//! `\r\n` (a lone `\r` ends a record too), a field in double
//! quotes may hold `,`, line breaks, and `""` for one `"`. A `"` inside an
//! unquoted field, or text after a closing quote, makes the line bad.
//!
//! The first record is the header. It names the columns present, in any
//! order, each at most once, from `number`, `operator_id`, `alias`,
//! `monthly_price`, `yearly_price` (names are matched ignoring case and
//! surrounding spaces); `number` is required. Every other record must have
//! exactly as many fields as the header. Empty lines are skipped.
//!
//! * `number`: E.164 (`+`, then 8 to 15 digits).
//! * `operator_id`: a 64-bit integer, or empty for none.
//! * `alias`: free text, kept exactly; empty for none.
//! * `monthly_price`, `yearly_price`: non-negative whole minor units; empty is 0.
//!
//! Spaces around `number`, `operator_id` and the prices are ignored. A number
//! that appears twice in the file, or is already in the database, makes its
//! line bad. If any line is bad, nothing is imported: every bad line is listed
//! on standard error (`line N: reason`, by line number), and the exit code is
//! non-zero. Otherwise every number is added in one transaction, with one
//! history entry each, and the last line of standard output is
//! `{"imported": N}`. Progress goes to standard error: a bar on a terminal,
//! a line per 10% otherwise.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use crate::core::Core;
use crate::core::admin::NumberSpec;
use crate::core::import::{ImportConflict, ImportError};
use crate::domain::E164;

/// A column the file may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    Number,
    OperatorId,
    Alias,
    MonthlyPrice,
    YearlyPrice,
}

impl Column {
    const ALL: [(&'static str, Column); 5] = [
        ("number", Column::Number),
        ("operator_id", Column::OperatorId),
        ("alias", Column::Alias),
        ("monthly_price", Column::MonthlyPrice),
        ("yearly_price", Column::YearlyPrice),
    ];

    fn named(name: &str) -> Option<Column> {
        let name = name.trim();
        Column::ALL
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, c)| *c)
    }
}

/// One record of the file: the line it starts on, and its fields or why it
/// could not be read.
#[derive(Debug, PartialEq, Eq)]
pub struct Record {
    pub line: usize,
    pub fields: Result<Vec<String>, String>,
}

/// Splits `data` into records. Never fails as a whole: a malformed record is
/// reported as such, and reading resumes on the next record.
///
/// The `csv` crate splits the records and unquotes the fields. It is lenient
/// where RFC 4180 is strict (a stray quote is kept as text, an unclosed quote
/// runs to the end of the file), so each record's own bytes are then checked
/// by [`quoting_problem`], which is what lets a bad line be named.
pub fn records(data: &[u8]) -> Vec<Record> {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(data);
    let mut out = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let before = reader.position().clone();
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            // Reading from a slice fails on nothing but the data, and the
            // data is never refused (see above); stop rather than loop.
            Err(e) => {
                let line = usize::try_from(before.line()).unwrap_or(usize::MAX);
                out.push(Record {
                    line,
                    fields: Err(e.to_string()),
                });
                break;
            }
        }
        // The reader's position before the record is before the empty lines
        // it skipped: skip them here too, to name the record's own line.
        let (mut start, mut line) = (before.byte() as usize, before.line() as usize);
        while let Some(b @ (b'\r' | b'\n')) = data.get(start) {
            line += usize::from(*b == b'\n');
            start += 1;
        }
        let end = (reader.position().byte() as usize).min(data.len());
        let fields = match quoting_problem(&data[start..end.max(start)]) {
            Some(problem) => Err(problem.to_owned()),
            None => record
                .iter()
                .map(|f| String::from_utf8(f.to_vec()).map_err(|_| "not valid UTF-8".to_owned()))
                .collect(),
        };
        out.push(Record { line, fields });
    }
    out
}

/// What makes the bytes of one record (as the `csv` crate delimited it) bad
/// RFC 4180, if anything: the first of a quote inside an unquoted field,
/// text after a closing quote, or a quoted field never closed.
fn quoting_problem(raw: &[u8]) -> Option<&'static str> {
    let end_of_field = |b: u8| matches!(b, b',' | b'\n' | b'\r');
    let mut i = 0;
    loop {
        if raw.get(i) == Some(&b'"') {
            i += 1;
            loop {
                match raw.get(i) {
                    None => return Some("a quoted field is never closed"),
                    Some(b'"') if raw.get(i + 1) == Some(&b'"') => i += 2,
                    Some(b'"') => break,
                    Some(_) => i += 1,
                }
            }
            i += 1;
            if raw.get(i).is_some_and(|&b| !end_of_field(b)) {
                return Some("text after a closing quote");
            }
        }
        while let Some(&b) = raw.get(i) {
            if end_of_field(b) {
                break;
            }
            if b == b'"' {
                return Some("a quote inside an unquoted field");
            }
            i += 1;
        }
        match raw.get(i) {
            Some(b',') => i += 1,
            _ => return None,
        }
    }
}

/// The numbers of a file, each with its line, and every bad line's reasons.
#[derive(Debug, Default)]
pub struct Parsed {
    pub specs: Vec<NumberSpec>,
    pub lines: Vec<usize>,
    pub problems: Vec<(usize, String)>,
}

/// Reads the header, then every record, into number specs.
pub fn parse(data: &[u8]) -> Parsed {
    let mut parsed = Parsed::default();
    let mut recs = records(data).into_iter();
    let Some(header) = recs.next() else {
        parsed
            .problems
            .push((1, "the file is empty: expected a header row".into()));
        return parsed;
    };
    let columns = match header_columns(header.fields) {
        Ok(columns) => columns,
        Err(reason) => {
            parsed.problems.push((header.line, reason));
            return parsed;
        }
    };
    for rec in recs {
        let fields = match rec.fields {
            Ok(fields) => fields,
            Err(reason) => {
                parsed.problems.push((rec.line, reason));
                continue;
            }
        };
        match row(&columns, &fields) {
            Ok(spec) => {
                parsed.specs.push(spec);
                parsed.lines.push(rec.line);
            }
            Err(reasons) => parsed
                .problems
                .extend(reasons.into_iter().map(|r| (rec.line, r))),
        }
    }
    parsed
}

fn header_columns(fields: Result<Vec<String>, String>) -> Result<Vec<Column>, String> {
    let names = fields?;
    let mut columns = Vec::with_capacity(names.len());
    for name in &names {
        let column = Column::named(name).ok_or_else(|| {
            format!(
                "unknown column {name:?} in the header: expected number, operator_id, alias, \
                 monthly_price, yearly_price"
            )
        })?;
        if columns.contains(&column) {
            return Err(format!(
                "column {:?} appears twice in the header",
                name.trim()
            ));
        }
        columns.push(column);
    }
    if !columns.contains(&Column::Number) {
        return Err("the header has no \"number\" column".into());
    }
    Ok(columns)
}

/// One data record as a spec, or every reason it is bad.
fn row(columns: &[Column], fields: &[String]) -> Result<NumberSpec, Vec<String>> {
    if fields.len() != columns.len() {
        return Err(vec![format!(
            "expected {} fields, found {}",
            columns.len(),
            fields.len()
        )]);
    }
    let mut reasons = Vec::new();
    let (mut number, mut operator_id, mut alias) = (None, None, None);
    let (mut monthly, mut yearly) = (0, 0);
    for (column, raw) in columns.iter().zip(fields) {
        let value = raw.trim_matches([' ', '\t']);
        match column {
            Column::Number if value.is_empty() => reasons.push("number is empty".to_owned()),
            Column::Number => match E164::parse(value) {
                Some(n) => number = Some(n),
                None => reasons.push(format!(
                    "number {value:?} is not E.164 (+ and 8 to 15 digits)"
                )),
            },
            Column::OperatorId if value.is_empty() => {}
            Column::OperatorId => match integer(value) {
                Some(id) => operator_id = Some(id),
                None => reasons.push(format!("operator_id {value:?} is not an integer")),
            },
            Column::Alias => alias = (!raw.is_empty()).then(|| raw.clone()),
            Column::MonthlyPrice => match price("monthly_price", value) {
                Ok(p) => monthly = p,
                Err(r) => reasons.push(r),
            },
            Column::YearlyPrice => match price("yearly_price", value) {
                Ok(p) => yearly = p,
                Err(r) => reasons.push(r),
            },
        }
    }
    match number {
        Some(number) if reasons.is_empty() => Ok(NumberSpec {
            operator_id,
            alias,
            monthly_price: monthly,
            yearly_price: yearly,
            ..NumberSpec::new(number)
        }),
        _ => Err(reasons),
    }
}

/// An optionally negative string of ASCII digits that fits 64 bits.
fn integer(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn price(name: &str, value: &str) -> Result<i64, String> {
    if value.is_empty() {
        return Ok(0);
    }
    match integer(value) {
        Some(p) if p >= 0 => Ok(p),
        Some(_) => Err(format!("{name} {value:?} must not be negative")),
        None if value.starts_with('-') => Err(format!("{name} {value:?} must not be negative")),
        None => Err(format!(
            "{name} {value:?} is not a whole number of minor units"
        )),
    }
}

/// Why each refused number's line is bad.
fn conflict_reasons(parsed: &Parsed, conflicts: &[ImportConflict]) -> Vec<(usize, String)> {
    let line = |i: usize| parsed.lines.get(i).copied().unwrap_or(0);
    let number = |i: usize| {
        parsed
            .specs
            .get(i)
            .map(|s| s.number.to_string())
            .unwrap_or_default()
    };
    conflicts
        .iter()
        .map(|c| match *c {
            ImportConflict::Duplicate { index, first } => (
                line(index),
                format!(
                    "number {} already appears on line {}",
                    number(index),
                    line(first)
                ),
            ),
            ImportConflict::Exists { index } => (
                line(index),
                format!("number {} is already in the database", number(index)),
            ),
        })
        .collect()
}

/// Where the import stands, for the progress display.
const RUNNING: u8 = 0;
const SUCCEEDED: u8 = 1;
const FAILED: u8 = 2;

/// Shows `progress` of `total` on standard error until `state` leaves
/// `RUNNING`: a bar redrawn in place on a terminal, otherwise a line at each
/// 10% step. A failed import's last step is not drawn: it was rolled back.
async fn show_progress(progress: Arc<AtomicU64>, total: u64, state: Arc<AtomicU8>) {
    let terminal = std::io::stderr().is_terminal();
    let mut last_step = 0;
    loop {
        let now = state.load(Ordering::Acquire);
        let finished = now != RUNNING;
        if now == FAILED {
            if terminal {
                eprintln!();
            }
            return;
        }
        let n = progress.load(Ordering::Relaxed).min(total);
        let percent = n * 100 / total.max(1);
        {
            let mut err = std::io::stderr().lock();
            if terminal {
                const WIDTH: u64 = 30;
                let filled = (n * WIDTH / total.max(1)) as usize;
                let _ = write!(
                    err,
                    "\rimporting [{}{}] {percent:>3}% {n}/{total}",
                    "#".repeat(filled),
                    " ".repeat(WIDTH as usize - filled)
                );
                if finished {
                    let _ = writeln!(err);
                }
                let _ = err.flush();
            } else if percent / 10 > last_step {
                last_step = percent / 10;
                let _ = writeln!(err, "importing: {percent}% ({n}/{total})");
            }
        }
        if finished {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the import; `Err` carries the lines to print before failing.
pub async fn run(core: &Core, data: &[u8], request_id: &str) -> Result<usize, Vec<String>> {
    let parsed = parse(data);
    let mut problems = parsed.problems.clone();
    if !problems.is_empty() {
        // Doomed already: still find every number the database or the file
        // would refuse, so one run reports every bad line.
        match core.import_conflicts(parsed.specs.clone()).await {
            Ok(conflicts) => problems.extend(conflict_reasons(&parsed, &conflicts)),
            Err(e) => problems.push((0, format!("checking the numbers failed: {e}"))),
        }
        return Err(report(problems));
    }
    let total = parsed.specs.len() as u64;
    let progress = Arc::new(AtomicU64::new(0));
    let state = Arc::new(AtomicU8::new(RUNNING));
    let shown =
        (total > 0).then(|| tokio::spawn(show_progress(progress.clone(), total, state.clone())));
    let outcome = core
        .import_numbers(parsed.specs.clone(), progress, request_id)
        .await;
    let ended = if outcome.is_ok() { SUCCEEDED } else { FAILED };
    state.store(ended, Ordering::Release);
    if let Some(task) = shown {
        let _ = task.await;
    }
    match outcome {
        Ok(n) => Ok(n),
        Err(ImportError::Rejected(conflicts)) => Err(report(conflict_reasons(&parsed, &conflicts))),
        Err(ImportError::Failed(e)) => Err(vec![format!("the import failed: {e}")]),
    }
}

/// `line N: reason`, ordered by line (a line's reasons in column order).
fn report(mut problems: Vec<(usize, String)>) -> Vec<String> {
    problems.sort_by_key(|(line, _)| *line);
    let bad_lines = {
        let mut lines: Vec<usize> = problems.iter().map(|(l, _)| *l).collect();
        lines.dedup();
        lines.len()
    };
    let mut out: Vec<String> = problems
        .into_iter()
        .map(|(line, reason)| {
            if line == 0 {
                reason
            } else {
                format!("line {line}: {reason}")
            }
        })
        .collect();
    out.push(format!(
        "import aborted: {bad_lines} bad line{}; nothing was imported",
        if bad_lines == 1 { "" } else { "s" }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(data: &str) -> Vec<(usize, Result<Vec<String>, String>)> {
        records(data.as_bytes())
            .into_iter()
            .map(|r| (r.line, r.fields))
            .collect()
    }

    fn ok(v: &[&str]) -> Result<Vec<String>, String> {
        Ok(v.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn quoted_fields_escapes_and_line_breaks() {
        let got = fields("a,b\r\n\"x, \"\"y\"\"\",\"two\nlines\"\n\nlast,\n");
        assert_eq!(
            got,
            vec![
                (1, ok(&["a", "b"])),
                (2, ok(&["x, \"y\"", "two\nlines"])),
                (5, ok(&["last", ""])),
            ]
        );
    }

    #[test]
    fn malformed_records_are_reported_and_reading_goes_on() {
        let got = fields("a\"b,c\n\"x\"y,z\nok,1\n\"open");
        assert_eq!(
            got,
            vec![
                (1, Err("a quote inside an unquoted field".into())),
                (2, Err("text after a closing quote".into())),
                (3, ok(&["ok", "1"])),
                (4, Err("a quoted field is never closed".into())),
            ]
        );
    }

    #[test]
    fn a_byte_order_mark_and_missing_final_newline_are_fine() {
        assert_eq!(
            fields("\u{feff}number\n+61400000001"),
            vec![(1, ok(&["number"])), (2, ok(&["+61400000001"])),]
        );
    }

    #[test]
    fn the_header_decides_the_columns() {
        let p = parse(b"Alias , NUMBER\n\"Shop, main\",+61400000001\n");
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        assert_eq!(p.specs[0].alias.as_deref(), Some("Shop, main"));
        assert_eq!(p.lines, vec![2]);
        for (header, want) in [
            ("alias\n", "the header has no \"number\" column"),
            (
                "number,number\n",
                "column \"number\" appears twice in the header",
            ),
            ("", "the file is empty: expected a header row"),
        ] {
            let p = parse(header.as_bytes());
            assert_eq!(p.problems, vec![(1, want.to_owned())], "{header:?}");
        }
        assert!(
            parse(b"number,price\n").problems[0]
                .1
                .starts_with("unknown column \"price\"")
        );
    }

    #[test]
    fn every_bad_field_of_a_row_is_reported() {
        let p = parse(
            b"number,operator_id,alias,monthly_price,yearly_price\n\
              +61400000001, 7 ,x, 1500 ,\n\
              61400000002,x,,-5,1.5\n\
              +61400000003\n",
        );
        assert_eq!(p.specs.len(), 1);
        let s = &p.specs[0];
        assert_eq!(
            (s.operator_id, s.monthly_price, s.yearly_price),
            (Some(7), 1500, 0)
        );
        assert_eq!(
            p.problems,
            vec![
                (
                    3,
                    "number \"61400000002\" is not E.164 (+ and 8 to 15 digits)".into()
                ),
                (3, "operator_id \"x\" is not an integer".into()),
                (3, "monthly_price \"-5\" must not be negative".into()),
                (
                    3,
                    "yearly_price \"1.5\" is not a whole number of minor units".into()
                ),
                (4, "expected 5 fields, found 1".into()),
            ]
        );
    }
}
