//! Answers that grow with the server, cut to size: `/who` lists at most [`WHO_MAX`] nicks,
//! [`PER_LINE`] to a line, and says how many more there are; `/rooms` lists [`ROOMS_PAGE`]
//! rooms a page and names the command for the next. No line of either is longer than about
//! 400 bytes, and no answer more than a few KB, whatever the size of the server.

use std::sync::Arc;

/// Names or rooms on one line.
pub(super) const PER_LINE: usize = 15;
/// Nicks `/who` lists.
pub(super) const WHO_MAX: usize = 150;
/// Rooms on one page of `/rooms`.
pub(super) const ROOMS_PAGE: usize = 50;

/// The lines answering `/who` in `room`, whose members are `nicks` (sorted): one line when
/// they fit on one.
pub(super) fn who(room: &str, nicks: &[String]) -> Vec<String> {
    if nicks.len() <= PER_LINE {
        return vec![format!("*** in {room}: {}", nicks.join(", "))];
    }
    let shown = &nicks[..nicks.len().min(WHO_MAX)];
    let mut lines: Vec<String> = shown
        .chunks(PER_LINE)
        .map(|chunk| format!("*** in {room} ({}): {}", nicks.len(), chunk.join(", ")))
        .collect();
    let more = nicks.len() - shown.len();
    lines.push(if more > 0 {
        format!("*** in {room}: … and {more} more (end)")
    } else {
        format!("*** in {room}: (end)")
    });
    lines
}

/// The lines answering `/rooms PAGE` (from 1), given every room and its size, sorted: one
/// line when they fit on one.
pub(super) fn rooms(page: usize, sizes: &[(Arc<str>, usize)]) -> Vec<String> {
    let listed = |rooms: &[(Arc<str>, usize)]| {
        let listed: Vec<String> = rooms.iter().map(|(r, n)| format!("{r} ({n})")).collect();
        listed.join(", ")
    };
    if sizes.len() <= PER_LINE {
        return vec![format!("*** rooms: {}", listed(sizes))];
    }
    let pages = sizes.len().div_ceil(ROOMS_PAGE).max(1);
    let page = page.clamp(1, pages);
    let start = (page - 1) * ROOMS_PAGE;
    let shown = &sizes[start.min(sizes.len())..(start + ROOMS_PAGE).min(sizes.len())];
    let mut lines: Vec<String> = shown
        .chunks(PER_LINE)
        .map(|chunk| format!("*** rooms, page {page} of {pages}: {}", listed(chunk)))
        .collect();
    lines.push(if page < pages {
        format!("*** rooms: /rooms {} for more", page + 1)
    } else {
        "*** rooms: (end)".to_string()
    });
    lines
}
