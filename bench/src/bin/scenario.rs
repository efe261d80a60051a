//! Runs one scenario for callgrind: `scenario <name> <iterations>`. Set-up is not
//! counted when run as
//! `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*zz_callgrind_measured_region*' target/release/scenario cipstart 1000`:
//! the instruction total divided by the iterations is the cost of one operation.

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| {
        let names: Vec<_> = at_bench::scenarios::SCENARIOS
            .iter()
            .map(|s| s.name)
            .collect();
        eprintln!(
            "usage: scenario <name> [iterations]; names: {}",
            names.join(" ")
        );
        std::process::exit(2)
    });
    let n: u64 = args.next().map_or(1000, |s| s.parse().expect("iterations"));
    let mut s = at_bench::scenarios::Scenario::new(&name);
    s.run_marked(n);
}
