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
