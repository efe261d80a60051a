//! `cargo bench -p at-bench --bench command_path`: in-process timing on SimPlatform (no
//! assertions on speed). Instruction counts come from `./scripts/bench.sh` (callgrind).

use std::time::Duration;

use at_bench::scenarios::{time_scenario, Unit, CHUNK, SCENARIOS};

fn main() {
    // `cargo bench` passes `--bench`; a name filter may follow.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    for i in SCENARIOS
        .iter()
        .filter(|i| matches!(i.unit, Unit::Command | Unit::Poll) || i.name == "sim_connect")
    {
        if filter.as_deref().is_some_and(|f| !i.name.contains(f)) {
            continue;
        }
        let t = time_scenario(i.name, Duration::from_millis(500));
        println!(
            "{:<16} {:>10.0} ns/op {:>12.0} op/s {:>10.1} MB/s (if {CHUNK}-byte ops)  {}",
            t.name,
            t.ns_per_op,
            t.ops_per_sec(),
            t.bytes_per_sec() / 1e6,
            i.what
        );
    }
}
