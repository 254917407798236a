//! Issue 15, finding 3: one address may not take every slot. Connections from one IP beyond
//! `max_per_ip`, and connections from an IP that connects too often, are told why in a `!!! `
//! line and closed; other addresses are not affected by either.

mod common;

use chat_demo::server::Config;
use common::{with_server, Client};
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::time::Duration;

/// Connects and returns the first line the server says.
fn first_line(addr: SocketAddr) -> io::Result<String> {
    let stream = greenhub::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    Ok(line)
}

#[test]
fn the_eleventh_connection_from_one_address_is_told_why_and_closed() -> io::Result<()> {
    with_server(Config::default(), |addr| {
        let ten: Vec<Client> = (0..10)
            .map(|_| Client::connect(addr))
            .collect::<io::Result<_>>()?;
        let eleventh = first_line(addr)?;
        assert!(
            eleventh.starts_with("!!! too many connections from your address"),
            "{eleventh:?}"
        );
        // One leaves; the address may connect again.
        drop(ten.into_iter().next());
        greenhub::sleep(Duration::from_millis(200));
        let again = first_line(addr)?;
        assert!(again.starts_with("*** welcome"), "{again:?}");
        Ok(())
    })
}

#[test]
fn an_address_that_connects_too_often_is_told_why_and_closed() -> io::Result<()> {
    with_server(Config::default(), |addr| {
        // Each connection leaves at once, so only the connect rate can refuse them.
        let mut refused = None;
        for n in 0..40 {
            let said = first_line(addr)?;
            if said.starts_with("!!! ") {
                refused = Some((n, said));
                break;
            }
        }
        let (n, said) = refused.expect("40 connections in a row were all welcomed");
        assert!(said.starts_with("!!! connecting too often"), "{said:?}");
        assert!(n >= 5, "refused after only {n} connections");
        Ok(())
    })
}

#[test]
fn the_client_over_max_clients_is_told_the_server_is_full_before_the_close() -> io::Result<()> {
    let config = Config {
        max_clients: 3,
        ..Config::default()
    };
    with_server(config, |addr| {
        let three: Vec<Client> = (0..3)
            .map(|_| Client::connect(addr))
            .collect::<io::Result<_>>()?;
        let fourth = first_line(addr)?;
        assert!(fourth.starts_with("!!! server full"), "{fourth:?}");
        drop(three);
        Ok(())
    })
}
