//! Response text without `core::fmt`: [`Text`] composes a message from strings, decimal
//! numbers, hexadecimal, IP and MAC addresses, either in the output queue's free space
//! (from [`Sink::compose`](crate::command::Sink::compose), queued all at once or not at
//! all) or in a buffer of the caller's.
//!
//! Every piece prints exactly as its `Display` (or the `{:x}`-style format named on the
//! method) would, so a response reads the same as it did with `format_args!`, while the
//! firmware links none of the formatting machinery: a message is a chain of pieces,
//!
//! ```
//! # use at_core::text::Text;
//! let mut buf = [0u8; 32];
//! let mut text = Text::new(&mut buf);
//! text.str("+CIPSTA:ip:\"").ip([192, 168, 4, 1].into()).str("\"");
//! assert_eq!(text.as_bytes(), b"+CIPSTA:ip:\"192.168.4.1\"");
//! ```

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::response::QueueFull;

/// A message being composed in a byte buffer.
///
/// Appends never fail on their own: a piece that does not fit marks the text as
/// overflowed (and is dropped), so a chain of pieces is checked once, at
/// [`commit`](Self::commit) or [`line`](Self::line), or with
/// [`overflowed`](Self::overflowed).
pub struct Text<'a> {
    buf: &'a mut [u8],
    len: usize,
    overflow: bool,
    /// Where the output queue counts its pending bytes, when composing in its free space.
    queue_end: Option<&'a mut usize>,
}

// The methods that do real work are `#[inline(never)]`: a response is a chain of calls,
// and each call is smaller than the piece's code inlined at every one of them.
impl<'a> Text<'a> {
    /// An empty text written into `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Text {
            buf,
            len: 0,
            overflow: false,
            queue_end: None,
        }
    }

    /// An empty text in `free`, the free space right after a queue's pending bytes; the
    /// queue's end (`*end`) moves past the text on [`commit`](Self::commit).
    pub(crate) fn queued(free: &'a mut [u8], end: &'a mut usize) -> Self {
        Text {
            buf: free,
            len: 0,
            overflow: false,
            queue_end: Some(end),
        }
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// How many bytes were written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when some piece did not fit (and was dropped).
    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    /// Queues the whole text, or, when some piece did not fit, nothing. A text in a
    /// buffer of the caller's only reports whether it fits.
    #[inline(never)]
    pub fn commit(&mut self) -> Result<(), QueueFull> {
        if self.overflow {
            return Err(QueueFull);
        }
        if let Some(end) = self.queue_end.take() {
            *end += self.len;
        }
        Ok(())
    }

    /// Ends the text with `\r\n` and [`commit`](Self::commit)s it: one response line.
    #[inline(never)]
    pub fn line(&mut self) -> Result<(), QueueFull> {
        self.bytes(b"\r\n").commit()
    }

    /// Appends `bytes` as they are.
    #[inline(never)]
    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        let end = self.len + bytes.len();
        match self.buf.get_mut(self.len..end) {
            Some(dst) if !self.overflow => {
                dst.copy_from_slice(bytes);
                self.len = end;
            }
            _ => self.overflow = true,
        }
        self
    }

    /// Appends `s`.
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    /// Appends `s` between double quotes: `"s"`.
    pub fn quoted(&mut self, s: &str) -> &mut Self {
        self.bytes(b"\"").str(s).bytes(b"\"")
    }

    /// Appends `piece` as its `Display` prints it (see [`Piece`]).
    pub fn put<T: Piece>(&mut self, piece: T) -> &mut Self {
        piece.put_into(self);
        self
    }

    /// Appends `n` in decimal, as `{}` prints an unsigned number.
    ///
    /// Numbers that fit 32 bits take 32-bit divisions only; larger ones are split into
    /// groups of four digits with 16-bit long division, so no 64-bit division is linked.
    #[inline(never)]
    pub fn u64(&mut self, mut n: u64) -> &mut Self {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        while n > u64::from(u32::MAX) {
            let (quotient, mut group) = div_rem_10k(n);
            for _ in 0..4 {
                i -= 1;
                digits[i] = b'0' + (group % 10) as u8;
                group /= 10;
            }
            n = quotient;
        }
        let mut n = n as u32;
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.bytes(&digits[i..])
    }

    /// Appends `n` in decimal, as `{}` prints it.
    pub fn u32(&mut self, n: u32) -> &mut Self {
        self.u64(u64::from(n))
    }

    /// Appends `n` in decimal with its sign, as `{}` prints a signed number.
    pub fn i64(&mut self, n: i64) -> &mut Self {
        if n < 0 {
            self.bytes(b"-");
        }
        self.u64(n.unsigned_abs())
    }

    /// Appends `n` in lowercase hexadecimal, zero-padded to at least `width` digits (at
    /// most 8): `{:0width$x}`, and width 1 is plain `{:x}`.
    #[inline(never)]
    pub fn hex(&mut self, n: u32, width: usize) -> &mut Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut digits = [b'0'; 8];
        let mut i = digits.len();
        let mut rest = n;
        while rest != 0 {
            i -= 1;
            digits[i] = DIGITS[(rest & 0xf) as usize];
            rest >>= 4;
        }
        let start = i.min(digits.len().saturating_sub(width.max(1)));
        self.bytes(&digits[start..])
    }

    /// Appends a MAC address as `aa:bb:cc:dd:ee:ff` (lowercase).
    #[inline(never)]
    pub fn mac(&mut self, mac: &[u8; 6]) -> &mut Self {
        for (i, &b) in mac.iter().enumerate() {
            if i > 0 {
                self.bytes(b":");
            }
            self.hex(u32::from(b), 2);
        }
        self
    }

    /// Appends an IPv4 address in dotted decimal, as its `Display` prints it.
    #[inline(never)]
    pub fn ipv4(&mut self, ip: Ipv4Addr) -> &mut Self {
        for (i, octet) in ip.octets().into_iter().enumerate() {
            if i > 0 {
                self.bytes(b".");
            }
            self.u32(u32::from(octet));
        }
        self
    }

    /// Appends an IPv6 address as its `Display` prints it: RFC 5952 text (lowercase, the
    /// first longest run of two or more zero groups as `::`), and an IPv4-mapped address
    /// as `::ffff:a.b.c.d`.
    #[inline(never)]
    pub fn ipv6(&mut self, ip: Ipv6Addr) -> &mut Self {
        let groups = ip.segments();
        if let [0, 0, 0, 0, 0, 0xffff, hi, lo] = groups {
            let [a, b] = hi.to_be_bytes();
            let [c, d] = lo.to_be_bytes();
            return self.str("::ffff:").ipv4(Ipv4Addr::new(a, b, c, d));
        }
        // The first longest run of zero groups: (start, length).
        let mut longest = (0, 0);
        let mut run = (0, 0);
        for (i, &g) in groups.iter().enumerate() {
            if g == 0 {
                if run.1 == 0 {
                    run.0 = i;
                }
                run.1 += 1;
                if run.1 > longest.1 {
                    longest = run;
                }
            } else {
                run.1 = 0;
            }
        }
        if longest.1 > 1 {
            let (head, rest) = groups.split_at(longest.0);
            let tail = rest.get(longest.1..).unwrap_or_default();
            self.hex_groups(head).str("::").hex_groups(tail)
        } else {
            self.hex_groups(&groups)
        }
    }

    /// Appends an IP address as its `Display` prints it.
    pub fn ip(&mut self, ip: IpAddr) -> &mut Self {
        match ip {
            IpAddr::V4(v4) => self.ipv4(v4),
            IpAddr::V6(v6) => self.ipv6(v6),
        }
    }

    /// Appends IPv6 groups in hexadecimal, separated by `:`.
    #[inline(never)]
    fn hex_groups(&mut self, groups: &[u16]) -> &mut Self {
        for (i, &g) in groups.iter().enumerate() {
            if i > 0 {
                self.bytes(b":");
            }
            self.hex(u32::from(g), 1);
        }
        self
    }
}

/// `core::fmt` output into a text (for [`OutQueue::push_fmt`](crate::response::OutQueue::push_fmt)
/// and vendor code): a piece that does not fit fails the write.
impl core::fmt::Write for Text<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        if self.str(s).overflow {
            Err(core::fmt::Error)
        } else {
            Ok(())
        }
    }
}

impl Text<'_> {
    /// Appends `args` formatted by `core::fmt` and [`commit`](Self::commit)s: all of it or
    /// nothing. The one place that links the formatting machinery (for
    /// `push_fmt` and vendor code).
    pub fn commit_fmt(mut self, args: core::fmt::Arguments<'_>) -> Result<(), QueueFull> {
        if core::fmt::write(&mut self, args).is_err() {
            return Err(QueueFull);
        }
        self.commit()
    }
}

/// `n / 10_000` and `n % 10_000` with 32-bit divisions: long division of `n`'s four
/// 16-bit groups (each step divides less than `10_000 << 16`, which fits 32 bits).
fn div_rem_10k(n: u64) -> (u64, u32) {
    let mut quotient = 0u64;
    let mut rem = 0u32;
    for shift in [48, 32, 16, 0] {
        let step = rem << 16 | (n >> shift) as u32 & 0xffff;
        quotient = quotient << 16 | u64::from(step / 10_000);
        rem = step % 10_000;
    }
    (quotient, rem)
}

/// A value [`Text::put`] can append, printed as its `Display` prints it: strings as they
/// are, integers in decimal, IP addresses as text.
pub trait Piece {
    /// Appends `self` to `text`.
    fn put_into(self, text: &mut Text<'_>);
}

impl Piece for &str {
    fn put_into(self, text: &mut Text<'_>) {
        text.str(self);
    }
}

impl Piece for &[u8] {
    fn put_into(self, text: &mut Text<'_>) {
        text.bytes(self);
    }
}

macro_rules! unsigned_piece {
    ($($t:ty),*) => {$(
        impl Piece for $t {
            fn put_into(self, text: &mut Text<'_>) {
                text.u64(self as u64);
            }
        }
    )*};
}
unsigned_piece!(u8, u16, u32, u64, usize);

macro_rules! signed_piece {
    ($($t:ty),*) => {$(
        impl Piece for $t {
            fn put_into(self, text: &mut Text<'_>) {
                text.i64(self as i64);
            }
        }
    )*};
}
signed_piece!(i8, i16, i32, i64, isize);

impl Piece for Ipv4Addr {
    fn put_into(self, text: &mut Text<'_>) {
        text.ipv4(self);
    }
}

impl Piece for Ipv6Addr {
    fn put_into(self, text: &mut Text<'_>) {
        text.ipv6(self);
    }
}

impl Piece for IpAddr {
    fn put_into(self, text: &mut Text<'_>) {
        text.ip(self);
    }
}

#[cfg(test)]
mod test {
    extern crate std;

    use std::string::ToString;

    use proptest::prelude::*;

    use super::*;
    use crate::response::OutQueue;

    fn text_of(f: impl FnOnce(&mut Text<'_>)) -> std::vec::Vec<u8> {
        let mut buf = [0u8; 128];
        let mut text = Text::new(&mut buf);
        f(&mut text);
        assert!(!text.overflowed());
        text.as_bytes().to_vec()
    }

    fn ipv6_text(ip: Ipv6Addr) -> std::string::String {
        std::string::String::from_utf8(text_of(|t| {
            t.ipv6(ip);
        }))
        .unwrap()
    }

    #[test]
    fn pieces_print_as_display_does() {
        let out = text_of(|t| {
            t.put("+X:")
                .put(0u8)
                .put(",")
                .put(255u8)
                .put(",")
                .put(-128i8)
                .put(",")
                .put(u16::MAX)
                .put(",")
                .put(i16::MIN)
                .put(",")
                .put(u32::MAX)
                .put(",")
                .put(i32::MIN)
                .put(",")
                .put(u64::MAX)
                .put(",")
                .put(i64::MIN)
                .put(",")
                .put(usize::MAX)
                .put(",")
                .put(&b"raw"[..]);
        });
        let expected = std::format!(
            "+X:0,255,-128,{},{},{},{},{},{},{},raw",
            u16::MAX,
            i16::MIN,
            u32::MAX,
            i32::MIN,
            u64::MAX,
            i64::MIN,
            usize::MAX
        );
        assert_eq!(out, expected.as_bytes());
    }

    #[test]
    fn decimal_around_the_32_bit_boundary() {
        for n in [
            0u64,
            9,
            10,
            9_999,
            10_000,
            u64::from(u32::MAX) - 1,
            u64::from(u32::MAX),
            u64::from(u32::MAX) + 1,
            10_000_000_000,
            99_999_999_999_999,
            100_000_000_000_000,
            u64::MAX - 1,
        ] {
            assert_eq!(
                text_of(|t| {
                    t.u64(n);
                }),
                n.to_string().as_bytes()
            );
        }
    }

    #[test]
    fn hex_and_mac() {
        assert_eq!(
            text_of(|t| {
                t.hex(0x0107_0000, 8);
            }),
            b"01070000"
        );
        assert_eq!(
            text_of(|t| {
                t.hex(0, 8);
            }),
            b"00000000"
        );
        assert_eq!(
            text_of(|t| {
                t.hex(0, 1);
            }),
            b"0"
        );
        assert_eq!(
            text_of(|t| {
                t.hex(0xabc, 1);
            }),
            b"abc"
        );
        assert_eq!(
            text_of(|t| {
                t.hex(0xdead_beef, 1);
            }),
            b"deadbeef"
        );
        assert_eq!(
            text_of(|t| {
                t.hex(0x7, 2);
            }),
            b"07"
        );
        assert_eq!(
            text_of(|t| {
                t.mac(&[0x00, 0x1a, 0xff, 0x0b, 0xc0, 0x01]);
            }),
            b"00:1a:ff:0b:c0:01"
        );
    }

    #[test]
    fn addresses_print_as_display_does() {
        for text in [
            "::",
            "::1",
            "1::",
            "::ffff:1.2.3.4",
            "::ffff:0.0.0.0",
            "::1.2.3.4",
            "::fffe:1.2.3.4",
            "64:ff9b::1.2.3.4",
            "fe80::1",
            "fe80::1:0:0:1",
            "1:0:0:1:0:0:0:1",
            "1:0:0:0:1:0:0:1",
            "1:0:1:0:1:0:1:0",
            "0:1:0:1:0:1:0:1",
            "2001:db8::ff00:42:8329",
            "2001:db8:0:0:1:0:0:1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "1:2:3:4:5:6:7:8",
            "0:0:1::",
        ] {
            let ip: Ipv6Addr = text.parse().unwrap();
            assert_eq!(ipv6_text(ip), ip.to_string(), "{text}");
        }
        for ip in ["0.0.0.0", "255.255.255.255", "192.168.4.1", "10.0.100.9"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(
                text_of(|t| {
                    t.put(ip);
                }),
                ip.to_string().as_bytes()
            );
        }
    }

    /// IPv6 groups drawn mostly from zero, so zero runs of every length and place occur.
    fn groups() -> impl Strategy<Value = [u16; 8]> {
        let group = prop_oneof![3 => Just(0u16), 1 => Just(0xffff), 2 => any::<u16>()];
        proptest::array::uniform8(group)
    }

    proptest! {
        #[test]
        fn ipv6_matches_core_display(g in groups()) {
            let ip = Ipv6Addr::new(g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]);
            prop_assert_eq!(ipv6_text(ip), ip.to_string());
        }

        #[test]
        fn any_ipv6_matches_core_display(bits in any::<u128>()) {
            let ip = Ipv6Addr::from(bits);
            prop_assert_eq!(ipv6_text(ip), ip.to_string());
        }

        #[test]
        fn ipv4_matches_core_display(bits in any::<u32>()) {
            let ip = Ipv4Addr::from(bits);
            prop_assert_eq!(text_of(|t| { t.ipv4(ip); }), ip.to_string().into_bytes());
        }

        #[test]
        fn numbers_match_core_display(u in any::<u64>(), i in any::<i64>(), v in any::<u32>()) {
            prop_assert_eq!(text_of(|t| { t.u64(u); }), u.to_string().into_bytes());
            prop_assert_eq!(text_of(|t| { t.i64(i); }), i.to_string().into_bytes());
            prop_assert_eq!(text_of(|t| { t.hex(v, 8); }), std::format!("{v:08x}").into_bytes());
            prop_assert_eq!(text_of(|t| { t.hex(v, 1); }), std::format!("{v:x}").into_bytes());
        }
    }

    #[test]
    fn a_piece_that_does_not_fit_overflows_the_text() {
        let mut buf = [0u8; 8];
        let mut text = Text::new(&mut buf);
        text.str("1234").u32(56789);
        assert!(text.overflowed());
        assert_eq!(text.as_bytes(), b"1234");
        // Later pieces are dropped too, even ones that would fit.
        text.str("5");
        assert_eq!(text.as_bytes(), b"1234");
        assert_eq!(text.commit(), Err(QueueFull));
    }

    #[test]
    fn queued_text_is_all_or_nothing() {
        let mut q = OutQueue::<16>::new();
        q.push(b"abcdef").unwrap();
        // Does not fit: nothing is queued.
        assert_eq!(
            q.compose().str("+LONG:").u32(1_234_567).line(),
            Err(QueueFull)
        );
        assert_eq!(q.pending(), b"abcdef");
        // Uncommitted: nothing is queued either.
        q.compose().str("+X");
        assert_eq!(q.pending(), b"abcdef");
        q.compose().str("+N:").u32(42).line().unwrap();
        assert_eq!(q.pending(), b"abcdef+N:42\r\n");
        // Space freed at the front is reclaimed, as for every other append.
        q.consume(6);
        q.compose().str("012345678").commit().unwrap();
        assert_eq!(q.pending(), b"+N:42\r\n012345678");
        assert_eq!(q.free(), 0);
        assert_eq!(q.compose().str("").commit(), Ok(()));
        assert_eq!(q.compose().str("x").commit(), Err(QueueFull));
        assert_eq!(q.pending(), b"+N:42\r\n012345678");
    }

    #[test]
    fn exactly_full_fits() {
        let mut q = OutQueue::<8>::new();
        q.compose().str("+A:").u32(123).line().unwrap();
        assert_eq!(q.pending(), b"+A:123\r\n");
    }
}
