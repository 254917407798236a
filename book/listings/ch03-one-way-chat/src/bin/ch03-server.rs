//! `cargo run -p ch03-one-way-chat --bin ch03-server`: prints what clients type, one at a time.

fn main() -> std::io::Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:7000")?;
    loop {
        ch03_one_way_chat::serve_one(&listener, &mut std::io::stdout())?;
    }
}
