//! SNTP: `AT+CIPSNTPCFG`, `AT+CIPSNTPTIME?`, `AT+CIPSNTPINTV`, periodic synchronisation
//! and the time it keeps. (Being written.)

use at_core::net::NetPlatform;
use at_core::{Args, Context, ErrCode, Instant, Outcome};

use crate::TcpIp;

/// SNTP configuration and the time kept.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sntp {}

impl Sntp {
    pub(crate) fn load<P: NetPlatform>(&mut self, ctx: &mut Context<'_, P>) {
        let _ = ctx;
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        None
    }
}

impl<P: NetPlatform> TcpIp<P> {
    pub(crate) fn sntp_cfg_query(&mut self, ctx: &mut Context<'_, P>) -> Outcome {
        let _ = ctx;
        Outcome::Error(ErrCode::EXEC)
    }
    pub(crate) fn sntp_cfg_set(&mut self, args: &Args<'_>, ctx: &mut Context<'_, P>) -> Outcome {
        let _ = (args, ctx);
        Outcome::Error(ErrCode::EXEC)
    }
    pub(crate) fn sntp_time_query(&mut self, ctx: &mut Context<'_, P>) -> Outcome {
        let _ = ctx;
        Outcome::Error(ErrCode::EXEC)
    }
    pub(crate) fn sntp_intv_query(&mut self, ctx: &mut Context<'_, P>) -> Outcome {
        let _ = ctx;
        Outcome::Error(ErrCode::EXEC)
    }
    pub(crate) fn sntp_intv_set(&mut self, args: &Args<'_>, ctx: &mut Context<'_, P>) -> Outcome {
        let _ = (args, ctx);
        Outcome::Error(ErrCode::EXEC)
    }
    pub(crate) fn poll_sntp(&mut self, ctx: &mut Context<'_, P>) {
        let _ = ctx;
    }
}
