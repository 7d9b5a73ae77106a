//! Any bytes as WebSocket frames, any chunking: decoding never panics and gives the same
//! events (or the same first error).
#![no_main]
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;
use websocat::ws::frame::{Role, WsCodec};

fn decode(data: &[u8], cut: usize, role: Role) -> (Vec<websocat::ws::frame::Event>, bool) {
    let mut codec = WsCodec::new(role, 4096, 8192);
    let mut out = Vec::new();
    let mut buf = BytesMut::new();
    for chunk in data.chunks(cut.max(1)) {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(e)) => out.push(e),
                Ok(None) => break,
                Err(_) => return (out, true),
            }
        }
    }
    (out, false)
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let role = if ctl & 1 == 0 { Role::Client } else { Role::Server };
    let cut = usize::from(ctl >> 1) + 1;
    assert_eq!(decode(rest, usize::MAX, role), decode(rest, cut, role));
});
