//! Any bytes, any chunking: the line codec gives the same messages.
#![no_main]
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;
use websocat::exec::codec::LineCodec;

fn decode(data: &[u8], cut: usize, sep: u8, strip: bool) -> Vec<websocat::exec::Message> {
    let mut codec = LineCodec::new(sep, strip, 32);
    let mut out = Vec::new();
    let mut buf = BytesMut::new();
    for chunk in data.chunks(cut.max(1)) {
        buf.extend_from_slice(chunk);
        while let Some(m) = codec.decode(&mut buf).expect("line decoding never fails") {
            out.push(m);
        }
    }
    while let Some(m) = codec.decode_eof(&mut buf).expect("line decoding never fails") {
        out.push(m);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let sep = if ctl & 1 == 0 { b'\n' } else { 0 };
    let strip = ctl & 2 != 0;
    let cut = usize::from(ctl >> 2) + 1;
    assert_eq!(decode(rest, usize::MAX, sep, strip), decode(rest, cut, sep, strip));
});
