//! The engine's own share of a callgrind profile.
//!
//! A scenario's measured region holds three kinds of code: the harness that feeds the
//! engine and takes its output (`at_bench`), the engine (`at_core`, `at_tcpip`,
//! `at_ssl`), and the simulated network stack (`at_core::sim`), which stands in for the
//! platform. [`EngineShare::of_profile`] reads the calls between them from a callgrind
//! output file: what the harness's calls into the engine cost in all, less what the
//! engine's calls out of itself (into the sim, or back into the harness's writer) cost.
//! That is exactly the engine's work, "excluding the network call", without a separate
//! baseline scenario whose own overhead would be counted as the stack's.
//!
//! Code of other crates (`core`, `heapless`, `nom`, `memchr`, libc's `memcpy`) counts for
//! whoever calls it. Sim code inlined into an engine function counts as the engine's: a
//! conservative error.

/// Who a function belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Harness,
    Engine,
    Platform,
    Other,
}

fn owner(name: &str) -> Owner {
    if name.contains("at_core::sim::") {
        Owner::Platform
    } else if name.contains("at_bench") {
        Owner::Harness
    } else if ["at_core::", "at_tcpip::", "at_ssl::"]
        .iter()
        .any(|c| name.contains(c))
    {
        Owner::Engine
    } else {
        Owner::Other
    }
}

/// The instructions (`Ir`) of a profile, split by owner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineShare {
    /// Inclusive cost of the harness's calls into the engine.
    pub into_engine: u64,
    /// Inclusive cost of the engine's calls into the sim or back into the harness.
    pub out_of_engine: u64,
}

impl EngineShare {
    /// The engine's own instructions.
    pub fn engine(&self) -> u64 {
        self.into_engine.saturating_sub(self.out_of_engine)
    }

    /// Reads a callgrind output file (format version 1, the `Ir` event first, name
    /// compression on or off, positions `line` (the default) or `instr line`).
    pub fn of_profile<'a>(text: &'a str) -> EngineShare {
        let mut names: std::collections::HashMap<&'a str, &'a str> = Default::default();
        // `fn=(12) name` defines id 12; later `fn=(12)` refers to it.
        let mut resolve = |rest: &'a str| -> Option<Owner> {
            let rest = rest.trim();
            let (id, name) = match rest.strip_prefix('(') {
                Some(r) => {
                    let (id, name) = r.split_once(')')?;
                    (Some(id), name.trim())
                }
                None => (None, rest),
            };
            let name = match (id, name.is_empty()) {
                (Some(id), true) => names.get(id).copied()?,
                (Some(id), false) => {
                    names.insert(id, name);
                    name
                }
                (None, _) => name,
            };
            Some(owner(name))
        };
        let mut share = EngineShare::default();
        let mut caller = Owner::Other;
        let mut callee = Owner::Other;
        let mut call_cost_next = false;
        // Cost lines start with one position per `positions:` entry, then the events.
        let mut positions = 1;
        for line in text.lines() {
            if let Some(kinds) = line.strip_prefix("positions:") {
                positions = kinds.split_whitespace().count().max(1);
            } else if let Some(rest) = line.strip_prefix("fn=") {
                caller = resolve(rest).unwrap_or(Owner::Other);
            } else if let Some(rest) = line.strip_prefix("cfn=") {
                callee = resolve(rest).unwrap_or(Owner::Other);
            } else if line.starts_with("calls=") {
                call_cost_next = true;
            } else if std::mem::take(&mut call_cost_next) {
                // The line after `calls=`: position(s), then the inclusive cost.
                let cost: u64 = line
                    .split_whitespace()
                    .nth(positions)
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                match (caller, callee) {
                    (Owner::Harness, Owner::Engine) => share.into_engine += cost,
                    (Owner::Engine, Owner::Platform | Owner::Harness) => {
                        share.out_of_engine += cost
                    }
                    _ => {}
                }
            }
        }
        share
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// A hand-written profile: the harness calls `feed` (100 in all) and `poll` (900 in
    /// all); `poll` calls the sim's `connect` (600) and the harness's writer (50), and
    /// `memcpy` (20, the engine's own copy).
    const PROFILE: &str = "\
version: 1
events: Ir
fn=(1) at_bench::scenarios::Scenario::op
5 10
cfn=(2) at_core::engine::Engine<C,_,_,_>::feed
calls=1 0
6 100
cfn=(3) at_core::engine::Engine<C,_,_,_>::poll
calls=1 0
7 900
fn=(3)
8 230
cfn=(4) <at_core::sim::SimNet as embedded_nal::stack::tcp::TcpClientStack>::connect
calls=1 0
9 600
cfn=(5) <at_bench::scenarios::Sink as embedded_io::Write>::write
calls=1 0
10 50
cfn=(6) __memcpy_avx_unaligned_erms
calls=1 0
11 20
fn=(4)
12 590
cfn=(6)
calls=1 0
13 10
";

    #[test]
    fn the_engine_share_excludes_the_harness_and_the_sim() {
        let share = EngineShare::of_profile(PROFILE);
        assert_eq!(share.into_engine, 1000);
        assert_eq!(share.out_of_engine, 650);
        assert_eq!(share.engine(), 350);
    }

    #[test]
    fn instruction_positions_are_skipped() {
        // `--dump-instr=yes` puts an address before the line number on every cost line.
        let mut with_addresses = String::from("positions: instr line\n");
        for line in PROFILE.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            if !line.contains('=') && !line.contains(':') && first.parse::<u64>().is_ok() {
                with_addresses.push_str("0x1000 ");
            }
            with_addresses.push_str(line);
            with_addresses.push('\n');
        }
        assert_eq!(
            EngineShare::of_profile(&with_addresses),
            EngineShare::of_profile(PROFILE)
        );
    }

    #[test]
    fn work_inside_the_sim_or_the_harness_does_not_count() {
        // More work inside the sim (its own memcpy) and in the harness (a direct call of
        // the std library) changes neither share.
        let busier = PROFILE.replace("12 590", "12 5900").to_string()
            + "fn=(1)\ncfn=(7) std::io::stdio::_print\ncalls=1 0\n14 4000\n";
        assert_eq!(
            EngineShare::of_profile(&busier),
            EngineShare::of_profile(PROFILE)
        );
        // A call the engine makes into the sim counts whatever it costs.
        let slower_sim = PROFILE.replace("9 600", "9 700");
        assert_eq!(EngineShare::of_profile(&slower_sim).out_of_engine, 750);
    }
}
