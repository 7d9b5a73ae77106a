//! `--dump-spec` round trip: the canonical command line of a plan plans back into the same
//! plan, and is a fixed point (dumping the second plan prints the same command line, and
//! planning it needs no automatic change).

use websocat::plan::dump::{canonical_args, dump_text};
use websocat::plan_from_args;

/// Realistic command lines, one per entry, split on spaces (no argument here contains one;
/// arguments with spaces are in [`WITH_SPACES`]).
const COMMAND_LINES: &[&str] = &[
    "ws-l:127.0.0.1:8080 -",
    "ws-l:127.0.0.1:8080 tcp:[::1]:22",
    "-b tcp-l:127.0.0.1:4554 ws://127.0.0.1:8080/",
    "--ws-c-uri=ws://x/ - ws-c:tcp:127.0.0.1:8080",
    "tcp-l:127.0.0.1:9 mirror:",
    "-s 8080",
    "-s 0.0.0.0:8080",
    "-b -s [::1]:8080",
    "- -",
    "ws://127.0.0.1:8080/",
    "-b ws://127.0.0.1:8080/chat?room=1",
    "ws-l:127.0.0.1:8080",
    "--protocol chat ws://[::1]:9000/",
    "-0 ws://127.0.0.1:1/",
    "--linemode-strip-newlines ws://127.0.0.1:1/",
    "-B 10 ws://127.0.0.1:1/",
    "-0 --linemode-strip-newlines -B 4096 - ws://127.0.0.1:1/",
    "--no-line ws://127.0.0.1:1/",
    "-t ws-l:127.0.0.1:8080 mirror:",
    "-b ws-l:127.0.0.1:8080 mirror:",
    "ws-l:127.0.0.1:8080 literal:hello",
    "ws-l:127.0.0.1:8080 literalreply:pong",
    "-u -b ws-l:127.0.0.1:8080 assert:abc",
    "-U ws://127.0.0.1:1/",
    "-E -n ws://127.0.0.1:1/",
    "-1 ws://127.0.0.1:1/",
    "--max-messages 2 --max-messages-rev 3 ws://127.0.0.1:1/",
    "--oneshot ws-l:127.0.0.1:0 -",
    "--conncap 4 --stdout-announce-listening-ports tcp-l:127.0.0.1:0 tcp:127.0.0.1:22",
    "--close-status-code 4000 --close-reason bye ws://127.0.0.1:1/",
    "--server-protocol chat --restrict-uri /chat ws-l:127.0.0.1:8080 mirror:",
    "--ping-interval 5 --ping-timeout 10 ws://127.0.0.1:1/",
    "--max-ws-frame-length 1000 --max-ws-message-length 2000 ws-l:127.0.0.1:1 mirror:",
    "broadcast:ws://127.0.0.1:1/ tcp-l:127.0.0.1:2",
    "ws-l:tcp-l:[::1]:8080 -",
    "tcp-l:127.0.0.1:1 ws-c:tcp:127.0.0.1:2",
    "--ws-c-uri=ws://example.com/path ws-l:127.0.0.1:1 ws-c:tcp:127.0.0.1:2",
    "--no-fixups lines:- ws://127.0.0.1:1/",
    "ws-l:127.0.0.1:8080 clogged:",
    "--summary ws://127.0.0.1:1/",
    "--summary=json --no-interactive ws://127.0.0.1:1/",
    "--metrics 127.0.0.1:9100 --browser-console ws-l:127.0.0.1:8080 mirror:",
];

/// Command lines whose arguments contain spaces.
const WITH_SPACES: &[&[&str]] = &[
    &["-H", "X-A: b", "-H", "X-B: c, d", "ws://127.0.0.1:1/"],
    &[
        "--origin",
        "http://o.example",
        "--ua",
        "agent 1.0",
        "--basic-auth",
        "user:pass word",
        "ws://127.0.0.1:1/",
    ],
    &["--server-header", "X-S: 1", "ws-l:127.0.0.1:1", "mirror:"],
    &[
        "-",
        r#"ws-c[uri="ws://h/a,b",header="X: \"q\" \\ z"]:tcp:h:80"#,
    ],
    &["ws-l:127.0.0.1:1", "literal:a b:c [d]"],
];

fn all_command_lines() -> Vec<Vec<String>> {
    COMMAND_LINES
        .iter()
        .map(|l| l.split(' ').map(str::to_string).collect())
        .chain(
            WITH_SPACES
                .iter()
                .map(|l| l.iter().map(|s| s.to_string()).collect()),
        )
        .collect()
}

fn check_round_trip(args: &[String]) -> Result<(), String> {
    let first = plan_from_args(args).map_err(|e| format!("does not plan: {e}"))?;
    let canonical = canonical_args(&first);
    let second = plan_from_args(&canonical)
        .map_err(|e| format!("canonical args {canonical:?} do not plan: {e}"))?;
    if first != second {
        return Err(format!(
            "canonical args {canonical:?} plan differently:\n  first:  {first:?}\n  second: {second:?}"
        ));
    }
    let again = canonical_args(&second);
    if again != canonical {
        return Err(format!(
            "canonical args are not a fixed point: {canonical:?} -> {again:?}"
        ));
    }
    let (d1, d2) = (dump_text(&first), dump_text(&second));
    if d1.lines().next() != d2.lines().next() {
        return Err(format!(
            "dumped command lines differ:\n  {}\n  {}",
            d1.lines().next().unwrap_or(""),
            d2.lines().next().unwrap_or("")
        ));
    }
    if !second.fixups.is_empty() {
        return Err(format!(
            "the canonical args {canonical:?} still needed automatic changes: {:?}",
            second.fixups
        ));
    }
    Ok(())
}

#[test]
fn dump_spec_round_trips() {
    let lines = all_command_lines();
    assert!(lines.len() >= 30, "only {} command lines", lines.len());
    let failures: Vec<String> = lines
        .iter()
        .filter_map(|args| {
            check_round_trip(args)
                .err()
                .map(|e| format!("websocat {}\n    {e}", args.join(" ")))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} command lines do not round-trip:\n{}",
        failures.len(),
        lines.len(),
        failures.join("\n")
    );
}

/// The dumped text is what a user copies into a shell: its first line, split the way a POSIX
/// shell would, gives back the canonical arguments.
#[test]
fn dumped_line_is_shell_quoted_canonical_args() {
    for args in all_command_lines() {
        let Ok(plan) = plan_from_args(&args) else {
            continue;
        };
        let text = dump_text(&plan);
        let line = text.lines().next().unwrap_or("");
        let words = shell_split(line);
        let mut expected = vec!["websocat".to_string()];
        expected.extend(canonical_args(&plan));
        assert_eq!(words, expected, "for `websocat {}`", args.join(" "));
    }
}

/// A minimal POSIX shell word splitter: spaces, single quotes and `'\''`.
fn shell_split(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    cur.push(q);
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            other => {
                in_word = true;
                cur.push(other);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}
