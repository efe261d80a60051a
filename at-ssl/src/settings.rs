//! The SSL client settings of each link id and the commands that set them:
//! `AT+CIPSSLCCONF` (authentication mode, PKI and CA index), `AT+CIPSSLCCN` (the name
//! the server's certificate must carry), `AT+CIPSSLCSNI`, `AT+CIPSSLCALPN` and
//! `AT+CIPSSLCPSK`.
//!
//! The settings belong to link ids, not to links: they are read when `AT+CIPSTART`
//! opens an SSL link on that id ([`SslSettings::client_config`]). In single-connection
//! mode the commands take no id and address id 0; in multi-connection mode id
//! [`MAX_LINKS`] (5) means every id, as the specification says. The queries list id 0
//! in single-connection mode and every id in multi-connection mode, always with the id
//! first as the specification's formats show. Only `AT+CIPSSLCCONF` is kept in the
//! settings store (with `AT+SYSSTORE=1`), as the specification says.

use at_core::link::MAX_LINKS;
use at_core::text::{Piece, Text};
use at_core::{ArgError, Args, CommandInfo, Context, ErrCode, Form, Forms, Outcome, Platform};
use heapless::{String, Vec};

use crate::tls::{AlpnIter, AuthMode, ClientConfig, Psk, PKI_INDEX_MAX};

/// Longest `AT+CIPSSLCCN` common name and `AT+CIPSSLCSNI` name, in bytes.
pub const NAME_MAX: usize = 64;
/// Most ALPN protocols of one link id.
pub const ALPN_COUNT_MAX: usize = 5;
/// Room for one link id's ALPN protocols in wire format (a length byte before each name):
/// five protocols of up to 24 bytes each, or fewer longer ones.
pub const ALPN_WIRE_MAX: usize = 128;
/// Longest `AT+CIPSSLCPSK` key, in hexadecimal digits (16 bytes).
pub const PSK_HEX_MAX: usize = 32;
/// Longest PSK key, in bytes.
pub const PSK_KEY_MAX: usize = PSK_HEX_MAX / 2;
/// Longest `AT+CIPSSLCPSK` hint (the identity the client sends), in bytes.
pub const PSK_HINT_MAX: usize = 32;

/// Store key of the `AT+CIPSSLCCONF` table.
const CCONF_KEY: &str = "ssl.cconf";

/// The SSL client settings of one link id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkSettings {
    /// `<auth_mode>`.
    pub auth: AuthMode,
    /// `<pki_number>`.
    pub pki_index: u8,
    /// `<ca_number>`.
    pub ca_index: u8,
    /// `AT+CIPSSLCCN`; empty: the host name is verified.
    pub common_name: String<NAME_MAX>,
    /// `AT+CIPSSLCSNI`; empty: the host name is sent.
    pub sni: String<NAME_MAX>,
    /// `AT+CIPSSLCALPN`, wire format.
    alpn: Vec<u8, ALPN_WIRE_MAX>,
    /// `AT+CIPSSLCPSK` key as given (hexadecimal); empty: no PSK.
    psk_hex: String<PSK_HEX_MAX>,
    /// `AT+CIPSSLCPSK` hint.
    psk_hint: String<PSK_HINT_MAX>,
}

impl LinkSettings {
    /// The ALPN protocols in wire format.
    pub fn alpn_wire(&self) -> &[u8] {
        &self.alpn
    }
}

/// One of the SSL client commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SslCommand {
    /// `AT+CIPSSLCCONF`.
    ClientConf,
    /// `AT+CIPSSLCCN`.
    CommonName,
    /// `AT+CIPSSLCSNI`.
    Sni,
    /// `AT+CIPSSLCALPN`.
    Alpn,
    /// `AT+CIPSSLCPSK`.
    Psk,
}

const QS: Forms = Forms::QUERY.with(Forms::SET);

/// The commands' names and forms, in [`SslCommand::ALL`] order.
pub static SSL_COMMANDS: [CommandInfo; 5] = [
    CommandInfo::new("+CIPSSLCCONF", QS),
    CommandInfo::new("+CIPSSLCCN", QS),
    CommandInfo::new("+CIPSSLCSNI", QS),
    CommandInfo::new("+CIPSSLCALPN", QS),
    CommandInfo::new("+CIPSSLCPSK", QS),
];

impl SslCommand {
    /// Every command, in [`SSL_COMMANDS`] order.
    pub const ALL: [SslCommand; 5] = [
        SslCommand::ClientConf,
        SslCommand::CommonName,
        SslCommand::Sni,
        SslCommand::Alpn,
        SslCommand::Psk,
    ];
}

/// The SSL client settings of every link id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SslSettings {
    links: [LinkSettings; MAX_LINKS],
}

fn exec() -> Outcome {
    Outcome::Error(ErrCode::EXEC)
}

/// Writes one response line made of `pieces` (each as its `Display` prints it, see
/// [`Text::put`]) and `\r\n`; a full queue becomes `ERROR`.
macro_rules! line {
    ($ctx:expr, $($piece:expr),+ $(,)?) => {
        if $ctx.out.compose()$(.put($piece))+.line().is_err() {
            return exec();
        }
    };
}

/// `?` for argument errors inside functions returning `Outcome`.
macro_rules! arg {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Outcome::from(e),
        }
    };
}

/// Is `text` an even number of hexadecimal digits?
fn is_hex(text: &str) -> bool {
    text.len() % 2 == 0 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

impl SslSettings {
    /// Power-on settings: authentication off, indexes 0, no names, ALPN or PSK.
    pub fn new() -> Self {
        Self::default()
    }

    /// The settings of link id `id`.
    pub fn link(&self, id: usize) -> Option<&LinkSettings> {
        self.links.get(id)
    }

    /// Back to power-on settings, in place (one link id's settings at a time on the
    /// stack, not all five).
    pub fn reset(&mut self) {
        for link in &mut self.links {
            *link = LinkSettings::default();
        }
    }

    /// Back to power-on settings, then the stored `AT+CIPSSLCCONF` table.
    pub fn restart<P: Platform>(&mut self, ctx: &mut Context<'_, P>) {
        self.reset();
        let mut buf = [0u8; 3 * MAX_LINKS];
        let Some(stored) = ctx.load(CCONF_KEY, &mut buf) else {
            return;
        };
        if stored.len() != 3 * MAX_LINKS {
            return;
        }
        for (link, entry) in self.links.iter_mut().zip(stored.chunks_exact(3)) {
            if let (Some(auth), true) = (
                AuthMode::from_number(entry[0]),
                entry[1] <= PKI_INDEX_MAX && entry[2] <= PKI_INDEX_MAX,
            ) {
                link.auth = auth;
                link.pki_index = entry[1];
                link.ca_index = entry[2];
            }
        }
    }

    /// The TLS client configuration of an SSL link opened on `id` to `host` (`None`
    /// when `id` is not a link id). `key` receives the decoded PSK; `unix_time` is the
    /// module's clock, if set.
    pub fn client_config<'a>(
        &'a self,
        id: usize,
        host: &'a str,
        key: &'a mut [u8; PSK_KEY_MAX],
        unix_time: Option<u64>,
    ) -> Option<ClientConfig<'a>> {
        let s = self.links.get(id)?;
        let verify_name = if s.common_name.is_empty() {
            host
        } else {
            s.common_name.as_str()
        };
        let sni = if !s.sni.is_empty() {
            Some(s.sni.as_str())
        } else if at_core::addr::ip_literal(host.as_bytes()).is_some() {
            None
        } else {
            Some(host)
        };
        let psk = if s.auth == AuthMode::None && !s.psk_hex.is_empty() {
            let digits = s.psk_hex.as_bytes();
            for (byte, pair) in key.iter_mut().zip(digits.chunks_exact(2)) {
                *byte = hex_value(pair[0]) << 4 | hex_value(pair[1]);
            }
            let len = (digits.len() / 2).min(PSK_KEY_MAX);
            Some(Psk {
                key: &key[..len],
                identity: s.psk_hint.as_str(),
            })
        } else {
            None
        };
        Some(ClientConfig {
            auth: s.auth,
            pki_index: s.pki_index,
            ca_index: s.ca_index,
            verify_name,
            sni,
            alpn: &s.alpn,
            psk,
            unix_time,
        })
    }

    /// Runs one of the SSL client commands; `mux` is `AT+CIPMUX`.
    pub fn execute<P: Platform>(
        &mut self,
        command: SslCommand,
        form: Form,
        args: &Args<'_>,
        mux: bool,
        ctx: &mut Context<'_, P>,
    ) -> Outcome {
        if form == Form::Query {
            return self.query(command, mux, ctx);
        }
        let base = usize::from(mux);
        // Too few parameters is a count error before the id is looked at, as for the
        // TCP/IP set's commands.
        let least = if command == SslCommand::Psk { 2 } else { 1 };
        arg!(args.count(base + least, at_core::params::MAX_PARAMS));
        let ids = if mux {
            match arg!(args.int(0, 0..=MAX_LINKS as i32)) as usize {
                MAX_LINKS => 0..MAX_LINKS,
                id => id..id + 1,
            }
        } else {
            0..1
        };
        match command {
            SslCommand::ClientConf => self.set_conf(args, base, ids, ctx),
            SslCommand::CommonName | SslCommand::Sni => {
                arg!(args.count(base + 1, base + 1));
                let name = arg!(args.name(base, NAME_MAX));
                let Ok(name) = String::<NAME_MAX>::try_from(name) else {
                    return ArgError::Length(base as u8).into();
                };
                for link in &mut self.links[ids] {
                    if command == SslCommand::CommonName {
                        link.common_name = name.clone();
                    } else {
                        link.sni = name.clone();
                    }
                }
                Outcome::Ok
            }
            SslCommand::Alpn => {
                arg!(args.count(base + 1, base + 1 + ALPN_COUNT_MAX));
                let count = arg!(args.int(base, 0..=ALPN_COUNT_MAX as i32)) as usize;
                arg!(args.count(base + 1 + count, base + 1 + count));
                let mut wire = Vec::<u8, ALPN_WIRE_MAX>::new();
                for i in base + 1..base + 1 + count {
                    let name = arg!(args.name(i, usize::from(u8::MAX))).as_bytes();
                    if name.is_empty() {
                        return ArgError::Length(i as u8).into();
                    }
                    let fits =
                        wire.push(name.len() as u8).is_ok() && wire.extend_from_slice(name).is_ok();
                    if !fits {
                        return ArgError::Length(i as u8).into();
                    }
                }
                for link in &mut self.links[ids] {
                    link.alpn = wire.clone();
                }
                Outcome::Ok
            }
            SslCommand::Psk => {
                arg!(args.count(base + 2, base + 2));
                let psk = arg!(args.text(base, PSK_HEX_MAX));
                if !is_hex(psk) {
                    return ArgError::Invalid(base as u8).into();
                }
                let hint = arg!(args.name(base + 1, PSK_HINT_MAX));
                let (Ok(psk), Ok(hint)) = (String::try_from(psk), String::try_from(hint)) else {
                    return exec();
                };
                for link in &mut self.links[ids] {
                    link.psk_hex = psk.clone();
                    link.psk_hint = hint.clone();
                }
                Outcome::Ok
            }
        }
    }

    fn set_conf<P: Platform>(
        &mut self,
        args: &Args<'_>,
        base: usize,
        ids: core::ops::Range<usize>,
        ctx: &mut Context<'_, P>,
    ) -> Outcome {
        arg!(args.count(base + 1, base + 3));
        let auth = arg!(args.int(base, 0..=3)) as u8;
        let Some(auth) = AuthMode::from_number(auth) else {
            return ArgError::Invalid(base as u8).into();
        };
        let range = 0..=i32::from(PKI_INDEX_MAX);
        let pki = arg!(args.opt_int(base + 1, range.clone())).unwrap_or(0) as u8;
        let ca = arg!(args.opt_int(base + 2, range)).unwrap_or(0) as u8;
        let mut table = [0u8; 3 * MAX_LINKS];
        for (id, entry) in table.chunks_exact_mut(3).enumerate() {
            let (a, p, c) = if ids.contains(&id) {
                (auth, pki, ca)
            } else {
                let l = &self.links[id];
                (l.auth, l.pki_index, l.ca_index)
            };
            entry.copy_from_slice(&[a as u8, p, c]);
        }
        if let Err(e) = ctx.save(CCONF_KEY, &table) {
            return e.into();
        }
        for link in &mut self.links[ids] {
            link.auth = auth;
            link.pki_index = pki;
            link.ca_index = ca;
        }
        Outcome::Ok
    }

    fn query<P: Platform>(
        &self,
        command: SslCommand,
        mux: bool,
        ctx: &mut Context<'_, P>,
    ) -> Outcome {
        let shown = if mux { MAX_LINKS } else { 1 };
        for (id, s) in self.links.iter().enumerate().take(shown) {
            match command {
                SslCommand::ClientConf => line!(
                    ctx,
                    "+CIPSSLCCONF:",
                    id,
                    ",",
                    s.auth as u8,
                    ",",
                    s.pki_index,
                    ",",
                    s.ca_index
                ),
                SslCommand::CommonName => {
                    line!(ctx, "+CIPSSLCCN:", id, ",\"", s.common_name.as_str(), "\"")
                }
                SslCommand::Sni => line!(ctx, "+CIPSSLCSNI:", id, ",\"", s.sni.as_str(), "\""),
                SslCommand::Alpn => line!(ctx, "+CIPSSLCALPN:", id, AlpnList(&s.alpn)),
                SslCommand::Psk => line!(
                    ctx,
                    "+CIPSSLCPSK:",
                    id,
                    ",\"",
                    s.psk_hex.as_str(),
                    "\",\"",
                    s.psk_hint.as_str(),
                    "\""
                ),
            }
        }
        Outcome::Ok
    }
}

/// Displays wire-format ALPN names as `,"name"` each.
struct AlpnList<'a>(&'a [u8]);

impl Piece for AlpnList<'_> {
    fn put_into(self, text: &mut Text<'_>) {
        for name in AlpnIter::new(self.0) {
            // Names were UTF-8 when set.
            let name = core::str::from_utf8(name).unwrap_or_default();
            text.str(",").quoted(name);
        }
    }
}
