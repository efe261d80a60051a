//! Messages composed in place around data read straight into the output queue: the
//! `+IPD` header, the socket's bytes and the trailing `\r\n` are written once, where the
//! host will read them, with no intermediate buffer.
//!
//! The data goes after room for the longest header any message can have
//! ([`HEADER_MAX`]): the header's length and sender are known only after the read. The
//! header is composed once, after a read that returned data, and the data moves down to
//! follow it. A read that returns nothing costs no header at all: that is most reads
//! where the stack cannot report readiness (lwIP on the W800, polled every few
//! milliseconds).

use at_core::command::Sink;
use at_core::response::QueueFull;
use at_core::text::Text;
use core::net::SocketAddr;

/// Longest header of any message composed here; the output queue must have this much
/// room beyond the data and trailer for a read to run.
pub const HEADER_MAX: usize = 80;

/// What a read took: the number of bytes and their sender.
pub(crate) type Received = (usize, SocketAddr);

/// Why a framed read queued nothing.
pub(crate) enum Framing<E> {
    /// Not enough room in the output queue.
    Full,
    /// The read failed (or had nothing).
    Read(E),
}

impl<E> From<QueueFull> for Framing<E> {
    fn from(_: QueueFull) -> Self {
        Framing::Full
    }
}

/// Reads up to `limit` bytes with `read` straight into the output queue, between the
/// header `header(n, from)` and `trailer`, and queues the whole message; the queue needs
/// room for [`HEADER_MAX`] + `limit` + `trailer`. A read of 0 bytes queues nothing
/// unless `keep_empty`.
pub(crate) fn read_framed<E>(
    out: &mut dyn Sink,
    limit: usize,
    trailer: &[u8],
    header: impl Fn(usize, SocketAddr, &mut Text<'_>),
    keep_empty: bool,
    read: impl FnOnce(&mut [u8]) -> Result<Received, E>,
) -> Result<Received, Framing<E>> {
    // The framing itself is not generic: one copy serves every kind of read.
    let mut read = Some(read);
    let mut error = None;
    let framed = frame(
        out,
        limit,
        trailer,
        &header,
        keep_empty,
        &mut |buf| match read.take().map(|read| read(buf)) {
            Some(Ok(got)) => Some(got),
            Some(Err(e)) => {
                error = Some(e);
                None
            }
            None => None,
        },
    );
    match (framed, error) {
        (Some(got), _) => Ok(got),
        (None, Some(e)) => Err(Framing::Read(e)),
        (None, None) => Err(Framing::Full),
    }
}

/// [`read_framed`] without its generics: `None` when the queue lacks room, `read`
/// failed (`read` returned `None`) or the header outgrew [`HEADER_MAX`].
fn frame(
    out: &mut dyn Sink,
    limit: usize,
    trailer: &[u8],
    header: &dyn Fn(usize, SocketAddr, &mut Text<'_>),
    keep_empty: bool,
    read: &mut dyn FnMut(&mut [u8]) -> Option<Received>,
) -> Option<Received> {
    let tail = out.tail(HEADER_MAX + limit + trailer.len()).ok()?;
    let (n, from) = read(&mut tail[HEADER_MAX..HEADER_MAX + limit])?;
    let n = n.min(limit);
    if n == 0 && !keep_empty {
        return Some((0, from));
    }
    let mut buf = [0u8; HEADER_MAX];
    let mut text = Text::new(&mut buf);
    header(n, from, &mut text);
    if text.overflowed() {
        // Refuse rather than send a truncated header. Not reached by the headers of this
        // crate (the widest, `+CIPRECVDATA` with a full IPv6 sender, is 66 bytes); a
        // header that did reach it would lose this read's bytes.
        return None;
    }
    let hl = text.len();
    tail.copy_within(HEADER_MAX..HEADER_MAX + n, hl);
    tail[..hl].copy_from_slice(text.as_bytes());
    tail[hl + n..hl + n + trailer.len()].copy_from_slice(trailer);
    out.commit(hl + n + trailer.len());
    Some((n, from))
}

#[cfg(test)]
mod test {
    use super::*;
    use at_core::response::OutQueue;
    use core::cell::Cell;
    use core::net::{IpAddr, Ipv6Addr};

    fn ipd(n: usize, from: SocketAddr, h: &mut Text<'_>) {
        h.str("\r\n+IPD,4,")
            .put(n)
            .str(",\"")
            .ip(from.ip())
            .str("\",")
            .put(from.port())
            .str(":");
    }

    fn peer() -> SocketAddr {
        "192.168.4.10:80".parse().unwrap()
    }

    #[test]
    fn data_follows_its_header_and_the_trailer_follows_the_data() {
        let mut out = OutQueue::<256>::new();
        out.push(b"old").unwrap();
        let got = read_framed(&mut out, 16, b"\r\n", ipd, false, |buf| {
            buf[..5].copy_from_slice(b"hello");
            Ok::<_, ()>((5, peer()))
        });
        assert!(matches!(got, Ok((5, p)) if p == peer()));
        assert_eq!(
            out.pending(),
            b"old\r\n+IPD,4,5,\"192.168.4.10\",80:hello\r\n"
        );
    }

    #[test]
    fn an_empty_read_composes_no_header_and_queues_nothing() {
        let mut out = OutQueue::<256>::new();
        let headers = Cell::new(0);
        let header = |n: usize, from: SocketAddr, h: &mut Text<'_>| {
            headers.set(headers.get() + 1);
            ipd(n, from, h);
        };
        let got = read_framed(&mut out, 16, b"\r\n", header, false, |_| {
            Ok::<_, ()>((0, peer()))
        });
        assert!(matches!(got, Ok((0, _))));
        assert!(out.is_empty());
        assert_eq!(headers.get(), 0);
        // Kept when asked (`+CIPRECVDATA:0,`).
        let got = read_framed(&mut out, 16, b"", header, true, |_| {
            Ok::<_, ()>((0, peer()))
        });
        assert!(matches!(got, Ok((0, _))));
        assert_eq!(out.pending(), b"\r\n+IPD,4,0,\"192.168.4.10\",80:");
        assert_eq!(headers.get(), 1);
    }

    #[test]
    fn the_widest_header_fits_and_a_longer_one_is_refused_whole() {
        let widest = SocketAddr::new(IpAddr::V6(Ipv6Addr::from([0xffff; 8])), 65535);
        let mut out = OutQueue::<4096>::new();
        let got = read_framed(&mut out, 2048, b"\r\n", ipd, false, |buf| {
            buf[..2048].fill(b'x');
            Ok::<_, ()>((2048, widest))
        });
        assert!(got.is_ok());
        let header = "\r\n+IPD,4,2048,\"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff\",65535:";
        assert!(header.len() <= HEADER_MAX);
        assert_eq!(&out.pending()[..header.len()], header.as_bytes());
        assert_eq!(out.len(), header.len() + 2048 + 2);
        assert!(out.pending()[header.len()..header.len() + 2048]
            .iter()
            .all(|&b| b == b'x'));

        let mut out = OutQueue::<256>::new();
        let too_long = |_: usize, _: SocketAddr, h: &mut Text<'_>| {
            h.str(core::str::from_utf8(&[b'h'; HEADER_MAX + 1]).unwrap());
        };
        let got = read_framed(&mut out, 8, b"", too_long, false, |buf| {
            buf[0] = b'x';
            Ok::<_, ()>((1, peer()))
        });
        assert!(matches!(got, Err(Framing::Full)));
        assert!(out.is_empty());
    }

    #[test]
    fn without_room_for_the_longest_header_nothing_is_read() {
        let mut out = OutQueue::<{ HEADER_MAX + 16 + 1 }>::new();
        // One byte short of HEADER_MAX + 16 + 2.
        let got = read_framed(
            &mut out,
            16,
            b"\r\n",
            ipd,
            false,
            |_| -> Result<Received, ()> { panic!("read without room") },
        );
        assert!(matches!(got, Err(Framing::Full)));
        assert!(out.is_empty());
        // A read error reaches the caller.
        let mut out = OutQueue::<256>::new();
        let got = read_framed(&mut out, 16, b"\r\n", ipd, false, |_| Err::<Received, _>(7));
        assert!(matches!(got, Err(Framing::Read(7))));
        assert!(out.is_empty());
    }
}
