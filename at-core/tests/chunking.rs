//! Property: however the host splits its writes, the engine answers the same bytes.

use at_core::testing::Harness;
use proptest::prelude::*;

const LINES: &[&[u8]] = &[
    b"AT\r\n",
    b"ATE0\r\n",
    b"ATE1\r",
    b"AT+SYSLOG=1\n",
    b"AT+SYSMSG=3\r\n",
    b"AT+SYSMSG?\r\n",
    b"AT+SYSSTORE=2\r\n",
    b"AT+UART_CUR?\r\n",
    b"AT+UART_CUR=9600,8,1,0,0\r\n",
    b"AT+GMR\r\n",
    b"AT+CMD?\r\n",
    b"AT+RST\r\n",
    b"at\r\n",
    b"AT+BOGUS=\"a\\\"b\",,1\r\n",
    b"\r\n",
    b"\x00\xff\x7f\r\n",
];

fn stream() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            8 => prop::sample::select(LINES).prop_map(|l| l.to_vec()),
            1 => prop::collection::vec(any::<u8>(), 0..300),
        ],
        1..24,
    )
    .prop_map(|parts| parts.concat())
}

fn run(chunks: &[&[u8]]) -> Vec<u8> {
    let mut h = Harness::new(());
    let mut out = h.boot().to_vec();
    out.extend_from_slice(&h.send_chunks(chunks));
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_split_gives_the_same_output(
        input in stream(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
    ) {
        let whole = run(&[&input]);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
        points.sort_unstable();
        points.dedup();
        let mut chunks = Vec::new();
        let mut start = 0;
        for p in points {
            chunks.push(&input[start..p]);
            start = p;
        }
        chunks.push(&input[start..]);
        prop_assert_eq!(run(&chunks), whole);
    }
}
