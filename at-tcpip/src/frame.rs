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
        // Refuse rather than send a truncated header.
        return None;
    }
    let hl = text.len();
    tail.copy_within(HEADER_MAX..HEADER_MAX + n, hl);
    tail[..hl].copy_from_slice(text.as_bytes());
    tail[hl + n..hl + n + trailer.len()].copy_from_slice(trailer);
    out.commit(hl + n + trailer.len());
    Some((n, from))
}
