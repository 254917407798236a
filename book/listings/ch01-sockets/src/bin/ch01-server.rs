//! `cargo run -p ch01-sockets --bin ch01-server [ADDR]`: greets clients one after another.

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:7000".into());
    let listener = std::net::TcpListener::bind(&addr)?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        ch01_sockets::greet_one(&listener, &mut std::io::stdout())?;
    }
}
