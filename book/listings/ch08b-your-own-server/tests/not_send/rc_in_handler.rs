// ANCHOR: not_send
use std::cell::Cell;
use std::rc::Rc;

fn main() {
    greenhub::run(|| {
        let served = Rc::new(Cell::new(0));
        let server = greenhub::StreamServer::bind("127.0.0.1:0", move |_stream, _peer| {
            served.set(served.get() + 1);
        });
        drop(server);
    });
}
// ANCHOR_END: not_send
