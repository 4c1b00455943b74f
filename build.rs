//! Rebuilds when a migration is added: `sqlx::migrate!` embeds the files of
//! `migrations/` at compile time, and Cargo does not otherwise notice a new
//! file there.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
