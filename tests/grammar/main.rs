//! Planner-level integration tests (no I/O): the data-driven grammar cases in
//! `grammar/cases/` and the `--dump-spec` round trip.

mod cases;
mod roundtrip;
