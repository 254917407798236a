//! A call that blocks its OS thread (here `std::thread::sleep`, standing for a slow library
//! call: a password hash, a file on a network disk, a database driver that is not greenhub's),
//! made directly and through `greenhub::unblock`. Run with
//! `cargo run -p ch08b-your-own-server --bin slow_call -- direct` (or `-- unblock`).

use ch08b_your_own_server::ticker;
use std::io;
use std::time::{Duration, Instant};

/// Stands for any call that blocks its OS thread for a while.
fn slow_library_call() -> u32 {
    std::thread::sleep(Duration::from_millis(200));
    42
}

// ANCHOR: unblock
fn call(direct: bool) -> u32 {
    if direct {
        slow_library_call() // the hub waits with it: nobody else runs
    } else {
        greenhub::unblock(slow_library_call) // a pool thread waits; this green thread parks
    }
}
// ANCHOR_END: unblock

fn main() -> io::Result<()> {
    let direct = std::env::args().nth(1).as_deref() == Some("direct");
    greenhub::Runtime::builder().hubs(1).build()?.run(move || {
        let ticks = ticker(Duration::from_millis(10));
        greenhub::sleep(Duration::from_millis(5));
        let started = Instant::now();
        let answer = call(direct);
        println!(
            "{}: answer {answer} after {} ms; the ticker ticked {} times meanwhile",
            if direct { "direct" } else { "unblock" },
            started.elapsed().as_millis(),
            ticks.get()
        );
        Ok(())
    })
}
