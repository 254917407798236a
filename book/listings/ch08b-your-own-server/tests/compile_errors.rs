//! What must not compile, with rustc's own message kept in `tests/not_send/*.stderr` (the
//! chapter shows it). `TRYBUILD=overwrite cargo test -p ch08b-your-own-server --test
//! compile_errors` rewrites the message after a compiler upgrade.

#[test]
fn a_stream_server_handler_must_be_send_and_sync() {
    trybuild::TestCases::new().compile_fail("tests/not_send/*.rs");
}
