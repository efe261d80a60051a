//! Byte trace of the AT port: owns the optional trace file of `at-modem`.
//!
//! Every chunk of bytes that crosses the AT port is written as one line, stamped
//! with the time since the modem started and the direction:
//!
//! ```text
//! +0.012345 H>M "AT\r\n"
//! +0.012400 M>H "\r\nOK\r\n"
//! ```
//!
//! `H>M` is host to modem, `M>H` modem to host. Bytes are escaped so that a line
//! is always printable ASCII: `\r`, `\n`, `\t`, `\\` and `\"` for those five
//! bytes, the byte itself for the other printable ASCII characters, and `\xNN`
//! (two lower-case hex digits) for everything else. Each line is flushed as soon
//! as it is written, so the trace is complete up to the last chunk even if the
//! modem is killed.
//!
//! Tracing must never stop the modem: the first error writing the trace is logged
//! (through the `log` crate) and every later one is silently ignored.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Direction marker of host-to-modem lines.
const HOST_TO_MODEM: &str = "H>M";
/// Direction marker of modem-to-host lines.
const MODEM_TO_HOST: &str = "M>H";

/// A trace file of the bytes exchanged on the AT port.
#[derive(Debug)]
pub struct Trace {
    out: BufWriter<File>,
    path: PathBuf,
    /// Set once a write or flush failed; the failure has been logged then.
    failed: bool,
    /// Reused line buffer.
    line: String,
}

impl Trace {
    /// Creates (or truncates) the trace file at `path`.
    pub fn create(path: &Path) -> io::Result<Trace> {
        let file = File::create(path)?;
        Ok(Trace {
            out: BufWriter::new(file),
            path: path.to_path_buf(),
            failed: false,
            line: String::new(),
        })
    }

    /// The path the trace is written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records `bytes` received from the host, `at` the time since the modem started.
    /// An empty chunk writes nothing.
    pub fn host_to_modem(&mut self, at: Duration, bytes: &[u8]) {
        self.record(at, HOST_TO_MODEM, bytes);
    }

    /// Records `bytes` sent to the host, `at` the time since the modem started.
    /// An empty chunk writes nothing.
    pub fn modem_to_host(&mut self, at: Duration, bytes: &[u8]) {
        self.record(at, MODEM_TO_HOST, bytes);
    }

    fn record(&mut self, at: Duration, direction: &str, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.line.clear();
        // Writing into a String cannot fail.
        let _ = write!(
            self.line,
            "+{}.{:06} {} \"",
            at.as_secs(),
            at.subsec_micros(),
            direction
        );
        escape_into(&mut self.line, bytes);
        self.line.push_str("\"\n");
        let result = self
            .out
            .write_all(self.line.as_bytes())
            .and_then(|()| self.out.flush());
        if let Err(err) = result {
            if !self.failed {
                self.failed = true;
                log::warn!(
                    "writing the trace file {} failed: {err}; further trace errors are ignored",
                    self.path.display()
                );
            }
        }
    }
}

/// Returns `bytes` escaped the way the trace writes them (without the quotes).
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    escape_into(&mut out, bytes);
    out
}

fn escape_into(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                // Writing into a String cannot fail.
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_stamped_escaped_and_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trace.txt");
        let mut trace = Trace::create(&path).unwrap();
        trace.host_to_modem(Duration::from_micros(12_345), b"AT\r\n");
        // Flushed per line: visible before the trace is dropped.
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "+0.012345 H>M \"AT\\r\\n\"\n"
        );
        trace.modem_to_host(Duration::from_micros(12_400), b"\r\nOK\r\n");
        trace.modem_to_host(Duration::from_secs(3), b"");
        trace.host_to_modem(Duration::new(61, 999_999_999), b"a\"b\\c\td\x00\x7f\xff");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "+0.012345 H>M \"AT\\r\\n\"\n\
             +0.012400 M>H \"\\r\\nOK\\r\\n\"\n\
             +61.999999 H>M \"a\\\"b\\\\c\\td\\x00\\x7f\\xff\"\n"
        );
        assert_eq!(trace.path(), path);
    }

    #[test]
    fn escaping_covers_every_byte() {
        let all: Vec<u8> = (0..=255u8).collect();
        let escaped = escape(&all);
        assert!(escaped.bytes().all(|b| (0x20..=0x7e).contains(&b)));
        // Decode it back and compare.
        let mut decoded = Vec::new();
        let mut it = escaped.bytes();
        while let Some(b) = it.next() {
            if b != b'\\' {
                decoded.push(b);
                continue;
            }
            match it.next().unwrap() {
                b'r' => decoded.push(b'\r'),
                b'n' => decoded.push(b'\n'),
                b't' => decoded.push(b'\t'),
                b'\\' => decoded.push(b'\\'),
                b'"' => decoded.push(b'"'),
                b'x' => {
                    let hex = [it.next().unwrap(), it.next().unwrap()];
                    let hex = std::str::from_utf8(&hex).unwrap();
                    decoded.push(u8::from_str_radix(hex, 16).unwrap());
                }
                other => panic!("unexpected escape {other}"),
            }
        }
        assert_eq!(decoded, all);
        assert_eq!(escape(b"\x01\x1b[A"), "\\x01\\x1b[A");
    }

    #[test]
    fn write_errors_are_swallowed() {
        // Every write to /dev/full fails with ENOSPC.
        let mut trace = Trace::create(Path::new("/dev/full")).unwrap();
        trace.host_to_modem(Duration::ZERO, b"AT\r\n");
        assert!(trace.failed);
        trace.modem_to_host(Duration::ZERO, b"OK");
        assert!(trace.failed);
    }
}
