//! Release builds embed `frontend/build` (rust-embed); without this, cargo would not notice
//! files added there by a new `npm run build`, and the binary would serve a stale dashboard.

fn main() {
    println!("cargo:rerun-if-changed=../../frontend/build");
}
