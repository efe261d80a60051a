//! Messages composed in place around data read straight into the output queue: the
//! `+IPD` header, the socket's bytes and the trailing `\r\n` are written once, where the
//! host will read them, with no intermediate buffer.
//!
//! The data goes after room for the longest header the message could have (the length's
//! digits and the sender's address are known only after the read); when the real header
//! is shorter, the data moves down by the difference, usually a few bytes.

use core::net::{IpAddr, Ipv6Addr, SocketAddr};

use at_core::command::Sink;
use at_core::response::QueueFull;
use at_core::text::Text;

/// Longest header of any message composed here.
pub const HEADER_MAX: usize = 80;

/// The longest address a header may name: for estimating, never for sending.
pub const WIDEST_ADDR: SocketAddr = SocketAddr::new(
    IpAddr::V6(Ipv6Addr::new(
        0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
    )),
    65535,
);

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
/// header `header(n, from)` and `trailer`, and queues the whole message. `guess` is the
/// sender if known, else [`WIDEST_ADDR`]: the header for `guess` and `limit` must be at
/// least as long as the real one. A read of 0 bytes queues nothing unless `keep_empty`.
pub(crate) fn read_framed<E>(
    out: &mut dyn Sink,
    limit: usize,
    trailer: &[u8],
    guess: SocketAddr,
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
        guess,
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

/// [`read_framed`] without its generics: `None` when the queue lacks room or `read`
/// failed (`read` returned `None`).
fn frame(
    out: &mut dyn Sink,
    limit: usize,
    trailer: &[u8],
    guess: SocketAddr,
    header: &dyn Fn(usize, SocketAddr, &mut Text<'_>),
    keep_empty: bool,
    read: &mut dyn FnMut(&mut [u8]) -> Option<Received>,
) -> Option<Received> {
    let mut buf = [0u8; HEADER_MAX];
    let mut estimate = Text::new(&mut buf);
    header(limit, guess, &mut estimate);
    if estimate.overflowed() {
        return None;
    }
    let room = estimate.len();
    let tail = out.tail(room + limit + trailer.len()).ok()?;
    let (n, from) = read(&mut tail[room..room + limit])?;
    let n = n.min(limit);
    if n == 0 && !keep_empty {
        return Some((0, from));
    }
    let mut real = Text::new(&mut buf);
    header(n, from, &mut real);
    let hl = real.len();
    if hl > room || real.overflowed() {
        // The guess was not an upper bound: refuse rather than overwrite the data.
        return None;
    }
    tail.copy_within(room..room + n, hl);
    tail[..hl].copy_from_slice(real.as_bytes());
    tail[hl + n..hl + n + trailer.len()].copy_from_slice(trailer);
    out.commit(hl + n + trailer.len());
    Some((n, from))
}
