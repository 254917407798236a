//! Profiling aid: a tight yield loop and a spawn+join loop on one hub.
fn main() {
    let rt = greenhub::Runtime::builder().hubs(1).build().unwrap();
    rt.run(|| {
        let t = std::time::Instant::now();
        for _ in 0..(if std::env::args().count() > 1 { 0 } else { 20_000_000u64 }) {
            greenhub::yield_now();
        }
        eprintln!("yield {:?}", t.elapsed() / 20_000_000);
        let t = std::time::Instant::now();
        for _ in 0..2_000_000u64 {
            greenhub::spawn(|| ()).join().unwrap();
        }
        eprintln!("spawn+join {:?}", t.elapsed() / 2_000_000);
    });
}
