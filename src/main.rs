//! The `vigil` command line: parses flags into the library's options and prints records.
//! All the work happens in the `vigil` library; see `src/cli/`.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
