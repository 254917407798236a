//! `cargo run -p ch03-one-way-chat --bin ch03-client`: sends what you type; Ctrl-D ends it.

fn main() -> std::io::Result<()> {
    ch03_one_way_chat::type_lines("127.0.0.1:7000", std::io::stdin().lock())
}
