//! Prints the RAM footprint of the engine (`cargo test -p at-bench --test footprint --
//! --nocapture`). Not a timed test: it only checks that the breakdown adds up.

#[test]
fn footprint() {
    let (sim, sim_rows) = at_bench::footprint::sim();
    let (fw, fw_rows) = at_bench::footprint::firmware();
    println!("{}", at_bench::footprint::markdown());
    let engine_parts = |rows: &[(&str, usize)]| rows.iter().take(6).map(|r| r.1).sum::<usize>();
    assert_eq!(engine_parts(&sim_rows), sim);
    assert_eq!(engine_parts(&fw_rows), fw);
    assert!(fw <= sim);
}
