//! (a) Line assembler and parser on raw bytes. Invariants: no panic; the assembler never
//! yields a line longer than its limit or one containing a terminator; feeding the same
//! bytes whole or split at a fuzzer-chosen point gives the same lines; a parameter list
//! that parses, rendered back (integers in decimal, strings quoted with `\\` and `\"`
//! escaped, omitted fields empty), parses to the same parameters.
#![no_main]

use at_core::line::{Assembled, LineAssembler};
use at_core::params::{Args, Param};
use at_core::parse::{parse_line, parse_params, Form};
use libfuzzer_sys::fuzz_target;

type Lines = Vec<(Vec<u8>, Assembled)>;

fn assemble(chunks: &[&[u8]]) -> Lines {
    let mut a = LineAssembler::<256>::new();
    let mut out = Vec::new();
    for chunk in chunks {
        let mut rest = *chunk;
        while !rest.is_empty() {
            let (n, ev) = a.push(rest);
            assert!(
                n > 0 && n <= rest.len(),
                "push consumed {n} of {}",
                rest.len()
            );
            rest = &rest[n..];
            if let Some(ev) = ev {
                let line = a.line().to_vec();
                assert!(line.len() <= LineAssembler::<256>::MAX_CONTENT);
                assert!(!line.contains(&b'\r') && !line.contains(&b'\n'));
                out.push((line, ev));
                a.clear();
            }
        }
    }
    out
}

fn render(args: &Args<'_>) -> Vec<u8> {
    let mut s = Vec::new();
    for (i, p) in args.iter().enumerate() {
        if i > 0 {
            s.push(b',');
        }
        match p {
            Param::Omitted => {}
            Param::Int(v) => s.extend_from_slice(v.to_string().as_bytes()),
            Param::Str(b) => {
                s.push(b'"');
                for &c in b {
                    if c == b'\\' || c == b'"' {
                        s.push(b'\\');
                    }
                    s.push(c);
                }
                s.push(b'"');
            }
        }
    }
    s
}

fn check_line(line: &[u8]) {
    let Ok(cl) = parse_line(line) else { return };
    assert!(line.starts_with(b"AT"));
    if cl.form != Form::Set {
        assert!(cl.params.is_empty());
        return;
    }
    let mut scratch = vec![0u8; cl.params.len()];
    let mut args = Args::new();
    if parse_params(cl.params, &mut scratch, &mut args).is_err() {
        return;
    }
    let first: Vec<Param<'_>> = args.iter().collect();
    let rendered = render(&args);
    let mut scratch2 = vec![0u8; rendered.len()];
    let mut args2 = Args::new();
    parse_params(&rendered, &mut scratch2, &mut args2).unwrap_or_else(|e| {
        panic!(
            "rendered params {:?} of {:?} do not parse: {e:?}",
            rendered.escape_ascii().to_string(),
            line.escape_ascii().to_string()
        )
    });
    let second: Vec<Param<'_>> = args2.iter().collect();
    assert_eq!(
        first,
        second,
        "round trip of {:?}",
        line.escape_ascii().to_string()
    );
}

fuzz_target!(|input: (u16, &[u8])| {
    let (split, bytes) = input;
    let whole = assemble(&[bytes]);
    let at = usize::from(split) % (bytes.len() + 1);
    let (a, b) = bytes.split_at(at);
    let parts = assemble(&[a, b]);
    assert_eq!(whole, parts, "lines differ when split at {at}");
    for (line, ev) in &whole {
        if *ev == Assembled::Line {
            check_line(line);
        }
    }
    // The parser also runs on whatever a line could hold, unassembled.
    check_line(bytes);
});
