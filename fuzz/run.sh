#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each (default 60).
# Usage: fuzz/run.sh [SECONDS]
# Needs cargo-fuzz (installed here if missing) and a toolchain that accepts -Z flags: nightly,
# or stable with RUSTC_BOOTSTRAP=1 (used automatically when no nightly is installed).
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "installing cargo-fuzz…"
    if ! cargo install cargo-fuzz --locked >/dev/null 2>&1; then
        echo "SKIP: cargo-fuzz could not be installed"
        exit 0
    fi
fi

toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
    echo "note: no nightly toolchain; using stable with RUSTC_BOOTSTRAP=1"
fi

# Dictionary: every specifier name the registry knows, from --help=long.
mkdir -p corpus
(cd .. && cargo run -q -- --help=long) | sed -n 's/^  \([a-z0-9_-]*:\( [a-z0-9_-]*:\)*\) .*/\1/p' \
    | tr ' ' '\n' | grep -v '^$' | sort -u | sed 's/.*/"&"/' > dict.txt
printf '"ws://"\n"wss://"\n"["\n"]"\n"="\n"-"\n"127.0.0.1:"\n"[::1]:"\n' >> dict.txt

# Seed corpora from the grammar cases: every line of every case file is an input.
for t in parse plan; do
    mkdir -p "corpus/$t"
    if [ -d ../grammar/cases ]; then
        i=0
        find ../grammar/cases -type f | while read -r f; do
            while IFS= read -r line; do
                [ -n "$line" ] || continue
                i=$((i + 1))
                if [ "$t" = plan ]; then
                    printf '\x01\n%s\n-' "$line" > "corpus/$t/seed-$(basename "$f")-$i"
                else
                    printf '%s' "$line" > "corpus/$t/seed-$(basename "$f")-$i"
                fi
            done < "$f"
        done
    fi
done

status=0
for target in parse plan codec_lines codec_ws; do
    echo "== $target ($secs s)"
    mkdir -p "corpus/$target"
    dict=()
    case "$target" in parse|plan) dict=(-dict=dict.txt) ;; esac
    if ! cargo "${toolchain[@]}" fuzz run --sanitizer none "$target" "corpus/$target" -- \
        -max_total_time="$secs" "${dict[@]}" 2>&1 | tee "/tmp/fuzz-$target.log" | grep -E '^#[0-9]+.*DONE|Done [0-9]+ runs|ERROR|panicked' ; then
        :
    fi
    if grep -qE 'ERROR|panicked|crash-' "/tmp/fuzz-$target.log"; then
        echo "CRASH in $target: see /tmp/fuzz-$target.log and fuzz/artifacts/$target"
        status=1
    elif grep -qE 'Done [0-9]+ runs' "/tmp/fuzz-$target.log"; then
        echo "$target: $(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "/tmp/fuzz-$target.log" | tail -1), no crash"
    else
        echo "WARNING: $target did not run (build problem?); see /tmp/fuzz-$target.log"
    fi
done
exit $status
