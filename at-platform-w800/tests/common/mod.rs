//! What the lwIP test binaries share: the engine on the host's lwIP (`Host`), Linux
//! peers in the namespace, payloads and hashes.
#![allow(dead_code)]

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant as StdInstant};

use at_core::store::MemoryStore;
use at_core::{Engine, Instant, Profile};
use at_platform_w800::host::{self, LINUX_IP, LWIP_IP};
use at_platform_w800::platform::{AtW800Hooks, FirmwarePlatform};
use at_platform_w800::station::{EmulatedAp, EmulatedStation};

pub const TIMEOUT: Duration = Duration::from_secs(20);
pub const SSID: &str = "lab";
pub const PASSWORD: &str = "secret123";

pub type Modem = Engine<at_tcpip::TcpIp<FirmwarePlatform>>;

/// Output of the engine, kept whole.
#[derive(Default)]
pub struct Sink(pub Vec<u8>);

impl embedded_io::ErrorType for Sink {
    type Error = core::convert::Infallible;
}

impl embedded_io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// FNV-1a, 64 bits.
pub fn hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Pseudo-random bytes (xorshift), every byte value included.
pub fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The engine, its platform on lwIP, and everything it printed.
pub struct Host {
    pub engine: Modem,
    pub platform: FirmwarePlatform,
    pub out: Sink,
    /// Bytes of `out` already consumed by `expect`/`take`.
    pub seen: usize,
    pub t0: StdInstant,
    pub skew_ms: u64,
}

impl Host {
    /// A booted engine (echo off) on the host's lwIP, joined to the emulated AP.
    pub fn joined() -> Host {
        let lwip = host::start().expect("host lwIP (run as root with /dev/net/tun)");
        let mut station = EmulatedStation::new(lwip.ipv4, lwip.ipv6_link_local, lwip.mac);
        station.add_ap(EmulatedAp::new(SSID, PASSWORD).unwrap());
        let platform = FirmwarePlatform::new(MemoryStore::new(), station, AtW800Hooks::default());
        let mut h = Host {
            engine: Modem::new(Profile::W800, Default::default()),
            platform,
            out: Sink::default(),
            seen: 0,
            t0: StdInstant::now(),
            skew_ms: 0,
        };
        h.expect(b"ready\r\n");
        h.chat("ATE0", b"OK\r\n");
        h.chat(
            &format!("AT+CWJAP=\"{SSID}\",\"{PASSWORD}\""),
            b"WIFI GOT IP\r\n\r\nOK\r\n",
        );
        h
    }

    pub fn now(&self) -> Instant {
        Instant::from_millis(self.t0.elapsed().as_millis() as u64 + self.skew_ms)
    }

    /// Lets `ms` of engine time pass at once (guard times).
    pub fn skip(&mut self, ms: u64) {
        self.skew_ms += ms;
        self.poll();
    }

    pub fn poll(&mut self) {
        let now = self.now();
        self.engine
            .poll(now, &mut self.platform, &mut self.out)
            .unwrap();
    }

    /// Feeds all of `input`, polling between, within the timeout.
    pub fn feed(&mut self, mut input: &[u8]) {
        let deadline = StdInstant::now() + TIMEOUT;
        while !input.is_empty() {
            let now = self.now();
            let n = self.engine.feed(now, input);
            input = &input[n..];
            self.poll();
            if n == 0 {
                assert!(
                    StdInstant::now() < deadline,
                    "the engine stopped taking input"
                );
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }

    /// Polls until the unseen output contains `pattern`; returns the output up to and
    /// including it.
    pub fn expect(&mut self, pattern: &[u8]) -> Vec<u8> {
        let deadline = StdInstant::now() + TIMEOUT;
        loop {
            self.poll();
            if let Some(i) = find(&self.out.0[self.seen..], pattern) {
                let end = self.seen + i + pattern.len();
                let got = self.out.0[self.seen..end].to_vec();
                self.seen = end;
                return got;
            }
            assert!(
                StdInstant::now() < deadline,
                "no {:?} in {:?}",
                String::from_utf8_lossy(pattern),
                String::from_utf8_lossy(&self.out.0[self.seen..])
            );
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Sends a command line and waits for `pattern`; returns the output up to it.
    pub fn chat(&mut self, line: &str, pattern: &[u8]) -> String {
        self.feed(format!("{line}\r\n").as_bytes());
        String::from_utf8_lossy(&self.expect(pattern)).into_owned()
    }

    /// `AT+CIPSEND=<args>`, the payload, `SEND OK`.
    pub fn cipsend(&mut self, args: &str, data: &[u8]) {
        self.chat(&format!("AT+CIPSEND={args}"), b">");
        self.feed(data);
        self.expect(b"SEND OK\r\n");
    }

    /// Polls until `n` bytes of `+IPD` payload arrived; returns them.
    pub fn ipd_payload(&mut self, n: usize) -> Vec<u8> {
        let mut data = Vec::with_capacity(n);
        let deadline = StdInstant::now() + TIMEOUT * 3;
        while data.len() < n {
            self.poll();
            let rest = &self.out.0[self.seen..];
            if let Some(i) = find(rest, b"+IPD,") {
                if let Some(colon) = rest[i..].iter().position(|&b| b == b':') {
                    let header = std::str::from_utf8(&rest[i + 5..i + colon]).unwrap();
                    let len: usize = header.rsplit(',').next().unwrap().parse().unwrap();
                    let start = i + colon + 1;
                    if rest.len() >= start + len {
                        data.extend_from_slice(&rest[start..start + len]);
                        self.seen += start + len;
                        continue;
                    }
                }
            }
            assert!(
                StdInstant::now() < deadline,
                "only {} of {n} bytes",
                data.len()
            );
            std::thread::sleep(Duration::from_micros(100));
        }
        data
    }
}

/// A Linux TCP listener in the namespace.
pub fn listener() -> (TcpListener, u16) {
    host::start().unwrap();
    let l = TcpListener::bind((LINUX_IP, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

pub fn accept(l: &TcpListener) -> TcpStream {
    l.set_nonblocking(true).unwrap();
    let deadline = StdInstant::now() + TIMEOUT;
    loop {
        match l.accept() {
            Ok((s, from)) => {
                assert_eq!(from.ip(), LWIP_IP);
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(TIMEOUT)).unwrap();
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(StdInstant::now() < deadline, "no connection");
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

pub fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    s.read_exact(&mut buf).unwrap();
    buf
}
