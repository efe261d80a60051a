//! Address literals in command parameters (`"192.168.10.110"`, `"fe80::1"`).
//!
//! Every `AT+CIPSTART` passes its remote host through here before any name lookup, so
//! dotted-quad IPv4, by far the most common form, is read straight from the parameter's
//! bytes in one pass. It accepts exactly what `core::net::Ipv4Addr`'s parser accepts
//! (four decimal octets of at most 255, no leading zeros, nothing else; a test checks
//! the two agree), and everything else, IPv6 included, goes to `core::net`'s parser.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

/// A dotted-quad IPv4 literal, or `None` when `text` is anything else.
pub fn ipv4_literal(text: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut octet = 0;
    // The current octet's value and digit count.
    let mut value: u16 = 0;
    let mut digits = 0;
    for &b in text {
        if b == b'.' && digits > 0 && octet < 3 {
            octets[octet] = u8::try_from(value).ok()?;
            octet += 1;
            value = 0;
            digits = 0;
            continue;
        }
        let d = b.wrapping_sub(b'0');
        // A digit; at most three, and no leading zero.
        if d > 9 || digits == 3 || (digits == 1 && value == 0) {
            return None;
        }
        value = value * 10 + u16::from(d);
        digits += 1;
    }
    if octet != 3 || digits == 0 {
        return None;
    }
    octets[3] = u8::try_from(value).ok()?;
    Some(Ipv4Addr::from(octets))
}

/// An IPv4 or IPv6 address literal, as `core::net::IpAddr` parses it; `None` when `text`
/// is not one (a host name, say).
pub fn ip_literal(text: &[u8]) -> Option<IpAddr> {
    if let Some(v4) = ipv4_literal(text) {
        return Some(IpAddr::V4(v4));
    }
    // `core::net` tries IPv4 first too, and the dotted-quad reader above accepts
    // exactly what it does: only IPv6 is left.
    let text = core::str::from_utf8(text).ok()?;
    Ipv6Addr::from_str(text).ok().map(IpAddr::V6)
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;

    extern crate std;
    use std::format;
    use std::string::String;

    fn core_v4(text: &[u8]) -> Option<Ipv4Addr> {
        core::str::from_utf8(text).ok()?.parse().ok()
    }

    #[test]
    fn the_forms_core_accepts_and_rejects() {
        for ok in ["0.0.0.0", "192.168.10.110", "255.255.255.255", "1.2.3.4"] {
            assert_eq!(ipv4_literal(ok.as_bytes()), core_v4(ok.as_bytes()), "{ok}");
            assert!(ipv4_literal(ok.as_bytes()).is_some(), "{ok}");
        }
        for bad in [
            "",
            "1.2.3",
            "1.2.3.4.",
            "1.2.3.4.5",
            "01.2.3.4",
            "1.2.3.00",
            "256.1.1.1",
            "1.2.3.1000",
            "+1.2.3.4",
            "1.2.3.4 ",
            " 1.2.3.4",
            "1..3.4",
            "a.b.c.d",
            "::1",
            "999.1.1.1",
        ] {
            assert_eq!(ipv4_literal(bad.as_bytes()), None, "{bad}");
            assert_eq!(core_v4(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(ip_literal(b"fe80::1"), Some("fe80::1".parse().unwrap()));
        assert_eq!(ip_literal(b"10.0.0.1"), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(ip_literal(b"example.com"), None);
        assert_eq!(ip_literal(b"\xff\xfe"), None);
    }

    proptest! {
        #[test]
        fn agrees_with_core_on_address_like_text(text in "[0-9.]{0,20}") {
            prop_assert_eq!(ipv4_literal(text.as_bytes()), core_v4(text.as_bytes()));
        }

        #[test]
        fn agrees_with_core_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
            prop_assert_eq!(ipv4_literal(&bytes), core_v4(&bytes));
            let core_ip = core::str::from_utf8(&bytes).ok().and_then(|t| t.parse::<IpAddr>().ok());
            prop_assert_eq!(ip_literal(&bytes), core_ip);
        }

        #[test]
        fn reads_every_rendered_address(octets in any::<[u8; 4]>()) {
            let text: String = format!("{}", Ipv4Addr::from(octets));
            prop_assert_eq!(ipv4_literal(text.as_bytes()), Some(Ipv4Addr::from(octets)));
        }
    }
}
