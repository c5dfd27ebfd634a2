//! Server errors and notices as libpq formats them (default verbosity), with the
//! `LINE n:` display and its caret.

use hyperwire_blocking::ServerError;
use unicode_width::UnicodeWidthChar;

const DISPLAY_SIZE: usize = 60;
const MIN_RIGHT_CUT: usize = 10;

/// The message: `SEVERITY:  message`, the position display, DETAIL, HINT, QUERY
/// and (for errors) CONTEXT, each line ending in a newline.
pub(crate) fn format(e: &ServerError, query: Option<&str>, is_error: bool) -> String {
    let mut msg = format!(
        "{}:  {}",
        e.field(b'S').unwrap_or(e.severity()),
        e.message()
    );
    let position = e.position().filter(|p| *p > 0);
    let mut show_cursor = None;
    match (position, query) {
        (Some(p), Some(q)) => show_cursor = Some((q, p as usize)),
        (Some(p), None) => msg.push_str(&format!(" at character {p}")),
        _ => {}
    }
    msg.push('\n');
    if let Some((q, p)) = show_cursor {
        report_position(&mut msg, q, p);
    }
    for (code, label) in [(b'D', "DETAIL"), (b'H', "HINT"), (b'q', "QUERY")] {
        if let Some(v) = e.field(code) {
            msg.push_str(&format!("{label}:  {v}\n"));
        }
    }
    if is_error {
        if let Some(v) = e.field(b'W') {
            msg.push_str(&format!("CONTEXT:  {v}\n"));
        }
    }
    msg
}

/// libpq's reportErrorPosition: the line holding character `pos` (1-based), cut to
/// about 60 columns around it, and a caret under the character.
fn report_position(msg: &mut String, query: &str, pos: usize) {
    let chars: Vec<char> = query.chars().collect();
    let loc = pos - 1;
    if loc > chars.len() {
        return;
    }
    // Screen column of every character, and where lines start.
    let mut scr = Vec::with_capacity(chars.len() + 1);
    let mut col = 0usize;
    let mut line = 1;
    let mut ibeg = 0;
    let mut iend = None;
    let mut loc_line = 1;
    let mut i = 0;
    while i < chars.len() {
        scr.push(col);
        let c = chars.get(i).copied().unwrap_or(' ');
        if c == '\n' || c == '\r' {
            if i < loc {
                // A line break before the error: the error's line starts after it.
                let next = if c == '\r' && chars.get(i + 1) == Some(&'\n') {
                    scr.push(col);
                    i + 2
                } else {
                    i + 1
                };
                ibeg = next;
                line += 1;
                loc_line = line;
                col = 0;
                i = next;
                continue;
            } else if iend.is_none() {
                iend = Some(i);
            }
        }
        col += if c == '\t' {
            1
        } else {
            c.width()
                .unwrap_or(0)
                .max(if c.is_control() { 1 } else { 0 })
        };
        i += 1;
    }
    scr.push(col);
    let mut iend = iend.unwrap_or(chars.len());
    let at = |k: usize| scr.get(k).copied().unwrap_or(0);
    let (mut beg_trunc, mut end_trunc) = (false, false);
    if at(iend) - at(ibeg) > DISPLAY_SIZE {
        if at(ibeg) + DISPLAY_SIZE >= at(loc) + MIN_RIGHT_CUT {
            while at(iend) - at(ibeg) > DISPLAY_SIZE {
                iend -= 1;
            }
            end_trunc = true;
        } else {
            while at(loc) + MIN_RIGHT_CUT < at(iend) {
                iend -= 1;
                end_trunc = true;
            }
            while at(iend) - at(ibeg) > DISPLAY_SIZE {
                ibeg += 1;
                beg_trunc = true;
            }
        }
    }
    let mut prefix = format!("LINE {loc_line}: ");
    if beg_trunc {
        prefix.push_str("...");
    }
    let offset = prefix.chars().count() + at(loc) - at(ibeg);
    let text: String = chars
        .get(ibeg..iend)
        .unwrap_or(&[])
        .iter()
        .map(|&c| if c == '\t' { ' ' } else { c })
        .collect();
    msg.push_str(&prefix);
    msg.push_str(&text);
    if end_trunc {
        msg.push_str("...");
    }
    msg.push('\n');
    msg.push_str(&" ".repeat(offset));
    msg.push_str("^\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_under_the_error() {
        let mut m = String::new();
        report_position(&mut m, "select * from nope", 15);
        assert_eq!(m, "LINE 1: select * from nope\n                      ^\n");
        let mut m = String::new();
        report_position(&mut m, "select 1;\nselect * from nope;", 25);
        assert_eq!(m, "LINE 2: select * from nope;\n                      ^\n");
    }
}
