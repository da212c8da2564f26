//! Tells the test suite whether a PostgreSQL server was named for it, so the
//! PostgreSQL twin of each scenario is *ignored* (and says how to run it)
//! rather than passing without running when `TEST_DATABASE_URL` is unset.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(lk_postgres)");
    println!("cargo::rerun-if-env-changed=TEST_DATABASE_URL");
    let named = std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty());
    if named {
        println!("cargo::rustc-cfg=lk_postgres");
    }
}
