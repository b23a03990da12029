//! Rebuilds the collector when a migration is added or changed, because
//! `sqlx::migrate!` embeds `migrations/` into the binary at compile time.

// Printing to stdout is how a build script talks to Cargo.
#[allow(clippy::print_stdout)]
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
