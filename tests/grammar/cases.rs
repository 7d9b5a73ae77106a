//! Runs every `grammar/cases/*.case` file; see `grammar/README.md` for the format.
//!
//! Every mismatch is reported (not only the first). With `UPDATE_CASES=1` the expected
//! sections are rewritten from the actual output instead; a case whose outcome flips between
//! success and failure (a `spec` case that fails, an `error` case that parses) still fails.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use websocat::error::Side;
use websocat::plan::passes::lower_side;

/// What a case file asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One specifier that must parse and lower: AST dump plus the lowered chain.
    Spec,
    /// One specifier that must be rejected: the rendered diagnostic.
    Error,
    /// A command line (one argument per line): the `--dump-spec` text or the rendered error.
    Args,
}

impl Mode {
    fn from_header(h: &str) -> Option<Mode> {
        match h {
            "spec" => Some(Mode::Spec),
            "error" => Some(Mode::Error),
            "args" => Some(Mode::Args),
            _ => None,
        }
    }

    fn header(self) -> &'static str {
        match self {
            Mode::Spec => "spec",
            Mode::Error => "error",
            Mode::Args => "args",
        }
    }
}

/// One parsed case file.
struct Case {
    path: PathBuf,
    /// Comment lines before the first section, kept when rewriting.
    preamble: String,
    mode: Mode,
    /// Input lines (one specifier, or one argument per line).
    input: Vec<String>,
    expected: String,
}

fn parse_case(path: &Path) -> Result<Case, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading: {e}"))?;
    let mut preamble = String::new();
    let mut mode = None;
    let mut input: Vec<String> = Vec::new();
    let mut expected: Option<String> = None;
    for line in text.split_inclusive('\n') {
        let bare = line.strip_suffix('\n').unwrap_or(line);
        if let Some(header) = bare.strip_prefix("--- ") {
            if header == "expected" {
                if mode.is_none() {
                    return Err("`--- expected` before the input section".into());
                }
                if expected.is_some() {
                    return Err("two `--- expected` sections".into());
                }
                expected = Some(String::new());
                continue;
            }
            if let Some(m) = Mode::from_header(header) {
                if mode.is_some() {
                    return Err(format!("second input section `--- {header}`"));
                }
                mode = Some(m);
                continue;
            }
            return Err(format!(
                "unknown section `--- {header}` (expected spec, error, args or expected)"
            ));
        }
        match (&mode, &mut expected) {
            (None, _) => {
                if bare.starts_with('#') || bare.trim().is_empty() {
                    preamble.push_str(line);
                } else {
                    return Err(format!("text before the first section: {bare:?}"));
                }
            }
            (Some(_), None) => input.push(bare.to_string()),
            (Some(_), Some(exp)) => exp.push_str(line),
        }
    }
    let mode = mode.ok_or("no input section (`--- spec`, `--- error` or `--- args`)")?;
    if mode != Mode::Args && input.len() > 1 {
        return Err(format!("`--- {}` takes exactly one line", mode.header()));
    }
    Ok(Case {
        path: path.to_path_buf(),
        preamble,
        mode,
        input,
        expected: expected.unwrap_or_default(),
    })
}

/// Trailing white space on each line and trailing blank lines are not significant.
fn normalize(s: &str) -> String {
    let mut out: Vec<&str> = s.lines().map(str::trim_end).collect();
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    let mut joined = out.join("\n");
    joined.push('\n');
    joined
}

/// Runs a case; returns (succeeded, output).
fn run_case(case: &Case) -> (bool, String) {
    match case.mode {
        Mode::Spec | Mode::Error => {
            let input = case.input.first().map(String::as_str).unwrap_or("");
            match lower_side(Side::Left, input) {
                Ok(chain) => {
                    // The grammar alone (tree with spans), then what the planner made of it.
                    let tree = match websocat::spec::parse_spec(input) {
                        Ok(spec) => spec.dump_tree(),
                        Err(p) => format!("internal: lowered but did not parse: {p:?}\n"),
                    };
                    (true, format!("{tree}lowered: {}\n", chain.to_spec_string()))
                }
                Err(e) => (false, websocat::render_error(&e, false)),
            }
        }
        Mode::Args => match websocat::plan_from_args(&case.input) {
            Ok(plan) => (true, websocat::plan::dump::dump_text(&plan)),
            Err(e) => (false, websocat::render_error(&e, false)),
        },
    }
}

fn write_case(case: &Case, output: &str) -> std::io::Result<()> {
    let mut text = case.preamble.clone();
    let _ = writeln!(text, "--- {}", case.mode.header());
    for line in &case.input {
        let _ = writeln!(text, "{line}");
    }
    text.push_str("--- expected\n");
    text.push_str(&normalize(output));
    std::fs::write(&case.path, text)
}

fn case_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("grammar/cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "case"))
        .collect();
    files.sort();
    files
}

#[test]
fn grammar_cases() {
    let update = std::env::var_os("UPDATE_CASES").is_some_and(|v| !v.is_empty() && v != "0");
    let files = case_files();
    assert!(
        files.len() >= 40,
        "expected at least 40 grammar cases, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    let mut updated = 0;
    for path in &files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let case = match parse_case(path) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{name}: bad case file: {e}"));
                continue;
            }
        };
        let (ok, output) = run_case(&case);
        let outcome_wrong = match case.mode {
            Mode::Spec => !ok,
            Mode::Error => ok,
            Mode::Args => false,
        };
        if outcome_wrong {
            failures.push(format!(
                "{name}: expected {} but got:\n{}",
                if case.mode == Mode::Spec {
                    "success"
                } else {
                    "an error"
                },
                indent(&output)
            ));
        }
        let actual = normalize(&output);
        if actual != normalize(&case.expected) {
            if update {
                match write_case(&case, &output) {
                    Ok(()) => updated += 1,
                    Err(e) => failures.push(format!("{name}: cannot rewrite: {e}")),
                }
            } else if !outcome_wrong {
                failures.push(format!(
                    "{name}: output differs\n  input: {:?}\n  expected:\n{}  actual:\n{}",
                    case.input,
                    indent(&normalize(&case.expected)),
                    indent(&actual)
                ));
            }
        }
    }
    if updated > 0 {
        eprintln!("UPDATE_CASES: rewrote {updated} case file(s)");
    }
    assert!(
        failures.is_empty(),
        "{} of {} grammar case(s) failed (rerun with UPDATE_CASES=1 to accept new output):\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    | {l}\n")).collect()
}

/// Every name in the registry (canonical and synonyms) appears in at least one case, so adding
/// a kind without a grammar case is noticed.
#[test]
fn every_registry_name_has_a_case() {
    let mut all = String::new();
    for path in case_files() {
        if let Ok(c) = parse_case(&path) {
            for l in &c.input {
                all.push_str(l);
                all.push('\n');
            }
        }
    }
    let missing: Vec<&str> = websocat::kinds::all_names()
        .filter(|n| !all.lines().any(|l| l.split([':', '[']).any(|w| w == *n)))
        .collect();
    assert!(
        missing.is_empty(),
        "registry names without a grammar case (add one under grammar/cases/): {missing:?}"
    );
}
