//! RAM footprint: `size_of` of the engine with the W800 profile, the full command set and
//! all its buffers, on the simulated platform and on a firmware-shaped platform with
//! one-byte socket handles ([`crate::firmware::FwPlatform`]).
//!
//! The engine's and the command set's fields are private, so the breakdown adds up the
//! buffers from their declared capacities (`Engine<C, LINE = 256, OUT = 4096,
//! DATA = 5760>`; `at_tcpip`'s `passive::UDP_WINDOW` = 2048 plus 8 record headers of 22
//! bytes; received data goes straight into the output queue, so there is no receive
//! buffer) and reports the rest as "other state".

use core::mem::size_of;

use at_core::engine::Engine;
use at_core::line::LineAssembler;
use at_core::response::OutQueue;
use at_core::sim::SimPlatform;
use at_tcpip::TcpIp;

use crate::firmware::FwPlatform;

/// `at_tcpip::passive::UDP_WINDOW` plus its 8 record headers of 22 bytes (private).
pub const UDP_WINDOW_BYTES: usize = 2048 + 8 * 22;
/// The target.
pub const TARGET: usize = 16 * 1024;

/// One row of the breakdown: what, bytes.
pub type Row = (&'static str, usize);

/// The breakdown for command set `C`'s TcpIp on platform `P`.
fn rows<P: at_core::net::NetPlatform>(total: usize) -> Vec<Row> {
    let line = size_of::<LineAssembler<256>>();
    let scratch = 256;
    let out = size_of::<OutQueue<4096>>();
    let data = 5760 + size_of::<usize>();
    let tcpip = size_of::<TcpIp<P>>();
    let links = size_of::<at_core::link::LinkTable<at_tcpip::TcpOf<P>, at_tcpip::UdpOf<P>>>();
    let engine_rest = total.saturating_sub(line + scratch + out + data + tcpip);
    vec![
        ("engine: line assembler (LINE = 256)", line),
        ("engine: scratch line (LINE = 256)", scratch),
        ("engine: output queue (OUT = 4096)", out),
        ("engine: data buffer (DATA = 5760)", data),
        (
            "engine: other state (system settings, state machine, timers)",
            engine_rest,
        ),
        ("TcpIp: total", tcpip),
        (
            "TcpIp: passive UDP window (2048 + 8 x 22)",
            UDP_WINDOW_BYTES,
        ),
        ("TcpIp: link table (6 links)", links),
        (
            "TcpIp: other state (SNTP, DNS, Wi-Fi, options, server)",
            tcpip.saturating_sub(UDP_WINDOW_BYTES + links),
        ),
    ]
}

/// Total and breakdown of `Engine<TcpIp<SimPlatform>>`.
pub fn sim() -> (usize, Vec<Row>) {
    let total = size_of::<Engine<TcpIp<SimPlatform>>>();
    (total, rows::<SimPlatform>(total))
}

/// Total and breakdown of `Engine<TcpIp<FwPlatform>>` (one-byte socket handles).
pub fn firmware() -> (usize, Vec<Row>) {
    let total = size_of::<crate::firmware::FwEngine>();
    (total, rows::<FwPlatform>(total))
}

/// The footprint as a Markdown table.
pub fn markdown() -> String {
    let (sim_total, sim_rows) = sim();
    let (fw_total, fw_rows) = firmware();
    let mut s = String::new();
    s.push_str("| part | SimPlatform (bytes) | 1-byte handles (bytes) |\n|---|---:|---:|\n");
    for (a, b) in sim_rows.iter().zip(fw_rows.iter()) {
        s.push_str(&format!("| {} | {} | {} |\n", a.0, a.1, b.1));
    }
    s.push_str(&format!(
        "| **Engine total** (target <= {} = 16 KiB) | **{}** | **{}** |\n",
        TARGET, sim_total, fw_total
    ));
    s
}
