//! Command-line options: the psql subset hwsql accepts.

/// One thing to run, in command-line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// `-c SQL`
    Command(String),
    /// `-f FILE` (`-` is standard input)
    File(String),
    /// No `-c` or `-f`: the script on standard input (messages get no file prefix).
    Stdin,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutputFormat {
    Aligned,
    Unaligned,
    Csv,
}

#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) actions: Vec<Action>,
    pub(crate) format: OutputFormat,
    pub(crate) tuples_only: bool,
    pub(crate) field_sep: Option<String>,
    pub(crate) quiet: bool,
    pub(crate) on_error_stop: bool,
    pub(crate) single_transaction: bool,
    pub(crate) host: Option<String>,
    pub(crate) port: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) dbname: Option<String>,
    /// A positional conninfo string, URL or database name.
    pub(crate) conninfo: Option<String>,
}

const USAGE: &str = "hwsql: a psql-compatible command-line client built on hyperwire

Usage:
  hwsql [OPTION]... [DBNAME|CONNINFO [USERNAME]]

Options:
  -c, --command=COMMAND    run only single command (SQL) and exit (repeatable)
  -f, --file=FILENAME      execute commands from file, then exit
  -A, --no-align           unaligned table output mode
  -t, --tuples-only        print rows only
  -F, --field-separator=STRING  field separator for unaligned output
      --csv                CSV (Comma-Separated Values) table output mode
  -q, --quiet              run quietly (no messages, only query output)
  -v, --set=NAME=VALUE     set variable (ON_ERROR_STOP=1 is understood)
  -1, --single-transaction execute as a single transaction
  -X, --no-psqlrc          accepted (hwsql reads no startup file)
  -h, --host=HOSTNAME      database server host or socket directory
  -p, --port=PORT          database server port
  -U, --username=USERNAME  database user name
  -d, --dbname=DBNAME      database name (or a conninfo string or URL)
      --help               show this help, then exit
";

/// Why parsing stopped: a usage error (exit 1) or `--help` (exit 0).
#[derive(Debug)]
pub(crate) enum Stop {
    Help,
    Usage(String),
}

fn truthy(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "1" | "on" | "true" | "yes")
}

pub(crate) fn usage() -> &'static str {
    USAGE
}

pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, Stop> {
    let mut o = Options {
        actions: Vec::new(),
        format: OutputFormat::Aligned,
        tuples_only: false,
        field_sep: None,
        quiet: false,
        on_error_stop: false,
        single_transaction: false,
        host: None,
        port: None,
        user: None,
        dbname: None,
        conninfo: None,
    };
    let mut positional = Vec::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        // --long=value, --long value, -xVALUE, -x VALUE
        let (name, inline): (String, Option<String>) = if let Some(long) = arg.strip_prefix("--") {
            match long.split_once('=') {
                Some((n, v)) => (format!("--{n}"), Some(v.to_owned())),
                None => (arg.clone(), None),
            }
        } else if arg.len() > 2 && arg.starts_with('-') && !arg.starts_with("--") {
            let (n, v) = arg.split_at(2);
            (n.to_owned(), Some(v.to_owned()))
        } else {
            (arg.clone(), None)
        };
        let takes_value = matches!(
            name.as_str(),
            "-c" | "--command"
                | "-f"
                | "--file"
                | "-F"
                | "--field-separator"
                | "-v"
                | "--set"
                | "--variable"
                | "-h"
                | "--host"
                | "-p"
                | "--port"
                | "-U"
                | "--username"
                | "-d"
                | "--dbname"
        );
        let value = if takes_value {
            match inline {
                Some(v) => Some(v),
                None => Some(it.next().ok_or_else(|| {
                    Stop::Usage(format!(
                        "option requires an argument -- '{}'",
                        name.trim_start_matches('-')
                    ))
                })?),
            }
        } else {
            if inline.is_some() && !name.starts_with("--") {
                // Bundled flags like -At.
                for flag in arg.chars().skip(1) {
                    apply_flag(&mut o, &format!("-{flag}"))?;
                }
                continue;
            }
            None
        };
        match (name.as_str(), value) {
            ("-c" | "--command", Some(v)) => o.actions.push(Action::Command(v)),
            ("-f" | "--file", Some(v)) => o.actions.push(Action::File(v)),
            ("-F" | "--field-separator", Some(v)) => o.field_sep = Some(v),
            ("-v" | "--set" | "--variable", Some(v)) => {
                if let Some((k, val)) = v.split_once('=') {
                    if k == "ON_ERROR_STOP" {
                        o.on_error_stop = truthy(val);
                    }
                }
            }
            ("-h" | "--host", Some(v)) => o.host = Some(v),
            ("-p" | "--port", Some(v)) => o.port = Some(v),
            ("-U" | "--username", Some(v)) => o.user = Some(v),
            ("-d" | "--dbname", Some(v)) => o.dbname = Some(v),
            ("--help" | "-?", _) => return Err(Stop::Help),
            (flag, None) if flag.starts_with('-') && flag.len() > 1 => apply_flag(&mut o, flag)?,
            (_, _) => positional.push(arg),
        }
    }
    let mut positional = positional.into_iter();
    if let Some(db) = positional.next() {
        if o.dbname.is_none() {
            o.dbname = Some(db);
        }
    }
    if let Some(user) = positional.next() {
        if o.user.is_none() {
            o.user = Some(user);
        }
    }
    if let Some(extra) = positional.next() {
        return Err(Stop::Usage(format!(
            "extra command-line argument \"{extra}\" ignored"
        )));
    }
    // A dbname that looks like a conninfo string or URL is one (as in psql).
    if let Some(db) = &o.dbname {
        if db.contains('=') || db.starts_with("postgres://") || db.starts_with("postgresql://") {
            o.conninfo = o.dbname.take();
        }
    }
    Ok(o)
}

fn apply_flag(o: &mut Options, flag: &str) -> Result<(), Stop> {
    match flag {
        "-A" | "--no-align" => o.format = OutputFormat::Unaligned,
        "--csv" => o.format = OutputFormat::Csv,
        "-t" | "--tuples-only" => o.tuples_only = true,
        "-q" | "--quiet" => o.quiet = true,
        "-1" | "--single-transaction" => o.single_transaction = true,
        "-X" | "--no-psqlrc" | "-w" | "--no-password" => {}
        "--help" | "-?" => return Err(Stop::Help),
        other => {
            return Err(Stop::Usage(format!(
                "invalid option -- '{}'",
                other.trim_start_matches('-')
            )))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Options {
        match parse(args.iter().map(|s| s.to_string())) {
            Ok(o) => o,
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn psql_style_options() {
        let o = p(&[
            "-At",
            "-c",
            "select 1",
            "--command=select 2",
            "-f",
            "x.sql",
            "-v",
            "ON_ERROR_STOP=1",
            "-X",
            "-q",
            "-1",
        ]);
        assert_eq!(o.format, OutputFormat::Unaligned);
        assert!(o.tuples_only && o.quiet && o.single_transaction && o.on_error_stop);
        assert_eq!(
            o.actions,
            [
                Action::Command("select 1".into()),
                Action::Command("select 2".into()),
                Action::File("x.sql".into())
            ]
        );
        let o = p(&["-h", "127.0.0.1", "-p5432", "-U", "bob", "db"]);
        assert_eq!(o.port.as_deref(), Some("5432"));
        assert_eq!(o.dbname.as_deref(), Some("db"));
        let o = p(&["--csv", "host=h user=u"]);
        assert_eq!(o.format, OutputFormat::Csv);
        assert_eq!(o.conninfo.as_deref(), Some("host=h user=u"));
        let o = p(&["-F", ";", "postgresql://u@h/db"]);
        assert_eq!(o.field_sep.as_deref(), Some(";"));
        assert!(o.conninfo.is_some());
        assert!(matches!(parse(["-Z".to_string()]), Err(Stop::Usage(_))));
        assert!(matches!(parse(["-c".to_string()]), Err(Stop::Usage(_))));
    }
}
