//! Property tests for the specifier language and the codecs: the round-trips the fuzz targets
//! check, run on every `cargo test`.

use bytes::BytesMut;
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};
use websocat::exec::codec::LineCodec;
use websocat::exec::Message;
use websocat::kinds;
use websocat::spec::parse_spec;
use websocat::ws::frame::{Event, Frame, Role, WsCodec};

/// Leaf arguments that exercise colons, brackets and odd characters.
fn arg() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("127.0.0.1:8080".to_string()),
        Just("[::1]:22".to_string()),
        Just("/tmp/a:b".to_string()),
        "[ -~]{0,20}",
    ]
}

fn param_value() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9/.:]{1,10}", "[ -~]{0,12}"]
}

fn element() -> impl Strategy<Value = String> {
    let names: Vec<&'static str> = kinds::all_names().collect();
    (
        proptest::sample::select(names),
        proptest::collection::vec(("[a-z][a-z-]{0,6}", param_value()), 0..3),
    )
        .prop_map(|(name, params)| {
            if params.is_empty() {
                name.to_string()
            } else {
                let inner: Vec<String> = params
                    .iter()
                    .map(|(k, v)| format!("{k}={}", websocat::spec::ast::quote_param_value(v)))
                    .collect();
                format!("{name}[{}]", inner.join(","))
            }
        })
}

fn spec_string() -> impl Strategy<Value = String> {
    (proptest::collection::vec(element(), 0..4), arg(), 0..3u8).prop_map(|(elems, arg, tail)| {
        let mut s = elems.join(":");
        if !s.is_empty() {
            s.push(':');
        }
        match tail {
            0 => s.push('-'),
            1 => s.push_str(&format!("ws://{}", arg.replace(' ', ""))),
            _ => s.push_str(&format!("tcp:{arg}")),
        }
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever parses prints back to a string that parses to the same tree.
    #[test]
    fn parse_display_roundtrip(input in prop_oneof![spec_string(), "[ -~]{0,40}"]) {
        if let Ok(ast) = parse_spec(&input) {
            let printed = ast.to_string();
            let again = parse_spec(&printed).map_err(|e| TestCaseError::fail(format!("{printed:?}: {e:?}")))?;
            prop_assert_eq!(ast.without_spans(), again.without_spans());
        }
    }

    /// Whatever plans dumps to a command line that plans to the same plan and the same dump.
    #[test]
    fn plan_dump_roundtrip(
        left in spec_string(),
        right in spec_string(),
        binary in any::<bool>(),
        unidirectional in any::<bool>(),
        oneshot in any::<bool>(),
    ) {
        let mut args = Vec::new();
        if binary { args.push("-b".to_string()); }
        if unidirectional { args.push("-u".to_string()); }
        if oneshot { args.push("--oneshot".to_string()); }
        args.push(left);
        args.push(right);
        if let Ok(plan) = websocat::plan_from_args(args.clone()) {
            let canonical = websocat::plan::dump::canonical_args(&plan);
            let again = websocat::plan_from_args(canonical.clone())
                .map_err(|e| TestCaseError::fail(format!("{args:?} -> {canonical:?}: {e}")))?;
            prop_assert!(plan == again, "{:?} -> {:?}", args, canonical);
            prop_assert_eq!(
                websocat::plan::dump::canonical_args(&again),
                canonical
            );
        }
    }

    /// Any chunking of the same bytes gives the same lines.
    #[test]
    fn line_codec_chunking_invariant(
        data in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(0u8), any::<u8>()], 0..300),
        cuts in proptest::collection::vec(1usize..40, 0..20),
        strip in any::<bool>(),
        nul in any::<bool>(),
    ) {
        let sep = if nul { 0 } else { b'\n' };
        let whole = decode_lines(LineCodec::new(sep, strip, 64), &data, &[]);
        let chunked = decode_lines(LineCodec::new(sep, strip, 64), &data, &cuts);
        prop_assert_eq!(whole, chunked);
    }

    /// Frames encoded by a client decode identically at the server under any chunking.
    #[test]
    fn ws_codec_chunking_invariant(
        payloads in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..400)), 0..8),
        cuts in proptest::collection::vec(1usize..64, 0..40),
    ) {
        let mut enc = WsCodec::new(Role::Client, 1 << 16, 1 << 16);
        let mut wire = BytesMut::new();
        let mut expected = Vec::new();
        for (text, p) in payloads {
            let m = if text {
                Message::Text(bytes::Bytes::from(String::from_utf8_lossy(&p).into_owned()))
            } else {
                Message::Binary(bytes::Bytes::from(p))
            };
            expected.push(Event::Message(m.clone()));
            enc.encode(Frame::Message(m), &mut wire).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let mut dec = WsCodec::new(Role::Server, 1 << 16, 1 << 16);
        let mut got = Vec::new();
        let mut buf = BytesMut::new();
        let mut pos = 0;
        let mut i = 0;
        while pos < wire.len() {
            let n = cuts.get(i).copied().unwrap_or(usize::MAX).min(wire.len() - pos);
            i += 1;
            buf.extend_from_slice(&wire[pos..pos + n]);
            pos += n;
            while let Some(e) = dec.decode(&mut buf).map_err(|e| TestCaseError::fail(e.to_string()))? {
                got.push(e);
            }
        }
        prop_assert_eq!(got, expected);
    }
}

fn decode_lines(mut codec: LineCodec, data: &[u8], cuts: &[usize]) -> Vec<Message> {
    let mut out = Vec::new();
    let mut buf = BytesMut::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < data.len() {
        let n = cuts
            .get(i)
            .copied()
            .unwrap_or(usize::MAX)
            .min(data.len() - pos);
        i += 1;
        buf.extend_from_slice(&data[pos..pos + n]);
        pos += n;
        while let Ok(Some(m)) = codec.decode(&mut buf) {
            out.push(m);
        }
    }
    while let Ok(Some(m)) = codec.decode_eof(&mut buf) {
        out.push(m);
    }
    out
}
