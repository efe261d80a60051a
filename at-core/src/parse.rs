//! The command-line parser (nom, complete input): `AT`, the command name, its form, and
//! the parameter list with the escape rules of the wire conventions.
//!
//! A line is parsed whole, after assembly, so there is no `Incomplete`: every failure is
//! a [`ParseError`] that maps to an `ERR CODE` sub-code. String parameters without
//! escapes are borrowed from the line; strings with escapes (`\\` -> `\`, `\"` -> `"`,
//! `\,` -> `,`, `\<any>` -> `<any>`) are unescaped into a caller-provided scratch
//! buffer, so parsing allocates nothing. The line's structure is parsed with nom; the
//! parameter list, the hot path of every set command, with a hand-written scanner.

use nom::bytes::complete::{tag, take_till};
use nom::sequence::preceded;
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

/// `AT`, then the name: everything up to the form's `=` or `?` (or the end).
fn head(line: &[u8]) -> Res<'_, &[u8]> {
    preceded(tag("AT"), take_till(|b| b == b'=' || b == b'?')).parse(line)
}

const fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether `name` is well formed: empty (plain `AT`), or an optional `+` followed by
/// letters, digits and `_` (at least one after a `+`).
/// [`CommandInfo::new`](crate::command::CommandInfo::new) holds every table name to it.
pub const fn is_valid_name(name: &[u8]) -> bool {
    let plus = !name.is_empty() && name[0] == b'+';
    if plus && name.len() == 1 {
        return false;
    }
    let mut i = plus as usize;
    while i < name.len() {
        if !is_name_byte(name[i]) {
            return false;
        }
        i += 1;
    }
    true
}

/// Splits a line (without terminator) into name, form and raw parameters, without
/// checking the name's bytes: a name found in a command table is well formed by
/// construction, so the engine checks only a name it did not find
/// ([`is_valid_name`]: `ERR CODE` "parse failed" rather than "unknown command").
/// This is the command path's parser: the name is read once, by the lookup.
pub fn split_line(line: &[u8]) -> Result<CommandLine<'_>, ParseError> {
    let (rest, name) = head(line).map_err(|_| ParseError::NoAt)?;
    let (form, params) = form_and_params(rest)?;
    Ok(CommandLine { name, form, params })
}

/// The form of what follows the name (nothing, `?`, `=?`, or `=` and the parameters)
/// and the raw parameters.
fn form_and_params(rest: &[u8]) -> Result<(Form, &[u8]), ParseError> {
    match rest {
        b"" => Ok((Form::Execute, &rest[..0])),
        b"?" => Ok((Form::Query, &rest[..0])),
        b"=?" => Ok((Form::Test, &rest[..0])),
        [b'=', params @ ..] => Ok((Form::Set, params)),
        _ => Err(ParseError::BadForm),
    }
}

/// Splits a line (without terminator) into a well-formed name, the form and the raw
/// parameters: [`split_line`], then [`is_valid_name`].
pub fn parse_line(line: &[u8]) -> Result<CommandLine<'_>, ParseError> {
    let cl = split_line(line)?;
    if is_valid_name(cl.name) {
        Ok(cl)
    } else {
        Err(ParseError::BadForm)
    }
}

/// Where the closing quote of a string that starts right after its opening quote is,
/// and whether the string holds escapes: `None` when it is unterminated.
fn closing_quote(body: &[u8]) -> Option<(usize, bool)> {
    // The common case: a string without backslashes, in one pass (a plain loop: on the
    // firmware, memchr's word-at-a-time code inlined here costs 220 bytes).
    let first = body.iter().position(|&b| b == b'"' || b == b'\\')?;
    if body[first] == b'"' {
        return Some((first, false));
    }
    let mut i = first;
    while i < body.len() {
        match body[i] {
            b'\\' => i += 2,
            b'"' => return Some((i, true)),
            _ => i += 1,
        }
    }
    None
}

/// An integer token at the start of `input` (optional sign, then at least one digit):
/// its value (`None` when it overflows `i64`) and its length; `None` when there is no
/// token.
fn integer(input: &[u8]) -> Option<(Option<i64>, usize)> {
    let (negative, start) = match input.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let mut value: Option<i64> = Some(0);
    let mut end = start;
    while let Some(&b) = input.get(end) {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        value = value
            .and_then(|v| v.checked_mul(10))
            .and_then(|v| v.checked_add(i64::from(digit)));
        end += 1;
    }
    (end > start).then_some((value.map(|v| if negative { -v } else { v }), end))
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

/// Parses a raw parameter list into `args`.
///
/// Strings without escapes are borrowed from `raw`; strings with escapes are unescaped
/// into `scratch`, which must be at least as long as `raw` (unescaping never grows a
/// string). An empty `raw` gives zero parameters; `1,,"x"` gives `Int(1), Omitted,
/// Str("x")`.
pub fn parse_params<'s>(
    raw: &'s [u8],
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
        let (param, after) = match rest.first() {
            None | Some(b',') => (Param::Omitted, rest),
            Some(b'"') => {
                let body = &rest[1..];
                let (end, escaped) = closing_quote(body).ok_or(bad)?;
                let text = &body[..end];
                let param = if escaped {
                    if free.len() < text.len() {
                        return Err(bad);
                    }
                    let n = unescape(text, free);
                    let (done, remaining) = core::mem::take(&mut free).split_at_mut(n);
                    free = remaining;
                    Param::Str(&*done)
                } else {
                    Param::Str(text)
                };
                (param, &body[end + 1..])
            }
            Some(_) => {
                let (value, len) = integer(rest).ok_or(bad)?;
                let value = value.ok_or(ParseError::IntOverflow { index })?;
                (Param::Int(value), &rest[len..])
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

    fn params(raw: &'static [u8]) -> Result<heapless::Vec<Param<'static>, 16>, ParseError> {
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
    fn split_line_leaves_the_name_to_the_lookup() {
        // The name runs to the form's `=` or `?`, whatever its bytes.
        let l = split_line(b"AT+GMR x").unwrap();
        assert_eq!((l.name, l.form), (&b"+GMR x"[..], Form::Execute));
        assert!(!is_valid_name(l.name));
        let l = split_line(b"AT+C\xffP=1,\"a=b\"").unwrap();
        assert_eq!(
            (l.name, l.form, l.params),
            (&b"+C\xffP"[..], Form::Set, &b"1,\"a=b\""[..])
        );
        assert_eq!(split_line(b"AT+GMR?x"), Err(ParseError::BadForm));
        assert_eq!(split_line(b"AT?="), Err(ParseError::BadForm));
        assert_eq!(split_line(b"A"), Err(ParseError::NoAt));
        for ok in [&b""[..], b"E0", b"+GMR", b"+UART_CUR", b"+a1_"] {
            assert!(is_valid_name(ok), "{ok:?}");
        }
        for bad in [
            &b"+"[..],
            b"++A",
            b"+A+",
            b"+A B",
            b"E-0",
            b"+\x00",
            b"+\xc3\xa9",
        ] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
    }

    /// The line grammar as first written (nom): `AT`, then `+` and one or more name bytes
    /// or zero or more name bytes, then the form.
    fn reference_parse_line(line: &[u8]) -> Result<CommandLine<'_>, ParseError> {
        let rest = line.strip_prefix(b"AT").ok_or(ParseError::NoAt)?;
        let start = usize::from(rest.first() == Some(&b'+'));
        let len = rest[start..]
            .iter()
            .take_while(|&&b| is_name_byte(b))
            .count();
        if start == 1 && len == 0 {
            return Err(ParseError::BadForm);
        }
        let (name, rest) = rest.split_at(start + len);
        // The form is read as before; what the split changed is where the name ends.
        let (form, params) = form_and_params(rest)?;
        Ok(CommandLine { name, form, params })
    }

    proptest::proptest! {
        #[test]
        fn parse_line_keeps_the_grammar(
            name in proptest::collection::vec(
                proptest::sample::select(&b"+_aZ09 ?=\"\x00\xff"[..]), 0..6),
            tail in proptest::collection::vec(
                proptest::sample::select(&b"=?,1\"x"[..]), 0..4),
        ) {
            let line = [&b"AT"[..], &name, &tail].concat();
            proptest::prop_assert_eq!(parse_line(&line), reference_parse_line(&line));
        }
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
    fn plain_strings_are_borrowed_and_escaped_ones_unescaped_into_scratch() {
        let raw: &[u8] = br#""plain","with\"quote",7"#;
        let mut scratch = [0u8; 32];
        let scratch_range = scratch.as_ptr_range();
        let mut args = Args::new();
        parse_params(raw, &mut scratch, &mut args).unwrap();
        let (Param::Str(plain), Param::Str(escaped)) = (args.get(0), args.get(1)) else {
            panic!("{:?}", args)
        };
        assert_eq!((plain, escaped), (&b"plain"[..], &br#"with"quote"#[..]));
        assert!(raw.as_ptr_range().contains(&plain.as_ptr()));
        assert!(scratch_range.contains(&escaped.as_ptr()));
        assert_eq!(args.get(2), Param::Int(7));
    }

    #[test]
    fn bad_parameters() {
        assert_eq!(params(b"1x"), Err(ParseError::BadParam { index: 0 }));
        assert_eq!(params(b"1,abc"), Err(ParseError::BadParam { index: 1 }));
        assert_eq!(params(br#"1,"abc"#), Err(ParseError::BadParam { index: 1 }));
        assert_eq!(params(br#""abc"d"#), Err(ParseError::BadParam { index: 0 }));
        assert_eq!(params(br#""ab\""#), Err(ParseError::BadParam { index: 0 }));
        assert_eq!(params(b"-"), Err(ParseError::BadParam { index: 0 }));
        assert_eq!(params(b"+"), Err(ParseError::BadParam { index: 0 }));
        assert_eq!(params(b"1,-x"), Err(ParseError::BadParam { index: 1 }));
        assert_eq!(params(br#""a"#), Err(ParseError::BadParam { index: 0 }));
        assert_eq!(params(br#""a\"#), Err(ParseError::BadParam { index: 0 }));
        assert_eq!(params(b"1 "), Err(ParseError::BadParam { index: 0 }));
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
