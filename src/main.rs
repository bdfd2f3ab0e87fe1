//! The `vigil` command line: parses flags into the library's options and prints records.
//! All the work happens in the `vigil` library; see `src/cli/`.

mod cli;

use std::io::Write;

fn main() {
    let code = cli::main();
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // Leave without running C-library exit handlers: worker threads (and a GPU driver's own
    // threads) may still be alive, and tearing the Vulkan driver down under them has crashed
    // lavapipe at exit (about 1 run in 30). Every record is written and flushed above.
    // SAFETY: _exit ends the process immediately; no Rust state is used afterwards.
    unsafe { libc::_exit(code) }
}
