//! Runs one chat server of the benchmark: `chat_bench_server CONTENDER ADDR [CPU]`. Prints the bound
//! address, then serves until killed.

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let contender = args.get(1).map(String::as_str).unwrap_or("greenhub");
    let addr = args.get(2).map(String::as_str).unwrap_or("127.0.0.1:0");
    if let Some(cpu) = args.get(3).and_then(|c| c.parse().ok()) {
        greenhub_benches::process::pin_to_cpu(cpu);
    }
    greenhub_benches::chat::serve(contender, addr)
}
