//! What a plugin meets of the trust of config files (ao-core's `trust` decides it): a
//! [`Gated`] value of a key that runs a program or reads a secret, and the [`Untrusted`] refusal
//! of one whose file is not trusted.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// A key that was not used because its config file is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{}:{line}:{column}: `{key}` is not used: it {what}, and {}",
    file.display(),
    remedy
)]
pub struct Untrusted {
    /// The config file.
    pub file: PathBuf,
    /// Where the key is written (1-based).
    pub line: usize,
    /// Where the key is written (1-based).
    pub column: usize,
    /// The key, e.g. `notifications.command`, `server.passwordFile`, `host`.
    pub key: String,
    /// What using it would do, e.g. "runs a program on this machine".
    pub what: &'static str,
    /// Why the file is not trusted and how to trust it (ao-core's `trust::remedy`).
    pub remedy: String,
}

/// A value read from a key that runs a program or reads a secret: usable only when its config
/// file is trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gated<T> {
    value: T,
    /// Why it may not be used; `None` when it may.
    refusal: Option<Arc<Untrusted>>,
}

impl<T> Gated<T> {
    /// A value that may be used: one that does not come from a config file (a test's, one the
    /// person typed), or one of a trusted file.
    pub fn trusted(value: T) -> Gated<T> {
        Gated {
            value,
            refusal: None,
        }
    }

    /// A value of an untrusted file, refused with `why`.
    pub fn refused(value: T, why: Untrusted) -> Gated<T> {
        Gated {
            value,
            refusal: Some(Arc::new(why)),
        }
    }

    /// The value, to run, read or connect with it; the refusal when its file is not trusted.
    /// This is the one place where trust is checked.
    pub fn permit(&self) -> Result<&T, Untrusted> {
        match &self.refusal {
            None => Ok(&self.value),
            Some(why) => Err(Untrusted::clone(why)),
        }
    }

    /// The value, only to show it or compare it (a label, a report). Running, reading or
    /// connecting with it goes through [`permit`](Self::permit).
    pub fn shown(&self) -> &T {
        &self.value
    }

    /// Whether [`permit`](Self::permit) gives the value.
    pub fn is_permitted(&self) -> bool {
        self.refusal.is_none()
    }
}

impl<T: fmt::Display> fmt::Display for Gated<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}
