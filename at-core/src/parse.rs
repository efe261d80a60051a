//! The command-line parser (nom, complete input): `AT`, the command name, its form, and
//! the parameter list with the escape rules of the wire conventions.
//!
//! A line is parsed whole, after assembly, so there is no `Incomplete`: every failure is
//! a [`ParseError`] that maps to an `ERR CODE` sub-code. String parameters are unescaped
//! (`\\` -> `\`, `\"` -> `"`, `\,` -> `,`, `\<any>` -> `<any>`) into a caller-provided
//! scratch buffer, so parsing allocates nothing.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, digit1, one_of};
use nom::combinator::{opt, recognize};
use nom::sequence::pair;
use nom::{IResult, Parser};

use crate::params::{Args, Param, MAX_PARAMS};
use crate::response::{ErrCode, ErrSub};

/// The four forms of an AT command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Form {
    /// `AT+X=?`
    Test,
    /// `AT+X?`
    Query,
    /// `AT+X=<params>`
    Set,
    /// `AT+X`
    Execute,
}

/// A command line split into its parts; parameters still raw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandLine<'a> {
    /// The name after `AT`: `b"+CIPMUX"`, `b"E0"`, or empty for plain `AT`.
    pub name: &'a [u8],
    /// Which form the line uses.
    pub form: Form,
    /// The raw text after `=` in the set form, empty otherwise.
    pub params: &'a [u8],
}

/// Why a line could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The line does not start with upper-case `AT`.
    NoAt,
    /// Text after the name is none of `=?`, `?`, `=...` or nothing.
    BadForm,
    /// Parameter `index` is malformed (unterminated string, junk after a value, ...).
    BadParam {
        /// Zero-based parameter index.
        index: u8,
    },
    /// Parameter `index` is an integer too large to represent.
    IntOverflow {
        /// Zero-based parameter index.
        index: u8,
    },
    /// More parameters than [`MAX_PARAMS`].
    TooManyParams,
}

impl From<ParseError> for ErrCode {
    fn from(e: ParseError) -> ErrCode {
        match e {
            ParseError::NoAt => ErrCode::plain(ErrSub::NoAt),
            ParseError::BadForm => ErrCode::plain(ErrSub::ParseFailed),
            ParseError::BadParam { index } => ErrCode::new(ErrSub::ParseFailed, index.into()),
            ParseError::IntOverflow { index } => ErrCode::new(ErrSub::ParamInvalid, index.into()),
            ParseError::TooManyParams => {
                ErrCode::new(ErrSub::ParamCount, (MAX_PARAMS as u16) << 8 | 0xff)
            }
        }
    }
}

type Res<'a, T> = IResult<&'a [u8], T, ()>;

fn name(input: &[u8]) -> Res<'_, &[u8]> {
    alt((
        recognize(pair(char('+'), take_while1(is_name_byte))),
        take_while(is_name_byte),
    ))
    .parse(input)
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Splits a line (without terminator) into name, form and raw parameters.
pub fn parse_line(line: &[u8]) -> Result<CommandLine<'_>, ParseError> {
    let (rest, _) = tag::<_, _, ()>("AT")
        .parse(line)
        .map_err(|_| ParseError::NoAt)?;
    let (rest, name) = name(rest).map_err(|_| ParseError::BadForm)?;
    let (form, params) = match rest {
        b"" => (Form::Execute, &rest[..0]),
        b"?" => (Form::Query, &rest[..0]),
        b"=?" => (Form::Test, &rest[..0]),
        [b'=', params @ ..] => (Form::Set, params),
        _ => return Err(ParseError::BadForm),
    };
    Ok(CommandLine { name, form, params })
}

/// A raw parameter token before unescaping.
enum Token<'a> {
    Empty,
    Int(&'a [u8]),
    Quoted(&'a [u8]),
}

fn integer(input: &[u8]) -> Res<'_, &[u8]> {
    recognize(pair(opt(one_of("+-")), digit1)).parse(input)
}

fn quoted(input: &[u8]) -> Res<'_, &[u8]> {
    let (after_quote, _) = char::<_, ()>('"').parse(input)?;
    // Find the closing quote, skipping escaped bytes.
    let mut i = 0;
    while i < after_quote.len() {
        match after_quote[i] {
            b'\\' => i += 2,
            b'"' => return Ok((&after_quote[i + 1..], &after_quote[..i])),
            _ => i += 1,
        }
    }
    Err(nom::Err::Error(()))
}

fn token(input: &[u8]) -> Res<'_, Token<'_>> {
    if input.is_empty() || input[0] == b',' {
        return Ok((input, Token::Empty));
    }
    if let Ok((rest, q)) = quoted(input) {
        return Ok((rest, Token::Quoted(q)));
    }
    let (rest, digits) = integer(input)?;
    Ok((rest, Token::Int(digits)))
}

fn parse_int(digits: &[u8]) -> Option<i64> {
    let (neg, body) = match digits.first() {
        Some(b'-') => (true, &digits[1..]),
        Some(b'+') => (false, &digits[1..]),
        _ => (false, digits),
    };
    let mut v: i64 = 0;
    for &d in body {
        v = v.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
    }
    Some(if neg { -v } else { v })
}

/// Unescapes `src` into the front of `dst`; returns the length written.
fn unescape(src: &[u8], dst: &mut [u8]) -> usize {
    let mut n = 0;
    let mut escaped = false;
    for &b in src {
        if !escaped && b == b'\\' {
            escaped = true;
            continue;
        }
        escaped = false;
        dst[n] = b;
        n += 1;
    }
    n
}

/// Parses a raw parameter list into `args`, unescaping strings into `scratch`.
///
/// `scratch` must be at least as long as `raw` (unescaping never grows a string).
/// An empty `raw` gives zero parameters; `1,,"x"` gives `Int(1), Omitted, Str("x")`.
pub fn parse_params<'s>(
    raw: &[u8],
    scratch: &'s mut [u8],
    args: &mut Args<'s>,
) -> Result<(), ParseError> {
    args.clear();
    if raw.is_empty() {
        return Ok(());
    }
    let mut rest = raw;
    let mut free: &'s mut [u8] = scratch;
    let mut index: u8 = 0;
    loop {
        let bad = ParseError::BadParam { index };
        let (after, tok) = token(rest).map_err(|_| bad)?;
        let param = match tok {
            Token::Empty => Param::Omitted,
            Token::Int(digits) => {
                Param::Int(parse_int(digits).ok_or(ParseError::IntOverflow { index })?)
            }
            Token::Quoted(q) => {
                if free.len() < q.len() {
                    return Err(bad);
                }
                let n = unescape(q, free);
                let (done, remaining) = core::mem::take(&mut free).split_at_mut(n);
                free = remaining;
                Param::Str(done)
            }
        };
        args.push(param).map_err(|_| ParseError::TooManyParams)?;
        match after {
            [] => return Ok(()),
            [b',', more @ ..] => {
                rest = more;
                index = index.saturating_add(1);
            }
            _ => return Err(bad),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn params(raw: &[u8]) -> Result<heapless::Vec<Param<'static>, 16>, ParseError> {
        let scratch: &'static mut [u8] = Box::leak(vec![0u8; 256].into_boxed_slice());
        let mut args = Args::new();
        parse_params(raw, scratch, &mut args)?;
        Ok(args.iter().collect())
    }

    extern crate std;
    use std::boxed::Box;
    use std::vec;

    #[test]
    fn forms() {
        let l = parse_line(b"AT").unwrap();
        assert_eq!((l.name, l.form), (&b""[..], Form::Execute));
        let l = parse_line(b"AT+CIPMUX?").unwrap();
        assert_eq!((l.name, l.form), (&b"+CIPMUX"[..], Form::Query));
        let l = parse_line(b"AT+CIPMUX=?").unwrap();
        assert_eq!(l.form, Form::Test);
        let l = parse_line(b"AT+CIPMUX=1").unwrap();
        assert_eq!((l.form, l.params), (Form::Set, &b"1"[..]));
        let l = parse_line(b"ATE0").unwrap();
        assert_eq!((l.name, l.form), (&b"E0"[..], Form::Execute));
        let l = parse_line(b"AT+UART_CUR=115200,8,1,0,0").unwrap();
        assert_eq!(l.name, b"+UART_CUR");
    }

    #[test]
    fn bad_lines() {
        assert_eq!(parse_line(b"at"), Err(ParseError::NoAt));
        assert_eq!(parse_line(b"aT+GMR"), Err(ParseError::NoAt));
        assert_eq!(parse_line(b"\x00AT"), Err(ParseError::NoAt));
        assert_eq!(parse_line(b"AT+GMR x"), Err(ParseError::BadForm));
        assert_eq!(parse_line(b"AT+GMR?x"), Err(ParseError::BadForm));
        assert_eq!(parse_line(b"AT+"), Err(ParseError::BadForm));
        assert_eq!(parse_line(b"AT+gmr").unwrap().name, b"+gmr");
    }

    #[test]
    fn parameters() {
        let p = params(br#"1,"TCP",,-5,"a\"b\,c\\d\x""#).unwrap();
        assert_eq!(
            &p[..],
            &[
                Param::Int(1),
                Param::Str(b"TCP"),
                Param::Omitted,
                Param::Int(-5),
                Param::Str(br#"a"b,c\dx"#),
            ]
        );
        assert_eq!(&params(b"").unwrap()[..], &[]);
        assert_eq!(
            &params(b"1,").unwrap()[..],
            &[Param::Int(1), Param::Omitted]
        );
        assert_eq!(&params(b"015").unwrap()[..], &[Param::Int(15)]);
        assert_eq!(&params(b"+7").unwrap()[..], &[Param::Int(7)]);
        assert_eq!(&params(br#""a,b""#).unwrap()[..], &[Param::Str(b"a,b")]);
    }

    #[test]
    fn bad_parameters() {
        assert_eq!(params(b"1x"), Err(ParseError::BadParam { index: 0 }));
        assert_eq!(params(b"1,abc"), Err(ParseError::BadParam { index: 1 }));
        assert_eq!(params(br#"1,"abc"#), Err(ParseError::BadParam { index: 1 }));
        assert_eq!(params(br#""abc"d"#), Err(ParseError::BadParam { index: 0 }));
        assert_eq!(params(br#""ab\""#), Err(ParseError::BadParam { index: 0 }));
        assert_eq!(params(b"-"), Err(ParseError::BadParam { index: 0 }));
        assert_eq!(
            params(b"99999999999999999999"),
            Err(ParseError::IntOverflow { index: 0 })
        );
        assert_eq!(
            params(b"1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"),
            Err(ParseError::TooManyParams)
        );
    }
}
