//! `cargo bench -p at-bench --bench end_to_end`: the release `at-modem` on loopback
//! against a plain relay, and `AT` latency on a pty. Needs
//! `cargo build --release -p at-platform-std` first. `AT_BENCH_BYTES` sets the volume
//! (default 100 MB).

fn main() {
    if !at_bench::e2e::modem_path().exists() {
        eprintln!("skipped: run `cargo build --release -p at-platform-std` first");
        return;
    }
    let bytes = std::env::var("AT_BENCH_BYTES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000_000u64);
    let t = at_bench::e2e::throughput(bytes);
    println!(
        "host->network transparent: at-modem {:.0} MB/s, relay {:.0} MB/s ({:.0}%)",
        t.modem_tx / 1e6,
        t.relay_tx / 1e6,
        100.0 * t.modem_tx / t.relay_tx
    );
    println!(
        "network->host +IPD:        at-modem {:.0} MB/s, relay {:.0} MB/s ({:.0}%)",
        t.modem_rx / 1e6,
        t.relay_rx / 1e6,
        100.0 * t.modem_rx / t.relay_rx
    );
    let (median, p99, n) = at_bench::e2e::at_latency(2000);
    println!("AT round trip on a pty ({n} samples): median {median:.0} us, p99 {p99:.0} us");
}
