//! Properties: however the host splits its writes, the socket gets the same bytes
//! (`AT+CIPSEND`, transparent mode); however the peer splits its data, the host gets the
//! same bytes (active `+IPD`, passive `AT+CIPRECVDATA`).

mod common;

use common::*;
use proptest::prelude::*;

/// Splits `input` at the given cut points.
fn split<'a>(input: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
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
    chunks
}

/// Bytes with many `+`, CR and LF, but never three `+` in a row (which could be the
/// escape).
fn transparent_data() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            3 => Just(b'+'),
            1 => Just(b'\r'),
            1 => Just(b'\n'),
            3 => any::<u8>(),
        ],
        1..3000,
    )
    .prop_map(|mut v| {
        for i in 2..v.len() {
            if v[i] == b'+' && v[i - 1] == b'+' && v[i - 2] == b'+' {
                v[i] = b'-';
            }
        }
        v
    })
}

/// Parses active `+IPD` frames in any of the four forms; returns the payloads in order.
fn parse_any_ipd(mut bytes: &[u8], mux: bool, dinfo: bool) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let rest = bytes
            .strip_prefix(b"\r\n+IPD,")
            .ok_or_else(|| format!("not +IPD: {:?}", bytes.escape_ascii().to_string()))?;
        let colon = rest.iter().position(|&b| b == b':').ok_or("no colon")?;
        let header = std::str::from_utf8(&rest[..colon]).map_err(|e| e.to_string())?;
        let fields: Vec<&str> = header.split(',').collect();
        let want_fields = 1 + usize::from(mux) + 2 * usize::from(dinfo);
        if fields.len() != want_fields {
            return Err(format!("header {header:?}"));
        }
        if mux && fields[0] != "0" {
            return Err(format!("link id in {header:?}"));
        }
        if dinfo && fields[fields.len() - 2..] != ["\"192.168.4.10\"", "80"] {
            return Err(format!("sender in {header:?}"));
        }
        let len: usize = fields[usize::from(mux)].parse().map_err(|_| "length")?;
        if len == 0 || len > 2920 {
            return Err(format!("length {len}"));
        }
        out.extend_from_slice(&rest[colon + 1..colon + 1 + len]);
        bytes = rest[colon + 1 + len..]
            .strip_prefix(b"\r\n")
            .ok_or("no CR LF after the data")?;
    }
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn cipsend_sends_the_same_bytes_however_the_host_splits_them(
        payload in prop::collection::vec(any::<u8>(), 1..=5760),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
    ) {
        let mut h = joined();
        let peer = connect_single(&mut h);
        let mut input = format!("AT+CIPSEND={}\r\n", payload.len()).into_bytes();
        input.extend_from_slice(&payload);
        let out = h.send_chunks(&split(&input, &cuts));
        let want = format!(
            "\r\nOK\r\n\r\n>\r\nRecv {} bytes\r\n\r\nSEND OK\r\n",
            payload.len()
        );
        prop_assert_eq!(out, t(want));
        prop_assert!(h.platform.net.peer_received(peer) == &payload[..]);
        prop_assert_eq!(h.send(b"AT\r\n"), b"\r\nOK\r\n");
    }

    #[test]
    fn transparent_mode_sends_the_same_bytes_however_the_host_splits_them(
        data in transparent_data(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
        gaps in prop::collection::vec(0u64..=60, 41),
    ) {
        let mut h = joined();
        prop_assert_eq!(h.send(b"AT+CIPMODE=1\r\n"), b"\r\nOK\r\n");
        let peer = connect_single(&mut h);
        prop_assert_eq!(h.send(b"AT+CIPSEND\r\n"), b"\r\nOK\r\n\r\n>");
        h.advance(100);
        let mut out = Vec::new();
        for (chunk, gap) in split(&data, &cuts).into_iter().zip(&gaps) {
            out.extend_from_slice(&h.send(chunk));
            out.extend_from_slice(&h.advance(*gap));
        }
        out.extend_from_slice(&h.advance(100));
        prop_assert_eq!(t(out), t(""));
        prop_assert!(h.engine.in_data_mode(), "left transparent mode");
        prop_assert_eq!(
            h.platform.net.peer_received(peer).escape_ascii().to_string(),
            data.escape_ascii().to_string()
        );
    }

    #[test]
    fn active_receive_delivers_the_same_bytes_however_the_peer_splits_them(
        data in prop::collection::vec(any::<u8>(), 1..12_000),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..30),
        polls in prop::collection::vec(0usize..3, 31),
        mux in any::<bool>(),
        dinfo in any::<bool>(),
    ) {
        let mut h = joined();
        if mux {
            prop_assert_eq!(h.send(b"AT+CIPMUX=1\r\n"), b"\r\nOK\r\n");
        }
        if dinfo {
            prop_assert_eq!(h.send(b"AT+CIPDINFO=1\r\n"), b"\r\nOK\r\n");
        }
        let peer = if mux { connect_mux(&mut h, 0) } else { connect_single(&mut h) };
        let mut out = Vec::new();
        for (piece, n) in split(&data, &cuts).into_iter().zip(&polls) {
            let mut rest = piece;
            while !rest.is_empty() {
                let k = h.platform.net.peer_send(peer, rest);
                rest = &rest[k..];
                out.extend_from_slice(&h.poll());
            }
            for _ in 0..*n {
                out.extend_from_slice(&h.poll());
            }
        }
        out.extend_from_slice(&drain(&mut h, 20));
        let got = parse_any_ipd(&out, mux, dinfo).map_err(TestCaseError::fail)?;
        prop_assert!(got == data, "{} of {} bytes, in order?", got.len(), data.len());
    }

    #[test]
    fn passive_receive_returns_the_same_bytes_however_they_are_split_and_read(
        data in prop::collection::vec(any::<u8>(), 1..6000),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
        reads in prop::collection::vec(1usize..3000, 1..40),
    ) {
        let mut h = joined();
        prop_assert_eq!(h.send(b"AT+CIPRECVMODE=1\r\n"), b"\r\nOK\r\n");
        let peer = connect_single(&mut h);
        let mut got = Vec::new();
        let mut reads = reads.iter().cycle();
        let mut read = |h: &mut H, got: &mut Vec<u8>| -> Result<(), TestCaseError> {
            let want = *reads.next().unwrap();
            let out = h.send(format!("AT+CIPRECVDATA={want}\r\n").as_bytes()).to_vec();
            let body = out
                .strip_prefix(b"+CIPRECVDATA:")
                .ok_or_else(|| TestCaseError::fail(out.escape_ascii().to_string()))?;
            let comma = body.iter().position(|&b| b == b',').unwrap();
            let n: usize = std::str::from_utf8(&body[..comma]).unwrap().parse().unwrap();
            prop_assert!(n <= want);
            got.extend_from_slice(&body[comma + 1..comma + 1 + n]);
            let tail = &body[comma + 1 + n..];
            prop_assert!(tail.starts_with(b"\r\nOK\r\n"), "{:?}", tail.escape_ascii().to_string());
            Ok(())
        };
        for piece in split(&data, &cuts) {
            prop_assert_eq!(h.platform.net.peer_send(peer, piece), piece.len());
            h.poll();
            read(&mut h, &mut got)?;
        }
        // Every read takes at least one waiting byte, so this many reads always suffice
        // (the bound was 200: too few when every read asks for a handful of bytes).
        for _ in 0..data.len() {
            if got.len() >= data.len() {
                break;
            }
            read(&mut h, &mut got)?;
        }
        prop_assert!(got == data, "{} of {} bytes, in order?", got.len(), data.len());
    }
}
