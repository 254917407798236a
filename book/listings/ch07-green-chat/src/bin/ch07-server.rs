//! `cargo run -p ch07-green-chat --bin ch07-server`: a chat for the next 100 clients on port 7000.

fn main() -> std::io::Result<()> {
    greenhub::run(|| {
        let listener = greenhub::net::TcpListener::bind("127.0.0.1:7000")?;
        ch07_green_chat::serve(listener, 100)
    })
}
