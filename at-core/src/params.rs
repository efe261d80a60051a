//! Typed access to parsed parameters. A command states each parameter's type, range and
//! maximum length once, where it reads it, and every violation becomes the matching
//! `ERR CODE`:
//!
//! ```
//! # use at_core::params::{Args, ArgError, Param};
//! fn cipsto(args: &Args<'_>) -> Result<u16, ArgError> {
//!     args.count(1, 1)?;
//!     Ok(args.int(0, 0..=7200)? as u16)
//! }
//! let mut args = Args::new();
//! args.push(Param::Int(7201)).unwrap();
//! assert!(cipsto(&args).is_err());
//! ```

use core::ops::RangeInclusive;

use crate::response::{ErrCode, ErrSub};

/// Most parameters one command line may carry.
pub const MAX_PARAMS: usize = 16;

/// One parsed parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param<'a> {
    /// An empty field: `AT+X=1,,3` has `Omitted` at index 1.
    Omitted,
    /// A decimal integer.
    Int(i64),
    /// A quoted string, unescaped.
    Str(&'a [u8]),
}

/// A parameter violated its declaration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgError {
    /// Fewer or more parameters than the command takes.
    Count {
        /// The most the command takes (the least, when too few were given).
        needed: u8,
        /// How many were given.
        given: u8,
    },
    /// A required parameter was left empty.
    Missing(u8),
    /// A string where an integer belongs, or the reverse.
    Type(u8),
    /// An integer out of its range, or a string that is not one of the allowed values.
    Invalid(u8),
    /// A string longer than allowed (or empty where it must not be).
    Length(u8),
}

impl From<ArgError> for ErrCode {
    fn from(e: ArgError) -> ErrCode {
        match e {
            ArgError::Count { needed, given } => ErrCode::new(
                ErrSub::ParamCount,
                u16::from(needed) << 8 | u16::from(given),
            ),
            ArgError::Missing(i) | ArgError::Invalid(i) => {
                ErrCode::new(ErrSub::ParamInvalid, i.into())
            }
            ArgError::Type(i) => ErrCode::new(ErrSub::ParamType, i.into()),
            ArgError::Length(i) => ErrCode::new(ErrSub::ParamLength, i.into()),
        }
    }
}

/// The parameters of one command line.
#[derive(Clone, Debug, Default)]
pub struct Args<'a> {
    items: heapless::Vec<Param<'a>, MAX_PARAMS>,
}

// The typed accessors below are kept out of line: the command sets call them at about
// 110 places, and a call is smaller than a copy at each (measured on the firmware image:
// -508 bytes on thumbv7em, -400 on the CK804; `AT+CIPSTART` 2 instructions fewer).
// `int` repeats `opt_int`'s match rather than calling it, so neither costs a second call.
impl<'a> Args<'a> {
    /// No parameters.
    pub const fn new() -> Self {
        Args {
            items: heapless::Vec::new(),
        }
    }

    /// Removes all parameters.
    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// Appends a parameter; fails when [`MAX_PARAMS`] are already held.
    pub fn push(&mut self, p: Param<'a>) -> Result<(), Param<'a>> {
        self.items.push(p)
    }

    /// Number of parameters, omitted ones included.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The parameters in order.
    pub fn iter(&self) -> impl Iterator<Item = Param<'a>> + '_ {
        self.items.iter().copied()
    }

    /// Parameter `i`, `Omitted` past the end.
    pub fn get(&self, i: usize) -> Param<'a> {
        self.items.get(i).copied().unwrap_or(Param::Omitted)
    }

    /// True when parameter `i` is absent or empty.
    pub fn is_omitted(&self, i: usize) -> bool {
        matches!(self.get(i), Param::Omitted)
    }

    /// Checks that between `min` and `max` parameters were given.
    #[inline(never)]
    pub fn count(&self, min: usize, max: usize) -> Result<(), ArgError> {
        let given = self.items.len();
        if given < min {
            Err(count_error(min, given))
        } else if given > max {
            Err(count_error(max, given))
        } else {
            Ok(())
        }
    }

    /// A required integer in `range`.
    ///
    /// Ranges are `i32`: every range of the specification fits, and on 32-bit cores the
    /// call sites of 32-bit bounds are smaller (measured: 832 bytes less firmware on
    /// thumbv7em, 1,184 on the CK804, than with `i64` bounds). Values are still read as
    /// `i64`, so an over-long number is out of range, not wrapped.
    #[inline(never)]
    pub fn int(&self, i: usize, range: RangeInclusive<i32>) -> Result<i64, ArgError> {
        let (min, max) = (i64::from(*range.start()), i64::from(*range.end()));
        match self.get(i) {
            Param::Omitted => Err(ArgError::Missing(idx(i))),
            Param::Str(_) => Err(ArgError::Type(idx(i))),
            Param::Int(v) if (min..=max).contains(&v) => Ok(v),
            Param::Int(_) => Err(ArgError::Invalid(idx(i))),
        }
    }

    /// An optional integer in `range`; `None` when omitted.
    #[inline(never)]
    pub fn opt_int(&self, i: usize, range: RangeInclusive<i32>) -> Result<Option<i64>, ArgError> {
        let (min, max) = (i64::from(*range.start()), i64::from(*range.end()));
        match self.get(i) {
            Param::Omitted => Ok(None),
            Param::Str(_) => Err(ArgError::Type(idx(i))),
            Param::Int(v) if (min..=max).contains(&v) => Ok(Some(v)),
            Param::Int(_) => Err(ArgError::Invalid(idx(i))),
        }
    }

    /// A required string of at most `max_len` bytes.
    pub fn bytes(&self, i: usize, max_len: usize) -> Result<&'a [u8], ArgError> {
        self.opt_bytes(i, max_len)?.ok_or(ArgError::Missing(idx(i)))
    }

    /// An optional string of at most `max_len` bytes; `None` when omitted.
    pub fn opt_bytes(&self, i: usize, max_len: usize) -> Result<Option<&'a [u8]>, ArgError> {
        match self.get(i) {
            Param::Omitted => Ok(None),
            Param::Int(_) => Err(ArgError::Type(idx(i))),
            Param::Str(s) if s.len() <= max_len => Ok(Some(s)),
            Param::Str(_) => Err(ArgError::Length(idx(i))),
        }
    }

    /// A required UTF-8 string of at most `max_len` bytes.
    #[inline(never)]
    pub fn text(&self, i: usize, max_len: usize) -> Result<&'a str, ArgError> {
        self.opt_text(i, max_len)?.ok_or(ArgError::Missing(idx(i)))
    }

    /// A required name of at most `max_len` bytes: printable ASCII (space to `~`) other
    /// than `"`. For strings the module prints back inside quotes (host names,
    /// certificate names, SNI, ALPN, PSK hints), so a query can never emit a control
    /// character or break its own quoting.
    #[inline(never)]
    pub fn name(&self, i: usize, max_len: usize) -> Result<&'a str, ArgError> {
        self.opt_name(i, max_len)?.ok_or(ArgError::Missing(idx(i)))
    }

    /// An optional name (see [`Args::name`]).
    #[inline(never)]
    pub fn opt_name(&self, i: usize, max_len: usize) -> Result<Option<&'a str>, ArgError> {
        let name = self.opt_text(i, max_len)?;
        let printable = |b: u8| (b' '..=b'~').contains(&b) && b != b'"';
        match name {
            Some(n) if !n.bytes().all(printable) => Err(ArgError::Invalid(idx(i))),
            other => Ok(other),
        }
    }

    /// An optional UTF-8 string of at most `max_len` bytes.
    #[inline(never)]
    pub fn opt_text(&self, i: usize, max_len: usize) -> Result<Option<&'a str>, ArgError> {
        match self.opt_bytes(i, max_len)? {
            None => Ok(None),
            Some(b) => core::str::from_utf8(b)
                .map(Some)
                .map_err(|_| ArgError::Invalid(idx(i))),
        }
    }
}

/// `v` as a range bound: `i32::MAX` when it is larger (a profile's baud-rate limits).
pub fn saturating_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn idx(i: usize) -> u8 {
    u8::try_from(i).unwrap_or(u8::MAX)
}

fn count_error(needed: usize, given: usize) -> ArgError {
    ArgError::Count {
        needed: idx(needed),
        given: idx(given),
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn args<'a>(ps: &[Param<'a>]) -> Args<'a> {
        let mut a = Args::new();
        for p in ps {
            a.push(*p).unwrap();
        }
        a
    }

    #[test]
    fn typed_access() {
        let a = args(&[Param::Int(3), Param::Str(b"abc"), Param::Omitted]);
        assert_eq!(a.int(0, 0..=5), Ok(3));
        assert_eq!(a.int(0, 4..=5), Err(ArgError::Invalid(0)));
        assert_eq!(a.int(1, 0..=5), Err(ArgError::Type(1)));
        assert_eq!(a.int(2, 0..=5), Err(ArgError::Missing(2)));
        assert_eq!(a.opt_int(2, 0..=5), Ok(None));
        assert_eq!(a.opt_int(9, 0..=5), Ok(None));
        assert_eq!(a.text(1, 3), Ok("abc"));
        assert_eq!(a.text(1, 2), Err(ArgError::Length(1)));
        assert_eq!(a.bytes(0, 2), Err(ArgError::Type(0)));
        assert_eq!(a.count(1, 3), Ok(()));
        assert_eq!(
            a.count(1, 2),
            Err(ArgError::Count {
                needed: 2,
                given: 3
            })
        );
        assert_eq!(
            a.count(4, 5),
            Err(ArgError::Count {
                needed: 4,
                given: 3
            })
        );
        // Values are i64: one beyond any i32 bound is out of range, never wrapped.
        let big = args(&[Param::Int(1 << 32), Param::Int(-(1 << 32))]);
        assert_eq!(big.int(0, 0..=i32::MAX), Err(ArgError::Invalid(0)));
        assert_eq!(big.int(1, i32::MIN..=i32::MAX), Err(ArgError::Invalid(1)));
        assert_eq!(saturating_i32(5_000_000), 5_000_000);
        assert_eq!(saturating_i32(u32::MAX), i32::MAX);
        let bad = args(&[Param::Str(b"\xff")]);
        assert_eq!(bad.text(0, 5), Err(ArgError::Invalid(0)));
        let names = args(&[
            Param::Str(b"ntp.example:123 ~"),
            Param::Str(b"a\x00b"),
            Param::Str(b"a\"b"),
            Param::Str(b"tab\there"),
        ]);
        assert_eq!(names.name(0, 32), Ok("ntp.example:123 ~"));
        assert_eq!(names.name(1, 32), Err(ArgError::Invalid(1)));
        assert_eq!(names.name(2, 32), Err(ArgError::Invalid(2)));
        assert_eq!(names.opt_name(3, 32), Err(ArgError::Invalid(3)));
        assert_eq!(names.opt_name(4, 32), Ok(None));
        assert_eq!(names.name(0, 4), Err(ArgError::Length(0)));
    }

    #[test]
    fn error_codes() {
        let code = |e: ArgError| ErrCode::from(e).value();
        assert_eq!(
            code(ArgError::Count {
                needed: 1,
                given: 2
            }),
            0x0106_0102
        );
        assert_eq!(code(ArgError::Invalid(2)), 0x0107_0002);
        assert_eq!(code(ArgError::Type(1)), 0x0105_0001);
        assert_eq!(code(ArgError::Length(0)), 0x0104_0000);
    }
}
