//! Runs every measurement and writes `target/bench/results.md` and
//! `target/bench/results.json`. Use `./scripts/bench.sh` (it builds what this needs).
//!
//! `report [--quick]`: `--quick` moves 10 MB instead of 100 MB end to end.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use at_bench::scenarios::{self, Unit, CHUNK, SCENARIOS};

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Instructions per operation of scenario `name`, counted by callgrind: all of them, and
/// the engine's own (see `at_bench::callgrind`).
fn callgrind(name: &str, iters: u64, out_dir: &Path) -> Option<(f64, f64)> {
    let exe = std::env::current_exe().ok()?.with_file_name("scenario");
    let out = out_dir.join(format!("callgrind.{name}.out"));
    let o = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--collect-atstart=no",
            "--toggle-collect=*zz_callgrind_measured_region*",
        ])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(&exe)
        .args([name, &iters.to_string()])
        .output()
        .ok()?;
    let err = String::from_utf8_lossy(&o.stderr);
    let n: f64 = err
        .lines()
        .find_map(|l| l.split("Collected :").nth(1))?
        .trim()
        .parse()
        .ok()?;
    // The top costs, for the profile section.
    let annotate = Command::new("callgrind_annotate")
        .args(["--inclusive=no", "--threshold=95"])
        .arg(&out)
        .output()
        .ok()?;
    let _ = std::fs::write(
        out_dir.join(format!("profile.{name}.txt")),
        &annotate.stdout,
    );
    let profile = std::fs::read_to_string(&out).ok()?;
    let engine = at_bench::callgrind::EngineShare::of_profile(&profile).engine();
    Some((n / iters as f64, engine as f64 / iters as f64))
}

struct CodeSize {
    target: &'static str,
    linked_text: Option<u64>,
    object_text: Option<u64>,
    object: Option<PathBuf>,
}

fn text_of(path: &Path) -> Option<u64> {
    let o = Command::new("llvm-size").arg(path).output().ok()?;
    let s = String::from_utf8_lossy(&o.stdout);
    s.lines().nth(1)?.split_whitespace().next()?.parse().ok()
}

fn newest(dir: &Path, prefix: &str, suffix: &str) -> Option<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(prefix) && n.ends_with(suffix) && !n.contains("rcgu")
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    v.sort();
    v.pop().map(|(_, p)| p)
}

/// Code size of the firmware image (`src/bin/firmware.rs`) at opt-level "s", fat LTO,
/// panic = abort.
fn code_size(target: &'static str, nightly: bool) -> CodeSize {
    let root = root();
    let size_dir = root.join("target/bench/size");
    let spec = root.join("targets/csky-ck804-none-elf.json");
    let target_arg = if nightly {
        spec.display().to_string()
    } else {
        target.to_string()
    };
    let run = |extra: &[&str]| {
        let mut c = Command::new("cargo");
        if nightly {
            c.arg("+nightly");
        }
        c.current_dir(&root)
            .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "s")
            .env("CARGO_PROFILE_RELEASE_PANIC", "abort")
            .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
            .env("CARGO_PROFILE_RELEASE_LTO", "fat")
            .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
            .args([
                "rustc",
                "-q",
                "-p",
                "at-bench",
                "--bin",
                "firmware",
                "--release",
            ])
            .args(["--no-default-features", "--features", "firmware"]);
        if nightly {
            c.args(["-Zbuild-std=core", "-Zjson-target-spec"]);
        }
        c.args(["--target", &target_arg, "--target-dir"])
            .arg(&size_dir)
            .args(extra);
        let _ = c.status();
    };
    // The LTO object (all of the engine, before linking against compiler_builtins).
    run(&["--", "--emit=obj"]);
    let deps = size_dir.join(target).join("release/deps");
    let object = newest(&deps, "firmware-", ".o");
    let object_text = object.as_deref().and_then(text_of);
    // The linked image (thumbv7em only: no C-SKY linker here).
    let linked_text = if nightly {
        None
    } else {
        run(&[]);
        text_of(&size_dir.join(target).join("release/firmware"))
    };
    CodeSize {
        target,
        linked_text,
        object_text,
        object,
    }
}

/// The branch and call census of the CK804 object, with the nightly toolchain's
/// `llvm-objdump` (component `llvm-tools`; the system's has no C-SKY).
fn csky_census(object: &Path) -> Option<at_bench::csky::BranchCensus> {
    let sysroot = sh("rustc +nightly --print sysroot");
    let host = sh("rustc +nightly -vV | sed -n 's/^host: //p'");
    let objdump = Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(host.trim())
        .join("bin/llvm-objdump");
    let out = Command::new(objdump)
        .args(["-d", "--mcpu=ck804ef"])
        .arg(object)
        .output()
        .ok()?;
    out.status.success().then(|| {
        at_bench::csky::BranchCensus::of_disassembly(&String::from_utf8_lossy(&out.stdout))
    })
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let out_dir = root().join("target/bench");
    std::fs::create_dir_all(&out_dir).expect("target/bench");
    let cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2");
    let nproc = sh("nproc");
    let rustc = sh("rustc --version");
    let mut md = String::new();
    let mut json = String::from("{\n");
    let _ = writeln!(md, "# AT engine benchmark results\n");
    let _ = writeln!(md, "Machine: {nproc} cores, {cpu}; {rustc}.\n");
    let _ = writeln!(
        json,
        "  \"machine\": {{\"nproc\": \"{nproc}\", \"cpu\": \"{cpu}\", \"rustc\": \"{rustc}\"}},"
    );

    // In process: timing and callgrind.
    let has_valgrind = Command::new("valgrind").arg("--version").output().is_ok();
    eprintln!("in-process scenarios (valgrind: {has_valgrind})");
    let mut rows = Vec::new();
    for info in SCENARIOS {
        let t = scenarios::time_scenario(info.name, Duration::from_millis(400));
        let ir = if has_valgrind {
            callgrind(info.name, 2000, &out_dir)
        } else {
            None
        };
        eprintln!(
            "  {:<16} {:>10.0} ns/op  {:?} Ir/op",
            info.name, t.ns_per_op, ir
        );
        rows.push((info, t, ir));
    }
    let _ = writeln!(md, "## Command path (in process, SimPlatform)\n");
    let _ = writeln!(
        md,
        "| command | commands/s | ns/command | instructions/command | the engine's own (sim and harness excluded) |\n|---|---:|---:|---:|---:|"
    );
    let mut jrows = Vec::new();
    // The engine's own share; the baseline scenarios call the sim directly and have none.
    let own = |info: &scenarios::Info, ir: Option<(f64, f64)>| {
        ir.filter(|_| info.unit != Unit::Baseline).map(|(_, e)| e)
    };
    for (info, t, ir) in &rows {
        let fmt = |v: Option<f64>| v.map_or("".into(), |v| format!("{v:.0}"));
        match info.unit {
            Unit::Command | Unit::Baseline
                if info.name != "sim_send" && info.name != "sim_recv" =>
            {
                let _ = writeln!(
                    md,
                    "| {} | {:.0} | {:.0} | {} | {} |",
                    info.what,
                    t.ops_per_sec(),
                    t.ns_per_op,
                    fmt(ir.map(|(all, _)| all)),
                    fmt(own(info, *ir))
                );
            }
            _ => {}
        }
        let json_num = |v: Option<f64>| v.map_or("null".into(), |v| format!("{v:.1}"));
        jrows.push(format!(
            "    {{\"name\": \"{}\", \"unit\": \"{:?}\", \"ops\": {}, \"ns_per_op\": {:.1}, \"ops_per_sec\": {:.0}, \"instructions_per_op\": {}, \"engine_instructions_per_op\": {}}}",
            info.name,
            info.unit,
            t.ops,
            t.ns_per_op,
            t.ops_per_sec(),
            json_num(ir.map(|(all, _)| all)),
            json_num(own(info, *ir)),
        ));
    }
    let _ = writeln!(
        md,
        "\n## Data path (in process, SimPlatform, {CHUNK}-byte chunks)\n"
    );
    let _ = writeln!(
        md,
        "| path | MB/s | instructions/byte | the engine's own per byte (sim and harness excluded) |\n|---|---:|---:|---:|"
    );
    for (info, t, ir) in &rows {
        if info.unit == Unit::Chunk || matches!(info.name, "sim_send" | "sim_recv") {
            let per = |v: f64| format!("{:.2}", v / CHUNK as f64);
            let _ = writeln!(
                md,
                "| {} | {:.0} | {} | {} |",
                info.what,
                t.bytes_per_sec() / 1e6,
                ir.map_or("n/a".into(), |(all, _)| per(all)),
                own(info, *ir).map_or("".into(), per)
            );
        }
    }
    let _ = writeln!(
        md,
        "\n## Polls with nothing to do (in process, SimPlatform)\n\n\
         The W800 port polls every 10 ms while sockets are open (`AT_W800_NETWORK_POLL_MS`: \
         lwIP cannot wake the AT task); each poll asks lwIP once whether a socket has news \
         (`LwipStack::has_news`), so with idle links its standing cost is the first row plus \
         one `lwip_poll`.\n\n\
         | state | polls/s | instructions/poll | instructions/s at 100 polls/s |\n|---|---:|---:|---:|"
    );
    for (info, t, ir) in &rows {
        if info.unit == Unit::Poll {
            let _ = writeln!(
                md,
                "| {} | {:.0} | {} | {} |",
                info.what,
                t.ops_per_sec(),
                ir.map_or("n/a".into(), |(all, _)| format!("{all:.0}")),
                ir.map_or("n/a".into(), |(all, _)| format!("{:.0}", all * 100.0))
            );
        }
    }
    let _ = writeln!(json, "  \"scenarios\": [\n{}\n  ],", jrows.join(",\n"));

    // End to end.
    let bytes: u64 = if quick { 10_000_000 } else { 100_000_000 };
    if at_bench::e2e::modem_path().exists() {
        eprintln!("end to end ({bytes} bytes)");
        let rounds = 9;
        let tp = at_bench::e2e::throughput(bytes, rounds);
        let (median, p99, n) = at_bench::e2e::at_latency(2000);
        let mb = |v: f64| v / 1e6;
        let _ = writeln!(
            md,
            "\n## End to end (release at-modem, loopback, {} MB per run, {rounds} paired rounds)\n",
            bytes / 1_000_000
        );
        let _ = writeln!(
            md,
            "| direction | at-modem MB/s (median) | plain relay MB/s (median) | ratio: median of rounds | ratio: rounds |\n|---|---:|---:|---:|---:|"
        );
        let mut jdirs = Vec::new();
        for (what, key, p) in [
            ("host -> network, transparent mode", "tx", &tp.tx),
            ("network -> host, active `+IPD`", "rx", &tp.rx),
        ] {
            let (lo, hi) = p.ratio_range();
            let _ = writeln!(
                md,
                "| {what} | {:.0} | {:.0} | {:.0}% | {:.0}-{:.0}% |",
                mb(p.median_modem()),
                mb(p.median_relay()),
                100.0 * p.median_ratio(),
                100.0 * lo,
                100.0 * hi
            );
            let list = |v: &[f64]| {
                v.iter()
                    .map(|x| format!("{x:.0}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            jdirs.push(format!(
                "\"{key}\": {{\"modem\": [{}], \"relay\": [{}], \"median_ratio\": {:.3}}}",
                list(&p.modem),
                list(&p.relay),
                p.median_ratio()
            ));
        }
        let _ = writeln!(
            md,
            "\n`AT` round trip on a pty ({n} samples): median {median:.0} us, p99 {p99:.0} us."
        );
        let window = Duration::from_secs(if quick { 1 } else { 3 });
        let idle = at_bench::e2e::idle_wakeups(window);
        let _ = writeln!(
            md,
            "\nWake-ups of the at-modem process while idle ({} s per state, context switches \
             from /proc):\n\n| state | wake-ups/s |\n|---|---:|",
            window.as_secs()
        );
        for row in &idle {
            let _ = writeln!(md, "| {} | {:.1} |", row.state, row.per_sec);
        }
        let jidle: Vec<String> = idle
            .iter()
            .map(|r| {
                format!(
                    "{{\"state\": \"{}\", \"per_sec\": {:.2}}}",
                    r.state, r.per_sec
                )
            })
            .collect();
        let _ = writeln!(
            json,
            "  \"end_to_end\": {{\"bytes\": {bytes}, \"rounds\": {rounds}, {}, \"at_latency_us\": {{\"median\": {median:.1}, \"p99\": {p99:.1}, \"samples\": {n}}}, \"idle_wakeups\": [{}]}},",
            jdirs.join(", "),
            jidle.join(", ")
        );
    } else {
        let _ = writeln!(
            md,
            "\n(end to end skipped: build the release at-modem first)"
        );
    }

    // Footprint.
    let (sim, _) = at_bench::footprint::sim();
    let (fw, _) = at_bench::footprint::firmware();
    let _ = writeln!(md, "\n## RAM footprint (size_of, x86_64 host)\n");
    md.push_str(&at_bench::footprint::markdown());
    let _ = writeln!(
        json,
        "  \"footprint\": {{\"sim\": {sim}, \"firmware\": {fw}}},"
    );

    // Code size.
    eprintln!("code size");
    let sizes = [
        code_size("thumbv7em-none-eabihf", false),
        code_size("csky-ck804-none-elf", true),
    ];
    let _ = writeln!(
        md,
        "\n## Code size (firmware image, opt-level \"s\", fat LTO, panic = abort)\n"
    );
    let _ = writeln!(
        md,
        "| target | linked .text (llvm-size) | LTO object .text |\n|---|---:|---:|"
    );
    let mut jsizes = Vec::new();
    for s in &sizes {
        let f = |v: Option<u64>| v.map_or("n/a".into(), |v| v.to_string());
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            s.target,
            f(s.linked_text),
            f(s.object_text)
        );
        jsizes.push(format!(
            "    {{\"target\": \"{}\", \"linked_text\": {}, \"object_text\": {}}}",
            s.target,
            s.linked_text.map_or("null".into(), |v| v.to_string()),
            s.object_text.map_or("null".into(), |v| v.to_string())
        ));
    }
    let census = sizes[1].object.as_deref().and_then(csky_census);
    if let Some(c) = census {
        let _ = writeln!(
            md,
            "\nCK804 object: {} of {} 32-bit branches (`br32`/`bt32`/`bf32`) are within the \
             16-bit forms' reach; {} calls load {} constant-pool slots (`jsri`); {} prologues \
             and epilogues save or restore callee-saved registers one load or store at a time \
             ({} bytes). About {} bytes in all that a relaxing assembler, `bsr32` calls and \
             `push`/`pop` would save ({} of them the last).",
            c.within_16bit_reach,
            c.branches_32,
            c.pool_calls,
            c.pool_slots,
            c.frame_sequences,
            c.register_save_bytes,
            c.savable_bytes(),
            c.push_pop_savable_bytes()
        );
    }
    let census_json = census.map_or("null".into(), |c| {
        format!(
            "{{\"branches_32\": {}, \"within_16bit_reach\": {}, \"pool_calls\": {}, \"pool_slots\": {}, \"frame_sequences\": {}, \"register_save_bytes\": {}, \"savable_bytes\": {}}}",
            c.branches_32,
            c.within_16bit_reach,
            c.pool_calls,
            c.pool_slots,
            c.frame_sequences,
            c.register_save_bytes,
            c.savable_bytes()
        )
    });
    let _ = writeln!(
        json,
        "  \"code_size\": [\n{}\n  ],\n  \"ck804_branch_census\": {census_json}\n}}",
        jsizes.join(",\n")
    );

    std::fs::write(out_dir.join("results.md"), &md).expect("write results.md");
    std::fs::write(out_dir.join("results.json"), &json).expect("write results.json");
    println!("{md}");
    eprintln!("wrote {}/results.md and results.json", out_dir.display());
}
