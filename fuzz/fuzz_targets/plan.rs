//! Two specifiers plus option bits: planning never panics, and the dumped command line plans
//! to an identical plan.
#![no_main]
use libfuzzer_sys::fuzz_target;

const FLAGS: [&str; 8] = ["-b", "-u", "-U", "-E", "--oneshot", "-0", "--no-line", "-n"];

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = input.splitn(3, '\n');
    let bits = parts.next().and_then(|b| b.bytes().next()).unwrap_or(0);
    let (Some(left), Some(right)) = (parts.next(), parts.next()) else {
        return;
    };
    let mut args: Vec<String> = FLAGS
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, f)| f.to_string())
        .collect();
    args.push("--".into());
    args.push(left.to_string());
    args.push(right.to_string());
    if let Ok(plan) = websocat::plan_from_args(args.clone()) {
        let canonical = websocat::plan::dump::canonical_args(&plan);
        // Global flags come first in the canonical form; `--` must follow them.
        let split = canonical.len() - 2;
        let mut with_sep: Vec<String> = canonical[..split].to_vec();
        with_sep.push("--".into());
        with_sep.extend(canonical[split..].iter().cloned());
        let again = websocat::plan_from_args(with_sep)
            .unwrap_or_else(|e| panic!("{args:?} dumped as {canonical:?} does not plan: {e}"));
        assert!(plan == again, "{args:?} -> {canonical:?}");
    }
});
