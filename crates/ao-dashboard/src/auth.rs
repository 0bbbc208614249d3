//! Who may use the dashboard: whoever has its token.
//!
//! The token is random for each run, or kept in a file (`--token-file`, created 0600). The page's
//! first visit carries it in the URL (`/?token=…`) and trades it for an HttpOnly, SameSite=Strict
//! cookie, then is redirected to `/` so the token leaves the address bar and the history. Scripts
//! send `Authorization: Bearer …`. Everything else gets 401. A POST whose `Origin` is present and
//! is not the dashboard's own is refused with 403, whatever it carries: a page elsewhere cannot
//! act through a person's browser. Tokens are compared in constant time.

use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap, Method};
use rand::RngCore;

/// How long a one-time code of `--open` works.
const ONCE_VALID: Duration = Duration::from_secs(60);

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
    once: std::sync::Arc<Mutex<Option<(String, Instant)>>>,
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
        Token {
            secret,
            once: Default::default(),
        }
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

    /// A new code that is as good as the token once, for a minute (replacing any earlier one).
    pub fn once_code(&self) -> String {
        let code = random_hex();
        if let Ok(mut once) = self.once.lock() {
            *once = Some((code.clone(), Instant::now()));
        }
        code
    }

    /// Whether `given` is the token, compared in constant time.
    pub fn matches(&self, given: &str) -> bool {
        constant_time_eq(self.secret.as_bytes(), given.as_bytes())
    }

    /// Whether `given` is the live one-time code; it is used up either way.
    fn take_once(&self, given: &str) -> bool {
        let Ok(mut once) = self.once.lock() else {
            return false;
        };
        match once.take() {
            Some((code, made)) => {
                made.elapsed() < ONCE_VALID && constant_time_eq(code.as_bytes(), given.as_bytes())
            }
            None => false,
        }
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
    cookie: String,
}

/// What a request may do.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It carries the token.
    Allowed,
    /// It carries no valid token: 401.
    Unauthenticated,
    /// A POST from another site's page: 403.
    ForeignOrigin,
}

impl Auth {
    /// Rules for `token`. The cookie's name carries the port: cookies are shared by every port of
    /// a host, and two dashboards must not overwrite each other's.
    pub fn new(token: Token, port: u16) -> Auth {
        Auth {
            token,
            cookie: format!("ao_dashboard_{port}"),
        }
    }

    /// Judges a request by its method and headers.
    pub fn check(&self, method: &Method, headers: &HeaderMap) -> Verdict {
        if *method != Method::GET && *method != Method::HEAD && foreign_origin(headers) {
            return Verdict::ForeignOrigin;
        }
        if self.bearer(headers) || self.cookie(headers) {
            Verdict::Allowed
        } else {
            Verdict::Unauthenticated
        }
    }

    /// Whether the query of the page's address carries the token (`token=`) or the live
    /// one-time code (`once=`).
    pub fn query_grants(&self, query: &str) -> bool {
        query.split('&').any(|pair| match pair.split_once('=') {
            Some(("token", v)) => self.token.matches(v),
            Some(("once", v)) => self.token.take_once(v),
            _ => false,
        })
    }

    /// The `Set-Cookie` value that keeps the token in the browser: HttpOnly (no script reads it),
    /// SameSite=Strict (no other site's request carries it).
    pub fn set_cookie(&self) -> String {
        format!(
            "{}={}; HttpOnly; SameSite=Strict; Path=/",
            self.cookie,
            self.token.reveal()
        )
    }

    fn bearer(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.strip_prefix("Bearer "))
            .any(|t| self.token.matches(t.trim()))
    }

    fn cookie(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .any(|(name, value)| name == self.cookie && self.token.matches(value))
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

    #[test]
    fn the_token_opens_by_bearer_or_cookie_and_nothing_else_does() {
        let token = Token::from_secret("s3cret-token-of-some-length".into());
        let auth = Auth::new(token, 8080);
        let get = Method::GET;
        assert_eq!(
            auth.check(&get, &HeaderMap::new()),
            Verdict::Unauthenticated
        );
        let bearer = headers(&[(header::AUTHORIZATION, "Bearer s3cret-token-of-some-length")]);
        assert_eq!(auth.check(&get, &bearer), Verdict::Allowed);
        let wrong = headers(&[(header::AUTHORIZATION, "Bearer s3cret-token-of-some-lengtX")]);
        assert_eq!(auth.check(&get, &wrong), Verdict::Unauthenticated);
        let cookie = headers(&[(
            header::COOKIE,
            "a=b; ao_dashboard_8080=s3cret-token-of-some-length",
        )]);
        assert_eq!(auth.check(&get, &cookie), Verdict::Allowed);
        // Another dashboard's cookie on the same host is not this one's.
        let other = headers(&[(
            header::COOKIE,
            "ao_dashboard_9090=s3cret-token-of-some-length",
        )]);
        assert_eq!(auth.check(&get, &other), Verdict::Unauthenticated);
    }

    #[test]
    fn a_post_from_another_origin_is_refused_even_with_the_token() {
        let auth = Auth::new(
            Token::from_secret("s3cret-token-of-some-length".into()),
            8080,
        );
        let post = Method::POST;
        let own = headers(&[
            (header::HOST, "127.0.0.1:8080"),
            (header::ORIGIN, "http://127.0.0.1:8080"),
            (header::AUTHORIZATION, "Bearer s3cret-token-of-some-length"),
        ]);
        assert_eq!(auth.check(&post, &own), Verdict::Allowed);
        let foreign = headers(&[
            (header::HOST, "127.0.0.1:8080"),
            (header::ORIGIN, "http://evil.example"),
            (header::AUTHORIZATION, "Bearer s3cret-token-of-some-length"),
        ]);
        assert_eq!(auth.check(&post, &foreign), Verdict::ForeignOrigin);
        // A page whose origin is opaque (a sandboxed frame, a file) is foreign too.
        let opaque = headers(&[
            (header::HOST, "127.0.0.1:8080"),
            (header::ORIGIN, "null"),
            (header::AUTHORIZATION, "Bearer s3cret-token-of-some-length"),
        ]);
        assert_eq!(auth.check(&post, &opaque), Verdict::ForeignOrigin);
        // Behind a TLS proxy that keeps the Host, the page's own origin is https.
        let proxied = headers(&[
            (header::HOST, "ao.example:443"),
            (header::ORIGIN, "https://ao.example:443"),
            (header::AUTHORIZATION, "Bearer s3cret-token-of-some-length"),
        ]);
        assert_eq!(auth.check(&post, &proxied), Verdict::Allowed);
        // A script sends no Origin: the token decides.
        let script = headers(&[(header::HOST, "127.0.0.1:8080")]);
        assert_eq!(auth.check(&post, &script), Verdict::Unauthenticated);
    }

    #[test]
    fn a_one_time_code_works_once() {
        let token = Token::random();
        let auth = Auth::new(token.clone(), 1);
        let code = token.once_code();
        assert!(auth.query_grants(&format!("once={code}")));
        assert!(!auth.query_grants(&format!("once={code}")));
        assert!(auth.query_grants(&format!("x=1&token={}", token.reveal())));
        assert!(!auth.query_grants("token="));
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
