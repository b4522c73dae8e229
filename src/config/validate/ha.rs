//! Validation of `ha:` (issue 15): endpoints, prefix, lease time to live,
//! settle delay, replica id, TLS and auth, every error located like the rest.
//!
//! Must never: read a password or key (only check where it comes from), or
//! connect to etcd.

use std::time::Duration;

use yaml_serde::Value;

use super::super::raw::{RawEtcd, RawEtcdAuth, RawEtcdTls, RawHa};
use super::super::{
    DEFAULT_HA_PREFIX, DEFAULT_LEASE_TTL, DEFAULT_SETTLE, Etcd, EtcdAuth, EtcdTls, Ha,
    MIN_LEASE_TTL, is_replica_id,
};
use super::{Ctx, join};

/// Longest `lease_ttl` accepted: a failover costs about this much.
const MAX_LEASE_TTL: Duration = Duration::from_secs(3600);

impl Ctx<'_> {
    /// `ha:` of the document, if it has one; `None` also when it is invalid
    /// (reported).
    pub(super) fn ha(&mut self, root: &Value) -> Option<Ha> {
        let value = root.as_mapping()?.get("ha")?;
        let raw = self.parse_struct::<RawHa>(value, "ha", "ha")?;
        let replica_id = match raw.replica_id {
            Some(id) if !is_replica_id(&id) => {
                self.error(
                    "ha.replica_id",
                    format!(
                        "invalid replica_id `{id}`: use 1-64 characters A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter or digit"
                    ),
                );
                None
            }
            other => other,
        };
        let etcd = match &raw.etcd {
            Some(v) => self.etcd(v, "ha.etcd"),
            None => {
                self.missing(
                    "ha",
                    "etcd",
                    "missing key `etcd`: ha needs etcd: { endpoints: [http://HOST:2379] }",
                );
                None
            }
        };
        #[cfg(not(feature = "ha"))]
        self.warn(
            "ha",
            "this snapkeeper was built without the `ha` feature: `run` refuses to start with ha set (build with cargo build --features ha)",
        );
        let etcd = etcd?;
        if self.errors.iter().any(|d| d.key.starts_with("ha")) {
            return None;
        }
        Some(Ha { replica_id, etcd })
    }

    fn etcd(&mut self, value: &Value, path: &str) -> Option<Etcd> {
        let raw = self.parse_struct::<RawEtcd>(value, path, "ha.etcd")?;
        let mut ok = true;
        let endpoints = raw.endpoints.unwrap_or_default();
        if endpoints.is_empty() {
            self.missing(
                path,
                "endpoints",
                "missing key `endpoints`: list the etcd members, e.g. endpoints: [http://10.0.0.5:2379]",
            );
            ok = false;
        }
        let mut schemes = Vec::new();
        for (i, e) in endpoints.iter().enumerate() {
            let epath = format!("{path}.endpoints[{i}]");
            match endpoint_scheme(e) {
                Ok(s) => schemes.push(s),
                Err(msg) => {
                    self.error(&epath, msg);
                    ok = false;
                }
            }
        }
        let https = schemes.contains(&"https");
        if https && schemes.contains(&"http") {
            self.error(
                &join(path, "endpoints"),
                "endpoints mix http:// and https://: use one scheme for every member",
            );
            ok = false;
        }
        let prefix = match raw.prefix {
            None => DEFAULT_HA_PREFIX.to_string(),
            Some(p) if !p.starts_with('/') || p.trim() != p || p.len() < 2 => {
                self.error(
                    &join(path, "prefix"),
                    format!("invalid prefix `{p}`: a key path such as /snapkeeper/ (starts with /, no spaces)"),
                );
                ok = false;
                String::new()
            }
            Some(p) if p.ends_with('/') => p,
            Some(p) => format!("{p}/"),
        };
        let lease_ttl = match raw.lease_ttl.as_ref().map(|s| s.0.as_str()) {
            None => DEFAULT_LEASE_TTL,
            Some(text) => match self.duration(text, &join(path, "lease_ttl")) {
                Some(d) if d.subsec_nanos() != 0 => {
                    self.error(
                        &join(path, "lease_ttl"),
                        format!("lease_ttl `{text}` is not whole seconds: etcd leases count in seconds (e.g. 15s)"),
                    );
                    ok = false;
                    d
                }
                Some(d) if !(MIN_LEASE_TTL..=MAX_LEASE_TTL).contains(&d) => {
                    self.error(
                        &join(path, "lease_ttl"),
                        format!(
                            "lease_ttl `{text}` is out of range: give {}s to {}s (writes stop at half of it without a renewal)",
                            MIN_LEASE_TTL.as_secs(),
                            MAX_LEASE_TTL.as_secs()
                        ),
                    );
                    ok = false;
                    d
                }
                Some(d) => d,
                None => {
                    ok = false;
                    DEFAULT_LEASE_TTL
                }
            },
        };
        let settle = match raw.settle.as_ref().map(|s| s.0.trim()) {
            None => DEFAULT_SETTLE,
            Some("0") => Duration::ZERO,
            Some(text) => match humantime::parse_duration(text) {
                Ok(d) => d,
                Err(e) => {
                    self.error(
                        &join(path, "settle"),
                        format!("invalid duration `{text}`: {e}; write e.g. 5s, or 0 to move accounts at once"),
                    );
                    ok = false;
                    DEFAULT_SETTLE
                }
            },
        };
        let tls = raw.tls.as_ref().and_then(|v| {
            let t = self.tls(v, &join(path, "tls"));
            ok &= t.is_some();
            t
        });
        if https && tls.is_none() && raw.tls.is_none() {
            self.error(
                &join(path, "endpoints"),
                "https:// endpoints need tls: { ca: PATH } (the CA that signed the etcd certificates)",
            );
            ok = false;
        }
        if !https && raw.tls.is_some() && !schemes.is_empty() {
            self.error(
                &join(path, "tls"),
                "tls is set but the endpoints are http://: write them as https://",
            );
            ok = false;
        }
        let auth = raw.auth.as_ref().and_then(|v| {
            let a = self.auth(v, &join(path, "auth"));
            ok &= a.is_some();
            a
        });
        ok.then_some(Etcd {
            endpoints,
            prefix,
            lease_ttl,
            settle,
            tls,
            auth,
        })
    }

    fn tls(&mut self, value: &Value, path: &str) -> Option<EtcdTls> {
        let raw = self.parse_struct::<RawEtcdTls>(value, path, "ha.etcd.tls")?;
        let key = match &raw.key {
            Some(v) => Some(self.token(v, &join(path, "key"))?),
            None => None,
        };
        if raw.cert.is_some() != key.is_some() {
            self.error(
                path,
                "give cert and key together (a client certificate and its private key), or neither",
            );
            return None;
        }
        let Some(ca) = raw.ca else {
            self.missing(
                path,
                "ca",
                "missing key `ca`: the PEM file of the CA that signed the etcd certificates",
            );
            return None;
        };
        Some(EtcdTls {
            ca,
            cert: raw.cert,
            key,
            server_name: raw.server_name,
        })
    }

    fn auth(&mut self, value: &Value, path: &str) -> Option<EtcdAuth> {
        let raw = self.parse_struct::<RawEtcdAuth>(value, path, "ha.etcd.auth")?;
        let password = match &raw.password {
            Some(v) => self.token(v, &join(path, "password")),
            None => {
                self.missing(
                    path,
                    "password",
                    "missing key `password`: give one of {env: NAME}, {file: PATH}, {credential: NAME}",
                );
                None
            }
        };
        let user = match raw.user {
            Some(u) if !u.trim().is_empty() => Some(u),
            _ => {
                self.missing(path, "user", "missing key `user`: the etcd user name");
                None
            }
        };
        Some(EtcdAuth {
            user: user?,
            password: password?,
        })
    }
}

/// The scheme of an etcd endpoint (`http` or `https`), or why it is not one.
fn endpoint_scheme(e: &str) -> Result<&'static str, String> {
    let bad = || {
        format!(
            "invalid etcd endpoint `{e}`: write http://HOST:PORT or https://HOST:PORT, e.g. http://127.0.0.1:2379"
        )
    };
    let url = reqwest::Url::parse(e).map_err(|_| bad())?;
    if url.host_str().is_none_or(str::is_empty)
        || url.path() != "/"
        || url.query().is_some()
        || !url.username().is_empty()
    {
        return Err(bad());
    }
    match url.scheme() {
        "http" => Ok("http"),
        "https" => Ok("https"),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{ConfigError, TokenSource, parse_str};

    const HEAD: &str = "accounts:\n  - name: a\n    provider: digitalocean\n    token: { env: T }\n    policies:\n      - { name: p, targets: { kind: droplet, all: true }, every: 6h, keep: { within: 7d } }\n";

    fn check(ha: &str) -> Result<Option<crate::config::Ha>, Vec<String>> {
        let text = format!("{HEAD}{ha}");
        match parse_str(&text, Path::new("c.yaml")) {
            Ok(l) => Ok(l.config.ha),
            Err(ConfigError::Invalid { errors, .. }) => {
                Err(errors.iter().map(ToString::to_string).collect())
            }
            Err(e) => Err(vec![e.to_string()]),
        }
    }

    #[test]
    fn ha_defaults_and_absence() {
        assert_eq!(check(""), Ok(None), "no ha: is one process, as before");
        let Ok(Some(ha)) = check("ha: { etcd: { endpoints: [http://127.0.0.1:2379] } }\n") else {
            panic!("minimal ha: is valid");
        };
        assert_eq!(ha.replica_id, None);
        assert_eq!(ha.etcd.prefix, "/snapkeeper/");
        assert_eq!(ha.etcd.lease_ttl.as_secs(), 15);
        assert_eq!(ha.etcd.settle.as_secs(), 5);
        assert_eq!(ha.etcd.tls, None);
        assert_eq!(ha.etcd.auth, None);
    }

    #[test]
    fn ha_full_form() {
        let got = check(
            "ha:\n  replica_id: host-a.1\n  etcd:\n    endpoints: [https://e1:2379, https://e2:2379]\n    prefix: /sk/prod\n    lease_ttl: 10s\n    settle: 0\n    tls: { ca: /etc/ca.pem, cert: /etc/c.pem, key: { credential: etcd-key }, server_name: etcd }\n    auth: { user: snapkeeper, password: { env: ETCD_PASSWORD } }\n",
        );
        let Ok(Some(ha)) = got else {
            panic!("full ha: is valid: {got:?}");
        };
        assert_eq!(ha.replica_id.as_deref(), Some("host-a.1"));
        assert_eq!(ha.etcd.prefix, "/sk/prod/", "a trailing / is added");
        assert_eq!(ha.etcd.lease_ttl.as_secs(), 10);
        assert!(ha.etcd.settle.is_zero());
        let tls = ha
            .etcd
            .tls
            .as_ref()
            .map(|t| (&t.key, t.server_name.as_deref()));
        assert_eq!(
            tls,
            Some((
                &Some(TokenSource::Credential("etcd-key".into())),
                Some("etcd")
            ))
        );
        let auth = ha
            .etcd
            .auth
            .as_ref()
            .map(|a| (a.user.as_str(), &a.password));
        assert_eq!(
            auth,
            Some(("snapkeeper", &TokenSource::Env("ETCD_PASSWORD".into())))
        );
    }

    #[test]
    fn ha_errors_table() {
        // (the ha: text, the errors without "c.yaml:")
        let cases: &[(&str, &[&str])] = &[
            (
                "ha: {}\n",
                &["7:5: ha: missing key `etcd`: ha needs etcd: { endpoints: [http://HOST:2379] }"],
            ),
            (
                "ha: { etcd: {} }\n",
                &[
                    "7:13: ha.etcd: missing key `endpoints`: list the etcd members, e.g. endpoints: [http://10.0.0.5:2379]",
                ],
            ),
            (
                "ha: { etcd: { endpoints: [127.0.0.1:2379] } }\n",
                &[
                    "7:27: ha.etcd.endpoints[0]: invalid etcd endpoint `127.0.0.1:2379`: write http://HOST:PORT or https://HOST:PORT, e.g. http://127.0.0.1:2379",
                ],
            ),
            (
                "ha: { etcd: { endpoints: [http://a:2379, https://b:2379], tls: { ca: /c } } }\n",
                &[
                    "7:26: ha.etcd.endpoints: endpoints mix http:// and https://: use one scheme for every member",
                ],
            ),
            (
                "ha: { etcd: { endpoints: [https://a:2379] } }\n",
                &[
                    "7:26: ha.etcd.endpoints: https:// endpoints need tls: { ca: PATH } (the CA that signed the etcd certificates)",
                ],
            ),
            (
                "ha: { etcd: { endpoints: [http://a:2379], tls: { ca: /c } } }\n",
                &[
                    "7:48: ha.etcd.tls: tls is set but the endpoints are http://: write them as https://",
                ],
            ),
            (
                "ha: { etcd: { endpoints: [http://a:2379], lease_ttl: 1s } }\n",
                &[
                    "7:54: ha.etcd.lease_ttl: lease_ttl `1s` is out of range: give 2s to 3600s (writes stop at half of it without a renewal)",
                ],
            ),
            (
                "ha: { etcd: { endpoints: [http://a:2379], lease_ttl: 2500ms } }\n",
                &[
                    "7:54: ha.etcd.lease_ttl: lease_ttl `2500ms` is not whole seconds: etcd leases count in seconds (e.g. 15s)",
                ],
            ),
            (
                "ha: { etcd: { endpoints: [http://a:2379], prefix: snap } }\n",
                &[
                    "7:51: ha.etcd.prefix: invalid prefix `snap`: a key path such as /snapkeeper/ (starts with /, no spaces)",
                ],
            ),
            (
                "ha: { replica_id: -x, etcd: { endpoints: [http://a:2379] } }\n",
                &[
                    "7:19: ha.replica_id: invalid replica_id `-x`: use 1-64 characters A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter or digit",
                ],
            ),
            (
                "ha: { etcd: { endpoints: [http://a:2379], auth: { user: u } } }\n",
                &[
                    "7:49: ha.etcd.auth: missing key `password`: give one of {env: NAME}, {file: PATH}, {credential: NAME}",
                ],
            ),
            (
                "ha: { etcd: { endpoints: [https://a:2379], tls: { ca: /c, cert: /x } } }\n",
                &[
                    "7:49: ha.etcd.tls: give cert and key together (a client certificate and its private key), or neither",
                ],
            ),
            (
                "ha: { etcd: { endpoints: [http://a:2379], ttl: 5s } }\n",
                &[
                    "7:43: ha.etcd.ttl: unknown key `ttl`, expected one of `endpoints`, `prefix`, `lease_ttl`, `settle`, `tls`, `auth`",
                ],
            ),
        ];
        for (text, want) in cases {
            let got = check(text).err().unwrap_or_default();
            let got: Vec<String> = got
                .iter()
                .map(|e| e.trim_start_matches("c.yaml:").to_string())
                .collect();
            assert_eq!(&got, want, "{text}");
        }
    }

    #[test]
    fn replica_ids() {
        for (id, ok) in [
            ("a", true),
            ("host-1.example_2", true),
            ("-a", false),
            ("", false),
            ("a/b", false),
            ("a b", false),
        ] {
            assert_eq!(crate::config::is_replica_id(id), ok, "{id}");
        }
        assert!(!crate::config::is_replica_id(&"a".repeat(65)));
    }
}
