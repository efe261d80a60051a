//! # at-tcpip
//!
//! The TCP/IP command set of the W800 "TCP/IP AT" specification (`AT+CIPSTART`,
//! `AT+CIPSEND`, `AT+CIPSERVER`, ...) as an [`at_core::CommandSet`].
//!
//! Deliberately missing so far: every command. The engine foundation (line assembly,
//! parsing, dispatch, basic commands) is in `at-core`; the connection, data-path and
//! network-service commands land here next, on the network boundary of `at-core`. Until
//! then [`TcpIp`] is an empty set, and a module built with it answers every TCP/IP command
//! with `ERROR`, as a module without them would.
#![no_std]
#![deny(missing_docs)]
#![deny(unsafe_code)]

use at_core::{Args, CommandInfo, CommandSet, Context, ErrCode, Form, Outcome, Platform};

/// The TCP/IP command set (empty for now, see the crate documentation).
#[derive(Clone, Debug, Default)]
pub struct TcpIp;

impl<P: Platform> CommandSet<P> for TcpIp {
    fn len(&self) -> usize {
        0
    }

    fn info(&self, _index: usize) -> Option<&'static CommandInfo> {
        None
    }

    fn execute(
        &mut self,
        _index: usize,
        _form: Form,
        _args: &Args<'_>,
        _ctx: &mut Context<'_, P>,
    ) -> Outcome {
        Outcome::Error(ErrCode::EXEC)
    }
}
