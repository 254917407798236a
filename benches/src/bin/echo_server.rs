//! Runs one echo server of the benchmark: `echo_server CONTENDER ADDR [CPU]`. Prints the bound
//! address, then serves until killed.

fn main() -> std::io::Result<()> {
    greenhub_benches::process::server_main(greenhub_benches::echo::servers::serve)
}
