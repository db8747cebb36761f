//! Which hosts okx-export talks to, decided on parsed URLs (the `url` crate), never on
//! string splits: `http://127.0.0.1:1@192.0.2.2` is host 192.0.2.2 with a userinfo, not
//! a loopback address.
//!
//! - The OKX base URL: `https`, or plain `http` only when the parsed host is loopback (the
//!   local simulator); no userinfo, query or fragment; a path prefix is allowed.
//! - Archive download links: the same scheme rule; they are pre-signed and get no OKX
//!   header (see [`super::client::OkxClient::download_to`]).

use std::net::IpAddr;
use url::{Host, Url};

/// Why a URL is refused; the message names the URL and says what to use instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UrlRefused(pub String);

/// True for `localhost` and loopback IP addresses (127.0.0.0/8, ::1).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// `host[:port]` of a URL, for messages.
pub fn host_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => "(no host)".to_string(),
    }
}

/// The scheme rule shared by the API and download links.
fn check_scheme(url: &Url, shown: &str, what: &str) -> Result<(), UrlRefused> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(UrlRefused(format!(
            "refusing plain http {what} `{shown}`: it would travel unencrypted; use https (plain http is allowed only for loopback hosts)"
        ))),
        other => Err(UrlRefused(format!(
            "{what} `{shown}` has unsupported scheme `{other}`; use https"
        ))),
    }
}

/// Parses and checks the OKX base URL; returns it without a trailing slash.
pub fn parse_base_url(input: &str) -> Result<String, UrlRefused> {
    let shown = input.trim();
    let url = Url::parse(shown).map_err(|e| {
        UrlRefused(format!(
            "base URL `{shown}` is not a valid URL ({e}); use e.g. `https://www.okx.com`"
        ))
    })?;
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(UrlRefused(format!(
            "base URL `{shown}` has no host; use e.g. `https://www.okx.com`"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRefused(format!(
            "base URL `{shown}` contains a user name or password (`…@`); remove it: credentials never go in the URL"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(UrlRefused(format!(
            "base URL `{shown}` has a query or fragment (`?`/`#`); give only scheme, host, port and optional path"
        )));
    }
    // Every endpoint path starts with /api/v5: a base URL ending in it would ask for
    // /api/v5/api/v5/… and get a bare 404.
    if url.path().trim_end_matches('/').ends_with("/api/v5")
        || url.path().trim_end_matches('/').ends_with("/api")
    {
        let mut host = url.clone();
        host.set_path("");
        return Err(UrlRefused(format!(
            "base URL `{shown}` ends in the API path: the base URL is the host only, e.g. `{}`",
            host.as_str().trim_end_matches('/')
        )));
    }
    check_scheme(&url, shown, "base URL")?;
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// Checks an archive download link handed out by OKX.
pub fn check_download_link(link: &str) -> Result<Url, UrlRefused> {
    let url =
        Url::parse(link.trim()).map_err(|e| UrlRefused(format!("archive link is not a valid URL ({e})")))?;
    if url.host().is_none() {
        return Err(UrlRefused("archive link has no host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRefused(format!(
            "refusing archive link to `{}`: it contains a user name or password",
            host_of(&url)
        )));
    }
    check_scheme(&url, &host_of(&url), "archive link to")?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 20 item 12: a base URL with OKX's API path says that the host alone is wanted.
    #[test]
    fn api_path_in_the_base_url_is_refused_with_the_fix() {
        let e = parse_base_url("https://www.okx.com/api/v5").unwrap_err().0;
        assert!(
            e.contains("the base URL is the host only, e.g. `https://www.okx.com`"),
            "{e}"
        );
        assert!(parse_base_url("https://www.okx.com/api/v5/").is_err());
        assert_eq!(
            parse_base_url("https://proxy.example/okx").unwrap(),
            "https://proxy.example/okx"
        );
    }

    #[test]
    fn base_urls_are_parsed_not_split() {
        assert_eq!(
            parse_base_url("https://www.okx.com/").unwrap(),
            "https://www.okx.com"
        );
        assert_eq!(
            parse_base_url(" https://eea.okx.com ").unwrap(),
            "https://eea.okx.com"
        );
        assert_eq!(
            parse_base_url("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(parse_base_url("http://127.8.9.10:1").is_ok());
        assert!(parse_base_url("http://localhost:1").is_ok());
        assert!(parse_base_url("http://[::1]:9").is_ok());
        assert!(parse_base_url("https://proxy.example/okx/").is_ok());

        // The reproduction from issue 7: userinfo that looks like a loopback host.
        let err = parse_base_url("http://127.0.0.1:1@192.0.2.2:19160")
            .unwrap_err()
            .0;
        assert!(err.contains("user name or password"), "{err}");
        let err = parse_base_url("https://user:pw@www.okx.com").unwrap_err().0;
        assert!(err.contains("user name or password"), "{err}");
        // Hosts that merely start with a loopback-looking label.
        for bad in [
            "http://127.0.0.1.evil.example",
            "http://localhost.evil.example:80",
            "http://www.okx.com",
            "http://192.0.2.2",
        ] {
            let err = parse_base_url(bad).unwrap_err().0;
            assert!(err.contains("refusing plain http"), "{bad}: {err}");
        }
        for bad in ["https://www.okx.com/?x=1", "https://www.okx.com/#frag"] {
            let err = parse_base_url(bad).unwrap_err().0;
            assert!(err.contains("query or fragment"), "{bad}: {err}");
        }
        assert!(parse_base_url("www.okx.com").is_err());
        assert!(
            parse_base_url("ftp://x")
                .unwrap_err()
                .0
                .contains("unsupported scheme")
        );
        assert!(parse_base_url("mailto:a@b").is_err());
    }

    #[test]
    fn download_links() {
        assert!(check_download_link("https://static.okx.com/a/b.zip?sig=1").is_ok());
        assert!(check_download_link("http://127.0.0.1:9/sim-files/x").is_ok());
        let err = check_download_link("http://files.example/x.zip").unwrap_err().0;
        assert!(err.contains("refusing plain http"), "{err}");
        assert!(check_download_link("http://127.0.0.1:1@192.0.2.2/x").is_err());
        assert!(check_download_link("file:///etc/passwd").is_err());
        assert!(check_download_link("").is_err());
    }
}
