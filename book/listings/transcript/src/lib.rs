//! The book shows the real output of its listings. Each listing's tests capture what the program
//! printed and compare it with the transcript file the chapter includes; run the tests with
//! `UPDATE_TRANSCRIPTS=1` to rewrite the files after changing a listing.

use std::path::Path;

/// Compares `actual` with the transcript at `path` (relative to the calling crate's
/// directory), or rewrites the file when `UPDATE_TRANSCRIPTS` is set.
///
/// # Panics
///
/// When they differ, or the file is missing, with both texts in the message.
///
/// # Examples
///
/// ```no_run
/// book_transcript::check(env!("CARGO_MANIFEST_DIR"), "output/hello.txt", "hello\n");
/// ```
pub fn check(crate_dir: &str, path: &str, actual: &str) {
    let file = Path::new(crate_dir).join(path);
    if std::env::var_os("UPDATE_TRANSCRIPTS").is_some() {
        std::fs::create_dir_all(file.parent().expect("a file in a directory"))
            .expect("create the output directory");
        std::fs::write(&file, actual).expect("write the transcript");
        return;
    }
    let expected = std::fs::read_to_string(&file).unwrap_or_else(|_| {
        panic!(
            "{} is missing; run the tests with UPDATE_TRANSCRIPTS=1 to create it. The output was:\n{actual}",
            file.display()
        )
    });
    assert_eq!(
        expected,
        actual,
        "{} no longer matches what the listing prints (UPDATE_TRANSCRIPTS=1 rewrites it)",
        file.display()
    );
}

/// A `Write` that collects output into a `String`, shareable between threads.
#[derive(Clone, Default)]
pub struct Output(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Output {
    /// What was written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl std::io::Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
