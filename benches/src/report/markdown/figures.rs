//! `report/figures.md`: every figure of the report's tables again, one per named anchor, so the
//! book can quote a figure with `{{#include ../../benches/report/figures.md:yield_now-greenhub}}`
//! and a new report updates the book. Each value is the very string written into the table
//! cell, so the two files cannot disagree; `book/FIGURES.md` says how the book uses them.
//!
//! Anchor names join the table's keys with `-`:
//!
//! ```text
//! <group>-<implementation>                      yield_now-greenhub       4.1 ns
//! memory-<implementation>                       memory-greenhub          4.4      (KiB)
//! echo-<connections>-<server>-<column>          echo-10-greenhub-cpu     5.47     (us)
//! chat-<offered>-<server>-<column>              chat-999000-tokio-p99    22.6     (ms)
//! idle-<server>                                 idle-greenhub            11.1     (KiB)
//!                                               idle-greenhub_websocket  19.7     (KiB)
//! ```

use std::fmt::Write as _;

/// The name of the file, written beside the charts in `report/`.
pub const FIGURES_FILE: &str = "figures.md";

/// Named figures, in the order the report writes them.
#[derive(Default)]
pub(super) struct Figures(Vec<(String, String)>);

impl Figures {
    /// Records the cell `value` under the name made of `keys`.
    pub(super) fn add(&mut self, keys: &[&str], value: String) {
        let name: Vec<String> = keys.iter().map(|k| anchor_safe(k)).collect();
        self.0.push((name.join("-"), value));
    }

    /// The file: a header comment, then each figure between mdBook's anchor comments.
    pub(super) fn to_markdown(&self) -> String {
        let mut out = String::from(
            "<!-- Written by `cargo run --release -p greenhub-benches --bin report` together with \
             REPORT.md, from the same numbers. The book includes each figure by name; see \
             book/FIGURES.md. Do not edit by hand. -->\n",
        );
        for (name, value) in &self.0 {
            let _ = writeln!(
                out,
                "<!-- ANCHOR: {name} -->\n{value}\n<!-- ANCHOR_END: {name} -->"
            );
        }
        out
    }
}

/// mdBook anchor names are word characters and `-`; anything else becomes `_`.
fn anchor_safe(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_figure_sits_between_its_anchors_under_a_name_of_its_keys() {
        let mut figures = Figures::default();
        figures.add(&["yield_now", "greenhub"], "4.1 ns".into());
        figures.add(&["echo", "10", "may.v2", "cpu"], "5.96".into());
        let text = figures.to_markdown();
        assert!(text.contains(
            "<!-- ANCHOR: yield_now-greenhub -->\n4.1 ns\n<!-- ANCHOR_END: yield_now-greenhub -->\n"
        ));
        assert!(text.contains("<!-- ANCHOR: echo-10-may_v2-cpu -->\n5.96\n"));
    }
}
