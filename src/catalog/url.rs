//! Catalog URLs: `rerun+http://HOST:PORT` (plain-text HTTP/2) and `rerun+https://HOST:PORT`
//! / `rerun://HOST:PORT` (TLS), as the official `CatalogClient` takes them.

use std::fmt;

/// The port a catalog URL without one means (`rerun server`'s default).
pub const DEFAULT_CATALOG_PORT: u16 = 51234;

/// Why a catalog URL was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogUrlError {
    /// There is no `scheme://` prefix.
    #[error("missing scheme (expected rerun+http://HOST:PORT)")]
    MissingScheme,
    /// The scheme is none of `rerun+http`, `rerun+https`, `rerun`, `http`, `https`.
    #[error("unsupported scheme {0:?} (expected rerun+http or rerun+https)")]
    UnsupportedScheme(String),
    /// The host is empty.
    #[error("missing host")]
    MissingHost,
    /// The port is not a number in 1..=65535.
    #[error("invalid port {0:?}")]
    InvalidPort(String),
    /// The URL has a path other than `/`, a query, a fragment or user info.
    #[error("unexpected {0:?} after the host and port")]
    Trailing(String),
}

/// A parsed catalog URL.
///
/// ```
/// use spate::catalog::CatalogUrl;
/// let url = CatalogUrl::parse("rerun+http://127.0.0.1:51234")?;
/// assert_eq!((url.host(), url.port(), url.tls()), ("127.0.0.1", 51234, false));
/// assert!(CatalogUrl::parse("rerun+https://hub.example.com")?.tls());
/// assert!(CatalogUrl::parse("ftp://x").is_err());
/// # Ok::<(), spate::catalog::CatalogUrlError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CatalogUrl {
    host: String,
    port: u16,
    tls: bool,
}

impl CatalogUrl {
    /// Parses `rerun+http://HOST[:PORT][/]` (also `http://`), `rerun+https://`, `rerun://`
    /// or `https://` (TLS). A missing port means [`DEFAULT_CATALOG_PORT`].
    pub fn parse(url: &str) -> Result<Self, CatalogUrlError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or(CatalogUrlError::MissingScheme)?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "rerun+http" | "http" => false,
            "rerun+https" | "rerun" | "https" => true,
            _ => return Err(CatalogUrlError::UnsupportedScheme(scheme.to_owned())),
        };
        let (authority, tail) = match rest.find(['/', '?', '#']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if !matches!(tail, "" | "/") {
            return Err(CatalogUrlError::Trailing(tail.to_owned()));
        }
        if authority.contains('@') {
            return Err(CatalogUrlError::Trailing(authority.to_owned()));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or(CatalogUrlError::MissingHost)?;
            (h, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(CatalogUrlError::MissingHost);
        }
        let port = match port {
            None => DEFAULT_CATALOG_PORT,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| CatalogUrlError::InvalidPort(p.to_owned()))?,
        };
        Ok(Self {
            host: host.to_owned(),
            port,
            tls,
        })
    }

    /// The host (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the connection is TLS (`rerun+https`, `rerun`, `https`).
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// `HOST:PORT` (IPv6 in brackets).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The origin gRPC requests go to: `http://HOST:PORT` or `https://HOST:PORT`.
    pub fn origin(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.authority())
    }
}

impl fmt::Display for CatalogUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls {
            "rerun+https"
        } else {
            "rerun+http"
        };
        write!(f, "{scheme}://{}", self.authority())
    }
}

impl std::str::FromStr for CatalogUrl {
    type Err = CatalogUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_or_say_why_not() {
        let u = CatalogUrl::parse("rerun+http://[::1]:9000/").unwrap();
        assert_eq!((u.host(), u.port(), u.tls()), ("::1", 9000, false));
        assert_eq!(u.origin(), "http://[::1]:9000");
        assert_eq!(u.to_string(), "rerun+http://[::1]:9000");
        assert_eq!(CatalogUrl::parse("rerun://h").unwrap().port(), 51234);
        assert!(CatalogUrl::parse("rerun://h").unwrap().tls());
        assert_eq!(
            CatalogUrl::parse("rerun+http://h:0"),
            Err(CatalogUrlError::InvalidPort("0".into()))
        );
        assert_eq!(
            CatalogUrl::parse("rerun+http://h:1/proxy"),
            Err(CatalogUrlError::Trailing("/proxy".into()))
        );
        assert_eq!(
            CatalogUrl::parse("h:1"),
            Err(CatalogUrlError::MissingScheme)
        );
        assert_eq!(
            CatalogUrl::parse("rerun+http://:1"),
            Err(CatalogUrlError::MissingHost)
        );
        assert!(matches!(
            CatalogUrl::parse("grpc://h:1"),
            Err(CatalogUrlError::UnsupportedScheme(_))
        ));
    }
}
