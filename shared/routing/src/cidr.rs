//! CIDR blocks for `source_ip` conditions, IPv4 and IPv6 (ALB: "The IP address must be
//! specified in CIDR format. You can use both IPv4 and IPv6 addresses.").

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address block: the network and a mask of its prefix bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cidr {
    V4 { network: u32, mask: u32 },
    V6 { network: u128, mask: u128 },
}

impl Cidr {
    /// Parses `address/prefix`. Only the canonical form is taken: a prefix in decimal without a
    /// sign or leading zero, and no address bits set beyond the prefix (`10.0.0.1/8` is refused
    /// rather than read as `10.0.0.0/8`: such a value is usually a typo for `/32`).
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let (address, prefix) =
            text.split_once('/').ok_or_else(|| format!("{text:?} is not in CIDR format (address/prefix)"))?;
        let canonical = !prefix.is_empty()
            && prefix.len() <= 3
            && prefix.bytes().all(|b| b.is_ascii_digit())
            && (prefix == "0" || !prefix.starts_with('0'));
        let prefix: u32 = match prefix.parse() {
            Ok(p) if canonical => p,
            _ => return Err(format!("{text:?}: {prefix:?} is not a prefix length")),
        };
        let address: IpAddr =
            address.parse().map_err(|_| format!("{text:?}: {address:?} is not an IPv4 or IPv6 address"))?;
        let cidr = match address {
            IpAddr::V4(a) => {
                if prefix > 32 {
                    return Err(format!("{text:?}: an IPv4 prefix is at most 32"));
                }
                let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
                Cidr::V4 { network: u32::from(a), mask }
            }
            IpAddr::V6(a) => {
                if prefix > 128 {
                    return Err(format!("{text:?}: an IPv6 prefix is at most 128"));
                }
                let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
                Cidr::V6 { network: u128::from(a), mask }
            }
        };
        let host_bits_clear = match cidr {
            Cidr::V4 { network, mask } => network & !mask == 0,
            Cidr::V6 { network, mask } => network & !mask == 0,
        };
        if !host_bits_clear {
            return Err(format!(
                "{text:?} has address bits set beyond its prefix; write the network ({})",
                cidr.network()
            ));
        }
        Ok(cidr)
    }

    fn network(&self) -> String {
        match *self {
            Cidr::V4 { network, mask } => format!("{}/{}", Ipv4Addr::from(network & mask), mask.count_ones()),
            Cidr::V6 { network, mask } => format!("{}/{}", Ipv6Addr::from(network & mask), mask.count_ones()),
        }
    }

    /// Whether `ip` is in the block. An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a
    /// dual-stack socket reports for an IPv4 client) is the IPv4 address it maps.
    #[inline]
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (*self, ip) {
            (Cidr::V4 { network, mask }, IpAddr::V4(a)) => u32::from(a) & mask == network,
            (Cidr::V4 { network, mask }, IpAddr::V6(a)) => {
                a.to_ipv4_mapped().is_some_and(|a| u32::from(a) & mask == network)
            }
            (Cidr::V6 { network, mask }, IpAddr::V6(a)) => u128::from(a) & mask == network,
            (Cidr::V6 { .. }, IpAddr::V4(_)) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_blocks_contain_their_addresses_only() {
        let block = Cidr::parse("192.0.2.0/24").unwrap();
        assert!(block.contains(ip("192.0.2.0")));
        assert!(block.contains(ip("192.0.2.255")));
        assert!(!block.contains(ip("192.0.3.0")));
        assert!(Cidr::parse("198.51.100.10/32").unwrap().contains(ip("198.51.100.10")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("203.0.113.9")));
    }

    #[test]
    fn ipv6_blocks_contain_their_addresses_only() {
        let block = Cidr::parse("2001:db8::/32").unwrap();
        assert!(block.contains(ip("2001:db8:1::7")));
        assert!(!block.contains(ip("2001:db9::1")));
        assert!(!block.contains(ip("192.0.2.1")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("::1")));
    }

    #[test]
    fn an_ipv4_mapped_client_matches_an_ipv4_block() {
        assert!(Cidr::parse("192.0.2.0/24").unwrap().contains(ip("::ffff:192.0.2.7")));
    }

    #[test]
    fn only_canonical_blocks_are_taken() {
        for bad in
            ["192.0.2.0", "192.0.2.0/33", "192.0.2.0/024", "192.0.2.0/+24", "192.0.2.1/24", "::1/129", "x/8", "/8", ""]
        {
            assert!(Cidr::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Cidr::parse("10.0.0.1/8").unwrap_err().contains("10.0.0.0/8"));
    }
}
