//! Temporary directories, removed on drop (also when the test panics).

pub use tempfile::TempDir;

/// A fresh directory `meshbench-<tag>-…` in the system temp dir.
pub fn temp_dir(tag: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("meshbench-{tag}-"))
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"))
}
