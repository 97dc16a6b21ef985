//! `rerun+http(s)://HOST:PORT/proxy` URLs (`rerun-format.md` §7.1) and catalog URLs
//! (`rerun+http(s)://HOST:PORT`): one parser for both.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// The port a proxy URL without one means (the official viewer's default).
pub const DEFAULT_PORT: u16 = 9876;

/// The port a catalog URL without one means (`rerun server`'s default).
pub const DEFAULT_CATALOG_PORT: u16 = 51234;

/// Why a URL was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The scheme is not `rerun+http`, `rerun+https` or `rerun` (a catalog URL also takes
    /// `http` and `https`).
    #[error("unsupported scheme {0:?} (expected rerun+http or rerun+https)")]
    UnsupportedScheme(String),
    /// There is no `scheme://` prefix.
    #[error("missing scheme (expected rerun+http://HOST:PORT)")]
    MissingScheme,
    /// The host is empty.
    #[error("missing host")]
    MissingHost,
    /// The host is neither an IP address nor a valid DNS name.
    #[error("invalid host {0:?}")]
    InvalidHost(String),
    /// The port is not a number in 1..=65535.
    #[error("invalid port {0:?}")]
    InvalidPort(String),
    /// A proxy URL's path is not `/proxy`: only the message-proxy endpoint is supported.
    #[error("path {0:?} is not the message proxy endpoint /proxy")]
    NotProxyEndpoint(String),
    /// A catalog URL has a path (it names a server, nothing in it).
    #[error("unexpected path {0:?} after the catalog's host and port")]
    UnexpectedPath(String),
    /// The URL has user info (`user@`), which the protocol has no use for.
    #[error("user info is not allowed")]
    UserInfo,
    /// The URL has a query string or fragment.
    #[error("query strings and fragments are not allowed")]
    QueryOrFragment,
}

/// Scheme, host, port and path of a `rerun+http(s)://` URL, checked.
struct Parts<'a> {
    tls: bool,
    host: &'a str,
    port: u16,
    path: &'a str,
}

fn parse_parts(url: &str, default_port: u16, http_schemes: bool) -> Result<Parts<'_>, UrlError> {
    let (scheme, rest) = url.split_once("://").ok_or(UrlError::MissingScheme)?;
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "rerun+http" => false,
        "rerun+https" | "rerun" => true,
        "http" if http_schemes => false,
        "https" if http_schemes => true,
        _ => return Err(UrlError::UnsupportedScheme(scheme.to_owned())),
    };
    if rest.contains(['?', '#']) {
        return Err(UrlError::QueryOrFragment);
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(UrlError::UserInfo);
    }
    let (host, port) = split_host_port(authority, default_port)?;
    if host.is_empty() {
        return Err(UrlError::MissingHost);
    }
    validate_host(host)?;
    Ok(Parts {
        tls,
        host,
        port,
        path,
    })
}

/// `HOST:PORT`, with an IPv6 host in brackets.
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn origin(tls: bool, host: &str, port: u16) -> String {
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{}", authority(host, port))
}

fn scheme(tls: bool) -> &'static str {
    if tls { "rerun+https" } else { "rerun+http" }
}

/// A parsed `rerun+http://HOST:PORT/proxy` URL (`rerun+https://` or `rerun://` for TLS).
///
/// ```
/// use spate::net::GrpcUrl;
/// let url: GrpcUrl = "rerun+http://127.0.0.1:9876/proxy".parse()?;
/// assert_eq!((url.host(), url.port(), url.tls()), ("127.0.0.1", 9876, false));
/// assert_eq!(url.origin(), "http://127.0.0.1:9876");
/// assert!("rerun+https://viewer.example.com/proxy".parse::<GrpcUrl>()?.tls());
/// assert!("rerun+http://127.0.0.1:9876/catalog".parse::<GrpcUrl>().is_err());
/// # Ok::<(), spate::net::UrlError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GrpcUrl {
    /// Host as written, without IPv6 brackets.
    host: String,
    port: u16,
    tls: bool,
}

impl GrpcUrl {
    /// Parses a URL (see the [type docs](Self)). A missing port means [`DEFAULT_PORT`].
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let p = parse_parts(url, DEFAULT_PORT, false)?;
        if !matches!(p.path, "/proxy" | "/proxy/") {
            return Err(UrlError::NotProxyEndpoint(p.path.to_owned()));
        }
        Ok(Self {
            host: p.host.to_owned(),
            port: p.port,
            tls: p.tls,
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

    /// Whether the connection is TLS (`rerun+https`, `rerun`).
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// `http://HOST:PORT` (or `https://`): the origin gRPC requests go to (the `/proxy`
    /// path only chose the endpoint type).
    pub fn origin(&self) -> String {
        origin(self.tls, &self.host, self.port)
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
        let (scheme, authority) = (scheme(self.tls), authority(&self.host, self.port));
        write!(f, "{scheme}://{authority}/proxy")
    }
}

/// A parsed catalog URL: `rerun+http://HOST[:PORT]` (also `http://`), or `rerun+https://`,
/// `rerun://`, `https://` for TLS, as the official `CatalogClient` takes them.
///
/// ```
/// use spate::net::CatalogUrl;
/// let url = CatalogUrl::parse("rerun+http://127.0.0.1:51234")?;
/// assert_eq!((url.host(), url.port(), url.tls()), ("127.0.0.1", 51234, false));
/// assert!(CatalogUrl::parse("rerun+https://hub.example.com")?.tls());
/// assert!(CatalogUrl::parse("ftp://x").is_err());
/// # Ok::<(), spate::net::UrlError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CatalogUrl {
    host: String,
    port: u16,
    tls: bool,
}

impl CatalogUrl {
    /// Parses a catalog URL (see the [type docs](Self)). A missing port means
    /// [`DEFAULT_CATALOG_PORT`].
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let p = parse_parts(url, DEFAULT_CATALOG_PORT, true)?;
        if !matches!(p.path, "" | "/") {
            return Err(UrlError::UnexpectedPath(p.path.to_owned()));
        }
        Ok(Self {
            host: p.host.to_owned(),
            port: p.port,
            tls: p.tls,
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

    /// Whether the connection is TLS.
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// `HOST:PORT` (IPv6 in brackets).
    pub fn authority(&self) -> String {
        authority(&self.host, self.port)
    }

    /// The origin gRPC requests go to: `http://HOST:PORT` or `https://HOST:PORT`.
    pub fn origin(&self) -> String {
        origin(self.tls, &self.host, self.port)
    }
}

impl fmt::Display for CatalogUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", scheme(self.tls), self.authority())
    }
}

impl std::str::FromStr for CatalogUrl {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn parse_port(p: &str) -> Result<u16, UrlError> {
    match p.parse::<u16>() {
        Ok(n) if n != 0 && p.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(UrlError::InvalidPort(p.to_owned())),
    }
}

fn split_host_port(authority: &str, default_port: u16) -> Result<(&str, u16), UrlError> {
    if let Some(rest) = authority.strip_prefix('[') {
        // [v6]:port
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| UrlError::InvalidHost(authority.to_owned()))?;
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(UrlError::InvalidHost(authority.to_owned()));
        }
        return match after {
            "" => Ok((host, default_port)),
            _ => match after.strip_prefix(':') {
                Some(p) => Ok((host, parse_port(p)?)),
                None => Err(UrlError::InvalidHost(authority.to_owned())),
            },
        };
    }
    match authority.rsplit_once(':') {
        Some((host, p)) => Ok((host, parse_port(p)?)),
        None => Ok((authority, default_port)),
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
        for tls in ["rerun+https://h:1/proxy", "rerun://h:1/proxy"] {
            let u = GrpcUrl::parse(tls).unwrap();
            assert!(u.tls());
            assert_eq!(u.origin(), "https://h:1");
            assert_eq!(u.to_string(), "rerun+https://h:1/proxy");
        }
    }

    #[test]
    fn catalog_urls_parse_or_say_why_not() {
        let u = CatalogUrl::parse("rerun+http://[::1]:9000/").unwrap();
        assert_eq!((u.host(), u.port(), u.tls()), ("::1", 9000, false));
        assert_eq!(u.origin(), "http://[::1]:9000");
        assert_eq!(u.to_string(), "rerun+http://[::1]:9000");
        assert_eq!(
            CatalogUrl::parse("rerun://h").unwrap().port(),
            DEFAULT_CATALOG_PORT
        );
        assert!(CatalogUrl::parse("https://h").unwrap().tls());
        let cases: &[(&str, UrlError)] = &[
            ("rerun+http://h:0", UrlError::InvalidPort("0".into())),
            (
                "rerun+http://h:1/proxy",
                UrlError::UnexpectedPath("/proxy".into()),
            ),
            ("h:1", UrlError::MissingScheme),
            ("rerun+http://:1", UrlError::MissingHost),
            ("grpc://h:1", UrlError::UnsupportedScheme("grpc".into())),
            ("rerun+http://u@h", UrlError::UserInfo),
            ("rerun+http://h?x", UrlError::QueryOrFragment),
        ];
        for (url, want) in cases {
            assert_eq!(CatalogUrl::parse(url).as_ref(), Err(want), "{url}");
        }
        assert_eq!(
            GrpcUrl::parse("http://h:1/proxy"),
            Err(UrlError::UnsupportedScheme("http".into()))
        );
    }

    #[test]
    fn refuses_other_urls_with_a_reason() {
        let cases: &[(&str, UrlError)] = &[
            ("127.0.0.1:9876", UrlError::MissingScheme),
            (
                "http://127.0.0.1:9876/proxy",
                UrlError::UnsupportedScheme("http".into()),
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
