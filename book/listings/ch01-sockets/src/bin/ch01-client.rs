//! `cargo run -p ch01-sockets --bin ch01-client [ADDR]`: reads one greeting.

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:7000".into());
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&addr)?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))?;
    ch01_sockets::fetch(addr, &mut std::io::stdout())?;
    Ok(())
}
