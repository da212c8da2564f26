//! The `linekeeper` binary: a shim over [`linekeeper::cli`].
fn main() -> std::process::ExitCode {
    linekeeper::cli::main()
}
