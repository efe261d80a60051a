//! Address literals in command parameters (`"192.168.10.110"`, `"fe80::1"`).
//!
//! Every `AT+CIPSTART` passes its remote host through here before any name lookup, so
//! dotted-quad IPv4, by far the most common form, is read straight from the parameter's
//! bytes in one pass. It accepts exactly what `core::net::Ipv4Addr`'s parser accepts
//! (four decimal octets of at most 255, no leading zeros, nothing else; a test checks
//! the two agree), and everything else, IPv6 included, goes to `core::net`'s parser.

use core::net::{IpAddr, Ipv4Addr};
use core::str::FromStr;

/// A dotted-quad IPv4 literal, or `None` when `text` is anything else.
pub fn ipv4_literal(text: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut rest = text;
    for (i, octet) in octets.iter_mut().enumerate() {
        if i > 0 {
            rest = rest.strip_prefix(b".")?;
        }
        let mut value = u16::from(digit(rest.first())?);
        let mut len = 1;
        // Up to three digits; a leading zero stands alone.
        if value != 0 {
            while len < 3 {
                let Some(d) = digit(rest.get(len)) else { break };
                value = value * 10 + u16::from(d);
                len += 1;
            }
        }
        *octet = u8::try_from(value).ok()?;
        rest = &rest[len..];
    }
    rest.is_empty().then_some(Ipv4Addr::from(octets))
}

fn digit(b: Option<&u8>) -> Option<u8> {
    let d = b?.wrapping_sub(b'0');
    (d < 10).then_some(d)
}

/// An IPv4 or IPv6 address literal, as `core::net::IpAddr` parses it; `None` when `text`
/// is not one (a host name, say).
pub fn ip_literal(text: &[u8]) -> Option<IpAddr> {
    if let Some(v4) = ipv4_literal(text) {
        return Some(IpAddr::V4(v4));
    }
    let text = core::str::from_utf8(text).ok()?;
    IpAddr::from_str(text).ok()
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
