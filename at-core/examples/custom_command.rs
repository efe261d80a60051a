//! A vendor command next to the standard ones: `AT+LEDCFG=<on>,<brightness>` and
//! `AT+LEDCFG?`, persisted with `AT+SYSSTORE`, composed with another set as a tuple.
//!
//! Run with `cargo run -p at-core --example custom_command`.

use at_core::testing::Harness;
use at_core::{Args, CommandInfo, CommandSet, Context, Form, Forms, Outcome, Platform};

/// The firmware's own commands.
#[derive(Default)]
struct Led {
    on: bool,
    brightness: u8,
}

static LED_COMMANDS: [CommandInfo; 1] =
    [CommandInfo::new("+LEDCFG", Forms::QUERY.with(Forms::SET))];

impl<P: Platform> CommandSet<P> for Led {
    fn len(&self) -> usize {
        LED_COMMANDS.len()
    }

    fn info(&self, index: usize) -> Option<&'static CommandInfo> {
        LED_COMMANDS.get(index)
    }

    fn execute(
        &mut self,
        _index: usize,
        form: Form,
        args: &Args<'_>,
        ctx: &mut Context<'_, P>,
    ) -> Outcome {
        match form {
            Form::Query => match ctx.line(format_args!(
                "+LEDCFG:{},{}",
                u8::from(self.on),
                self.brightness
            )) {
                Ok(()) => Outcome::Ok,
                Err(e) => e.into(),
            },
            _ => {
                // Parameters are declared where they are read: count, type, range.
                let parsed = args
                    .count(1, 2)
                    .and_then(|()| Ok((args.int(0, 0..=1)? == 1, args.opt_int(1, 0..=255)?)));
                let (on, brightness) = match parsed {
                    Ok(v) => v,
                    Err(e) => return e.into(),
                };
                self.on = on;
                self.brightness = brightness.map_or(self.brightness, |b| b as u8);
                if let Err(code) = ctx.save("led.cfg", &[u8::from(self.on), self.brightness]) {
                    return code.into();
                }
                Outcome::Ok
            }
        }
    }

    fn restart(&mut self, ctx: &mut Context<'_, P>) {
        let mut buf = [0u8; 2];
        (self.on, self.brightness) = match ctx.load("led.cfg", &mut buf) {
            Some([on, b]) => (*on == 1, *b),
            _ => (false, 0),
        };
    }
}

fn main() {
    // In firmware this would be `(at_tcpip::TcpIp::default(), Led::default())`.
    let mut modem = Harness::new(((), Led::default()));
    let mut show = |input: &[u8]| {
        let out = modem.send(input);
        print!("{}", String::from_utf8_lossy(&out));
    };
    show(b"ATE0\r\n");
    show(b"AT+LEDCFG=1,128\r\n");
    show(b"AT+LEDCFG?\r\n");
    show(b"AT+LEDCFG=2\r\n");
    show(b"AT+RST\r\n");
    show(b"AT+LEDCFG?\r\n");
}
