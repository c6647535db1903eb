//! Name resolution as a seam (like `Clock`): production asks the system,
//! tests pin what a name resolves to. Every address a name resolves to is
//! judged by the address policy, at registration and again at connect time.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use crate::domain::webhooks::{address_refusal, AddressPolicy, CheckedUrl, Host, UrlRefusal};

/// Turns a host name into addresses. Blocking: async code calls it through
/// `spawn_blocking`.
pub trait Resolver: Send + Sync {
    fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<IpAddr>>;
}

/// The operating system's resolver (`getaddrinfo`).
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<IpAddr>> {
        Ok((host, port).to_socket_addrs()?.map(|address| address.ip()).collect())
    }
}

/// Fixed answers for tests; a host it does not know does not resolve.
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    answers: HashMap<String, Vec<IpAddr>>,
}

impl StaticResolver {
    pub fn new() -> Self {
        Self::default()
    }

    /// `host` (any case) resolves to `addresses`.
    pub fn with(mut self, host: &str, addresses: impl IntoIterator<Item = IpAddr>) -> Self {
        self.answers.insert(host.to_ascii_lowercase(), addresses.into_iter().collect());
        self
    }
}

impl Resolver for StaticResolver {
    fn resolve(&self, host: &str, _port: u16) -> io::Result<Vec<IpAddr>> {
        self.answers
            .get(&host.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no static answer for `{host}`")))
    }
}

/// Where a delivery to `url` may connect: an IP literal is itself, `localhost`
/// is 127.0.0.1 and ::1 (never looked up), a name is what it resolves to.
pub fn addresses_for(
    url: &CheckedUrl,
    policy: &AddressPolicy,
    resolver: &dyn Resolver,
) -> Result<Vec<SocketAddr>, UrlRefusal> {
    let addresses = permitted_addresses(&url.host, url.port, policy, resolver)?;
    Ok(addresses.into_iter().map(|ip| SocketAddr::new(ip, url.port)).collect())
}

/// The addresses of `host` that a delivery may connect to, or why none may.
/// A name must resolve only to permitted addresses: one bad answer among good
/// ones refuses the name, so a mixed answer cannot smuggle in an inside host.
/// `localhost` is the exception: its two addresses are ours, not a DNS
/// server's, so the permitted one of them is enough.
pub fn permitted_addresses(
    host: &Host,
    port: u16,
    policy: &AddressPolicy,
    resolver: &dyn Resolver,
) -> Result<Vec<IpAddr>, UrlRefusal> {
    let addresses = match host {
        Host::IpLiteral(ip) => vec![*ip],
        Host::Localhost => {
            let permitted: Vec<IpAddr> = Host::LOCALHOST.into_iter().filter(|ip| policy.permits(*ip)).collect();
            if permitted.is_empty() {
                return Err(address_refusal(host, Host::LOCALHOST[0], policy));
            }
            permitted
        }
        Host::Name(name) => {
            if let AddressPolicy::Allowlist(_) = policy {
                return Err(UrlRefusal::new(
                    UrlRefusal::HOST_NOT_ALLOWED,
                    format!("`{name}` is a DNS name; under an allowlist nothing is looked up"),
                ));
            }
            resolve_name(name, port, resolver)?
        }
    };
    match addresses.iter().find(|ip| !policy.permits(**ip)) {
        Some(refused) => Err(address_refusal(host, *refused, policy)),
        None => Ok(addresses),
    }
}

fn resolve_name(name: &str, port: u16, resolver: &dyn Resolver) -> Result<Vec<IpAddr>, UrlRefusal> {
    let unresolvable = |why: String| UrlRefusal::new(UrlRefusal::HOST_UNRESOLVABLE, why);
    let answers =
        resolver.resolve(name, port).map_err(|error| unresolvable(format!("`{name}` does not resolve: {error}")))?;
    // getaddrinfo answers once per socket type; keep its order of preference.
    let mut addresses: Vec<IpAddr> = Vec::with_capacity(answers.len());
    for ip in answers {
        if !addresses.contains(&ip) {
            addresses.push(ip);
        }
    }
    if addresses.is_empty() {
        return Err(unresolvable(format!("`{name}` resolves to no address")));
    }
    Ok(addresses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::webhooks::check_url_syntax;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    fn allowlist(networks: &str) -> AddressPolicy {
        AddressPolicy::Allowlist(networks.parse().unwrap())
    }

    fn resolve(raw_url: &str, policy: &AddressPolicy, resolver: &dyn Resolver) -> Result<Vec<SocketAddr>, UrlRefusal> {
        addresses_for(&check_url_syntax(raw_url, policy).unwrap(), policy, resolver)
    }

    #[test]
    fn a_name_resolving_only_to_public_addresses_is_accepted() {
        let resolver = StaticResolver::new().with("Hooks.Example.com", [ip("93.184.215.14"), ip("2606:2800::1")]);
        let addresses = resolve("https://hooks.example.com:8443/", &AddressPolicy::Public, &resolver).unwrap();
        assert_eq!(addresses, vec!["93.184.215.14:8443".parse().unwrap(), "[2606:2800::1]:8443".parse().unwrap()]);
    }

    #[test]
    fn one_private_answer_refuses_the_whole_name() {
        let resolver = StaticResolver::new()
            .with("mixed.example.com", [ip("93.184.215.14"), ip("10.0.0.5")])
            .with("mapped.example.com", [ip("::ffff:169.254.169.254")])
            .with("loopback.example.com", [ip("127.0.0.1")]);
        for host in ["mixed.example.com", "mapped.example.com", "loopback.example.com"] {
            let refusal = resolve(&format!("https://{host}/"), &AddressPolicy::Public, &resolver).unwrap_err();
            assert_eq!(refusal.code, "address_not_allowed", "{host}");
            assert!(refusal.message.contains(host), "{}", refusal.message);
        }
    }

    #[test]
    fn unknown_and_empty_names_are_unresolvable() {
        let resolver = StaticResolver::new().with("empty.example.com", []);
        for host in ["empty.example.com", "unknown.example.com"] {
            let refusal = resolve(&format!("https://{host}/"), &AddressPolicy::Public, &resolver).unwrap_err();
            assert_eq!(refusal.code, "host_unresolvable", "{host}");
        }
    }

    #[test]
    fn duplicate_answers_are_kept_once_in_order() {
        let resolver = StaticResolver::new().with("twice.example.com", [ip("1.1.1.1"), ip("8.8.8.8"), ip("1.1.1.1")]);
        let addresses = resolve("https://twice.example.com/", &AddressPolicy::Public, &resolver).unwrap();
        assert_eq!(addresses, vec!["1.1.1.1:443".parse().unwrap(), "8.8.8.8:443".parse().unwrap()]);
    }

    #[test]
    fn literals_and_localhost_are_never_looked_up() {
        struct NoLookups;
        impl Resolver for NoLookups {
            fn resolve(&self, host: &str, _port: u16) -> io::Result<Vec<IpAddr>> {
                panic!("looked up {host}")
            }
        }
        let policy = allowlist("127.0.0.0/8,::1");
        assert_eq!(
            resolve("http://127.0.0.2:81/", &policy, &NoLookups).unwrap(),
            vec!["127.0.0.2:81".parse().unwrap()]
        );
        assert_eq!(
            resolve("http://localhost:81/", &policy, &NoLookups).unwrap(),
            vec!["127.0.0.1:81".parse().unwrap(), "[::1]:81".parse().unwrap()]
        );
        assert_eq!(
            resolve("http://localhost:81/", &allowlist("127.0.0.0/8"), &NoLookups).unwrap(),
            vec!["127.0.0.1:81".parse().unwrap()]
        );
        assert_eq!(resolve("https://8.8.8.8/", &AddressPolicy::Public, &NoLookups).unwrap().len(), 1);
    }

    #[test]
    fn refusals_hold_even_for_hosts_that_skipped_the_syntax_check() {
        let resolver = StaticResolver::new().with("hooks.example.com", [ip("127.0.0.1")]);
        let name = Host::Name("hooks.example.com".into());
        let refusal = permitted_addresses(&name, 80, &allowlist("127.0.0.0/8"), &resolver).unwrap_err();
        assert_eq!(refusal.code, "host_not_allowed", "an allowlist never looks names up");
        let refusal = permitted_addresses(&Host::Localhost, 80, &AddressPolicy::Public, &resolver).unwrap_err();
        assert_eq!(refusal.code, "address_not_allowed");
        let literal = Host::IpLiteral(ip("10.0.0.1"));
        let refusal = permitted_addresses(&literal, 80, &AddressPolicy::Public, &resolver).unwrap_err();
        assert_eq!(refusal.code, "address_not_allowed");
    }

    #[test]
    fn the_system_resolver_answers_for_an_address() {
        let addresses = SystemResolver.resolve("127.0.0.1", 80).unwrap();
        assert_eq!(addresses, vec![ip("127.0.0.1")]);
    }
}
