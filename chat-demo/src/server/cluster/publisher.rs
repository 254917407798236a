//! The publisher: one green thread and one connection that send what the sessions queue, in
//! queue order, so that Redis hands every server each sender's lines in the order they were
//! said. What queued up while a batch was out goes in the next batch, pipelined: one write
//! and one wait for the replies per batch, not per line.

use super::link::Link;
use super::wire::Message;
use super::{server_channel, Cluster, Outgoing, ROOMS_CHANNEL};
use greenhub::sync::Receiver;
use redis::ConnectionLike;
use std::time::{Duration, Instant};

/// Lines in one pipelined batch at most.
const BATCH: usize = 512;
/// After a failed connect, batches are dropped for this long before the next try.
const RETRY: Duration = Duration::from_millis(500);

pub(super) fn run(cluster: &Cluster, queue: Receiver<Outgoing>) {
    let mut link: Option<Link> = None;
    let mut retry_at = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    let mut packed = Vec::new();
    while let Ok(first) = queue.recv() {
        batch.clear();
        batch.push(first);
        while batch.len() < BATCH {
            let Ok(next) = queue.try_recv() else { break };
            batch.push(next);
        }
        // Lines queued before an outage are not sent after it: they would arrive late and
        // out of place among what was said since.
        if !cluster.is_up() {
            link = None;
            cluster.count_dropped(batch.len() as u64, "redis is away");
            continue;
        }
        cluster.keep_current(&mut link);
        if link.is_none() {
            if Instant::now() < retry_at {
                cluster.count_dropped(batch.len() as u64, "redis is away");
                continue;
            }
            match cluster.connect() {
                Ok(connected) => link = Some(connected),
                Err(err) => {
                    log::debug!("cluster: publisher cannot connect: {err}");
                    retry_at = Instant::now() + RETRY;
                    cluster.count_dropped(batch.len() as u64, "redis is away");
                    continue;
                }
            }
        }
        packed.clear();
        for outgoing in &batch {
            let mut publish = redis::cmd("PUBLISH");
            match outgoing {
                Outgoing::Room { room, kind, line } => {
                    let message = Message::Room {
                        from: &cluster.id,
                        kind: *kind,
                        room,
                        line,
                    };
                    publish.arg(ROOMS_CHANNEL).arg(message.encode());
                }
                Outgoing::To { server, payload } => {
                    publish.arg(server_channel(server)).arg(payload.as_slice());
                }
            }
            publish.write_packed_command(&mut packed);
        }
        let Some(connected) = link.as_mut() else {
            continue;
        };
        if let Err(err) = connected.req_packed_commands(&packed, 0, batch.len()) {
            // Some of the batch may have gone out: none of it is sent again, so no server
            // hears a line twice.
            log::warn!("cluster: publishing failed: {err}");
            link = None;
            cluster.count_dropped(batch.len() as u64, "publishing failed");
        }
    }
}
