//! The stock command line: `aedyn run [CONFIG.toml] [--out DIR]`, `aedyn integrals NAME`,
//! `aedyn list` (see `aedyn::cli`).

fn main() -> std::process::ExitCode {
    aedyn::cli::main()
}
