//! `at-modem`: an emulated W800 Wi-Fi module speaking the ESP-AT compatible command set
//! on a pty, a TCP port, stdio or a real serial port.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use at_core::Profile;
use at_platform_std::port::PortSpec;
use at_platform_std::ModemConfig;

const HELP: &str = "\
at-modem: an emulated W800 Wi-Fi module (ESP-AT compatible AT command set)

USAGE:
    at-modem [--pty PATH | --tcp ADDR | --stdio | --serial DEVICE[,BAUD]] [OPTIONS]

AT PORT (one of; the default is --pty ./at-modem.pty):
    --pty PATH              Create a pseudo-terminal in raw mode and make PATH a symlink
                            to its slave device; host software opens PATH like a serial
                            port. Prints 'AT port: PATH (/dev/pts/N)' on stderr.
    --tcp ADDR              Listen on ADDR (e.g. 127.0.0.1:2323); one host at a time,
                            like a serial cable; a second client is refused.
    --stdio                 Talk on stdin/stdout; the end of stdin ends the modem.
    --serial DEVICE[,BAUD]  A real serial port (default 115200 baud, 8N1); AT+UART_CUR
                            reconfigures it.

OPTIONS:
    --state-dir DIR         Keep persistent settings (AT+SYSSTORE, AT+UART_DEF, ...) as
                            files in DIR. Without it they live in memory and survive
                            AT+RST but not the process.
    --trace FILE            Write every byte in both directions to FILE, timestamped and
                            escaped: '+0.012345 H>M \"AT\\r\\n\"'.
    --profile NAME          Chip limits and defaults: w800 (default) or esp-at.
    --ap SSID[:PASSWORD]    An access point the emulated station can see and join with
                            AT+CWJAP (repeatable; no password: an open network). Once
                            joined, the station has the host's real addresses.
    --baud N                Pace the AT port like a UART at N baud (10 bits a byte), both
                            ways, so drivers meet realistic rates on a pty or TCP port.
    --multicast-if ADDR     IPv4 interface address for UDP multicast links (e.g.
                            127.0.0.1 to keep multicast on loopback).
    --pki-dir DIR           Certificates and keys for SSL links and the SSL server, as
                            PEM files: ca.<n>.pem, client.<n>.cert.pem and
                            client.<n>.key.pem (n = 0..15, the AT+CIPSSLCCONF indexes),
                            server.cert.pem, server.key.pem, server-ca.pem. Without it,
                            a fresh factory set is generated at every start.
    -h, --help              Show this help.
    -V, --version           Show the version.

Logs go to stderr (RUST_LOG=debug for more), never to the AT port. SIGINT and SIGTERM
end the modem cleanly. The host may close and reopen the port at any time.
";

fn parse_args() -> Result<Option<ModemConfig>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut port = None;
    let mut state_dir = None;
    let mut trace = None;
    let mut profile = Profile::W800;
    let mut access_points = Vec::new();
    let mut multicast_if = None;
    let mut pki_dir = None;
    let mut baud = None;
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("pty") => {
                port = Some(PortSpec::Pty {
                    link: parser.value()?.into(),
                })
            }
            Long("tcp") => {
                let addr: SocketAddr = parser.value()?.parse()?;
                port = Some(PortSpec::Tcp { addr });
            }
            Long("stdio") => port = Some(PortSpec::Stdio),
            Long("serial") => {
                let value: String = parser.value()?.parse()?;
                let (device, baud) = match value.split_once(',') {
                    Some((d, b)) => (
                        d.to_owned(),
                        b.parse::<u32>().map_err(|e| {
                            lexopt::Error::from(format!("bad baud rate {b:?}: {e}"))
                        })?,
                    ),
                    None => (value, 115_200),
                };
                port = Some(PortSpec::Serial {
                    device: PathBuf::from(device),
                    baud,
                });
            }
            Long("ap") => {
                let spec: String = parser.value()?.parse()?;
                access_points
                    .push(at_platform_std::station::parse_ap(&spec).map_err(lexopt::Error::from)?);
            }
            Long("multicast-if") => multicast_if = Some(parser.value()?.parse()?),
            Long("baud") => baud = Some(parser.value()?.parse()?),
            Long("state-dir") => state_dir = Some(PathBuf::from(parser.value()?)),
            Long("pki-dir") => pki_dir = Some(PathBuf::from(parser.value()?)),
            Long("trace") => trace = Some(PathBuf::from(parser.value()?)),
            Long("profile") => {
                let name: String = parser.value()?.parse()?;
                profile = match name.as_str() {
                    "w800" => Profile::W800,
                    "esp-at" => Profile::ESP_AT,
                    other => return Err(format!("unknown profile {other:?} (w800, esp-at)").into()),
                };
            }
            Short('h') | Long("help") => {
                print!("{HELP}");
                return Ok(None);
            }
            Short('V') | Long("version") => {
                println!("at-modem {}", env!("CARGO_PKG_VERSION"));
                return Ok(None);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Some(ModemConfig {
        port: port.unwrap_or(PortSpec::Pty {
            link: PathBuf::from("at-modem.pty"),
        }),
        state_dir,
        pki_dir,
        trace,
        access_points,
        multicast_if,
        baud,
        chip: if profile == Profile::ESP_AT {
            "ESP32"
        } else {
            "W800"
        }
        .to_owned(),
        profile,
    }))
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .target(env_logger::Target::Stderr)
        .init();
    let config = match parse_args() {
        Ok(Some(c)) => c,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("at-modem: {e}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    match at_platform_std::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("at-modem: {e}");
            ExitCode::FAILURE
        }
    }
}
