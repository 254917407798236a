//! The trap of a `RefCell` borrow held across a park. Two green threads on one hub append to
//! a shared log; `held` keeps its borrow while it waits, `scoped` borrows only to push. Run with
//! `cargo run -p ch08b-your-own-server --bin refcell -- held` (or `-- scoped`).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// Stands for any call that parks: a socket write, a channel send, a sleep.
fn something_that_parks() {
    greenhub::sleep(Duration::from_millis(10));
}

// ANCHOR: refcell
fn client(name: &str, log: &RefCell<Vec<String>>, held: bool) {
    if held {
        let mut entries = log.borrow_mut(); // borrowed until the end of the block
        entries.push(format!("{name}: request"));
        something_that_parks(); // ... and still borrowed while others run
        entries.push(format!("{name}: reply"));
    } else {
        log.borrow_mut().push(format!("{name}: request"));
        something_that_parks(); // nothing borrowed here
        log.borrow_mut().push(format!("{name}: reply"));
    }
}
// ANCHOR_END: refcell

fn main() {
    let held = std::env::args().nth(1).as_deref() == Some("held");
    greenhub::run(move || {
        let log = Rc::new(RefCell::new(Vec::new()));
        let names = ["ann", "ben"];
        let clients: Vec<_> = names
            .into_iter()
            .map(|name| {
                let log = log.clone();
                greenhub::spawn(move || client(name, &log, held))
            })
            .collect();
        for (name, client) in names.iter().zip(clients) {
            match client.join() {
                Ok(()) => println!("{name}: done"),
                Err(e) => println!("{name}: {e}"),
            }
        }
        println!("log: {:?}", log.borrow());
    });
}
