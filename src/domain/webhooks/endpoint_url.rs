//! Whether an endpoint URL may receive deliveries, judged from the URL alone:
//! its form, its scheme, and its host when the host is an address. Names are
//! resolved and judged later (`delivery::resolver`), at registration and again
//! at every connect.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::Url;

use super::address::{canonical, is_public, AllowedNetworks};

/// Longer URLs are refused: browsers and proxies start failing around here.
pub const MAX_URL_LENGTH: usize = 2048;

/// Where deliveries may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressPolicy {
    /// Production: `https://` only, to hosts whose every address is public.
    Public,
    /// Development and tests: `http://` or `https://` to IP literals or
    /// `localhost`, inside these networks only; nothing is looked up in DNS.
    Allowlist(AllowedNetworks),
}

impl AddressPolicy {
    /// The policy for `PACKRELEASE_WEBHOOK_ALLOWED_NETWORKS`: unset or blank
    /// is `Public` (the strict one, so a blank value cannot loosen anything).
    pub fn from_allowed_networks(value: Option<&str>) -> Result<Self, String> {
        match value.map(str::trim) {
            None | Some("") => Ok(Self::Public),
            Some(networks) => networks.parse().map(Self::Allowlist),
        }
    }

    /// Whether a delivery may connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        match self {
            Self::Public => is_public(canonical(ip)),
            Self::Allowlist(networks) => networks.contains(ip),
        }
    }

    pub fn allows_scheme(&self, scheme: &str) -> bool {
        match self {
            Self::Public => scheme == "https",
            Self::Allowlist(_) => scheme == "https" || scheme == "http",
        }
    }
}

/// An endpoint URL that passed `check_url_syntax`, in normalised form: the
/// sender requests exactly `url`, so what was checked is what is requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedUrl {
    pub url: String,
    pub host: Host,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    IpLiteral(IpAddr),
    /// Means 127.0.0.1 and ::1, never looked up.
    Localhost,
    /// A DNS name, lower case as the URL parser leaves it.
    Name(String),
}

impl Host {
    /// The host a connector asks to resolve, judged like a URL's host.
    pub fn from_name(name: &str) -> Self {
        let bracketless = name.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bracketless.parse() {
            return Self::IpLiteral(ip);
        }
        match name.to_ascii_lowercase() {
            lower if lower == "localhost" => Self::Localhost,
            lower => Self::Name(lower),
        }
    }

    /// The addresses `localhost` stands for.
    pub const LOCALHOST: [IpAddr; 2] = [IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)];
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IpLiteral(ip) => write!(f, "{ip}"),
            Self::Localhost => f.write_str("localhost"),
            Self::Name(name) => f.write_str(name),
        }
    }
}

/// Why an endpoint URL is refused: a stable `code` for API clients and a
/// message for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct UrlRefusal {
    pub code: &'static str,
    pub message: String,
}

impl UrlRefusal {
    /// Not a usable absolute URL (unparseable, relative, credentials,
    /// fragment, too long, no host, port 0).
    pub const URL_INVALID: &'static str = "url_invalid";
    /// Not `https://` (or, under an allowlist, not `http://` either).
    pub const SCHEME_NOT_ALLOWED: &'static str = "scheme_not_allowed";
    /// The host is, or resolves to, an address the policy refuses.
    pub const ADDRESS_NOT_ALLOWED: &'static str = "address_not_allowed";
    /// A DNS name while only IP literals and `localhost` are accepted.
    pub const HOST_NOT_ALLOWED: &'static str = "host_not_allowed";
    /// The name did not resolve, or resolved to nothing.
    pub const HOST_UNRESOLVABLE: &'static str = "host_unresolvable";

    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// Checks everything about an endpoint URL that needs no name lookup.
pub fn check_url_syntax(raw: &str, policy: &AddressPolicy) -> Result<CheckedUrl, UrlRefusal> {
    let invalid = |message: &str| UrlRefusal::new(UrlRefusal::URL_INVALID, message);
    if raw.len() > MAX_URL_LENGTH {
        return Err(invalid(&format!("the URL must be at most {MAX_URL_LENGTH} characters")));
    }
    // The parser silently drops tabs, newlines and outer spaces; a URL that
    // needed cleaning is more likely a mistake (or a trick) than meant.
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("the URL must not contain spaces or control characters"));
    }
    let url = Url::parse(raw).map_err(|error| match error {
        url::ParseError::RelativeUrlWithoutBase => invalid("the URL must be absolute, e.g. https://hooks.example.com/"),
        other => invalid(&format!("the URL is not valid: {other}")),
    })?;
    if !policy.allows_scheme(url.scheme()) {
        let allowed = if policy.allows_scheme("http") { "http:// or https://" } else { "https://" };
        return Err(UrlRefusal::new(
            UrlRefusal::SCHEME_NOT_ALLOWED,
            format!("the URL must start with {allowed}, not {}://", url.scheme()),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("the URL must not contain credentials (user:password@)"));
    }
    if url.fragment().is_some() {
        return Err(invalid("the URL must not have a fragment (#...)"));
    }
    let host = match url.host() {
        None => return Err(invalid("the URL must have a host")),
        Some(url::Host::Ipv4(ip)) => Host::IpLiteral(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Host::IpLiteral(IpAddr::V6(ip)),
        Some(url::Host::Domain(name)) => Host::from_name(name),
    };
    let port = match url.port_or_known_default() {
        Some(0) | None => return Err(invalid("the URL's port must be between 1 and 65535")),
        Some(port) => port,
    };
    check_host(&host, policy)?;
    Ok(CheckedUrl { url: url.into(), host, port })
}

/// The part of the host check that needs no lookup.
fn check_host(host: &Host, policy: &AddressPolicy) -> Result<(), UrlRefusal> {
    match (host, policy) {
        (Host::IpLiteral(ip), _) if !policy.permits(*ip) => Err(address_refusal(host, *ip, policy)),
        (Host::Localhost, _) if !Host::LOCALHOST.iter().any(|ip| policy.permits(*ip)) => {
            Err(address_refusal(host, Host::LOCALHOST[0], policy))
        }
        (Host::Name(name), AddressPolicy::Allowlist(_)) => Err(UrlRefusal::new(
            UrlRefusal::HOST_NOT_ALLOWED,
            format!(
                "`{name}` is a DNS name; while PACKRELEASE_WEBHOOK_ALLOWED_NETWORKS is set only IP addresses \
                 and localhost are accepted"
            ),
        )),
        _ => Ok(()),
    }
}

/// The refusal for a host that is, or resolves to, an address not permitted.
pub(crate) fn address_refusal(host: &Host, ip: IpAddr, policy: &AddressPolicy) -> UrlRefusal {
    let why = match policy {
        AddressPolicy::Public => "which is not a public internet address".to_string(),
        AddressPolicy::Allowlist(networks) => format!("which is outside the allowed networks ({networks})"),
    };
    let message = match host {
        Host::IpLiteral(literal) if canonical(*literal) == canonical(ip) => format!("{ip} is an address {why}"),
        _ => format!("`{host}` resolves to {ip}, {why}"),
    };
    UrlRefusal::new(UrlRefusal::ADDRESS_NOT_ALLOWED, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowlist(networks: &str) -> AddressPolicy {
        AddressPolicy::Allowlist(networks.parse().unwrap())
    }

    fn refusal_code(raw: &str, policy: &AddressPolicy) -> &'static str {
        match check_url_syntax(raw, policy) {
            Ok(checked) => panic!("{raw} was accepted as {checked:?}"),
            Err(refusal) => refusal.code,
        }
    }

    #[test]
    fn a_public_https_url_is_accepted_in_normalised_form() {
        let checked = check_url_syntax("HTTPS://Hooks.Example.COM:443/in?x=1", &AddressPolicy::Public).unwrap();
        assert_eq!(checked.url, "https://hooks.example.com/in?x=1");
        assert_eq!(checked.host, Host::Name("hooks.example.com".into()));
        assert_eq!(checked.port, 443);
        let checked = check_url_syntax("https://8.8.8.8:8443/", &AddressPolicy::Public).unwrap();
        assert_eq!(checked.host, Host::IpLiteral("8.8.8.8".parse().unwrap()));
        assert_eq!(checked.port, 8443);
        let checked = check_url_syntax("https://[2606:4700::1111]/", &AddressPolicy::Public).unwrap();
        assert_eq!(checked.host, Host::IpLiteral("2606:4700::1111".parse().unwrap()));
    }

    #[test]
    fn production_accepts_only_https() {
        assert_eq!(refusal_code("http://hooks.example.com/", &AddressPolicy::Public), "scheme_not_allowed");
        assert_eq!(refusal_code("ftp://hooks.example.com/", &AddressPolicy::Public), "scheme_not_allowed");
        assert_eq!(refusal_code("file:///etc/passwd", &AddressPolicy::Public), "scheme_not_allowed");
        assert_eq!(refusal_code("gopher://127.0.0.1:25/", &allowlist("127.0.0.0/8")), "scheme_not_allowed");
    }

    #[test]
    fn production_refuses_non_public_literals_and_localhost() {
        let public = AddressPolicy::Public;
        for raw in [
            "https://127.0.0.1/",
            "https://localhost/",
            "https://LOCALHOST:8443/",
            "https://[::1]/",
            "https://10.0.0.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[fe80::1]/",
            "https://[fd00::1]/",
            "https://0.0.0.0/",
            "https://[::]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:a9fe:a9fe]/",
            "https://[64:ff9b::7f00:1]/",
            "https://[2002:7f00:1::]/",
            "https://0x7f000001/",
            "https://2130706433/",
            "https://127.1/",
            "https://0177.0.0.1/",
            "https://%31%32%37.0.0.1/",
            "https://224.0.0.1/",
        ] {
            assert_eq!(refusal_code(raw, &public), "address_not_allowed", "{raw}");
        }
    }

    #[test]
    fn hostile_literals_are_judged_by_the_address_they_mean() {
        let policy = allowlist("10.0.0.0/8");
        for raw in [
            "http://[::ffff:127.0.0.1]/",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://127.1/",
            "http://0177.0.0.01/",
            "http://127.0.0.1./",
        ] {
            let refusal = check_url_syntax(raw, &policy).unwrap_err();
            assert_eq!(refusal.code, "address_not_allowed", "{raw}");
            assert!(refusal.message.contains("127.0.0.1"), "{raw}: {}", refusal.message);
        }
        let loopback = allowlist("127.0.0.0/8");
        for raw in ["http://0x7f000001:8080/", "http://2130706433:8080/", "http://127.1:8080/"] {
            let checked = check_url_syntax(raw, &loopback).unwrap();
            assert_eq!(checked.url, "http://127.0.0.1:8080/", "{raw}");
            assert_eq!(checked.host, Host::IpLiteral("127.0.0.1".parse().unwrap()));
        }
        let checked = check_url_syntax("http://[::ffff:127.0.0.1]:9/", &loopback).unwrap();
        assert_eq!(checked.host, Host::IpLiteral("::ffff:127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn an_allowlist_accepts_http_to_literals_and_localhost_inside_it() {
        let policy = allowlist("127.0.0.0/8");
        let checked = check_url_syntax("http://127.0.0.1:8080/hook", &policy).unwrap();
        assert_eq!(checked.port, 8080);
        let checked = check_url_syntax("http://localhost/hook", &policy).unwrap();
        assert_eq!((checked.host, checked.port), (Host::Localhost, 80));
        let checked = check_url_syntax("https://localhost:8443/", &allowlist("::1")).unwrap();
        assert_eq!(checked.host, Host::Localhost);
    }

    #[test]
    fn an_allowlist_refuses_names_and_everything_outside_it() {
        let policy = allowlist("127.0.0.0/8");
        assert_eq!(refusal_code("https://hooks.example.com/", &policy), "host_not_allowed");
        assert_eq!(refusal_code("http://localhost.localdomain/", &policy), "host_not_allowed");
        assert_eq!(refusal_code("http://localhost./", &policy), "host_not_allowed");
        assert_eq!(refusal_code("https://8.8.8.8/", &policy), "address_not_allowed");
        assert_eq!(refusal_code("http://10.0.0.1/", &policy), "address_not_allowed");
        assert_eq!(refusal_code("http://[::1]/", &policy), "address_not_allowed");
        assert_eq!(refusal_code("http://localhost/", &allowlist("10.0.0.0/8")), "address_not_allowed");
    }

    #[test]
    fn malformed_urls_are_invalid() {
        let policy = allowlist("127.0.0.0/8");
        let long = format!("http://127.0.0.1/{}", "a".repeat(MAX_URL_LENGTH));
        for raw in [
            "",
            "/relative/path",
            "127.0.0.1:8080/hook",
            "http://",
            "http://user:pass@127.0.0.1/",
            "http://user@127.0.0.1/",
            "http://:pass@127.0.0.1/",
            "http://127.0.0.1/#fragment",
            "http://127.0.0.1/#",
            "http://127.0.0.1:0/",
            "http://127.0.0.1:65536/",
            "http://[::1/",
            "http://[fe80::1%25eth0]/",
            " http://127.0.0.1/",
            "http://127.0.0.1/\n",
            "http://127.0.\t0.1/",
            "http://127.0.0.1/a b",
            &long,
        ] {
            assert_eq!(refusal_code(raw, &policy), "url_invalid", "{raw:?}");
        }
    }

    #[test]
    fn a_url_of_exactly_the_maximum_length_is_accepted() {
        let prefix = "http://127.0.0.1/";
        let raw = format!("{prefix}{}", "a".repeat(MAX_URL_LENGTH - prefix.len()));
        assert!(check_url_syntax(&raw, &allowlist("127.0.0.0/8")).is_ok());
    }

    #[test]
    fn the_policy_comes_from_the_environment_value() {
        assert_eq!(AddressPolicy::from_allowed_networks(None).unwrap(), AddressPolicy::Public);
        assert_eq!(AddressPolicy::from_allowed_networks(Some("  ")).unwrap(), AddressPolicy::Public);
        assert_eq!(AddressPolicy::from_allowed_networks(Some("127.0.0.0/8")).unwrap(), allowlist("127.0.0.0/8"));
        assert!(AddressPolicy::from_allowed_networks(Some("nonsense")).is_err());
    }

    #[test]
    fn permits_judges_mapped_addresses_as_ipv4() {
        let ip = |raw: &str| raw.parse::<IpAddr>().unwrap();
        assert!(!AddressPolicy::Public.permits(ip("::ffff:10.0.0.1")));
        assert!(AddressPolicy::Public.permits(ip("::ffff:8.8.8.8")));
        assert!(allowlist("127.0.0.0/8").permits(ip("::ffff:127.0.0.1")));
        assert!(!allowlist("127.0.0.0/8").permits(ip("8.8.8.8")));
    }
}
