//! Completing a configuration from libpq's environment variables.

use alloc::boxed::Box;
use alloc::string::String;

use super::conninfo::Key;
use super::{Config, ConfigError};

/// The environment variables libpq reads for connection options, with the
/// option each one fills.
const ENV_VARS: &[(&str, Key)] = &[
    ("PGHOST", Key::Host),
    ("PGHOSTADDR", Key::HostAddr),
    ("PGPORT", Key::Port),
    ("PGUSER", Key::User),
    ("PGPASSWORD", Key::Password),
    ("PGDATABASE", Key::DbName),
    ("PGAPPNAME", Key::ApplicationName),
    ("PGOPTIONS", Key::Options),
    ("PGCLIENTENCODING", Key::ClientEncoding),
    ("PGCONNECT_TIMEOUT", Key::ConnectTimeout),
    ("PGSSLMODE", Key::SslMode),
    ("PGSSLNEGOTIATION", Key::SslNegotiation),
    ("PGSSLROOTCERT", Key::SslRootCert),
    ("PGSSLCERT", Key::SslCert),
    ("PGSSLKEY", Key::SslKeyFile),
    ("PGSSLSNI", Key::SslSni),
    ("PGGSSENCMODE", Key::GssEncMode),
    ("PGREQUIREAUTH", Key::RequireAuth),
    ("PGCHANNELBINDING", Key::ChannelBinding),
    ("PGTARGETSESSIONATTRS", Key::TargetSessionAttrs),
    ("PGMINPROTOCOLVERSION", Key::MinProtocolVersion),
    ("PGMAXPROTOCOLVERSION", Key::MaxProtocolVersion),
    ("PGPASSFILE", Key::PassFile),
    ("PGLOADBALANCEHOSTS", Key::LoadBalanceHosts),
];

impl Config {
    /// Fills every option that is still unset from its libpq environment
    /// variable (`PGHOST`, `PGHOSTADDR`, `PGPORT`, `PGUSER`, `PGPASSWORD`,
    /// `PGDATABASE`, `PGAPPNAME`, `PGOPTIONS`, `PGCLIENTENCODING`,
    /// `PGCONNECT_TIMEOUT`, `PGSSLMODE`, `PGSSLNEGOTIATION`,
    /// `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY`, `PGSSLSNI`, `PGGSSENCMODE`,
    /// `PGREQUIREAUTH`, `PGCHANNELBINDING`, `PGTARGETSESSIONATTRS`,
    /// `PGMINPROTOCOLVERSION`, `PGMAXPROTOCOLVERSION`, `PGPASSFILE`,
    /// `PGLOADBALANCEHOSTS`), then runs [`Config::validate`].
    ///
    /// `lookup` returns a variable's value (for example
    /// `&|name| std::env::var(name).ok()`); an empty value counts as unset.
    /// Values are read exactly as connection-string values. On error the
    /// configuration is left unchanged; an invalid value is reported as
    /// [`ConfigError::InvalidEnv`] naming the variable.
    pub fn apply_env(
        &mut self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let mut merged = self.clone();
        for &(var, key) in ENV_VARS {
            if merged.is_set(key) {
                continue;
            }
            if let Some(value) = lookup(var) {
                merged
                    .set_value(key, &value)
                    .map_err(|error| ConfigError::InvalidEnv {
                        var,
                        error: Box::new(error),
                    })?;
            }
        }
        merged.validate()?;
        *self = merged;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::{AuthMethod, Host, ProtocolVersion, SslMode};
    use alloc::string::ToString;
    use alloc::vec::Vec;
    use core::time::Duration;

    /// A lookup over a fixed list of variables.
    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| String::from(*v))
        }
    }

    fn merged(conninfo: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut c = Config::parse(conninfo)?;
        c.apply_env(&env(vars))?;
        Ok(c)
    }

    #[test]
    fn env_fills_gaps() {
        let c = merged(
            "user=alice",
            &[
                ("PGHOST", "db1,/tmp"),
                ("PGPORT", "6000"),
                ("PGDATABASE", "app"),
                ("PGPASSWORD", "pw"),
                ("PGAPPNAME", "tool"),
                ("PGOPTIONS", "-c x=y"),
                ("PGCLIENTENCODING", "UTF8"),
                ("PGCONNECT_TIMEOUT", "7"),
                ("PGSSLMODE", "verify-full"),
                ("PGSSLSNI", "0"),
                ("PGREQUIREAUTH", "scram-sha-256"),
                ("PGMAXPROTOCOLVERSION", "3.2"),
                ("PGPASSFILE", "/p"),
            ],
        )
        .unwrap();
        assert_eq!(c.get_user(), Some("alice"));
        assert_eq!(
            c.get_hosts(),
            &[Host::Tcp("db1".into()), Host::Unix("/tmp".into())]
        );
        assert_eq!(c.get_ports(), &[6000]);
        assert_eq!(c.get_dbname(), Some("app"));
        assert_eq!(c.get_password(), Some("pw"));
        assert_eq!(c.get_application_name(), Some("tool"));
        assert_eq!(c.get_options(), Some("-c x=y"));
        assert_eq!(c.get_client_encoding(), Some("UTF8"));
        assert_eq!(c.get_connect_timeout(), Some(Duration::from_secs(7)));
        assert_eq!(c.get_sslmode(), SslMode::VerifyFull);
        assert!(!c.get_sslsni());
        assert!(!c.get_require_auth().allows(AuthMethod::Md5));
        assert_eq!(c.get_max_protocol_version(), ProtocolVersion::V3_2);
        assert_eq!(c.get_passfile(), Some("/p"));
    }

    #[test]
    fn explicit_conninfo_wins() {
        let vars = [
            ("PGHOST", "envhost"),
            ("PGPORT", "1111"),
            ("PGUSER", "envuser"),
            ("PGSSLMODE", "disable"),
            ("PGCONNECT_TIMEOUT", "30"),
        ];
        let c = merged(
            "postgresql://me@h:2222/db?sslmode=require&connect_timeout=0",
            &vars,
        )
        .unwrap();
        assert_eq!(c.get_hosts(), &[Host::Tcp("h".into())]);
        assert_eq!(c.get_ports(), &[2222]);
        assert_eq!(c.get_user(), Some("me"));
        assert_eq!(c.get_sslmode(), SslMode::Require);
        // An explicit 0 (no timeout) is still explicit.
        assert_eq!(c.get_connect_timeout(), None);
    }

    #[test]
    fn env_never_consulted_for_set_fields() {
        let mut c = Config::parse("user=u").unwrap();
        let asked = core::cell::RefCell::new(Vec::new());
        c.apply_env(&|name: &str| {
            asked.borrow_mut().push(String::from(name));
            None
        })
        .unwrap();
        let asked = asked.into_inner();
        assert!(!asked.iter().any(|n| n == "PGUSER"));
        assert!(asked.iter().any(|n| n == "PGHOST"));
        assert_eq!(asked.len(), ENV_VARS.len() - 1);
    }

    #[test]
    fn empty_env_value_is_unset() {
        let c = merged("", &[("PGUSER", ""), ("PGPORT", "")]).unwrap();
        assert_eq!(c.get_user(), None);
        assert_eq!(c.get_ports(), &[5432]);
    }

    #[test]
    fn invalid_env_values_name_the_variable() {
        let e = merged("", &[("PGPORT", "notaport")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid environment variable PGPORT: invalid port number: \"notaport\" \
             (expected 1 to 65535)"
        );
        let e = merged("", &[("PGSSLMODE", "sometimes")]).unwrap_err();
        assert!(matches!(
            e,
            ConfigError::InvalidEnv {
                var: "PGSSLMODE",
                ..
            }
        ));
        assert!(e.to_string().starts_with(
            "invalid environment variable PGSSLMODE: invalid sslmode value: \"sometimes\""
        ));
        for (var, value) in [
            ("PGHOSTADDR", "host.example"),
            ("PGCONNECT_TIMEOUT", "soon"),
            ("PGSSLNEGOTIATION", "tls"),
            ("PGSSLSNI", "yes"),
            ("PGGSSENCMODE", "always"),
            ("PGREQUIREAUTH", "md5,!md5"),
            ("PGCHANNELBINDING", "maybe"),
            ("PGTARGETSESSIONATTRS", "primary-ish"),
            ("PGMINPROTOCOLVERSION", "2.0"),
            ("PGMAXPROTOCOLVERSION", "4"),
            ("PGLOADBALANCEHOSTS", "yes"),
            ("PGHOST", "a,,b"),
        ] {
            match merged("", &[(var, value)]) {
                Err(ConfigError::InvalidEnv { var: v, .. }) => assert_eq!(v, var),
                other => panic!("{var}={value}: {other:?}"),
            }
        }
    }

    #[test]
    fn invalid_env_leaves_config_unchanged() {
        let mut c = Config::parse("dbname=d").unwrap();
        let before = c.clone();
        let vars = [("PGUSER", "u"), ("PGPORT", "x")];
        assert!(c.apply_env(&env(&vars)).is_err());
        assert_eq!(c, before);
    }

    #[test]
    fn env_ignored_for_invalid_var_when_option_set() {
        // The conninfo sets sslmode, so a bad PGSSLMODE is never read.
        let c = merged("sslmode=disable", &[("PGSSLMODE", "garbage")]).unwrap();
        assert_eq!(c.get_sslmode(), SslMode::Disable);
    }

    #[test]
    fn cross_checks_after_merge() {
        let e = merged("sslrootcert=system", &[("PGSSLMODE", "require")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "weak sslmode \"require\" may not be used with sslrootcert=system (use \"verify-full\")"
        );
        let c = merged("", &[("PGSSLROOTCERT", "system")]).unwrap();
        assert_eq!(c.get_sslmode(), SslMode::VerifyFull);
        let e = merged("port=1,2", &[("PGHOST", "a,b,c")]).unwrap_err();
        assert_eq!(e, ConfigError::HostPortCountMismatch { hosts: 3, ports: 2 });
        merged("port=1,2", &[("PGHOST", "a,b")]).unwrap();
        let e = merged("port=1,2", &[]).unwrap_err();
        assert_eq!(e, ConfigError::HostPortCountMismatch { hosts: 1, ports: 2 });
        let e = merged(
            "min_protocol_version=3.2",
            &[("PGMAXPROTOCOLVERSION", "3.0")],
        )
        .unwrap_err();
        assert!(matches!(e, ConfigError::ProtocolVersionRange { .. }));
        let e = merged("sslnegotiation=direct", &[]).unwrap_err();
        assert!(matches!(e, ConfigError::WeakSslMode { .. }));
        merged("sslnegotiation=direct", &[("PGSSLMODE", "require")]).unwrap();
    }

    #[test]
    fn password_from_env_not_in_errors() {
        let e = merged("", &[("PGPASSWORD", "topsecret"), ("PGPORT", "x")]).unwrap_err();
        assert!(!e.to_string().contains("topsecret"));
        assert!(!alloc::format!("{e:?}").contains("topsecret"));
    }
}
