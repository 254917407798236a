//! The chat showcase (server, client, load generator); built in a later issue.
