//! The chapter's all-hubs server on 127.0.0.1:0.

use book_transcript::check;

#[test]
fn both_hubs_serve_connections() -> std::io::Result<()> {
    let served = ch10_many_cores::echo_on_all_hubs(200)?;
    assert_eq!(served.iter().sum::<usize>(), 200);
    let text = format!(
        "200 connections served: {}; every hub served some: {}\n",
        served.iter().sum::<usize>() == 200,
        served.iter().all(|n| *n > 0)
    );
    check(env!("CARGO_MANIFEST_DIR"), "output/spread.txt", &text);
    Ok(())
}

#[test]
fn one_listener_leaves_the_second_hub_idle() -> std::io::Result<()> {
    let served = ch10_many_cores::echo_on_one_listener(200)?;
    assert_eq!(served.iter().sum::<usize>(), 200);
    let text = format!(
        "200 connections served, per hub: {served:?}; every hub served some: {}\n",
        served.iter().all(|n| *n > 0)
    );
    check(env!("CARGO_MANIFEST_DIR"), "output/one_listener.txt", &text);
    Ok(())
}

#[test]
fn the_chat_server_on_two_hubs_takes_a_burst() -> std::io::Result<()> {
    let (report, per_hub) = ch10_many_cores::chat_burst_on_all_hubs(300, 5)?;
    let text = format!(
        "300 clients, 5 lines each at once: {} of {} deliveries, {} duplicated, {} out of order, \
         {} clients dropped\nsessions on {} hubs, every hub ran some: {}\n",
        report.delivered,
        report.expected,
        report.duplicates,
        report.out_of_order,
        report.incomplete,
        per_hub.len(),
        per_hub.iter().all(|n| *n > 0)
    );
    check(env!("CARGO_MANIFEST_DIR"), "output/chat_burst.txt", &text);
    Ok(())
}
