//! `hwsql`: a psql-compatible command-line client for scripts, built on the
//! blocking hyperwire client. Its output, exit status and error lines match
//! `psql -X` for the options it supports.

mod args;
mod print;
mod report;
mod split;

use std::io::{self, BufWriter, Read, Write};
use std::process::ExitCode;

use hyperwire_blocking::{Client, Config, QueryResult, ServerError, SimpleHandler};
use hyperwire_proto::config::Host;

use args::Action;

/// psql's exit codes.
const EXIT_SUCCESS: u8 = 0;
const EXIT_FAILURE: u8 = 1;
const EXIT_BADCONN: u8 = 2;
const EXIT_USER: u8 = 3;

/// Where a statement came from, for the `psql:FILE:LINE: ` prefix of messages.
#[derive(Clone)]
struct Locus {
    file: Option<String>,
    line: usize,
}

impl Locus {
    fn prefix(&self) -> String {
        match &self.file {
            Some(f) => format!("psql:{f}:{}: ", self.line),
            None => String::new(),
        }
    }
}

/// Prints results to stdout and errors to stderr as they arrive.
struct Runner<'a> {
    out: &'a mut dyn Write,
    printer: &'a print::Printer,
    query: &'a str,
    locus: Locus,
    failed: bool,
    copy_source: Option<Box<dyn Read + 'a>>,
    /// COPY TO STDOUT data went out since the last result.
    copied_out: bool,
}

impl SimpleHandler for Runner<'_> {
    fn result(&mut self, result: QueryResult) {
        if std::mem::take(&mut self.copied_out) && result.tag.starts_with("COPY") {
            return;
        }
        let _ = self.printer.result(self.out, &result);
    }
    fn error(&mut self, error: ServerError) {
        self.failed = true;
        let _ = self.out.flush();
        eprint!(
            "{}{}",
            self.locus.prefix(),
            report::format(&error, Some(self.query), true)
        );
    }
    fn copy_out_start(&mut self) {
        self.copied_out = true;
    }
    fn copy_out(&mut self, data: &[u8]) {
        let _ = self.out.write_all(data);
    }
    fn copy_in(&mut self) -> Option<&mut dyn Read> {
        let _ = self.out.flush();
        match &mut self.copy_source {
            Some(r) => Some(r.as_mut()),
            None => None,
        }
    }
}

fn connect(o: &args::Options) -> Result<Client, String> {
    let mut config = match &o.conninfo {
        Some(c) => Config::parse(c).map_err(|e| e.to_string())?,
        None => Config::new(),
    };
    if let Some(h) = &o.host {
        for host in h.split(',') {
            config.host(if host.starts_with('/') {
                Host::Unix(host.to_owned())
            } else {
                Host::Tcp(host.to_owned())
            });
        }
    }
    if let Some(p) = &o.port {
        let port: u16 = p
            .parse()
            .map_err(|_| format!("invalid port number: \"{p}\""))?;
        config.port(port);
    }
    if let Some(u) = &o.user {
        config.user(u.clone());
    }
    if let Some(d) = &o.dbname {
        config.dbname(d.clone());
    }
    config
        .apply_env(&|k| std::env::var(k).ok())
        .map_err(|e| e.to_string())?;
    if config.get_user().is_none() {
        // libpq's default user is the OS user.
        if let Ok(u) = std::env::var("USER") {
            config.user(u);
        }
    }
    Client::connect_config(&config).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let o = match args::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(args::Stop::Help) => {
            print!("{}", args::usage());
            return ExitCode::SUCCESS;
        }
        Err(args::Stop::Usage(msg)) => {
            eprintln!("hwsql: error: {msg}");
            eprintln!("hwsql: hint: Try \"hwsql --help\" for more information.");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let mut client = match connect(&o) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hwsql: error: {e}");
            return ExitCode::from(EXIT_BADCONN);
        }
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let printer = print::Printer {
        format: o.format,
        tuples_only: o.tuples_only,
        field_sep: o.field_sep.clone().unwrap_or_else(|| "|".to_owned()),
        quiet: o.quiet,
    };
    // Notices go to stderr as they arrive, like psql's notice processor.
    client.set_notice_handler(Some(Box::new(|n: &ServerError| {
        eprint!("{}", report::format(n, None, false));
    })));

    let actions = if o.actions.is_empty() {
        vec![Action::Stdin]
    } else {
        o.actions.clone()
    };
    let mut status = EXIT_SUCCESS;
    if o.single_transaction {
        if let Err(e) = client.batch_execute("BEGIN") {
            eprintln!("{e}");
        }
    }
    for action in &actions {
        status = match action {
            Action::Command(sql) => run_command(&mut client, &mut out, &printer, sql),
            Action::File(path) => {
                run_file(&mut client, &mut out, &printer, Some(path), o.on_error_stop)
            }
            Action::Stdin => run_file(&mut client, &mut out, &printer, None, o.on_error_stop),
        };
        if !client.is_healthy() {
            let _ = out.flush();
            eprintln!("hwsql: error: connection to server was lost");
            return ExitCode::from(EXIT_BADCONN);
        }
        if status != EXIT_SUCCESS && o.on_error_stop {
            break;
        }
    }
    if o.single_transaction {
        let end = if status == EXIT_SUCCESS {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        if let Err(e) = client.batch_execute(end) {
            eprintln!("{e}");
        }
    }
    let _ = out.flush();
    let _ = client.close();
    ExitCode::from(status)
}

fn run_command(
    client: &mut Client,
    out: &mut dyn Write,
    printer: &print::Printer,
    sql: &str,
) -> u8 {
    let stdin = io::stdin();
    let mut r = Runner {
        out,
        printer,
        query: sql,
        locus: Locus {
            file: None,
            line: 0,
        },
        failed: false,
        copy_source: Some(Box::new(stdin.lock())),
        copied_out: false,
    };
    match client.simple_query_with(sql, &mut r) {
        Ok(()) if !r.failed => EXIT_SUCCESS,
        Ok(()) => EXIT_FAILURE,
        Err(e) => {
            let _ = r.out.flush();
            eprintln!("hwsql: error: {e}");
            EXIT_BADCONN
        }
    }
}

fn run_file(
    client: &mut Client,
    out: &mut dyn Write,
    printer: &print::Printer,
    path: Option<&str>,
    on_error_stop: bool,
) -> u8 {
    let (script, name) = if path.is_none_or(|p| p == "-") {
        let mut s = String::new();
        if let Err(e) = io::stdin().read_to_string(&mut s) {
            eprintln!("hwsql: error: could not read standard input: {e}");
            return EXIT_FAILURE;
        }
        (s, path.map(|_| "<stdin>".to_owned()))
    } else {
        let path = path.unwrap_or_default();
        match std::fs::read_to_string(path) {
            Ok(s) => (s, Some(path.to_owned())),
            Err(e) => {
                eprintln!("hwsql: error: {path}: {e}");
                return EXIT_FAILURE;
            }
        }
    };
    let mut at = 0;
    while let Some(st) = split::next_statement(&script, at) {
        at = st.end;
        // COPY ... FROM STDIN in a script reads the lines that follow, up to "\.".
        let rest = script.get(at..).unwrap_or("");
        let data_start = rest.find('\n').map_or(rest.len(), |p| p + 1);
        let data = rest.get(data_start..).unwrap_or("");
        let mut r = Runner {
            out: &mut *out,
            printer,
            query: &st.sql,
            locus: Locus {
                file: name.clone(),
                line: st.line,
            },
            failed: false,
            copy_source: Some(Box::new(data.as_bytes())),
            copied_out: false,
        };
        let result = client.simple_query_with(&st.sql, &mut r);
        let failed = r.failed;
        drop(r);
        if let Err(e) = result {
            let _ = out.flush();
            eprintln!("hwsql: error: {e}");
            return EXIT_BADCONN;
        }
        if is_copy_from_stdin(&st.sql) {
            // Skip the data lines and the "\." terminator.
            match data
                .find("\n\\.\n")
                .map(|p| p + 4)
                .or_else(|| data.strip_prefix("\\.\n").map(|_| 3))
            {
                Some(n) => at += data_start + n,
                None => at = script.len(),
            }
        }
        if failed && on_error_stop {
            return EXIT_USER;
        }
    }
    EXIT_SUCCESS
}

fn is_copy_from_stdin(sql: &str) -> bool {
    let s = sql.to_ascii_lowercase();
    s.trim_start().starts_with("copy") && s.contains("from stdin")
}
