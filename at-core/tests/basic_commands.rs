//! Exact bytes on the wire for every basic command, every error path, and the engine's
//! framing rules (echo, terminators, busy, over-long lines, garbage).

use at_core::testing::{Capture, Harness};
use at_core::{
    Args, CommandInfo, CommandSet, Context, ErrCode, Form, Forms, Instant, Outcome, Platform,
};

fn booted() -> Harness<Waiter> {
    let mut h = Harness::new(Waiter::default());
    assert_eq!(h.boot(), b"\r\nready\r\n");
    h
}

/// Sends `line` with echo off and SYSLOG on, so errors show their ERR CODE.
fn quiet(h: &mut Harness<Waiter>) {
    assert_eq!(h.send(b"ATE0\r\n"), b"ATE0\r\n\r\nOK\r\n");
    assert_eq!(h.send(b"AT+SYSLOG=1\r\n"), b"\r\nOK\r\n");
}

fn err(code: u32) -> Vec<u8> {
    format!("ERR CODE:0x{code:08x}\r\n\r\nERROR\r\n").into_bytes()
}

/// A vendor command set for the tests: `AT+WAIT=<ms>` runs for that long (a pending
/// command), `AT+NOTE` queues an unsolicited line on the next poll.
#[derive(Default)]
struct Waiter {
    until: Option<Instant>,
    note: bool,
}

static WAITER: [CommandInfo; 2] = [
    CommandInfo::new("+WAIT", Forms::SET),
    CommandInfo::new("+NOTE", Forms::EXECUTE),
];

impl<P: Platform> CommandSet<P> for Waiter {
    fn len(&self) -> usize {
        WAITER.len()
    }
    fn info(&self, i: usize) -> Option<&'static CommandInfo> {
        WAITER.get(i)
    }
    fn execute(
        &mut self,
        i: usize,
        _form: Form,
        args: &Args<'_>,
        ctx: &mut Context<'_, P>,
    ) -> Outcome {
        if i == 1 {
            self.note = true;
            return Outcome::Ok;
        }
        match args.int(0, 1..=60_000) {
            Ok(ms) => {
                self.until = Some(ctx.now + at_core::Duration::from_millis(ms as u64));
                Outcome::Pending
            }
            Err(e) => e.into(),
        }
    }
    fn poll_pending(&mut self, _i: usize, ctx: &mut Context<'_, P>) -> Outcome {
        match self.until {
            Some(t) if ctx.now >= t => {
                self.until = None;
                let _ = ctx.line(format_args!("+WAIT:done"));
                Outcome::Ok
            }
            Some(_) => Outcome::Pending,
            None => Outcome::Error(ErrCode::EXEC),
        }
    }
    fn poll(&mut self, ctx: &mut Context<'_, P>) {
        if self.note && ctx.out.push(b"\r\n+NOTE\r\n").is_ok() {
            self.note = false;
        }
    }
    fn poll_at(&self) -> Option<Instant> {
        self.until
    }
}

#[test]
fn at_with_and_without_echo() {
    let mut h = booted();
    assert_eq!(h.send(b"AT\r\n"), b"AT\r\n\r\nOK\r\n");
    assert_eq!(h.send(b"ATE0\r\n"), b"ATE0\r\n\r\nOK\r\n");
    assert_eq!(h.send(b"AT\r\n"), b"\r\nOK\r\n");
    assert_eq!(h.send(b"ATE1\r\n"), b"\r\nOK\r\n");
    assert_eq!(h.send(b"AT\r\n"), b"AT\r\n\r\nOK\r\n");
}

#[test]
fn echo_is_the_line_with_crlf_whatever_the_terminator() {
    let mut h = booted();
    assert_eq!(h.send(b"AT\r"), b"AT\r\n\r\nOK\r\n");
    assert_eq!(h.send(b"\nAT\n"), b"AT\r\n\r\nOK\r\n", "late LF swallowed");
}

#[test]
fn lines_split_anywhere() {
    let mut h = booted();
    quiet(&mut h);
    assert_eq!(
        h.send_chunks(&[b"A", b"T", b"+SYSST", b"ORE?\r", b"\n"]),
        b"+SYSSTORE:1\r\n\r\nOK\r\n"
    );
    assert_eq!(
        h.send_chunks(&[b"AT", b"+RST\r\n"]),
        b"\r\nOK\r\n\r\nready\r\n"
    );
}

#[test]
fn several_lines_in_one_chunk_run_in_order() {
    let mut h = booted();
    quiet(&mut h);
    assert_eq!(
        h.send(b"AT\r\nAT+SYSLOG?\r\nAT+BOGUS\r\n"),
        [&b"\r\nOK\r\n+SYSLOG:1\r\n\r\nOK\r\n"[..], &err(0x0109_0000)].concat()[..]
    );
}

#[test]
fn empty_lines_are_ignored() {
    let mut h = booted();
    assert_eq!(h.send(b"\r\n\r\n\r"), b"");
    assert_eq!(h.send(b"\nAT\r\n"), b"AT\r\n\r\nOK\r\n");
}

#[test]
fn only_upper_case_at() {
    let mut h = booted();
    assert_eq!(h.send(b"at\r\n"), b"at\r\n\r\nERROR\r\n");
    quiet(&mut h);
    for line in [&b"at\r\n"[..], b"At\r\n", b"aT+GMR\r\n", b"xAT\r\n"] {
        assert_eq!(h.send(line), err(0x0103_0000)[..], "{line:?}");
    }
}

#[test]
fn unknown_commands_and_names() {
    let mut h = booted();
    quiet(&mut h);
    for line in [
        &b"AT+FOO\r\n"[..],
        b"AT+gmr\r\n",
        b"ATX\r\n",
        b"AT+CIPSTART=1\r\n",
    ] {
        assert_eq!(h.send(line), err(0x0109_0000)[..], "{line:?}");
    }
}

#[test]
fn unsupported_forms() {
    let mut h = booted();
    quiet(&mut h);
    for line in [
        &b"AT+GMR?\r\n"[..],
        b"AT+GMR=?\r\n",
        b"AT+GMR=1\r\n",
        b"AT?\r\n",
        b"AT+CMD\r\n",
        b"AT+SYSRAM\r\n",
        b"AT+SYSSTORE\r\n",
        b"AT+RST=1\r\n",
    ] {
        assert_eq!(h.send(line), err(0x010c_0000)[..], "{line:?}");
    }
    // A malformed name is "parse failed", not "unknown command", whether or not a known
    // name starts it.
    for line in [
        &b"AT+GMR x\r\n"[..],
        b"AT+\r\n",
        b"AT+=1\r\n",
        b"AT++GMR\r\n",
        b"AT+G MR?\r\n",
        b"AT+CIP\xffSTART=0\r\n",
        b"AT\x00\r\n",
        b"AT+GMR?x\r\n",
    ] {
        assert_eq!(h.send(line), err(0x0108_0000)[..], "{line:?}");
    }
}

#[test]
fn gmr_reports_the_platforms_firmware() {
    let mut h = booted();
    quiet(&mut h);
    assert_eq!(
        h.send(b"AT+GMR\r\n"),
        b"AT version:3.2.0.0(test - W800 - Nov 28 2026 00:00:00)\r\n\
          SDK version:test-sdk\r\n\
          compile time(0000000):Nov 28 2026 00:00:00\r\n\
          Bin version:test\r\n\
          \r\nOK\r\n"
    );
}

#[test]
fn cmd_lists_every_command_with_its_forms() {
    let mut h = booted();
    quiet(&mut h);
    let out = h.send(b"AT+CMD?\r\n");
    let text = std::str::from_utf8(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "+CMD:0,\"AT\",0,0,0,1");
    assert_eq!(lines[1], "+CMD:1,\"ATE0\",0,0,0,1");
    assert_eq!(lines[5], "+CMD:5,\"AT+CMD\",0,1,0,0");
    assert_eq!(lines[8], "+CMD:8,\"AT+UART_CUR\",0,1,1,0");
    assert_eq!(
        lines[13], "+CMD:13,\"AT+WAIT\",0,0,1,0",
        "vendor commands follow"
    );
    assert_eq!(lines[14], "+CMD:14,\"AT+NOTE\",0,0,0,1");
    assert!(
        text.ends_with("+CMD:14,\"AT+NOTE\",0,0,0,1\r\n\r\nOK\r\n"),
        "{text}"
    );
    assert_eq!(lines.len(), 17);
}

#[test]
fn sysstore_query_set_and_errors() {
    let mut h = booted();
    quiet(&mut h);
    assert_eq!(h.send(b"AT+SYSSTORE?\r\n"), b"+SYSSTORE:1\r\n\r\nOK\r\n");
    assert_eq!(h.send(b"AT+SYSSTORE=0\r\n"), b"\r\nOK\r\n");
    assert_eq!(h.send(b"AT+SYSSTORE?\r\n"), b"+SYSSTORE:0\r\n\r\nOK\r\n");
    assert_eq!(h.send(b"AT+SYSSTORE=2\r\n"), err(0x0107_0000)[..]);
    assert_eq!(h.send(b"AT+SYSSTORE=-1\r\n"), err(0x0107_0000)[..]);
    assert_eq!(h.send(b"AT+SYSSTORE=\"1\"\r\n"), err(0x0105_0000)[..]);
    assert_eq!(h.send(b"AT+SYSSTORE=\r\n"), err(0x0106_0100)[..]);
    assert_eq!(h.send(b"AT+SYSSTORE=1,1\r\n"), err(0x0106_0102)[..]);
    assert_eq!(h.send(b"AT+SYSSTORE=,\r\n"), err(0x0106_0102)[..]);
    assert_eq!(h.send(b"AT+SYSSTORE=1x\r\n"), err(0x0108_0000)[..]);
    assert_eq!(
        h.send(b"AT+SYSSTORE=99999999999999999999\r\n"),
        err(0x0107_0000)[..]
    );
    assert_eq!(
        h.send(b"AT+SYSSTORE?\r\n"),
        b"+SYSSTORE:0\r\n\r\nOK\r\n",
        "errors change nothing"
    );
    // SYSSTORE itself is never stored: a restart brings back 1.
    h.send(b"AT+RST\r\n");
    h.send(b"ATE0\r\n");
    assert_eq!(h.send(b"AT+SYSSTORE?\r\n"), b"+SYSSTORE:1\r\n\r\nOK\r\n");
}

#[test]
fn syslog_adds_err_code_lines() {
    let mut h = booted();
    h.send(b"ATE0\r\n");
    assert_eq!(h.send(b"AT+SYSLOG?\r\n"), b"+SYSLOG:0\r\n\r\nOK\r\n");
    assert_eq!(h.send(b"AT+BOGUS\r\n"), b"\r\nERROR\r\n");
    assert_eq!(h.send(b"AT+SYSLOG=2\r\n"), b"\r\nERROR\r\n");
    assert_eq!(h.send(b"AT+SYSLOG=1\r\n"), b"\r\nOK\r\n");
    assert_eq!(h.send(b"AT+SYSLOG?\r\n"), b"+SYSLOG:1\r\n\r\nOK\r\n");
    assert_eq!(h.send(b"AT+BOGUS\r\n"), err(0x0109_0000)[..]);
    assert_eq!(h.send(b"AT+SYSLOG=0\r\n"), b"\r\nOK\r\n");
    assert_eq!(h.send(b"AT+BOGUS\r\n"), b"\r\nERROR\r\n");
    // Not persisted: a restart turns it off.
    h.send(b"AT+SYSLOG=1\r\n");
    h.send(b"AT+RST\r\n");
    assert_eq!(
        h.send(b"AT+SYSLOG?\r\n"),
        b"AT+SYSLOG?\r\n+SYSLOG:0\r\n\r\nOK\r\n"
    );
}

#[test]
fn sysmsg_range_and_persistence_follow_sysstore() {
    let mut h = booted();
    quiet(&mut h);
    assert_eq!(h.send(b"AT+SYSMSG?\r\n"), b"+SYSMSG:0\r\n\r\nOK\r\n");
    assert_eq!(h.send(b"AT+SYSMSG=8\r\n"), err(0x0107_0000)[..]);
    assert_eq!(h.send(b"AT+SYSMSG=\"3\"\r\n"), err(0x0105_0000)[..]);
    assert_eq!(h.send(b"AT+SYSMSG=7\r\n"), b"\r\nOK\r\n");
    assert_eq!(h.send(b"AT+SYSMSG?\r\n"), b"+SYSMSG:7\r\n\r\nOK\r\n");
    // Stored (SYSSTORE=1): survives a restart.
    h.send(b"AT+RST\r\n");
    quiet(&mut h);
    assert_eq!(h.send(b"AT+SYSMSG?\r\n"), b"+SYSMSG:7\r\n\r\nOK\r\n");
    // Set with SYSSTORE=0: applies now, but the stored 7 comes back after a restart.
    h.send(b"AT+SYSSTORE=0\r\n");
    assert_eq!(h.send(b"AT+SYSMSG=2\r\n"), b"\r\nOK\r\n");
    assert_eq!(h.send(b"AT+SYSMSG?\r\n"), b"+SYSMSG:2\r\n\r\nOK\r\n");
    h.send(b"AT+RST\r\n");
    quiet(&mut h);
    assert_eq!(h.send(b"AT+SYSMSG?\r\n"), b"+SYSMSG:7\r\n\r\nOK\r\n");
}

#[test]
fn rst_answers_ok_then_ready_and_resets_volatile_state() {
    let mut h = booted();
    h.send(b"ATE0\r\n");
    assert_eq!(h.send(b"AT+RST\r\n"), b"\r\nOK\r\n\r\nready\r\n");
    assert_eq!(h.platform.restarts, 1);
    assert_eq!(h.send(b"AT\r\n"), b"AT\r\n\r\nOK\r\n", "echo is on again");
}

#[test]
fn restart_waits_until_ok_has_reached_the_host() {
    let mut h = booted();
    h.send(b"ATE0\r\n");
    let n = h.engine.feed(h.now, b"AT+RST\r\n");
    assert_eq!(n, 8);
    let mut full = Blocked;
    h.engine.poll(h.now, &mut h.platform, &mut full).unwrap();
    assert_eq!(h.platform.restarts, 0, "OK not yet written");
    assert_eq!(
        h.engine.feed(h.now, b"AT\r\n"),
        0,
        "no input taken while restarting"
    );
    assert_eq!(h.poll(), b"\r\nOK\r\n\r\nready\r\n");
    assert_eq!(h.platform.restarts, 1);
}

#[test]
fn restore_erases_the_store() {
    let mut h = booted();
    quiet(&mut h);
    h.send(b"AT+SYSMSG=3\r\n");
    h.send(b"AT+UART_DEF=9600,8,1,0,0\r\n");
    assert!(!h.platform.store.is_empty());
    assert_eq!(h.send(b"AT+RESTORE\r\n"), b"\r\nOK\r\n\r\nready\r\n");
    assert!(h.platform.store.is_empty());
    quiet(&mut h);
    assert_eq!(h.send(b"AT+SYSMSG?\r\n"), b"+SYSMSG:0\r\n\r\nOK\r\n");
    assert_eq!(
        h.send(b"AT+UART_DEF?\r\n"),
        b"+UART_DEF:115200,8,1,0,0\r\n\r\nOK\r\n"
    );
    assert_eq!(h.platform.uart_applied.back().unwrap().baud, 115_200);
}

#[test]
fn uart_cur_applies_after_ok_and_is_not_stored() {
    let mut h = booted();
    quiet(&mut h);
    let applied = h.platform.uart_applied.len();
    assert_eq!(
        h.send(b"AT+UART_CUR?\r\n"),
        b"+UART_CUR:115200,8,1,0,0\r\n\r\nOK\r\n"
    );
    h.engine.feed(h.now, b"AT+UART_CUR=921600,8,3,2,3\r\n");
    h.engine.poll(h.now, &mut h.platform, &mut Blocked).unwrap();
    assert_eq!(
        h.platform.uart_applied.len(),
        applied,
        "not before OK went out"
    );
    assert_eq!(h.poll(), b"\r\nOK\r\n");
    let c = *h.platform.uart_applied.back().unwrap();
    assert_eq!(
        (
            c.baud,
            c.data_bits,
            c.stop_bits as u8,
            c.parity as u8,
            c.flow as u8
        ),
        (921_600, 8, 3, 2, 3)
    );
    assert_eq!(
        h.send(b"AT+UART_CUR?\r\n"),
        b"+UART_CUR:921600,8,3,2,3\r\n\r\nOK\r\n"
    );
    assert_eq!(
        h.send(b"AT+UART_DEF?\r\n"),
        b"+UART_DEF:115200,8,1,0,0\r\n\r\nOK\r\n"
    );
    h.send(b"AT+RST\r\n");
    quiet(&mut h);
    assert_eq!(
        h.send(b"AT+UART_CUR?\r\n"),
        b"+UART_CUR:115200,8,1,0,0\r\n\r\nOK\r\n"
    );
}

#[test]
fn uart_def_is_stored_and_applied() {
    let mut h = booted();
    quiet(&mut h);
    h.send(b"AT+SYSSTORE=0\r\n");
    assert_eq!(h.send(b"AT+UART_DEF=57600,7,2,1,1\r\n"), b"\r\nOK\r\n");
    assert_eq!(h.platform.uart_applied.back().unwrap().baud, 57_600);
    assert_eq!(
        h.send(b"AT+UART_CUR?\r\n"),
        b"+UART_CUR:57600,7,2,1,1\r\n\r\nOK\r\n"
    );
    h.send(b"AT+RST\r\n");
    quiet(&mut h);
    assert_eq!(
        h.send(b"AT+UART_DEF?\r\n"),
        b"+UART_DEF:57600,7,2,1,1\r\n\r\nOK\r\n"
    );
    assert_eq!(
        h.send(b"AT+UART_CUR?\r\n"),
        b"+UART_CUR:57600,7,2,1,1\r\n\r\nOK\r\n"
    );
    assert_eq!(h.platform.uart_applied.back().unwrap().baud, 57_600);
}

#[test]
fn uart_errors_change_nothing() {
    let mut h = booted();
    quiet(&mut h);
    let cases: &[(&[u8], u32)] = &[
        (b"AT+UART_CUR=79,8,1,0,0\r\n", 0x0107_0000),
        (b"AT+UART_CUR=2000001,8,1,0,0\r\n", 0x0107_0000),
        (b"AT+UART_CUR=115200,4,1,0,0\r\n", 0x0107_0001),
        (b"AT+UART_CUR=115200,9,1,0,0\r\n", 0x0107_0001),
        (b"AT+UART_CUR=115200,8,0,0,0\r\n", 0x0107_0002),
        (b"AT+UART_CUR=115200,8,4,0,0\r\n", 0x0107_0002),
        (b"AT+UART_CUR=115200,8,1,3,0\r\n", 0x0107_0003),
        (b"AT+UART_CUR=115200,8,1,0,4\r\n", 0x0107_0004),
        (b"AT+UART_CUR=115200,8,1,0\r\n", 0x0106_0504),
        (b"AT+UART_CUR=115200,8,1,0,0,0\r\n", 0x0106_0506),
        (b"AT+UART_CUR=115200,8,,0,0\r\n", 0x0107_0002),
        (b"AT+UART_CUR=\"115200\",8,1,0,0\r\n", 0x0105_0000),
        (b"AT+UART_DEF=115200,8,1,0,9\r\n", 0x0107_0004),
    ];
    let applied = h.platform.uart_applied.len();
    for (line, code) in cases {
        assert_eq!(
            h.send(line),
            err(*code)[..],
            "{}",
            String::from_utf8_lossy(line)
        );
    }
    assert_eq!(h.platform.uart_applied.len(), applied);
    assert_eq!(
        h.send(b"AT+UART_CUR?\r\n"),
        b"+UART_CUR:115200,8,1,0,0\r\n\r\nOK\r\n"
    );
    assert_eq!(
        h.send(b"AT+UART_CUR=80,5,1,0,0\r\n"),
        b"\r\nOK\r\n",
        "range ends are valid"
    );
    assert_eq!(h.send(b"AT+UART_CUR=2000000,8,1,0,0\r\n"), b"\r\nOK\r\n");
}

#[test]
fn sysram_reports_platform_memory() {
    let mut h = booted();
    quiet(&mut h);
    assert_eq!(
        h.send(b"AT+SYSRAM?\r\n"),
        b"+SYSRAM:120000,100000\r\n\r\nOK\r\n"
    );
}

#[test]
fn over_long_lines_are_refused_and_resynchronised() {
    let mut h = booted();
    quiet(&mut h);
    let mut long = b"AT+SYSMSG=1".to_vec();
    long.resize(1_000_000, b'1');
    long.extend_from_slice(b"\r\nAT\r\n");
    assert_eq!(
        h.send(&long),
        [&err(0x0102_0000)[..], b"\r\nOK\r\n"].concat()[..]
    );
    assert_eq!(h.send(b"AT+SYSMSG?\r\n"), b"+SYSMSG:0\r\n\r\nOK\r\n");
    // 254 bytes plus CRLF is the longest line taken.
    let mut edge = b"AT+SYSMSG=".to_vec();
    edge.resize(254, b'0');
    edge.push(b'1');
    edge.extend_from_slice(b"\r\n");
    assert_eq!(edge.len(), 257);
    assert_eq!(h.send(&edge), err(0x0102_0000)[..]);
    edge.remove(20);
    assert_eq!(h.send(&edge), b"\r\nOK\r\n");
    assert_eq!(h.send(b"AT+SYSMSG?\r\n"), b"+SYSMSG:1\r\n\r\nOK\r\n");
}

#[test]
fn binary_garbage_gets_error_and_leaves_state_intact() {
    let mut h = booted();
    quiet(&mut h);
    h.send(b"AT+SYSMSG=5\r\n");
    let garbage: Vec<u8> = (0u8..=255).filter(|b| *b != b'\r' && *b != b'\n').collect();
    let mut input = garbage.clone();
    input.extend_from_slice(b"\r\n");
    assert_eq!(
        h.send(&input),
        err(0x0103_0000)[..],
        "254 garbage bytes fit a line"
    );
    let double = [&garbage[..], &garbage[..], b"\r\n"].concat();
    assert_eq!(
        h.send(&double),
        err(0x0102_0000)[..],
        "508 garbage bytes: over-long"
    );
    assert_eq!(
        h.send(&[&garbage[..100], b"\r\n"].concat()),
        err(0x0103_0000)[..]
    );
    assert_eq!(h.send(b"AT\x00\xff\r\n"), err(0x0108_0000)[..]);
    assert_eq!(h.send(b"AT+SYSMSG=\"\xff\"\r\n"), err(0x0105_0000)[..]);
    assert_eq!(h.send(b"AT+SYSMSG?\r\n"), b"+SYSMSG:5\r\n\r\nOK\r\n");
}

#[test]
fn pending_command_answers_busy_and_keeps_running() {
    let mut h = booted();
    quiet(&mut h);
    h.send(b"AT+SYSLOG=0\r\n");
    assert_eq!(h.send(b"AT+WAIT=100\r\n"), b"");
    assert!(h.engine.is_busy());
    assert_eq!(
        h.engine.poll_delay(h.now),
        Some(at_core::Duration::from_millis(100))
    );
    assert_eq!(h.send(b"AT\r\n"), b"\r\nbusy p...\r\n");
    assert_eq!(
        h.send(b"AT+GMR\r\nAT\r\n"),
        b"\r\nbusy p...\r\n\r\nbusy p...\r\n"
    );
    h.send(b"ATE1\r\n");
    assert_eq!(h.advance(99), b"");
    assert_eq!(h.advance(1), b"+WAIT:done\r\n\r\nOK\r\n");
    assert!(!h.engine.is_busy());
    assert_eq!(
        h.send(b"AT\r\n"),
        b"\r\nOK\r\n",
        "ATE1 during busy was not run"
    );
}

#[test]
fn busy_with_syslog_and_echo() {
    let mut h = booted();
    h.send(b"AT+SYSLOG=1\r\n");
    h.send(b"AT+WAIT=10\r\n");
    assert_eq!(
        h.send(b"AT\r\n"),
        b"AT\r\nERR CODE:0x010b0000\r\n\r\nbusy p...\r\n"
    );
    assert_eq!(h.advance(10), b"+WAIT:done\r\n\r\nOK\r\n");
}

#[test]
fn unsolicited_lines_never_split_responses() {
    let mut h = booted();
    quiet(&mut h);
    assert_eq!(
        h.send(b"AT+NOTE\r\nAT+SYSMSG?\r\n"),
        b"\r\nOK\r\n\r\n+NOTE\r\n+SYSMSG:0\r\n\r\nOK\r\n"
    );
}

/// A writer that takes nothing.
struct Blocked;

impl embedded_io::ErrorType for Blocked {
    type Error = core::convert::Infallible;
}

impl embedded_io::Write for Blocked {
    fn write(&mut self, _: &[u8]) -> Result<usize, Self::Error> {
        Ok(0)
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

#[test]
fn a_host_that_does_not_read_stops_the_engine_reading() {
    let mut h = booted();
    let input = b"AT\r\n".repeat(10_000);
    let mut taken = 0;
    for _ in 0..20_000 {
        let n = h.engine.feed(h.now, &input[taken..]);
        taken += n;
        h.engine.poll(h.now, &mut h.platform, &mut Blocked).unwrap();
        if n == 0 {
            break;
        }
    }
    assert!(taken < 4096, "took {taken} bytes with nobody reading");
    assert!(h.engine.has_output());
    let drained: Capture = h.poll();
    assert!(drained.len() <= 4096);
    // Once the host reads again, everything continues.
    assert_eq!(h.send(b"AT\r\n"), b"AT\r\n\r\nOK\r\n");
}
