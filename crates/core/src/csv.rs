//! The one CSV writer of meshbench: `run --csv`, the probe's report and the platform's
//! reports all write through [`to_string`], so they quote, guard and end lines alike.
//!
//! The format is RFC 4180 as the `csv` crate writes it (a field is quoted only when it holds
//! a comma, a quote or a line break), with `\n` ending every record, the header's too.
//!
//! **Formula guard.** A spreadsheet opening the file runs a field that starts with `=`, `+`,
//! `-`, `@`, a tab or a carriage return as a formula, and some fields come from users (URLs,
//! mesh names, namespaces, cgroup paths). Such a field gets a leading `'`, which spreadsheets
//! show as text. The exception is a field that is a plain decimal number (`-5`, `+1.25`: an
//! optional sign, digits, optionally a `.` and more digits): a spreadsheet reads it as that
//! number and nothing else, and guarding it would turn a negative value in a numeric column
//! into text. `-1+2`, `-inf` or `--5` are not plain numbers and are guarded.

/// A CSV document: `header`, then each of `rows`, every record ending in `\n`.
///
/// Every row should have as many fields as the header; a debug build checks it.
pub fn to_string<H, R, F>(header: &[H], rows: impl IntoIterator<Item = R>) -> String
where
    H: AsRef<str>,
    R: IntoIterator<Item = F>,
    F: AsRef<str>,
{
    let mut out = ::csv::WriterBuilder::new()
        // Unequal rows are a bug the debug assertion below finds; a release build writes
        // what it was given rather than fail a download over it.
        .flexible(true)
        .from_writer(Vec::new());
    let mut write = |fields: Vec<String>| {
        debug_assert_eq!(fields.len(), header.len(), "a CSV row of the wrong width");
        // Writing to a Vec cannot fail: its io::Write never returns an error.
        out.write_record(&fields)
            .expect("writing CSV to a Vec<u8> cannot fail");
    };
    write(header.iter().map(|h| guard(h.as_ref())).collect());
    for row in rows {
        write(row.into_iter().map(|f| guard(f.as_ref())).collect());
    }
    let bytes = out
        .into_inner()
        .expect("flushing CSV into a Vec<u8> cannot fail");
    // Every field was a &str and the writer adds only ASCII, so the bytes are UTF-8.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// `field`, prefixed with `'` when a spreadsheet would run it as a formula (see the module
/// documentation for the rule).
pub fn guard(field: &str) -> String {
    if field.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_plain_number(field) {
        format!("'{field}")
    } else {
        field.to_string()
    }
}

/// An optional sign, one or more digits, optionally a `.` and one or more digits.
fn is_plain_number(field: &str) -> bool {
    let unsigned = field.strip_prefix(['+', '-']).unwrap_or(field);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(whole) && fraction.is_none_or(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        let text = to_string(
            &["a", "b", "c"],
            [["plain", "a,b", "say \"hi\""], ["line\nbreak", "", "x"]],
        );
        assert_eq!(
            text,
            "a,b,c\nplain,\"a,b\",\"say \"\"hi\"\"\"\n\"line\nbreak\",,x\n"
        );
    }

    #[test]
    fn formulas_are_guarded_and_numbers_are_not() {
        for formula in [
            "=HYPERLINK(1)",
            "+cmd",
            "-1+2",
            "@SUM(A1)",
            "\tx",
            "-inf",
            "--5",
            "-",
            "-1.",
        ] {
            assert_eq!(guard(formula), format!("'{formula}"), "{formula:?}");
        }
        for number in ["-5", "+5", "-0.25", "12", "1995.4", "0"] {
            assert_eq!(guard(number), number);
        }
        for text in ["http://x/?a=-1", "linkerd", "", "a-b", "1e5"] {
            assert_eq!(guard(text), text);
        }
        // A carriage return at the start is guarded, then quoted for the line break.
        assert_eq!(to_string(&["h"], [["\rx"]]), "h\n\"'\rx\"\n");
    }

    #[test]
    fn a_row_of_one_empty_field_is_still_a_row() {
        // The csv crate quotes it, so the record is not read back as a blank line.
        assert_eq!(to_string(&["h"], [[""]]), "h\n\"\"\n");
    }
}
