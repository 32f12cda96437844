//! Rebuilds the engine when a migration is added or changed: `sqlx::migrate!` embeds the
//! migration files at compile time but does not tell cargo to watch their folder, so a
//! new migration would otherwise be left out of an incremental build (sqlx's docs
//! recommend this script).

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
