//! The basic commands every module answers: `AT`, `ATE0`/`ATE1`, `AT+RST`, `AT+GMR`,
//! `AT+CMD?`, `AT+SYSSTORE`, `AT+RESTORE`, `AT+UART_CUR`, `AT+UART_DEF`, `AT+SYSLOG`,
//! `AT+SYSMSG` and `AT+SYSRAM?`.
//!
//! `AT+CMD?` needs the whole command table, so the engine runs it; it is listed here so
//! that dispatch and the listing see one table.

use crate::command::{CommandInfo, CommandSet, Context, Deferred, Forms, Outcome};
use crate::params::{saturating_i32, Args};
use crate::parse::Form;
use crate::platform::{FlowControl, Parity, Platform, StopBits, UartConfig};
use crate::system::{KEY_SYSMSG, KEY_UART_DEF};

/// Answers with one response line made of `pieces` (see [`Text::put`](crate::text::Text::put))
/// and `\r\n`: `Ok(Outcome::Ok)` once it is queued, an error when the queue is full.
macro_rules! reply {
    ($ctx:expr, $($piece:expr),+ $(,)?) => {
        Ok($ctx.out.compose()$(.put($piece))+.line().map_or_else(Outcome::from, |()| Outcome::Ok))
    };
}

/// The basic command table.
pub struct Basic;

const E: Forms = Forms::EXECUTE;
const QS: Forms = Forms::QUERY.with(Forms::SET);

static TABLE: [CommandInfo; 13] = [
    CommandInfo::new("", E),
    CommandInfo::new("E0", E),
    CommandInfo::new("E1", E),
    CommandInfo::new("+RST", E),
    CommandInfo::new("+GMR", E),
    CommandInfo::new("+CMD", Forms::QUERY),
    CommandInfo::new("+RESTORE", E),
    CommandInfo::new("+SYSSTORE", QS),
    CommandInfo::new("+UART_CUR", QS),
    CommandInfo::new("+UART_DEF", QS),
    CommandInfo::new("+SYSLOG", QS),
    CommandInfo::new("+SYSMSG", QS),
    CommandInfo::new("+SYSRAM", Forms::QUERY),
];

/// Index of `+CMD` in the table: the engine runs it.
pub(crate) const CMD: usize = 5;

/// Highest `AT+SYSMSG` value: bits 0 to 2.
pub const SYSMSG_MAX: i32 = 7;

impl Basic {
    /// Number of basic commands.
    pub const COUNT: usize = TABLE.len();

    /// Basic command `index`.
    pub fn entry(index: usize) -> Option<&'static CommandInfo> {
        TABLE.get(index)
    }

    /// The index of the basic command called `name`.
    pub fn find_name(name: &[u8]) -> Option<usize> {
        crate::command::find_in(&TABLE, name)
    }
}

impl<P: Platform> CommandSet<P> for Basic {
    fn len(&self) -> usize {
        TABLE.len()
    }

    fn info(&self, index: usize) -> Option<&'static CommandInfo> {
        TABLE.get(index)
    }

    fn execute(
        &mut self,
        index: usize,
        form: Form,
        args: &Args<'_>,
        ctx: &mut Context<'_, P>,
    ) -> Outcome {
        let result = match (index, form) {
            (0, _) => Ok(Outcome::Ok),
            (1 | 2, _) => {
                ctx.system.echo = index == 2;
                Ok(Outcome::Ok)
            }
            (3, _) => {
                ctx.defer(Deferred::Restart);
                Ok(Outcome::Ok)
            }
            (4, _) => gmr(ctx),
            (6, _) => {
                ctx.defer(Deferred::FactoryRestore);
                Ok(Outcome::Ok)
            }
            (7, Form::Query) => flag(ctx, "SYSSTORE", ctx.system.sysstore),
            (7, _) => sysstore(args, ctx),
            (8, Form::Query) => uart_query(ctx, "UART_CUR", ctx.system.uart_cur),
            (8, _) => uart_set(args, ctx, false),
            (9, Form::Query) => uart_query(ctx, "UART_DEF", ctx.system.uart_def),
            (9, _) => uart_set(args, ctx, true),
            (10, Form::Query) => flag(ctx, "SYSLOG", ctx.system.syslog),
            (10, _) => args.count(1, 1).and_then(|()| {
                ctx.system.syslog = args.int(0, 0..=1)? == 1;
                Ok(Outcome::Ok)
            }),
            (11, Form::Query) => {
                let v = ctx.system.sysmsg;
                reply!(ctx, "+SYSMSG:", v)
            }
            (11, _) => sysmsg(args, ctx),
            (12, _) => {
                let m = ctx.platform.memory();
                reply!(ctx, "+SYSRAM:", m.free, ",", m.min_free)
            }
            _ => Ok(Outcome::Error(crate::response::ErrCode::EXEC)),
        };
        result.unwrap_or_else(Outcome::from)
    }
}

type Res = Result<Outcome, crate::params::ArgError>;

fn flag<P: Platform>(ctx: &mut Context<'_, P>, name: &str, on: bool) -> Res {
    reply!(ctx, "+", name, ":", u8::from(on))
}

fn gmr<P: Platform>(ctx: &mut Context<'_, P>) -> Res {
    let fw = ctx.platform.firmware();
    reply!(
        ctx,
        "AT version:",
        fw.at_version,
        "(",
        fw.build,
        " - ",
        fw.chip,
        " - ",
        fw.date,
        " ",
        fw.time,
        ")\r\nSDK version:",
        fw.sdk_version,
        "\r\ncompile time(",
        fw.source_hash,
        "):",
        fw.date,
        " ",
        fw.time,
        "\r\nBin version:",
        fw.bin_version
    )
}

fn sysstore<P: Platform>(args: &Args<'_>, ctx: &mut Context<'_, P>) -> Res {
    args.count(1, 1)?;
    ctx.system.sysstore = args.int(0, 0..=1)? == 1;
    Ok(Outcome::Ok)
}

fn sysmsg<P: Platform>(args: &Args<'_>, ctx: &mut Context<'_, P>) -> Res {
    args.count(1, 1)?;
    let bits = args.int(0, 0..=SYSMSG_MAX)? as u8;
    if let Err(code) = ctx.save(KEY_SYSMSG, &[bits]) {
        return Ok(Outcome::Error(code));
    }
    ctx.system.sysmsg = bits;
    Ok(Outcome::Ok)
}

fn uart_query<P: Platform>(ctx: &mut Context<'_, P>, name: &str, c: UartConfig) -> Res {
    let (stop, parity, flow) = (c.stop_bits as u8, c.parity as u8, c.flow as u8);
    reply!(
        ctx,
        "+",
        name,
        ":",
        c.baud,
        ",",
        c.data_bits,
        ",",
        stop,
        ",",
        parity,
        ",",
        flow
    )
}

fn uart_set<P: Platform>(args: &Args<'_>, ctx: &mut Context<'_, P>, default: bool) -> Res {
    args.count(5, 5)?;
    let profile = ctx.system.profile;
    let baud = args.int(
        0,
        saturating_i32(profile.uart_baud_min)..=saturating_i32(profile.uart_baud_max),
    )? as u32;
    let data_bits = args.int(1, 5..=8)? as u8;
    let stop_bits = match args.int(2, 1..=3)? {
        1 => StopBits::One,
        2 => StopBits::OneAndHalf,
        _ => StopBits::Two,
    };
    let parity = match args.int(3, 0..=2)? {
        0 => Parity::None,
        1 => Parity::Odd,
        _ => Parity::Even,
    };
    let flow = match args.int(4, 0..=3)? {
        0 => FlowControl::None,
        1 => FlowControl::Rts,
        2 => FlowControl::Cts,
        _ => FlowControl::RtsCts,
    };
    let config = UartConfig {
        baud,
        data_bits,
        stop_bits,
        parity,
        flow,
    };
    if default {
        if let Err(code) = ctx.save_always(KEY_UART_DEF, &config.encode()) {
            return Ok(Outcome::Error(code));
        }
        ctx.system.uart_def = config;
    }
    ctx.system.uart_cur = config;
    ctx.defer(Deferred::ApplyUart(config));
    Ok(Outcome::Ok)
}

/// Loads the persisted system settings into `ctx.system` (power-on).
pub(crate) fn load_settings<P: Platform>(ctx: &mut Context<'_, P>) {
    let mut buf = [0u8; 8];
    if let Some([v]) = ctx.load(KEY_SYSMSG, &mut buf) {
        if i32::from(*v) <= SYSMSG_MAX {
            ctx.system.sysmsg = *v;
        }
    }
    if let Some(config) = ctx
        .load(KEY_UART_DEF, &mut buf)
        .and_then(UartConfig::decode)
    {
        let profile = ctx.system.profile;
        if (profile.uart_baud_min..=profile.uart_baud_max).contains(&config.baud) {
            ctx.system.uart_def = config;
            ctx.system.uart_cur = config;
        }
    }
}
