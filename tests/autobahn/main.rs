//! The Autobahn|Testsuite as a test: runs `tests/autobahn/run.py` (both roles; every RFC 6455
//! case and a sample of every permessage-deflate sub-category, the `ci` set) against the
//! built binary (with `--permessage-deflate`) and fails when any case is worse than
//! `tests/autobahn/expected.json`. The whole suite is `run.py --cases full`.
//!
//! Its own test binary, so cargo runs it alone rather than beside the end-to-end tests: the
//! suite's timing cases (close handshakes, pings) should not share two cores with them.
//! `wstest` comes from `../shared/autobahn/setup.sh` here (`.ci/run` installs it), or from
//! `$WSTEST`; without it the test skips on a developer machine and fails under CI.

use std::path::Path;
use std::process::Command;

/// Exit status of run.py when no `wstest` can be found.
const NO_WSTEST: i32 = 3;

#[test]
fn autobahn_both_roles_match_expected() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/autobahn/run.py");
    let status = Command::new("python3")
        .arg(&script)
        .args(["--websocat", env!("CARGO_BIN_EXE_websocat")])
        .args(["--role", "both", "--cases", "ci"])
        // Compression on in both roles, so that the permessage-deflate cases (12.*, 13.*)
        // negotiate it; cases 1-10 offer no extension and run uncompressed.
        .arg("--arg=--permessage-deflate")
        // A bound per role; the `ci` set takes a few minutes.
        .args(["--timeout", "1800"])
        .status()
        .expect("python3 runs tests/autobahn/run.py");
    if status.code() == Some(NO_WSTEST) {
        assert!(
            std::env::var_os("CI").is_none(),
            "wstest is missing under CI (.ci/run should install it)"
        );
        eprintln!("skipping: wstest is not installed (../shared/autobahn/setup.sh)");
        return;
    }
    assert!(
        status.success(),
        "Autobahn|Testsuite: some case is worse than tests/autobahn/expected.json (see above)"
    );
}
