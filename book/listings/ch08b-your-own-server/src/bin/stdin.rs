//! The trap of a std call that blocks the hub, shown with standard input: `std` reads it with
//! `std::io::stdin()`, `greenhub` with `greenhub::io::stdin()`. A ticker green thread counts
//! how often the hub let it run. Run with
//! `GREENHUB_BLOCKING_DETECTOR_MS=100 cargo run -p ch08b-your-own-server --bin stdin -- std`.

use ch08b_your_own_server::ticker;
use std::cell::Cell;
use std::io::{self, BufRead};
use std::time::Duration;

fn main() -> io::Result<()> {
    let use_std = std::env::args().nth(1).as_deref() == Some("std");
    greenhub::Runtime::builder().hubs(1).build()?.run(move || {
        let ticks = ticker(Duration::from_millis(10));
        print_lines(use_std, &ticks)
    })
}

// ANCHOR: stdin
fn print_lines(use_std: bool, ticks: &Cell<u32>) -> io::Result<()> {
    let lines: Box<dyn Iterator<Item = io::Result<String>>> = if use_std {
        Box::new(io::stdin().lock().lines()) // blocks the whole hub until a line comes
    } else {
        Box::new(greenhub::io::stdin().lines()) // parks only this green thread
    };
    for line in lines {
        println!(
            "got {:?}; the ticker has ticked {} times",
            line?,
            ticks.get()
        );
    }
    Ok(())
}
// ANCHOR_END: stdin
