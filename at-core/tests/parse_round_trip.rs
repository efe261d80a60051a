//! Property: rendering any valid command line and parsing it gives back the same command
//! (name, form and every parameter), whatever bytes its strings hold.

use at_core::params::{Args, Param, MAX_PARAMS};
use at_core::parse::{parse_line, parse_params, Form};
use proptest::prelude::*;

/// A parameter as a test owns it.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Omitted,
    Int(i64),
    Str(Vec<u8>),
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Omitted),
        // i64::MIN has no positive counterpart to accumulate; AT ranges are far smaller.
        3 => (i64::MIN + 1..=i64::MAX).prop_map(Value::Int),
        2 => (-100_000i64..100_000).prop_map(Value::Int),
        // Any bytes but the line terminators, quotes and backslashes included.
        4 => prop::collection::vec(any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'), 0..40)
            .prop_map(Value::Str),
    ]
}

fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "\\+[A-Z][A-Z0-9_]{0,14}".prop_map(String::into_bytes),
        "[A-Z][0-9]?".prop_map(String::into_bytes),
        Just(Vec::new()),
    ]
}

fn form() -> impl Strategy<Value = Form> {
    prop_oneof![
        Just(Form::Test),
        Just(Form::Query),
        Just(Form::Set),
        Just(Form::Execute)
    ]
}

/// The wire form: strings quoted, `"` and `\` escaped with `\`, a `,` escaped or not.
fn render(name: &[u8], form: Form, params: &[Value], escape_commas: bool) -> Vec<u8> {
    let mut line = b"AT".to_vec();
    line.extend_from_slice(name);
    match form {
        Form::Test => line.extend_from_slice(b"=?"),
        Form::Query => line.push(b'?'),
        Form::Execute => {}
        Form::Set => {
            line.push(b'=');
            for (i, p) in params.iter().enumerate() {
                if i > 0 {
                    line.push(b',');
                }
                match p {
                    Value::Omitted => {}
                    Value::Int(v) => line.extend_from_slice(v.to_string().as_bytes()),
                    Value::Str(s) => {
                        line.push(b'"');
                        for &b in s {
                            if b == b'"' || b == b'\\' || (b == b',' && escape_commas) {
                                line.push(b'\\');
                            }
                            line.push(b);
                        }
                        line.push(b'"');
                    }
                }
            }
        }
    }
    line
}

fn owned(p: Param<'_>) -> Value {
    match p {
        Param::Omitted => Value::Omitted,
        Param::Int(v) => Value::Int(v),
        Param::Str(s) => Value::Str(s.to_vec()),
    }
}

proptest! {
    #[test]
    fn rendered_commands_parse_back_to_themselves(
        name in name(),
        form in form(),
        params in prop::collection::vec(value(), 1..=MAX_PARAMS),
        escape_commas in any::<bool>(),
    ) {
        let line = render(&name, form, &params, escape_commas);
        let parsed = parse_line(&line).expect("a rendered line parses");
        prop_assert_eq!(parsed.name, &name[..]);
        prop_assert_eq!(parsed.form, form);
        if form != Form::Set {
            prop_assert!(parsed.params.is_empty());
            return Ok(());
        }
        let mut scratch = vec![0u8; parsed.params.len()];
        let mut args = Args::new();
        parse_params(parsed.params, &mut scratch, &mut args).expect("rendered parameters parse");
        let got: Vec<Value> = args.iter().map(owned).collect();
        // A lone omitted parameter renders as nothing, which is no parameter at all.
        let want: Vec<Value> = if params == [Value::Omitted] { Vec::new() } else { params };
        prop_assert_eq!(got, want);
    }
}
