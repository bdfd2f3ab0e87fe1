//! Getting bytes safely: expanding inputs into entries, opening files without following
//! links or blocking on FIFOs, and a decode-memory budget shared by worker threads.
//!
//! `vigil hash` uses these; the bulk `vigil scan` pipeline builds on them, and decodes in
//! child processes ([`isolate`]).

mod budget;
pub mod isolate;
mod open;
mod walk;

pub use budget::{MemoryBudget, Permit};
pub use open::{OpenError, ReadFile, file_kind, read_input};
pub use walk::{Entry, EntryKind, Inputs};
