//! Any bytes as WebSocket frames, any chunking: decoding never panics and gives the same
//! events (or the same first error). Streaming messages in pieces, the pieces of each message
//! join up to the same message whatever the chunking.
#![no_main]
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;
use websocat::exec::Message;
use websocat::ws::frame::{Event, Role, WsCodec};

fn decode(data: &[u8], cut: usize, role: Role, stream: bool) -> (Vec<Event>, bool) {
    let mut codec = WsCodec::new(role, 4096, 8192);
    codec.set_stream_parts(stream);
    let mut out = Vec::new();
    // The pieces of the message being streamed, joined.
    let mut joined: Option<(bool, Vec<u8>)> = None;
    let mut buf = BytesMut::new();
    for chunk in data.chunks(cut.max(1)) {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(Event::Part { data, last })) => {
                    let text = matches!(data, Message::Text(_));
                    let (_, bytes) = joined.get_or_insert_with(|| (text, Vec::new()));
                    bytes.extend_from_slice(data.payload());
                    if last {
                        let (text, bytes) = joined.take().unwrap_or_default();
                        out.push(Event::Message(if text {
                            Message::Text(bytes.into())
                        } else {
                            Message::Binary(bytes.into())
                        }));
                    }
                }
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
    for stream in [false, true] {
        assert_eq!(
            decode(rest, usize::MAX, role, stream),
            decode(rest, cut, role, stream)
        );
    }
});
