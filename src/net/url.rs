//! `rerun+http://HOST:PORT/proxy` URLs (`rerun-format.md` §7.1).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// The port used when a URL names none (the official viewer's default).
pub const DEFAULT_PORT: u16 = 9876;

/// Why a gRPC URL was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The scheme is not `rerun+http` (nor a TLS scheme).
    #[error("unsupported scheme {0:?} (expected rerun+http)")]
    UnsupportedScheme(String),
    /// There is no `scheme://` prefix.
    #[error("missing scheme (expected rerun+http://HOST:PORT/proxy)")]
    MissingScheme,
    /// `rerun+https://` or `rerun://`: TLS is not supported by this build.
    #[error("TLS URLs ({0}://) are not supported; use rerun+http:// (plain-text HTTP/2)")]
    TlsUnsupported(String),
    /// The host is empty.
    #[error("missing host")]
    MissingHost,
    /// The host is neither an IP address nor a valid DNS name.
    #[error("invalid host {0:?}")]
    InvalidHost(String),
    /// The port is not a number in 1..=65535.
    #[error("invalid port {0:?}")]
    InvalidPort(String),
    /// The path is not `/proxy`: only the message-proxy endpoint is supported.
    #[error("path {0:?} is not the message proxy endpoint /proxy")]
    NotProxyEndpoint(String),
    /// The URL has user info (`user@`), which the protocol has no use for.
    #[error("user info is not allowed")]
    UserInfo,
    /// The URL has a query string or fragment.
    #[error("query strings and fragments are not allowed")]
    QueryOrFragment,
}

/// A parsed `rerun+http://HOST:PORT/proxy` URL.
///
/// ```
/// use spate::net::GrpcUrl;
/// let url: GrpcUrl = "rerun+http://127.0.0.1:9876/proxy".parse()?;
/// assert_eq!((url.host(), url.port()), ("127.0.0.1", 9876));
/// assert_eq!(url.origin(), "http://127.0.0.1:9876");
/// assert!("rerun+http://127.0.0.1:9876/catalog".parse::<GrpcUrl>().is_err());
/// # Ok::<(), spate::net::UrlError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GrpcUrl {
    /// Host as written, without IPv6 brackets.
    host: String,
    port: u16,
}

impl GrpcUrl {
    /// Parses a URL (see the [type docs](Self)). A missing port means [`DEFAULT_PORT`].
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let (scheme, rest) = url.split_once("://").ok_or(UrlError::MissingScheme)?;
        match scheme.to_ascii_lowercase().as_str() {
            "rerun+http" => {}
            "rerun+https" | "rerun" => return Err(UrlError::TlsUnsupported(scheme.to_owned())),
            _ => return Err(UrlError::UnsupportedScheme(scheme.to_owned())),
        }
        if rest.contains(['?', '#']) {
            return Err(UrlError::QueryOrFragment);
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if !matches!(path, "/proxy" | "/proxy/") {
            return Err(UrlError::NotProxyEndpoint(path.to_owned()));
        }
        if authority.contains('@') {
            return Err(UrlError::UserInfo);
        }
        let (host, port) = split_host_port(authority)?;
        if host.is_empty() {
            return Err(UrlError::MissingHost);
        }
        validate_host(host)?;
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }

    /// The host (an IP address or a DNS name; IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://HOST:PORT`: the origin gRPC requests go to (the `/proxy` path only chose the
    /// endpoint type).
    pub fn origin(&self) -> String {
        if self.host.contains(':') {
            format!("http://[{}]:{}", self.host, self.port)
        } else {
            format!("http://{}:{}", self.host, self.port)
        }
    }
}

impl std::str::FromStr for GrpcUrl {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for GrpcUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "rerun+http://[{}]:{}/proxy", self.host, self.port)
        } else {
            write!(f, "rerun+http://{}:{}/proxy", self.host, self.port)
        }
    }
}

fn parse_port(p: &str) -> Result<u16, UrlError> {
    match p.parse::<u16>() {
        Ok(n) if n != 0 && p.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(UrlError::InvalidPort(p.to_owned())),
    }
}

fn split_host_port(authority: &str) -> Result<(&str, u16), UrlError> {
    if let Some(rest) = authority.strip_prefix('[') {
        // [v6]:port
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| UrlError::InvalidHost(authority.to_owned()))?;
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(UrlError::InvalidHost(authority.to_owned()));
        }
        return match after {
            "" => Ok((host, DEFAULT_PORT)),
            _ => match after.strip_prefix(':') {
                Some(p) => Ok((host, parse_port(p)?)),
                None => Err(UrlError::InvalidHost(authority.to_owned())),
            },
        };
    }
    match authority.rsplit_once(':') {
        Some((host, p)) => Ok((host, parse_port(p)?)),
        None => Ok((authority, DEFAULT_PORT)),
    }
}

fn validate_host(host: &str) -> Result<(), UrlError> {
    if host.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.len() <= 253 && name.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(UrlError::InvalidHost(host.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_proxy_urls() {
        let u = GrpcUrl::parse("rerun+http://127.0.0.1:9876/proxy").unwrap();
        assert_eq!((u.host(), u.port()), ("127.0.0.1", 9876));
        let u = GrpcUrl::parse("rerun+http://localhost/proxy").unwrap();
        assert_eq!((u.host(), u.port()), ("localhost", DEFAULT_PORT));
        let u = GrpcUrl::parse("rerun+http://[::1]:1234/proxy/").unwrap();
        assert_eq!((u.host(), u.port()), ("::1", 1234));
        assert_eq!(u.origin(), "http://[::1]:1234");
        assert_eq!(u.to_string(), "rerun+http://[::1]:1234/proxy");
        assert!(GrpcUrl::parse("RERUN+HTTP://viewer.lan:80/proxy").is_ok());
    }

    #[test]
    fn refuses_other_urls_with_a_reason() {
        let cases: &[(&str, UrlError)] = &[
            ("127.0.0.1:9876", UrlError::MissingScheme),
            (
                "http://127.0.0.1:9876/proxy",
                UrlError::UnsupportedScheme("http".into()),
            ),
            (
                "rerun+https://h:1/proxy",
                UrlError::TlsUnsupported("rerun+https".into()),
            ),
            (
                "rerun://h:1/proxy",
                UrlError::TlsUnsupported("rerun".into()),
            ),
            ("rerun+http://:9876/proxy", UrlError::MissingHost),
            ("rerun+http://h:0/proxy", UrlError::InvalidPort("0".into())),
            (
                "rerun+http://h:99999/proxy",
                UrlError::InvalidPort("99999".into()),
            ),
            (
                "rerun+http://h:+1/proxy",
                UrlError::InvalidPort("+1".into()),
            ),
            (
                "rerun+http://h:1/catalog",
                UrlError::NotProxyEndpoint("/catalog".into()),
            ),
            (
                "rerun+http://h:1",
                UrlError::NotProxyEndpoint(String::new()),
            ),
            ("rerun+http://u@h:1/proxy", UrlError::UserInfo),
            ("rerun+http://h:1/proxy?x=1", UrlError::QueryOrFragment),
            (
                "rerun+http://bad host:1/proxy",
                UrlError::InvalidHost("bad host".into()),
            ),
            (
                "rerun+http://[zz]:1/proxy",
                UrlError::InvalidHost("[zz]:1".into()),
            ),
        ];
        for (url, want) in cases {
            assert_eq!(GrpcUrl::parse(url).as_ref(), Err(want), "{url}");
        }
    }
}
