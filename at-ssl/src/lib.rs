//! # at-ssl
//!
//! SSL links and the SSL client settings of the W800 "TCP/IP AT" specification
//! (`AT+CIPSSLCCONF`, `AT+CIPSSLCCN`, `AT+CIPSSLCSNI`, `AT+CIPSSLCALPN`,
//! `AT+CIPSSLCPSK`) and the TLS boundary a platform implements.
//!
//! Deliberately missing so far: all of it. The crate exists so the workspace has its
//! final shape; [`Ssl`] is an empty [`at_core::CommandSet`] until the SSL work lands, and
//! a module built with it answers the SSL commands with `ERROR`.
#![no_std]
#![deny(missing_docs)]
#![deny(unsafe_code)]

use at_core::{Args, CommandInfo, CommandSet, Context, ErrCode, Form, Outcome, Platform};

/// The SSL command set (empty for now, see the crate documentation).
#[derive(Clone, Debug, Default)]
pub struct Ssl;

impl<P: Platform> CommandSet<P> for Ssl {
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
