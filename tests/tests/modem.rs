//! The foundation, end to end: `at-modem` served on a pty, TCP and stdio, driven as a
//! host driver drives a real module.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::Duration;

use at_e2e_tests::{modem_binary, Host, Modem};

const QUIET: Duration = Duration::from_millis(100);

#[test]
fn pty_session_basic_commands() {
    let (_modem, mut host) = Modem::on_pty(&[]);
    host.expect(b"\r\nready\r\n");
    host.chat(b"AT\r\n", b"AT\r\n\r\nOK\r\n");
    // Drivers split writes anywhere.
    host.send(b"AT");
    host.send(b"E0\r");
    host.send(b"\n");
    host.expect(b"ATE0\r\n\r\nOK\r\n");
    host.chat(b"AT+CIPMUX?\r\n", b"+CIPMUX:0\r\n\r\nOK\r\n");
    host.chat(b"AT+SYSLOG=1\r\n", b"\r\nOK\r\n");
    host.chat(b"at\r\n", b"ERR CODE:0x01030000\r\n\r\nERROR\r\n");
    host.chat(b"AT+NOPE\r\n", b"ERR CODE:0x01090000\r\n\r\nERROR\r\n");
    let mut long = vec![b'A'; 5000];
    long.extend_from_slice(b"\r\n");
    host.chat(&long, b"ERR CODE:0x01020000\r\n\r\nERROR\r\n");
    host.chat(
        b"\x00\x01\xfe\xff\r\n",
        b"ERR CODE:0x01030000\r\n\r\nERROR\r\n",
    );
    host.chat(b"AT+SYSMSG=9\r\n", b"ERR CODE:0x01070000\r\n\r\nERROR\r\n");
    host.chat(b"AT+SYSMSG?\r\n", b"+SYSMSG:0\r\n\r\nOK\r\n");
    host.send(b"AT+GMR\r\n");
    let gmr = String::from_utf8(host.read_until(b"\r\nOK\r\n")).unwrap();
    let lines: Vec<&str> = gmr.lines().collect();
    assert!(
        lines[0].starts_with("AT version:3.2.0.0(at-engine-"),
        "{gmr}"
    );
    assert!(lines[0].contains(" - W800 - "), "{gmr}");
    assert!(lines[1].starts_with("SDK version:"), "{gmr}");
    assert!(lines[2].starts_with("compile time("), "{gmr}");
    assert!(lines[3].starts_with("Bin version:"), "{gmr}");
    host.chat(b"AT+RST\r\n", b"\r\nOK\r\n\r\nready\r\n");
    host.chat(b"AT\r\n", b"AT\r\n\r\nOK\r\n");
    host.expect_silence(QUIET);
}

#[test]
fn pty_host_may_close_and_reopen_the_port() {
    let (modem, mut host) = Modem::on_pty(&[]);
    host.expect(b"\r\nready\r\n");
    host.chat(b"ATE0\r\n", b"ATE0\r\n\r\nOK\r\n");
    drop(host);
    let mut host = Host::open(&modem.dir.path().join("at0"));
    host.chat(b"AT\r\n", b"\r\nOK\r\n");
    drop(host);
    let mut host = Host::open(&modem.dir.path().join("at0"));
    host.chat(b"AT+SYSSTORE?\r\n", b"+SYSSTORE:1\r\n\r\nOK\r\n");
}

#[test]
fn pty_uart_cur_reconfigures_the_port_after_ok() {
    use nix::sys::termios::{cfgetospeed, tcgetattr, BaudRate};
    let (modem, mut host) = Modem::on_pty(&[]);
    host.expect(b"\r\nready\r\n");
    host.chat(b"ATE0\r\n", b"ATE0\r\n\r\nOK\r\n");
    let tty = std::fs::File::open(modem.dir.path().join("at0")).unwrap();
    assert_eq!(
        cfgetospeed(&tcgetattr(tty.as_fd()).unwrap()),
        BaudRate::B115200
    );
    host.chat(b"AT+UART_CUR=9600,8,1,0,0\r\n", b"\r\nOK\r\n");
    host.chat(b"AT+UART_CUR?\r\n", b"+UART_CUR:9600,8,1,0,0\r\n\r\nOK\r\n");
    assert_eq!(
        cfgetospeed(&tcgetattr(tty.as_fd()).unwrap()),
        BaudRate::B9600
    );
}

#[test]
fn state_dir_keeps_settings_across_processes() {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path().to_str().unwrap();
    {
        let (modem, mut host) = Modem::on_pty(&["--state-dir", dir]);
        host.expect(b"\r\nready\r\n");
        host.chat(b"ATE0\r\n", b"ATE0\r\n\r\nOK\r\n");
        host.chat(b"AT+SYSMSG=3\r\n", b"\r\nOK\r\n");
        host.chat(b"AT+UART_DEF=57600,8,1,0,0\r\n", b"\r\nOK\r\n");
        host.chat(b"AT+SYSSTORE=0\r\n", b"\r\nOK\r\n");
        host.chat(b"AT+SYSMSG=1\r\n", b"\r\nOK\r\n");
        assert_eq!(modem.terminate(), Some(0));
    }
    {
        let (modem, mut host) = Modem::on_pty(&["--state-dir", dir]);
        host.expect(b"\r\nready\r\n");
        host.chat(b"ATE0\r\n", b"ATE0\r\n\r\nOK\r\n");
        host.chat(b"AT+SYSMSG?\r\n", b"+SYSMSG:3\r\n\r\nOK\r\n");
        host.chat(
            b"AT+UART_CUR?\r\n",
            b"+UART_CUR:57600,8,1,0,0\r\n\r\nOK\r\n",
        );
        host.chat(b"AT+RESTORE\r\n", b"\r\nOK\r\n\r\nready\r\n");
        host.chat(b"AT+SYSMSG?\r\n", b"AT+SYSMSG?\r\n+SYSMSG:0\r\n\r\nOK\r\n");
        assert_eq!(modem.terminate(), Some(0));
    }
    assert_eq!(
        std::fs::read_dir(state.path()).unwrap().count(),
        0,
        "RESTORE erased the store"
    );
}

#[test]
fn tcp_port_serves_one_host_at_a_time() {
    let mut modem = Modem::start(&["--tcp", "127.0.0.1:0"]);
    let line = modem.wait_log("AT port: tcp ");
    let addr = line
        .trim()
        .trim_start_matches("AT port: tcp ")
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    let first = TcpStream::connect(&addr).unwrap();
    let mut host = Host::over(Box::new(first));
    // "ready" went out at boot, to nobody: like a module powered before the cable.
    host.chat(b"AT\r\n", b"AT\r\n\r\nOK\r\n");
    // A second cable cannot be plugged in while the first is.
    let mut second = TcpStream::connect(&addr).unwrap();
    let mut buf = [0u8; 16];
    second
        .set_read_timeout(Some(at_e2e_tests::PATIENCE))
        .unwrap();
    assert_eq!(second.read(&mut buf).unwrap_or(0), 0, "second host refused");
    host.chat(b"ATE0\r\n", b"ATE0\r\n\r\nOK\r\n");
    drop(host);
    // Unplugged and plugged again: the module kept its state.
    modem.wait_log("host detached");
    let mut host = Host::over(Box::new(TcpStream::connect(&addr).unwrap()));
    host.chat(b"AT\r\n", b"\r\nOK\r\n");
}

#[test]
fn stdio_port_and_trace() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.txt");
    let mut child = Command::new(modem_binary())
        .args(["--stdio", "--trace", trace.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"AT\r\nATE0\r\nAT+SYSLOG?\r\n").unwrap();
    drop(stdin);
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        String::from_utf8_lossy(&out),
        "\r\nready\r\nAT\r\n\r\nOK\r\nATE0\r\n\r\nOK\r\n+SYSLOG:0\r\n\r\nOK\r\n"
    );
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(
        text.contains(r#" H>M "AT\r\nATE0\r\nAT+SYSLOG?\r\n""#),
        "{text}"
    );
    assert!(text.contains(r#" M>H "\r\nready\r\n""#), "{text}");
    assert!(text.lines().all(|l| l.starts_with('+')), "{text}");
}

#[test]
fn sigterm_and_sigint_end_the_modem_cleanly() {
    let (modem, mut host) = Modem::on_pty(&[]);
    host.expect(b"\r\nready\r\n");
    let link = modem.dir.path().join("at0");
    assert_eq!(modem.terminate(), Some(0));
    assert!(!link.exists(), "the pty link is removed on exit");
}

#[test]
fn help_and_bad_arguments() {
    let out = Command::new(modem_binary()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for opt in [
        "--pty",
        "--tcp",
        "--stdio",
        "--serial",
        "--state-dir",
        "--trace",
    ] {
        assert!(help.contains(opt), "help lacks {opt}");
    }
    let out = Command::new(modem_binary())
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(modem_binary())
        .args(["--profile", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
