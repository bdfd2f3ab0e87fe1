//! Getting bytes safely: expanding inputs into entries, opening files without following
//! links or blocking on FIFOs, and a decode-memory budget shared by worker threads.
//!
//! `vigil hash` walks with [`Inputs`] (sequential, sorted); `vigil scan` with
//! [`walk_parallel`] (parallel, unordered, optionally following links and staying on one file
//! system), and decodes in child processes ([`isolate`]).

mod budget;
pub mod isolate;
mod open;
mod parallel;
pub mod video;
mod walk;

pub use budget::{MemoryBudget, Permit};
pub use open::{OpenError, ReadFile, file_kind, read_input};
pub use parallel::{ParallelWalk, WalkOptions, walk_parallel};
pub use walk::{Entry, EntryKind, Inputs};
