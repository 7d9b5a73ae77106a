//! Any string: parsing never panics, and a parsed tree prints back to an equal tree.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ast) = websocat::spec::parse_spec(input) {
        let printed = ast.to_string();
        let again = websocat::spec::parse_spec(&printed)
            .unwrap_or_else(|e| panic!("{input:?} printed as {printed:?} does not parse: {e:?}"));
        assert_eq!(ast.without_spans(), again.without_spans(), "{input:?} -> {printed:?}");
    }
    // Every typed argument parser must also survive the input.
    let _ = websocat::spec::args::parse_host_port(input);
    let _ = websocat::spec::args::parse_listen_addr(input);
});
