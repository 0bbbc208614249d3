//! Who may use the dashboard: whoever has its token, through an address that names the dashboard.
//!
//! The token is random for each run, or kept in a file (`--token-file`, created 0600). There is no
//! cookie: a browser sends a cookie of `127.0.0.1` to every port of that host, so any other
//! program listening there (another user's server, a dev server) would receive it. The page comes
//! without the token (it holds no secret); its script takes the token from the address it was
//! opened at (`/#token=…`, a fragment, which the browser never sends; `/?token=` works too), keeps
//! it in the tab's `sessionStorage` and sends `Authorization: Bearer …` with every request, the
//! event stream included. Scripts do the same. Everything else gets 401.
//!
//! Before the token, the `Host` header: it must name the dashboard (`127.0.0.1`, `localhost` or
//! the address listened on, with the port; a name given with `--allow-host`), or the request is
//! refused with 403, token or not: a page elsewhere whose name was rebound to 127.0.0.1 (DNS
//! rebinding) reaches no route. A POST whose `Origin` is present and is not the dashboard's own is
//! refused with 403 too: a page elsewhere cannot act through a person's browser. Tokens are
//! compared in constant time.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use axum::http::{header, HeaderMap, Method};
use rand::RngCore;

/// The shortest token a `--token-file` may hold.
const MIN_TOKEN_LEN: usize = 16;

/// What is wrong with a token file.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// It could not be read or written.
    #[error("token file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// What it holds is no usable token.
    #[error("token file {path}: {problem}; delete it and a new token is written there")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

/// The dashboard's secret.
#[derive(Clone)]
pub struct Token {
    secret: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

impl Token {
    /// A new random token: 32 bytes from the operating system's generator, as hex.
    pub fn random() -> Token {
        Token::from_secret(random_hex())
    }

    fn from_secret(secret: String) -> Token {
        Token { secret }
    }

    /// The token kept in `path`; a new one is written there (0600, never over an existing
    /// file) when it does not exist.
    pub fn from_file(path: &Path) -> Result<Token, TokenError> {
        let io = |source| TokenError::Io {
            path: path.to_path_buf(),
            source,
        };
        match std::fs::File::open(path) {
            Ok(mut file) => {
                // The mode and the text of one open file: not of a path that may change between.
                let meta = file.metadata().map_err(io)?;
                let mut text = String::new();
                file.read_to_string(&mut text).map_err(io)?;
                if meta.permissions().mode() & 0o077 != 0 {
                    return Err(TokenError::Invalid {
                        path: path.to_path_buf(),
                        problem: "others may read it (it must be 0600: chmod 600 it)".into(),
                    });
                }
                let secret = text.trim();
                let valid = secret.len() >= MIN_TOKEN_LEN
                    && secret
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !valid {
                    return Err(TokenError::Invalid {
                        path: path.to_path_buf(),
                        problem: format!(
                            "it must hold one token of at least {MIN_TOKEN_LEN} letters, digits, \
                             '-' or '_'"
                        ),
                    });
                }
                Ok(Token::from_secret(secret.to_string()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let token = Token::random();
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(io)?;
                file.write_all(format!("{}\n", token.secret).as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| {
                        // Half a token is no token: the next run writes a whole one.
                        let _ = std::fs::remove_file(path);
                        io(e)
                    })?;
                Ok(token)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// The secret itself, for the one URL the dashboard prints.
    pub fn reveal(&self) -> &str {
        &self.secret
    }

    /// Whether `given` is the token, compared in constant time.
    pub fn matches(&self, given: &str) -> bool {
        constant_time_eq(self.secret.as_bytes(), given.as_bytes())
    }
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equal bytes, in a time that depends on their lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The dashboard's access rules.
pub struct Auth {
    token: Token,
    hosts: Hosts,
}

/// The `Host` headers that name the dashboard.
#[derive(Debug, Clone)]
pub struct Hosts {
    addr: SocketAddr,
    extra: Vec<String>,
}

impl Hosts {
    /// The names of a dashboard listening on `addr`: `127.0.0.1`, `[::1]`, `localhost` and `addr`'s
    /// own address, each with its port; when `addr` is every address (`0.0.0.0`, `::`), any IP
    /// address with the port (a rebound name is a name, never an address); and each of `extra`
    /// (`--allow-host`, a TLS proxy's name), with any port or none.
    pub fn new(addr: SocketAddr, extra: Vec<String>) -> Hosts {
        Hosts { addr, extra }
    }

    /// Whether `host` (a `Host` header's value) names the dashboard.
    pub fn allows(&self, host: &str) -> bool {
        let port = self.addr.port();
        let (name, given_port) = split_host(host);
        if self.extra.iter().any(|e| {
            let (extra_name, extra_port) = split_host(e);
            extra_name.eq_ignore_ascii_case(name)
                && (extra_port.is_none() || extra_port == given_port)
        }) {
            return true;
        }
        if given_port != Some(port) {
            return false;
        }
        if name.eq_ignore_ascii_case("localhost") {
            return true;
        }
        let bare = name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .unwrap_or(name);
        let Ok(ip) = bare.parse::<IpAddr>() else {
            return false;
        };
        ip == IpAddr::from([127, 0, 0, 1])
            || ip == IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
            || ip == self.addr.ip()
            || self.addr.ip().is_unspecified()
    }
}

/// `name:port` as the name and the port (`None` when there is none or it is no number); an IPv6
/// address keeps its brackets.
fn split_host(host: &str) -> (&str, Option<u16>) {
    let host = host.trim();
    // The last ':' after any ']' separates the port.
    let after_bracket = host.rfind(']').map_or(0, |i| i + 1);
    match host[after_bracket..].rfind(':') {
        Some(i) => {
            let at = after_bracket + i;
            (&host[..at], host[at + 1..].parse().ok())
        }
        None => (host, None),
    }
}

/// What a request may do.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It carries the token.
    Allowed,
    /// It needs no token (the page and its assets) and is sent to the dashboard's own name.
    Public,
    /// It carries no valid token: 401.
    Unauthenticated,
    /// A POST from another site's page: 403.
    ForeignOrigin,
    /// Its `Host` is not the dashboard's (a DNS-rebound name): 403.
    ForeignHost,
}

impl Auth {
    /// Rules for `token` at the names `hosts`.
    pub fn new(token: Token, hosts: Hosts) -> Auth {
        Auth { token, hosts }
    }

    /// Judges a request by its method, headers and whether its route is `public` (a GET of the
    /// page or an asset, which hold no secret).
    pub fn check(&self, method: &Method, headers: &HeaderMap, public: bool) -> Verdict {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        if !host.is_some_and(|h| self.hosts.allows(h)) {
            return Verdict::ForeignHost;
        }
        let read = *method == Method::GET || *method == Method::HEAD;
        if !read && foreign_origin(headers) {
            return Verdict::ForeignOrigin;
        }
        if self.bearer(headers) {
            Verdict::Allowed
        } else if public && read {
            Verdict::Public
        } else {
            Verdict::Unauthenticated
        }
    }

    fn bearer(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.strip_prefix("Bearer "))
            .any(|t| self.token.matches(t.trim()))
    }
}

/// Whether the request has an `Origin` that is not the address it was sent to (its `Host`).
/// Either scheme: behind a TLS proxy that keeps the `Host`, the page's origin is `https://`.
fn foreign_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin.to_str().ok().and_then(|o| {
        o.strip_prefix("http://")
            .or_else(|| o.strip_prefix("https://"))
    });
    match (origin_host, host) {
        (Some(origin_host), Some(host)) => !origin_host.eq_ignore_ascii_case(host),
        _ => true,
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    const HOST: (header::HeaderName, &str) = (header::HOST, "127.0.0.1:8080");

    fn auth() -> Auth {
        Auth::new(
            Token::from_secret("s3cret-token-of-some-length".into()),
            Hosts::new("127.0.0.1:8080".parse().unwrap(), vec![]),
        )
    }

    #[test]
    fn the_token_opens_by_bearer_and_nothing_else_does() {
        let auth = auth();
        let get = Method::GET;
        assert_eq!(
            auth.check(&get, &headers(&[HOST]), false),
            Verdict::Unauthenticated
        );
        assert_eq!(auth.check(&get, &headers(&[HOST]), true), Verdict::Public);
        let bearer = headers(&[
            HOST,
            (header::AUTHORIZATION, "Bearer s3cret-token-of-some-length"),
        ]);
        assert_eq!(auth.check(&get, &bearer, false), Verdict::Allowed);
        let wrong = headers(&[
            HOST,
            (header::AUTHORIZATION, "Bearer s3cret-token-of-some-lengtX"),
        ]);
        assert_eq!(auth.check(&get, &wrong, false), Verdict::Unauthenticated);
        // A cookie is no credential, even one holding the token.
        let cookie = headers(&[
            HOST,
            (
                header::COOKIE,
                "ao_dashboard_8080=s3cret-token-of-some-length",
            ),
        ]);
        assert_eq!(auth.check(&get, &cookie, false), Verdict::Unauthenticated);
        // A public route is public to reads only.
        assert_eq!(
            auth.check(&Method::POST, &headers(&[HOST]), true),
            Verdict::Unauthenticated
        );
    }

    #[test]
    fn only_the_dashboards_own_names_pass_the_host_check() {
        let local = Hosts::new("127.0.0.1:8080".parse().unwrap(), vec![]);
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LocalHost:8080",
            "[::1]:8080",
        ] {
            assert!(local.allows(ok), "{ok}");
        }
        for no in [
            "evil.example",
            "evil.example:8080",
            "127.0.0.1",
            "127.0.0.1:8081",
            "localhost",
            "10.0.0.5:8080",
            "127.0.0.1:8080.evil.example",
            "localhost.evil.example:8080",
            "",
            "[::1",
            "é:8080",
        ] {
            assert!(!local.allows(no), "{no}");
        }
        let listen = Hosts::new("127.0.0.2:9000".parse().unwrap(), vec![]);
        assert!(listen.allows("127.0.0.2:9000") && listen.allows("localhost:9000"));
        assert!(!listen.allows("127.0.0.3:9000"));
        let any = Hosts::new("0.0.0.0:9000".parse().unwrap(), vec!["Ao.Example".into()]);
        assert!(any.allows("192.168.1.5:9000") && any.allows("[fe80::1]:9000"));
        assert!(any.allows("ao.example") && any.allows("ao.example:443"));
        assert!(!any.allows("evil.example:9000") && !any.allows("192.168.1.5:9001"));
        let pinned = Hosts::new(
            "127.0.0.1:1".parse().unwrap(),
            vec!["ao.example:8443".into()],
        );
        assert!(pinned.allows("ao.example:8443") && !pinned.allows("ao.example:443"));
    }

    #[test]
    fn a_foreign_host_is_refused_before_the_token_is_looked_at() {
        let auth = auth();
        let rebound = headers(&[
            (header::HOST, "evil.example"),
            (header::AUTHORIZATION, "Bearer s3cret-token-of-some-length"),
        ]);
        assert_eq!(
            auth.check(&Method::GET, &rebound, false),
            Verdict::ForeignHost
        );
        assert_eq!(
            auth.check(&Method::GET, &rebound, true),
            Verdict::ForeignHost
        );
        assert_eq!(
            auth.check(&Method::GET, &HeaderMap::new(), true),
            Verdict::ForeignHost
        );
    }

    #[test]
    fn a_post_from_another_origin_is_refused_even_with_the_token() {
        let auth = Auth::new(
            Token::from_secret("s3cret-token-of-some-length".into()),
            Hosts::new("127.0.0.1:8080".parse().unwrap(), vec!["ao.example".into()]),
        );
        let post = Method::POST;
        let own = headers(&[
            HOST,
            (header::ORIGIN, "http://127.0.0.1:8080"),
            (header::AUTHORIZATION, "Bearer s3cret-token-of-some-length"),
        ]);
        assert_eq!(auth.check(&post, &own, false), Verdict::Allowed);
        let foreign = headers(&[
            HOST,
            (header::ORIGIN, "http://evil.example"),
            (header::AUTHORIZATION, "Bearer s3cret-token-of-some-length"),
        ]);
        assert_eq!(auth.check(&post, &foreign, false), Verdict::ForeignOrigin);
        // A page whose origin is opaque (a sandboxed frame, a file) is foreign too.
        let opaque = headers(&[
            HOST,
            (header::ORIGIN, "null"),
            (header::AUTHORIZATION, "Bearer s3cret-token-of-some-length"),
        ]);
        assert_eq!(auth.check(&post, &opaque, false), Verdict::ForeignOrigin);
        // Behind a TLS proxy that keeps the Host (named with --allow-host), the page's own origin
        // is https.
        let proxied = headers(&[
            (header::HOST, "ao.example:443"),
            (header::ORIGIN, "https://ao.example:443"),
            (header::AUTHORIZATION, "Bearer s3cret-token-of-some-length"),
        ]);
        assert_eq!(auth.check(&post, &proxied, false), Verdict::Allowed);
        // A script sends no Origin: the token decides.
        assert_eq!(
            auth.check(&post, &headers(&[HOST]), false),
            Verdict::Unauthenticated
        );
    }

    #[test]
    fn a_token_file_is_created_0600_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let first = Token::from_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(Token::from_file(&path).unwrap().reveal(), first.reveal());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Token::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::write(&path, "short").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = Token::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("at least 16"), "{err}");
    }
}
