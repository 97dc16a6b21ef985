//! Bearer tokens: what clients send as `authorization: Bearer TOKEN`, and what
//! `spate serve` can require.

use http::HeaderValue;

/// The environment variable the official SDK reads its token from, and so does spate when
/// no token is given.
pub const TOKEN_ENV: &str = "REDAP_TOKEN";

/// A bearer token. Its `Debug` never shows it, spate never logs it, and the header built
/// from it is marked sensitive.
///
/// ```
/// use spate::net::Token;
/// let t = Token::new("s3cret");
/// assert_eq!(format!("{t:?}"), "Token(<redacted>)");
/// assert!(t.is_valid());
/// assert!(!Token::new("two\nlines").is_valid());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token (without the `Bearer ` prefix; surrounding whitespace is ignored).
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into().trim().to_owned())
    }

    /// The token in [`TOKEN_ENV`], if set and not empty.
    pub fn from_env() -> Option<Self> {
        std::env::var(TOKEN_ENV)
            .ok()
            .filter(|t| !t.trim().is_empty())
            .map(Self::new)
    }

    /// Whether it can be sent in a header (visible ASCII, not empty).
    pub fn is_valid(&self) -> bool {
        !self.0.is_empty() && self.0.bytes().all(|b| b.is_ascii_graphic())
    }

    /// The `authorization` header value, marked sensitive; `None` if the token cannot be
    /// sent in a header.
    pub(crate) fn header(&self) -> Option<HeaderValue> {
        if !self.is_valid() {
            return None;
        }
        let mut v = HeaderValue::from_str(&format!("Bearer {}", self.0)).ok()?;
        v.set_sensitive(true);
        Some(v)
    }

    /// Whether `headers` carry this token as `authorization: Bearer TOKEN` (compared in
    /// constant time, so the answer's timing does not leak how much of a guess was right).
    pub(crate) fn authorizes(&self, headers: &http::HeaderMap) -> bool {
        // An empty (or unsendable) required token authorizes nobody: empty must not equal
        // empty. Servers refuse such a token at start anyway.
        if !self.is_valid() {
            return false;
        }
        let Some(given) = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
        else {
            return false;
        };
        let (a, b) = (given.trim().as_bytes(), self.0.as_bytes());
        let mut diff = a.len() ^ b.len();
        for (i, &x) in b.iter().enumerate() {
            diff |= usize::from(x ^ a.get(i).copied().unwrap_or(!x));
        }
        diff == 0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, v.parse().unwrap());
        h
    }

    #[test]
    fn only_the_exact_token_authorizes() {
        let t = Token::new("abc123");
        assert!(t.authorizes(&headers("Bearer abc123")));
        for wrong in [
            "Bearer abc12",
            "Bearer abc1234",
            "Bearer abd123",
            "abc123",
            "Basic abc123",
            "Bearer ",
        ] {
            assert!(!t.authorizes(&headers(wrong)), "{wrong}");
        }
        assert!(!t.authorizes(&http::HeaderMap::new()));
        for empty in ["", "   "] {
            let t = Token::new(empty);
            assert!(!t.is_valid());
            for given in ["Bearer ", "Bearer", "Bearer  "] {
                assert!(!t.authorizes(&headers(given)), "{empty:?} vs {given:?}");
            }
        }
    }

    #[test]
    fn the_header_is_sensitive_and_never_printed() {
        let t = Token::new(" tok ");
        let h = t.header().unwrap();
        assert!(h.is_sensitive());
        assert_eq!(h.to_str().unwrap(), "Bearer tok");
        assert!(!format!("{t:?}").contains("tok"));
        assert!(Token::new("a b").header().is_none());
    }
}
