//! Release builds embed `frontend/build` (rust-embed); without this, cargo would not notice
//! files added there by a new `npm run build`, and the binary would serve a stale dashboard.
//!
//! Cargo re-runs a build script on every build when a path it watches does not exist, and a
//! fresh clone has no `frontend/build`: watching it then would recompile this crate and
//! relink the binary every time. So the folder is watched only when it exists; otherwise
//! its parent `frontend/` is, whose modification time changes when `build/` appears.
//! Cargo scans a watched directory recursively (following symlinks; it has no shallow
//! watch), so until there is a build, an edit under `frontend/` also recompiles this crate,
//! and each cargo build walks `frontend/node_modules` if it is there.

use std::path::Path;

fn main() {
    let build = Path::new("../../frontend/build");
    if build.is_dir() {
        println!("cargo:rerun-if-changed=../../frontend/build");
    } else {
        println!("cargo:rerun-if-changed=../../frontend");
    }
}
