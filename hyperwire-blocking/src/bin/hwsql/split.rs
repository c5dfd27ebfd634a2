//! Splitting a script into statements the way psql's lexer does: a `;` ends a
//! statement unless it is inside quotes, a dollar-quoted string, a comment or
//! parentheses.

/// One statement: its text (with the `;`) and the 1-based line where it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Statement {
    pub(crate) sql: String,
    pub(crate) line: usize,
    /// Byte offset just after the statement in the script.
    pub(crate) end: usize,
}

/// The next statement in `script[from..]`, or `None` at the end.
pub(crate) fn next_statement(script: &str, from: usize) -> Option<Statement> {
    let bytes = script.as_bytes();
    let mut i = from;
    // Skip leading whitespace (psql never sends it).
    while bytes.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
        i += 1;
    }
    if i >= bytes.len() {
        return None;
    }
    let start = i;
    let mut depth = 0i32;
    while let Some(&c) = bytes.get(i) {
        match c {
            b'\'' => {
                // E'...' strings take backslash escapes.
                let escapes = i > start
                    && matches!(bytes.get(i - 1), Some(b'E' | b'e'))
                    && !bytes
                        .get(i.wrapping_sub(2))
                        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
                i += 1;
                while let Some(&d) = bytes.get(i) {
                    if escapes && d == b'\\' {
                        i += 2;
                        continue;
                    }
                    i += 1;
                    if d == b'\'' {
                        if bytes.get(i) == Some(&b'\'') {
                            i += 1;
                            continue;
                        }
                        break;
                    }
                }
                continue;
            }
            b'"' => {
                i += 1;
                while let Some(&d) = bytes.get(i) {
                    i += 1;
                    if d == b'"' {
                        break;
                    }
                }
                continue;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while bytes.get(i).is_some_and(|&d| d != b'\n') {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut nest = 0;
                while i < bytes.len() {
                    if bytes.get(i..i + 2) == Some(b"/*") {
                        nest += 1;
                        i += 2;
                    } else if bytes.get(i..i + 2) == Some(b"*/") {
                        nest -= 1;
                        i += 2;
                        if nest == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            b'$' => {
                // $tag$ ... $tag$ (a tag is empty or an identifier not starting with a digit)
                let rest = script.get(i + 1..).unwrap_or("");
                let tag_len = rest
                    .bytes()
                    .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                    .count();
                let starts_digit = rest.as_bytes().first().is_some_and(u8::is_ascii_digit);
                if !starts_digit && rest.as_bytes().get(tag_len) == Some(&b'$') {
                    let delim = script.get(i..i + tag_len + 2).unwrap_or("$$");
                    let body_from = i + tag_len + 2;
                    match script.get(body_from..).and_then(|s| s.find(delim)) {
                        Some(p) => i = body_from + p + delim.len(),
                        None => i = bytes.len(),
                    }
                    continue;
                }
            }
            b'(' => depth += 1,
            b')' => depth -= 1,
            b';' if depth <= 0 => {
                let end = i + 1;
                return Some(Statement {
                    sql: script.get(start..end).unwrap_or("").to_owned(),
                    line: 1 + script.get(..i).unwrap_or("").matches('\n').count(),
                    end,
                });
            }
            _ => {}
        }
        i += 1;
    }
    // The last statement may lack its semicolon.
    let sql = script.get(start..).unwrap_or("").trim_end().to_owned();
    Some(Statement {
        line: 1 + script
            .get(..start + sql.len())
            .unwrap_or("")
            .matches('\n')
            .count(),
        sql,
        end: bytes.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(s: &str) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        let mut at = 0;
        while let Some(st) = next_statement(s, at) {
            at = st.end;
            out.push((st.sql, st.line));
        }
        out
    }

    #[test]
    fn splits_like_psql() {
        assert_eq!(
            all("select 1;\nselect ';' as x;\n\nselect $$a;b$$, $t$;$t$;"),
            [
                ("select 1;".into(), 1),
                ("select ';' as x;".into(), 2),
                ("select $$a;b$$, $t$;$t$;".into(), 4)
            ]
        );
        assert_eq!(all("select 1 -- c;\n;"), [("select 1 -- c;\n;".into(), 2)]);
        assert_eq!(
            all("select (1;2);x"),
            [("select (1;2);".into(), 1), ("x".into(), 1)]
        );
        assert_eq!(
            all("select E'\\';' ; select 'it''s';"),
            [
                ("select E'\\';' ;".into(), 1),
                ("select 'it''s';".into(), 1)
            ]
        );
        assert_eq!(
            all("/* a; /* b; */ */ select 1;"),
            [("/* a; /* b; */ */ select 1;".into(), 1)]
        );
        assert_eq!(all("  \n "), Vec::<(String, usize)>::new());
        assert_eq!(all("select \"a;b\";"), [("select \"a;b\";".into(), 1)]);
    }
}
