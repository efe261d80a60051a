//! Every in-process command scenario's operation covers its whole response: from the
//! first byte of the line to the final result written to the host, with the engine idle
//! afterwards. (A measurement that stopped early, or ran on into unrelated polls, would
//! misstate instructions per command.)

use at_bench::scenarios::Scenario;

fn run(name: &str) -> (String, bool) {
    let mut s = Scenario::new(name);
    // The second operation: the first may differ (a fresh socket slot, say).
    let _ = s.op_output();
    let (out, idle) = s.op_output();
    (String::from_utf8_lossy(&out).into_owned(), idle)
}

#[test]
fn command_operations_end_with_their_final_response() {
    for (name, response) in [
        ("at", "\r\nOK\r\n"),
        ("cipmux_query", "+CIPMUX:1\r\n\r\nOK\r\n"),
        ("cipstart", "0,CONNECT\r\n\r\nOK\r\n"),
        ("cipsntpcfg", "\r\nOK\r\n"),
        ("passive_rx", "\r\nOK\r\n"),
        ("cipsend_tx", "\r\nSEND OK\r\n"),
    ] {
        let (out, idle) = run(name);
        assert!(out.ends_with(response), "{name}: {out:?}");
        assert!(idle, "{name}: engine still busy or holding output");
    }
    let (out, idle) = run("active_rx");
    assert!(out.starts_with("\r\n+IPD,0,1460:"), "active_rx: {out:?}");
    assert_eq!(out.len(), "\r\n+IPD,0,1460:".len() + 1460 + "\r\n".len());
    assert!(out.ends_with("\r\n"));
    assert!(idle);
    let (out, idle) = run("cipsend_cmd");
    assert!(out.ends_with("\r\nOK\r\n\r\n>"), "cipsend_cmd: {out:?}");
    assert!(idle);
}

#[test]
fn idle_polls_write_nothing_and_only_the_reported_activity_runs_the_socket_passes() {
    for (name, receives_per_poll) in [("idle_poll", 0), ("idle_poll_passes", 5)] {
        let mut s = Scenario::new(name);
        let _ = s.op_output();
        let before = s.sim_receive_calls();
        let (out, idle) = s.op_output();
        assert!(out.is_empty(), "{name}: {out:?}");
        assert!(idle, "{name}: engine busy or holding output");
        assert_eq!(
            s.sim_receive_calls() - before,
            receives_per_poll,
            "{name}: receive calls of one poll"
        );
    }
}
