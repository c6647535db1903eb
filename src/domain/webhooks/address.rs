//! Which IP addresses a delivery may connect to: the public internet in
//! production, or an explicit list of networks in development and tests.
//! Every IPv6 form that embeds an IPv4 address is judged by that address,
//! so `::ffff:127.0.0.1` is loopback like `127.0.0.1`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A network: an address and how many leading bits of it are fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Refuses a prefix longer than the address and host bits set beyond it
    /// (`10.0.0.1/8` is more likely a typo than a wish for all of 10/8).
    pub fn new(network: IpAddr, prefix: u8) -> Result<Self, String> {
        let (network, prefix) = match network {
            // An IPv4-mapped network is the IPv4 network, so it matches both forms.
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix - 96),
                None => (network, prefix),
            },
            _ => (network, prefix),
        };
        let width = address_width(network);
        if prefix > width {
            return Err(format!("prefix /{prefix} is longer than the {width} bits of {network}"));
        }
        let cidr = Self { network, prefix };
        if bits(network) & !mask(width, prefix) != 0 {
            let base = cidr.base();
            return Err(format!("{network}/{prefix} has bits set past the prefix; did you mean {base}/{prefix}?"));
        }
        Ok(cidr)
    }

    /// Whether `ip` is inside, an IPv4-mapped IPv6 address counting as its IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.contains_canonical(canonical(ip))
    }

    fn contains_canonical(&self, ip: IpAddr) -> bool {
        let width = address_width(self.network);
        address_width(ip) == width
            && bits(ip) & mask(width, self.prefix) == bits(self.network) & mask(width, self.prefix)
    }

    fn base(&self) -> IpAddr {
        let masked = bits(self.network) & mask(address_width(self.network), self.prefix);
        match self.network {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(masked as u32)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(masked)),
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    /// `10.0.0.0/8`, `::1/128`, or a bare address meaning just that address.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        let (address, prefix) = match raw.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (raw, None),
        };
        let network: IpAddr =
            address.parse().map_err(|_| format!("`{raw}` is not a network: `{address}` is not an IP address"))?;
        let prefix = match prefix {
            None => address_width(network),
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|_| prefix.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| format!("`{raw}` is not a network: `/{prefix}` is not a prefix length"))?,
        };
        Self::new(network, prefix).map_err(|reason| format!("`{raw}` is not a network: {reason}"))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The networks deliveries may reach when `PACKRELEASE_WEBHOOK_ALLOWED_NETWORKS`
/// is set: only these, public addresses included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedNetworks(Vec<Cidr>);

impl AllowedNetworks {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|cidr| cidr.contains(ip))
    }

    pub fn networks(&self) -> &[Cidr] {
        &self.0
    }
}

impl FromStr for AllowedNetworks {
    type Err = String;

    /// Comma-separated networks, e.g. `127.0.0.0/8,::1/128`.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if raw.trim().is_empty() {
            return Err("the allowed networks need at least one network, e.g. 127.0.0.0/8".into());
        }
        raw.split(',')
            .map(|item| match item.trim() {
                "" => Err("empty entry in the allowed networks (two commas in a row?)".to_string()),
                item => item.parse(),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

impl fmt::Display for AllowedNetworks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self.0.iter().map(Cidr::to_string).collect();
        f.write_str(&items.join(","))
    }
}

/// IPv4 space that is not the public internet (IANA special-purpose registry).
const NON_PUBLIC_V4: &[(u32, u8)] = &[
    (0x0000_0000, 8),  // 0.0.0.0/8 "this network", unspecified
    (0x0A00_0000, 8),  // 10.0.0.0/8 private
    (0x6440_0000, 10), // 100.64.0.0/10 carrier-grade NAT
    (0x7F00_0000, 8),  // 127.0.0.0/8 loopback
    (0xA9FE_0000, 16), // 169.254.0.0/16 link-local, cloud metadata
    (0xAC10_0000, 12), // 172.16.0.0/12 private
    (0xC000_0000, 24), // 192.0.0.0/24 IETF protocol assignments
    (0xC000_0200, 24), // 192.0.2.0/24 documentation
    (0xC058_6300, 24), // 192.88.99.0/24 deprecated 6to4 relays
    (0xC0A8_0000, 16), // 192.168.0.0/16 private
    (0xC612_0000, 15), // 198.18.0.0/15 benchmarking
    (0xC633_6400, 24), // 198.51.100.0/24 documentation
    (0xCB00_7100, 24), // 203.0.113.0/24 documentation
    (0xE000_0000, 4),  // 224.0.0.0/4 multicast
    (0xF000_0000, 4),  // 240.0.0.0/4 reserved, and 255.255.255.255 broadcast
];

/// Global unicast IPv6 is 2000::/3; these parts of it are not public.
const NON_PUBLIC_V6_GLOBAL: &[(u128, u8)] = &[
    (0x2001_0000_u128 << 96, 23), // 2001::/23 IETF protocol assignments (Teredo, benchmarking, ORCHID)
    (0x2001_0db8_u128 << 96, 32), // 2001:db8::/32 documentation
    (0x3fff_0000_u128 << 96, 20), // 3fff::/20 documentation
];

/// Whether `ip` is on the public internet. IPv6 is judged by an allow rule
/// (global unicast minus special ranges), so loopback, unspecified, ULA
/// fc00::/7, link-local fe80::/10, site-local fec0::/10 and multicast are out;
/// mapped, compatible, NAT64 and 6to4 forms are judged by their IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_ipv4(v6) {
            Some(v4) => is_public_v4(v4),
            None => {
                let bits = u128::from(v6);
                in_range(bits, 0x2000_u128 << 112, 3, 128)
                    && !NON_PUBLIC_V6_GLOBAL.iter().any(|&(net, prefix)| in_range(bits, net, prefix, 128))
            }
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let bits = u128::from(u32::from(ip));
    !NON_PUBLIC_V4.iter().any(|&(net, prefix)| in_range(bits, u128::from(net), prefix, 32))
}

/// The IPv4 address inside an IPv6 form that carries one to an IPv4 host.
fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    // ::ffff:0:0/96 mapped, ::/96 compatible (:: and ::1 too, which come out as
    // 0.0.0.x and so stay non-public), 64:ff9b::/96 NAT64: the low 32 bits.
    let low_32_bits = [0xffff_u128 << 32, 0, 0x0064_ff9b_u128 << 96];
    if low_32_bits.iter().any(|&network| in_range(bits, network, 96, 128)) {
        return Some(Ipv4Addr::from(bits as u32));
    }
    // 6to4, 2002:AABB:CCDD::/48: the 32 bits after the prefix.
    in_range(bits, 0x2002_u128 << 112, 16, 128).then(|| Ipv4Addr::from((bits >> 80) as u32))
}

/// An IPv4-mapped IPv6 address as its IPv4 address; anything else unchanged.
pub(super) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

fn in_range(bits: u128, network: u128, prefix: u8, width: u8) -> bool {
    bits & mask(width, prefix) == network & mask(width, prefix)
}

fn address_width(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The `prefix` leading bits of a `width`-bit address, as a mask.
fn mask(width: u8, prefix: u8) -> u128 {
    let all = if width == 128 { u128::MAX } else { (1u128 << width) - 1 };
    match prefix {
        0 => 0,
        p if p >= width => all,
        p => all & !(all >> p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    #[test]
    fn networks_parse_with_prefix_or_as_a_bare_address() {
        let networks: AllowedNetworks = "127.0.0.0/8, ::1/128,10.1.2.3,fd00::1".parse().unwrap();
        assert_eq!(networks.to_string(), "127.0.0.0/8,::1/128,10.1.2.3/32,fd00::1/128");
        assert!(networks.contains(ip("127.255.0.1")));
        assert!(networks.contains(ip("::1")));
        assert!(networks.contains(ip("10.1.2.3")));
        assert!(!networks.contains(ip("10.1.2.4")));
        assert!(networks.contains(ip("fd00::1")));
        assert!(!networks.contains(ip("fd00::2")));
        assert!(!networks.contains(ip("128.0.0.1")));
        assert!(!networks.contains(ip("::2")));
    }

    #[test]
    fn ipv4_mapped_addresses_match_ipv4_networks() {
        let networks: AllowedNetworks = "127.0.0.0/8".parse().unwrap();
        assert!(networks.contains(ip("::ffff:127.0.0.1")));
        assert!(!networks.contains(ip("::ffff:10.0.0.1")));
        assert!(!networks.contains(ip("::127.0.0.1")), "IPv4-compatible is not mapped");
        let mapped: AllowedNetworks = "::ffff:10.0.0.0/104".parse().unwrap();
        assert_eq!(mapped.to_string(), "10.0.0.0/8");
        assert!(mapped.contains(ip("10.9.9.9")));
    }

    #[test]
    fn zero_prefixes_cover_one_family() {
        let networks: AllowedNetworks = "0.0.0.0/0".parse().unwrap();
        assert!(networks.contains(ip("8.8.8.8")));
        assert!(networks.contains(ip("::ffff:8.8.8.8")));
        assert!(!networks.contains(ip("2001:4860::8888")));
        let v6: AllowedNetworks = "::/0".parse().unwrap();
        assert!(v6.contains(ip("2001:4860::8888")));
        assert!(!v6.contains(ip("8.8.8.8")));
    }

    #[test]
    fn malformed_networks_are_refused_with_a_reason() {
        for (raw, expected) in [
            ("", "at least one network"),
            ("127.0.0.0/8,,::1", "empty entry"),
            ("localhost", "not an IP address"),
            ("127.0.0/8", "not an IP address"),
            ("127.0.0.0/33", "longer than the 32 bits"),
            ("::/129", "longer than the 128 bits"),
            ("127.0.0.0/", "not a prefix length"),
            ("127.0.0.0/+8", "not a prefix length"),
            ("127.0.0.0/eight", "not a prefix length"),
            ("10.0.0.1/8", "did you mean 10.0.0.0/8"),
            ("fe80::1/10", "did you mean fe80::/10"),
        ] {
            let error = raw.parse::<AllowedNetworks>().unwrap_err();
            assert!(error.contains(expected), "{raw:?}: {error}");
        }
    }

    #[test]
    fn special_ipv4_ranges_are_not_public() {
        for raw in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!is_public(ip(raw)), "{raw} must not be public");
        }
    }

    #[test]
    fn ordinary_addresses_are_public() {
        for raw in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.169.0.1",
            "223.255.255.255",
            "2001:4860:4860::8888",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip(raw)), "{raw} must be public");
        }
    }

    #[test]
    fn special_ipv6_ranges_are_not_public() {
        for raw in [
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
            "2001:db8::1",
            "2001::1",
            "2001:2::1",
            "3fff::1",
            "100::1",
            "64:ff9b:1::1",
            "::ffff:0:7f00:1",
            "1000::1",
        ] {
            assert!(!is_public(ip(raw)), "{raw} must not be public");
        }
    }

    #[test]
    fn ipv6_forms_of_private_ipv4_are_not_public() {
        for raw in [
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "2002:a9fe:a9fe:1::1",
        ] {
            assert!(!is_public(ip(raw)), "{raw} must not be public");
        }
    }
}
