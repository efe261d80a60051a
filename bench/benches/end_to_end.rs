//! `cargo bench -p at-bench --bench end_to_end`: the release `at-modem` on loopback
//! against a plain relay, `AT` latency on a pty, and wake-ups of an idle at-modem. Needs
//! `cargo build --release -p at-platform-std` first. `AT_BENCH_BYTES` sets the volume
//! per run (default 100 MB), `AT_BENCH_ROUNDS` the number of paired rounds (default 9).

fn main() {
    if !at_bench::e2e::modem_path().exists() {
        eprintln!("skipped: run `cargo build --release -p at-platform-std` first");
        return;
    }
    let bytes = std::env::var("AT_BENCH_BYTES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000_000u64);
    let rounds = std::env::var("AT_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(9usize);
    let t = at_bench::e2e::throughput(bytes, rounds);
    for (what, p) in [
        ("host->network transparent", &t.tx),
        ("network->host +IPD       ", &t.rx),
    ] {
        let (lo, hi) = p.ratio_range();
        println!(
            "{what}: at-modem {:.0} MB/s, relay {:.0} MB/s (medians of {rounds} rounds); \
             ratio median {:.0}%, rounds {:.0}-{:.0}%",
            p.median_modem() / 1e6,
            p.median_relay() / 1e6,
            100.0 * p.median_ratio(),
            100.0 * lo,
            100.0 * hi
        );
    }
    let (median, p99, n) = at_bench::e2e::at_latency(2000);
    println!("AT round trip on a pty ({n} samples): median {median:.0} us, p99 {p99:.0} us");
    for row in at_bench::e2e::idle_wakeups(std::time::Duration::from_secs(3)) {
        println!("idle wake-ups/s, {}: {:.1}", row.state, row.per_sec);
    }
}
