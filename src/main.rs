//! The `websocat` binary: everything lives in the library; this only forwards the exit code.

fn main() {
    let code = websocat::main_with_args(std::env::args_os().skip(1).collect());
    std::process::exit(code);
}
