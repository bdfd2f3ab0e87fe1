//! Lists of known hashes and exact search in them (issue 4).
//!
//! An index holds named lists; each list has one algorithm ([`Algo`]), a radius, a version
//! and entries (a code, an implicit numeric id, an optional label). PDQ (256-bit) and pHash
//! (64-bit) lists are searched by Hamming distance; digest lists (MD5, SHA-1, SHA-256) by
//! equality.
//!
//! - [`kernel`]: popcount kernels (scalar, AVX2, AVX-512 VPOPCNTDQ), runtime-dispatched.
//! - [`scan`]: the flat scan, tiled and parallel, and [`scan::oracle_range`], the reference.
//! - [`mih`]: multi-index hashing tables and probe search.
//! - [`search`]: sinks (range, k-nearest, tombstones), the planner, dihedral merging.
//! - [`format`](mod@format): the file container (header, checksummed sections, table) and its mapping.
//! - [`store`]: [`Index`]: open and verify, search by list, add / remove / replace.
//! - [`vpdq`]: vPDQ lists (one group of frames per video) and [`Index::match_vpdq`], exact
//!   bag-of-frames matching through the PDQ search; [`vpdq_import`] reads vPDQ files.
//!
//! Every path returns exactly the oracle's hits: `tests/index_search.rs` checks it.

pub mod format;
pub mod import;
pub mod kernel;
pub mod mih;
pub mod scan;
pub mod search;
pub mod store;
pub mod vpdq;
pub mod vpdq_import;

pub use kernel::Kernel;
pub use search::{Backend, Hit, Params, Plan, SearchError, Segment, Tombstones};
pub use store::{
    Algo, Index, IndexError, ListManifest, Manifest, NewEntry, NewList, Provenance, Queries,
    Source, build, build_with_videos,
};
pub use vpdq::{
    IndexedVideo, NewVideo, NewVpdqList, VpdqListMeta, VpdqMatch, VpdqMatchParams, VpdqThresholds,
};
