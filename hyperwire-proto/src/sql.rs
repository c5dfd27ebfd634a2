//! Reading SQL text where the protocol needs it (no parsing beyond that).

/// The highest `$n` in `sql`, skipping quoted strings, identifiers and comments.
pub fn count_placeholders(sql: &str) -> usize {
    let b = sql.as_bytes();
    let mut i = 0;
    let mut max = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'\'' | b'"' => {
                i += 1;
                while let Some(&d) = b.get(i) {
                    i += 1;
                    if d == c {
                        break;
                    }
                }
                continue;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while b.get(i).is_some_and(|&d| d != b'\n') {
                    i += 1;
                }
                continue;
            }
            b'$' => {
                let digits: alloc::string::String = sql
                    .get(i + 1..)
                    .unwrap_or("")
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                if let Ok(n) = digits.parse::<usize>() {
                    max = max.max(n);
                }
            }
            _ => {}
        }
        i += 1;
    }
    max
}

#[cfg(test)]
mod tests {
    use super::count_placeholders;

    #[test]
    fn placeholders_are_counted_outside_quotes_and_comments() {
        assert_eq!(count_placeholders("SELECT $1 + $3"), 3);
        assert_eq!(count_placeholders("SELECT '$9', \"$8\" -- $7\n, $2"), 2);
        assert_eq!(count_placeholders("SELECT 1"), 0);
    }
}
