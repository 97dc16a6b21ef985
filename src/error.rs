//! Error messages, one line each.
//!
//! The convention of every error type in this crate: an error's own message says what failed
//! (with its context: a path, a URL, a count) and **does not** repeat its cause; the cause is
//! its [`source`](std::error::Error::source). So `anyhow`'s `{:#}`, `tracing`'s error
//! fields and [`ErrorChain`] print each cause exactly once.

use std::error::Error;
use std::fmt;

/// Displays an error and its chain of sources on one line, joined by `": "`: what
/// [`SinkStats::error`](crate::stats::SinkStats::error) and the `spate` CLI show.
///
/// ```
/// use spate::ErrorChain;
/// use std::io;
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("cannot open run.rrd")]
/// struct OpenError(#[source] io::Error);
///
/// let e = OpenError(io::Error::new(io::ErrorKind::NotFound, "no such file"));
/// assert_eq!(ErrorChain(&e).to_string(), "cannot open run.rrd: no such file");
/// ```
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'a));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("middle")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn every_cause_once_in_order() {
        let e = Outer(Middle(std::io::Error::other("inner")));
        assert_eq!(ErrorChain(&e).to_string(), "outer: middle: inner");
    }
}
