//! The password file (`~/.pgpass`): parsing its contents, which the caller
//! reads, and judging its permissions, which the caller stats.
//!
//! Each line is `hostname:port:database:username:password`. Any of the
//! first four fields may be `*`, matching anything; `\:` and `\\` stand for
//! `:` and `\`. Lines starting with `#` are comments. The first matching
//! line wins.

use alloc::string::{String, ToString};

/// Socket directories that count as libpq's default one, which matches
/// `localhost` entries: upstream's `/tmp` and the Debian/Red Hat builds'
/// `/var/run/postgresql` (also reached as `/run/postgresql`).
const DEFAULT_SOCKET_DIRS: &[&str] = &["/tmp", "/var/run/postgresql", "/run/postgresql"];

/// Returns the password of the first line of a password file's `contents`
/// that matches the connection, as libpq does.
///
/// `host` is the host as configured (a name, an address, or a unix socket
/// directory; for a connection by `hostaddr` alone, that address). An empty
/// `host` or a default socket directory (`/tmp`, `/var/run/postgresql`,
/// `/run/postgresql`) also matches `localhost` lines, as in libpq; other
/// socket directories match lines that name that directory. `database`
/// should be the effective database name (the user name when unset).
/// Returns `None` when nothing matches, or when `database` or `user` is
/// empty. Lines may end in `\n` or `\r\n`.
pub fn lookup_password(
    contents: &str,
    host: &str,
    port: u16,
    database: &str,
    user: &str,
) -> Option<String> {
    if database.is_empty() || user.is_empty() {
        return None;
    }
    let host = if host.is_empty() || DEFAULT_SOCKET_DIRS.contains(&host) {
        "localhost"
    } else {
        host
    };
    let port = port.to_string();
    contents
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .find_map(|line| match_line(line, [host, &port, database, user]))
}

/// The password of `line` if its first four fields match `wanted`.
fn match_line(line: &str, wanted: [&str; 4]) -> Option<String> {
    let mut rest = line;
    for field in wanted {
        rest = match_field(rest, field)?;
    }
    Some(unescape_password(rest))
}

/// Matches the field at the start of `line` against `wanted`; on success
/// returns what follows the field's `:`.
fn match_field<'a>(line: &'a str, wanted: &str) -> Option<&'a str> {
    if let Some(rest) = line.strip_prefix("*:") {
        return Some(rest);
    }
    let mut wanted = wanted.chars();
    let mut chars = line.char_indices();
    loop {
        let expected = match chars.next()? {
            (i, ':') => {
                // End of field: a match only if `wanted` is used up too.
                return match wanted.next() {
                    None => line.get(i + 1..),
                    Some(_) => None,
                };
            }
            (_, '\\') => chars.next()?.1,
            (_, c) => c,
        };
        if wanted.next()? != expected {
            return None;
        }
    }
}

/// The password field: up to the next unescaped `:` (libpq ignores any
/// further fields), with escapes removed. A lone trailing `\` is kept.
fn unescape_password(field: &str) -> String {
    let mut out = String::new();
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        match c {
            ':' => break,
            '\\' => out.push(chars.next().unwrap_or('\\')),
            c => out.push(c),
        }
    }
    out
}

/// Whether libpq would use a password file with this `st_mode`: it must
/// grant nothing to group or others (`mode & 0o077 == 0`), and, if `mode`
/// carries file-type bits, be a regular file. Pass the mode from the
/// file's metadata; it does not matter on Windows, where libpq does not
/// check.
pub fn pgpass_permissions_ok(mode: u32) -> bool {
    const S_IFMT: u32 = 0o170_000;
    const S_IFREG: u32 = 0o100_000;
    let file_type = mode & S_IFMT;
    (file_type == 0 || file_type == S_IFREG) && mode & 0o077 == 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pw(contents: &str, host: &str, port: u16, db: &str, user: &str) -> Option<String> {
        lookup_password(contents, host, port, db, user)
    }

    #[test]
    fn exact_match() {
        let f = "db.example:5432:app:alice:s3cret\n";
        assert_eq!(
            pw(f, "db.example", 5432, "app", "alice").as_deref(),
            Some("s3cret")
        );
        assert_eq!(pw(f, "db.example", 5433, "app", "alice"), None);
        assert_eq!(pw(f, "db.example", 5432, "app2", "alice"), None);
        assert_eq!(pw(f, "db.example", 5432, "app", "bob"), None);
        assert_eq!(pw(f, "db.exampl", 5432, "app", "alice"), None);
        assert_eq!(pw(f, "db.example.org", 5432, "app", "alice"), None);
    }

    #[test]
    fn wildcards() {
        let f = "*:*:*:alice:any\n";
        assert_eq!(pw(f, "h", 1, "d", "alice").as_deref(), Some("any"));
        assert_eq!(pw(f, "h", 1, "d", "bob"), None);
        let f = "h:*:d:*:p";
        assert_eq!(pw(f, "h", 6000, "d", "zed").as_deref(), Some("p"));
        // Only a whole-field `*` is a wildcard.
        let f = "h*:*:*:*:p\n";
        assert_eq!(pw(f, "host", 1, "d", "u"), None);
        assert_eq!(pw(f, "h*", 1, "d", "u").as_deref(), Some("p"));
        // An escaped star is a literal star.
        let f = "\\*:*:*:*:p\n";
        assert_eq!(pw(f, "h", 1, "d", "u"), None);
        assert_eq!(pw(f, "*", 1, "d", "u").as_deref(), Some("p"));
    }

    #[test]
    fn first_match_wins() {
        let f = "h:5432:d:u:first\n*:*:*:*:second\nh:5432:d:u:third\n";
        assert_eq!(pw(f, "h", 5432, "d", "u").as_deref(), Some("first"));
        assert_eq!(pw(f, "other", 5432, "d", "u").as_deref(), Some("second"));
    }

    #[test]
    fn escapes() {
        let f = "h\\:x:5432:d\\\\b:u\\:1:pa\\:ss\\\\word\n";
        assert_eq!(
            pw(f, "h:x", 5432, "d\\b", "u:1").as_deref(),
            Some("pa:ss\\word")
        );
        // Unescaped ':' ends the password; extra fields are ignored.
        let f = "h:1:d:u:pass:extra\n";
        assert_eq!(pw(f, "h", 1, "d", "u").as_deref(), Some("pass"));
        // A trailing lone backslash is kept, as in libpq.
        let f = "h:1:d:u:pass\\";
        assert_eq!(pw(f, "h", 1, "d", "u").as_deref(), Some("pass\\"));
        // Any escaped character stands for itself.
        let f = "\\h:1:d:u:p\\w";
        assert_eq!(pw(f, "h", 1, "d", "u").as_deref(), Some("pw"));
    }

    #[test]
    fn comments_blank_lines_crlf() {
        let f = "# comment h:1:d:u:no\r\n\r\n\n   \nh:1:d:u:yes\r\nh:2:d:u:two";
        assert_eq!(pw(f, "h", 1, "d", "u").as_deref(), Some("yes"));
        assert_eq!(pw(f, "h", 2, "d", "u").as_deref(), Some("two"));
        assert_eq!(pw("#h:1:d:u:no", "#h", 1, "d", "u"), None);
        assert_eq!(pw("", "h", 1, "d", "u"), None);
    }

    #[test]
    fn empty_password_and_short_lines() {
        assert_eq!(pw("h:1:d:u:", "h", 1, "d", "u").as_deref(), Some(""));
        assert_eq!(pw("h:1:d:u", "h", 1, "d", "u"), None);
        assert_eq!(pw("h:1:d", "h", 1, "d", "u"), None);
        assert_eq!(pw("*:*:*:*:p", "h", 1, "", "u"), None);
        assert_eq!(pw("*:*:*:*:p", "h", 1, "d", ""), None);
    }

    #[test]
    fn localhost_matches_unix_sockets() {
        let f = "localhost:5432:*:u:local\n";
        for host in [
            "",
            "/tmp",
            "/var/run/postgresql",
            "/run/postgresql",
            "localhost",
        ] {
            assert_eq!(
                pw(f, host, 5432, "d", "u").as_deref(),
                Some("local"),
                "{host:?}"
            );
        }
        // A socket directory that is not a default one must be named.
        assert_eq!(pw(f, "/home/me/sock", 5432, "d", "u"), None);
        let f = "/home/me/sock:5432:*:u:mine\n";
        assert_eq!(
            pw(f, "/home/me/sock", 5432, "d", "u").as_deref(),
            Some("mine")
        );
        // A TCP host never matches `localhost` unless it is `localhost`.
        assert_eq!(
            pw("localhost:5432:*:u:l", "127.0.0.1", 5432, "d", "u"),
            None
        );
    }

    #[test]
    fn permissions() {
        assert!(pgpass_permissions_ok(0o600));
        assert!(pgpass_permissions_ok(0o400));
        assert!(pgpass_permissions_ok(0o100_600));
        assert!(!pgpass_permissions_ok(0o640));
        assert!(!pgpass_permissions_ok(0o604));
        assert!(!pgpass_permissions_ok(0o644));
        assert!(!pgpass_permissions_ok(0o100_660));
        // Not a regular file: a directory, a symlink's own mode.
        assert!(!pgpass_permissions_ok(0o040_700));
        assert!(!pgpass_permissions_ok(0o120_600));
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn never_panics(contents in any::<String>(), host in any::<String>(),
                            port in any::<u16>(), db in any::<String>(), user in any::<String>()) {
                let _ = lookup_password(&contents, &host, port, &db, &user);
            }

            #[test]
            fn escaped_fields_round_trip(host in "[^\n\r]{1,12}", db in "[^\n\r]{1,12}",
                                         user in "[^\n\r]{1,12}", pass in "[^\n\r]{0,12}") {
                let esc = |s: &str| s.replace('\\', "\\\\").replace(':', "\\:");
                let line = alloc::format!("{}:6543:{}:{}:{}\n", esc(&host), esc(&db), esc(&user), esc(&pass));
                // A leading '#' makes a comment, and a bare `*` is a wildcard.
                prop_assume!(!line.starts_with('#'));
                prop_assume!(!DEFAULT_SOCKET_DIRS.contains(&host.as_str()));
                let got = lookup_password(&line, &host, 6543, &db, &user);
                prop_assert_eq!(got, Some(pass));
            }
        }
    }
}
