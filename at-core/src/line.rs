//! Line assembly: turns serial input arriving in arbitrary chunks into command lines.
//!
//! A line ends with `\r\n`, a bare `\r` (V.250) or a bare `\n`. A `\n` that follows a
//! bare `\r` in a later chunk belongs to the same terminator and is swallowed, also when
//! the line opened a data phase (see [`LineAssembler::swallow_late_lf`]). A line longer
//! than the limit is not buffered: the assembler drops its bytes, reports
//! [`Assembled::Overflow`] at the next terminator and so resynchronises there.

/// What [`LineAssembler::push`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assembled {
    /// A whole line is in [`LineAssembler::line`].
    Line,
    /// A line exceeded the limit; its bytes were dropped up to the terminator.
    Overflow,
}

/// Assembles lines of at most `LINE - 2` bytes (`LINE` counts the `\r\n`).
// `repr(C)` with the buffer last (code size): see `Engine`'s layout note.
#[derive(Clone, Debug)]
#[repr(C)]
pub struct LineAssembler<const LINE: usize> {
    len: usize,
    overflow: bool,
    /// The last terminator was a bare `\r` at the end of a chunk: a `\n` may follow.
    late_lf: bool,
    buf: [u8; LINE],
}

impl<const LINE: usize> Default for LineAssembler<LINE> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const LINE: usize> LineAssembler<LINE> {
    /// Longest line content, without its terminator.
    pub const MAX_CONTENT: usize = LINE.saturating_sub(2);

    /// An empty assembler.
    pub const fn new() -> Self {
        LineAssembler {
            buf: [0; LINE],
            len: 0,
            overflow: false,
            late_lf: false,
        }
    }

    /// Consumes input up to and including the first line terminator.
    ///
    /// Returns how many bytes were consumed and, when a terminator was reached, what was
    /// assembled. The caller handles the line, calls [`clear`](Self::clear), and pushes
    /// the rest of its input.
    pub fn push(&mut self, input: &[u8]) -> (usize, Option<Assembled>) {
        let skip = self.swallow_late_lf(input);
        let input = &input[skip..];
        match memchr::memchr2(b'\r', b'\n', input) {
            None => {
                self.append(input);
                (skip + input.len(), None)
            }
            Some(end) => {
                self.append(&input[..end]);
                let mut consumed = end + 1;
                if input[end] == b'\r' {
                    match input.get(end + 1) {
                        Some(b'\n') => consumed += 1,
                        Some(_) => {}
                        None => self.late_lf = true,
                    }
                }
                let event = if self.overflow {
                    Assembled::Overflow
                } else {
                    Assembled::Line
                };
                (skip + consumed, Some(event))
            }
        }
    }

    /// After a line ended with a bare `\r` at the end of a chunk, a `\n` starting the next
    /// chunk is part of that terminator. Returns 1 when `input` starts with such a `\n`
    /// (the caller skips it), 0 otherwise; either way the expectation ends here.
    /// Call it on the first bytes after a line, whatever mode they are read in.
    pub fn swallow_late_lf(&mut self, input: &[u8]) -> usize {
        match input.first() {
            None => 0,
            Some(&b) => {
                let late = core::mem::replace(&mut self.late_lf, false);
                usize::from(late && b == b'\n')
            }
        }
    }

    /// The assembled line, without its terminator.
    pub fn line(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Mutable access to the assembled line (the parser unescapes in place).
    pub fn line_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.len]
    }

    /// Bytes of the current, unterminated line held so far.
    pub fn partial_len(&self) -> usize {
        self.len
    }

    /// Forgets the current line; the late-`\n` expectation is kept.
    pub fn clear(&mut self) {
        self.len = 0;
        self.overflow = false;
    }

    /// Forgets everything, including the late-`\n` expectation.
    pub fn reset(&mut self) {
        self.clear();
        self.late_lf = false;
    }

    fn append(&mut self, bytes: &[u8]) {
        if self.overflow {
            return;
        }
        let end = self.len + bytes.len();
        if end > Self::MAX_CONTENT {
            self.overflow = true;
            self.len = 0;
        } else {
            self.buf[self.len..end].copy_from_slice(bytes);
            self.len = end;
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn lines(chunks: &[&[u8]]) -> heapless::Vec<(heapless::Vec<u8, 256>, Assembled), 8> {
        let mut asm = LineAssembler::<256>::new();
        let mut out = heapless::Vec::new();
        for chunk in chunks {
            let mut rest = *chunk;
            while !rest.is_empty() {
                let (n, ev) = asm.push(rest);
                rest = &rest[n..];
                if let Some(ev) = ev {
                    out.push((heapless::Vec::from_slice(asm.line()).unwrap(), ev))
                        .unwrap();
                    asm.clear();
                }
            }
        }
        out
    }

    #[test]
    fn crlf_cr_and_lf_terminate() {
        let got = lines(&[b"AT\r\nATE0\rAT+GMR\n"]);
        let names: heapless::Vec<&[u8], 8> = got.iter().map(|(l, _)| &l[..]).collect();
        assert_eq!(&names[..], &[&b"AT"[..], b"ATE0", b"AT+GMR"]);
    }

    #[test]
    fn split_anywhere() {
        let got = lines(&[b"A", b"T", b"+RS", b"T\r", b"\n", b"AT\r\n"]);
        assert_eq!(got.len(), 2);
        assert_eq!(&got[0].0[..], b"AT+RST");
        assert_eq!(&got[1].0[..], b"AT");
    }

    #[test]
    fn late_lf_after_bare_cr_is_swallowed() {
        // "AT\r" then "\nAT\r\n": the "\n" is part of the first terminator, no empty line.
        let got = lines(&[b"AT\r", b"\nAT\r\n"]);
        assert_eq!(got.len(), 2);
        assert_eq!(&got[1].0[..], b"AT");
    }

    #[test]
    fn late_lf_only_right_after_the_line() {
        let mut asm = LineAssembler::<256>::new();
        assert_eq!(asm.push(b"AT\r"), (3, Some(Assembled::Line)));
        asm.clear();
        assert_eq!(asm.swallow_late_lf(b"x"), 0);
        assert_eq!(asm.swallow_late_lf(b"\n"), 0, "expectation ended");
    }

    #[test]
    fn overflow_reports_at_terminator_and_resyncs() {
        let long = [b'A'; 300];
        let got = lines(&[&long, b"\r\nAT\r\n"]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1, Assembled::Overflow);
        assert!(got[0].0.is_empty());
        assert_eq!((&got[1].0[..], got[1].1), (&b"AT"[..], Assembled::Line));
    }

    #[test]
    fn limit_counts_the_terminator() {
        let mut line = [b'A'; 254];
        line[..2].copy_from_slice(b"AT");
        assert_eq!(lines(&[&line, b"\r\n"])[0].1, Assembled::Line);
        let line = [b'A'; 255];
        assert_eq!(lines(&[&line, b"\r\n"])[0].1, Assembled::Overflow);
    }
}
