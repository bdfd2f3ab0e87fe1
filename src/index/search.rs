//! Range and k-nearest search over the segments of one list: sinks, the planner, dihedral
//! merging.
//!
//! A list is a sequence of segments (the entries of one build or one `index add`), each with
//! its codes and, for PDQ and pHash, its MIH tables. Entry ids are implicit: segment entry `i`
//! has id `first_id + i`. Removed ids are set in the list's tombstone bitmap, checked for every
//! code that passes the distance test, before it can count as a hit or take a k-nearest slot.
//!
//! The planner chooses, per segment and per query, between the flat scan and MIH
//! ([`Backend::Auto`]); [`Backend::Scan`] and [`Backend::Mih`] force one. [`Backend::Gpu`] runs
//! the GPU range scan ([`crate::gpu::GpuContext::hamming_range`]) through [`search_with`] given
//! a GPU context (plain [`search`] refuses it); it returns what [`Backend::Scan`] returns.

use std::collections::{BinaryHeap, HashMap};

use rayon::prelude::*;

use super::kernel::{Kernel, Sink};
use super::mih::{self, MihView};
use super::scan::{ForkSink, scan};

/// Which search path to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// The planner decides per segment and query (MIH when its candidate count is small).
    #[default]
    Auto,
    /// Always the flat scan (the oracle's results, at SIMD speed).
    Scan,
    /// Always MIH; an error for a radius past its range ([`mih::max_radius`]) or a segment
    /// without tables.
    Mih,
    /// The GPU range scan; needs a context ([`search_with`]), else refused with
    /// [`SearchError::Unavailable`].
    Gpu,
}

/// What the planner chose for one (segment, query).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Flat scan.
    Scan,
    /// Multi-index hashing.
    Mih,
}

/// Why a search could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    /// MIH was forced but does not accept this radius or the segment has no tables.
    #[error("MIH cannot search radius {radius} here (at most {max}, and only with tables)")]
    MihNotApplicable {
        /// The radius asked for.
        radius: u32,
        /// The largest radius MIH accepts for this code length.
        max: u32,
    },
    /// The backend is not available in this build or on this machine.
    #[error("search backend {0} is not available")]
    Unavailable(&'static str),
    /// The kernel level is not supported by this CPU.
    #[error("kernel {0} is not supported by this CPU")]
    Kernel(&'static str),
    /// The GPU scan failed.
    #[error("GPU search failed: {0}")]
    Gpu(String),
}

/// Removed ids of a list: bit `id` set when entry `id` was removed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tombstones<'a> {
    /// Bitmap words (bit `id % 64` of word `id / 64`); ids past the end are live.
    pub words: &'a [u64],
}

impl Tombstones<'_> {
    /// Whether `id` was removed.
    #[inline]
    pub fn is_dead(&self, id: u64) -> bool {
        let w = (id / 64) as usize;
        w < self.words.len() && self.words[w] >> (id % 64) & 1 == 1
    }
}

/// One segment of a PDQ or pHash list (`W` = 4 or 1 words per code).
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a, const W: usize> {
    /// Id of entry 0.
    pub first_id: u64,
    /// Codes in entry order.
    pub codes: &'a [[u64; W]],
    /// MIH tables, when built.
    pub mih: Option<MihView<'a>>,
}

/// Search parameters.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Largest distance that matches.
    pub radius: u32,
    /// Keep only the `k` nearest per query (distance, then id); `None`: every match.
    pub k: Option<usize>,
    /// Path choice.
    pub backend: Backend,
    /// Popcount kernel for the scan.
    pub kernel: Kernel,
}

impl Params {
    /// Range search at `radius` with the planner and the best kernel.
    pub fn range(radius: u32) -> Params {
        Params {
            radius,
            k: None,
            backend: Backend::Auto,
            kernel: Kernel::best(),
        }
    }
}

/// A match: entry `id` at `distance`; `segment`/`entry` locate its label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hit {
    /// Hamming distance (the best variant's for dihedral queries).
    pub distance: u32,
    /// Entry id within its list.
    pub id: u64,
    /// Dihedral variant that gave `distance` (0 = orig; always 0 for plain queries).
    pub variant: u8,
    /// Segment index within the list.
    pub segment: u32,
    /// Entry index within the segment.
    pub entry: u32,
}

/// Collects one query's hits in one segment.
struct Collect<'a> {
    radius: u32,
    k: Option<usize>,
    first_id: u64,
    segment: u32,
    dead: Tombstones<'a>,
    hits: Vec<Hit>,
    /// k-nearest: max-heap on (distance, id).
    heap: BinaryHeap<Hit>,
}

impl<'a> Collect<'a> {
    fn new(p: &Params, first_id: u64, segment: u32, dead: Tombstones<'a>) -> Self {
        Collect {
            radius: p.radius,
            k: p.k,
            first_id,
            segment,
            dead,
            hits: Vec::new(),
            heap: BinaryHeap::new(),
        }
    }

    fn push(&mut self, h: Hit) {
        match self.k {
            None => self.hits.push(h),
            Some(k) => {
                if self.heap.len() < k {
                    self.heap.push(h);
                } else if let Some(top) = self.heap.peek()
                    && (h.distance, h.id) < (top.distance, top.id)
                {
                    self.heap.pop();
                    self.heap.push(h);
                }
            }
        }
    }

    fn finish(self) -> Vec<Hit> {
        let mut v = match self.k {
            None => self.hits,
            Some(_) => self.heap.into_vec(),
        };
        v.sort_unstable_by_key(|h| (h.distance, h.id));
        v
    }
}

impl Sink for Collect<'_> {
    #[inline]
    fn threshold(&self) -> u32 {
        match self.k {
            Some(k) if self.heap.len() >= k => self.heap.peek().map_or(0, |h| h.distance),
            _ => self.radius,
        }
    }

    fn offer(&mut self, entry: u32, dist: u32) {
        let id = self.first_id + u64::from(entry);
        if self.dead.is_dead(id) {
            return;
        }
        self.push(Hit {
            distance: dist,
            id,
            variant: 0,
            segment: self.segment,
            entry,
        });
    }
}

impl ForkSink for Collect<'_> {
    fn fork(&self) -> Self {
        Collect {
            hits: Vec::new(),
            heap: BinaryHeap::new(),
            ..*self
        }
    }

    fn merge(&mut self, later: Self) {
        for h in later.finish() {
            self.push(h);
        }
    }
}

/// The plan for one segment and query; `Err` when the forced backend cannot run.
pub fn plan<const W: usize>(
    backend: Backend,
    seg: &Segment<'_, W>,
    query: &[u64; W],
    radius: u32,
) -> Result<Plan, SearchError> {
    match backend {
        Backend::Scan => Ok(Plan::Scan),
        Backend::Gpu => Err(SearchError::Unavailable("gpu")),
        Backend::Mih => match seg.mih {
            Some(_) if radius <= mih::max_radius(W) => Ok(Plan::Mih),
            _ => Err(SearchError::MihNotApplicable {
                radius,
                max: mih::max_radius(W),
            }),
        },
        Backend::Auto => {
            let Some(view) = seg.mih else {
                return Ok(Plan::Scan);
            };
            // Past 2 flips per substring the probes alone cost more than a scan of the
            // sizes MIH pays for (search.md: MIH pays while ⌊r/m⌋ ≤ 2-3).
            if radius / mih::tables(W) as u32 > 2 {
                return Ok(Plan::Scan);
            }
            let n = seg.codes.len() as u64;
            match view.candidates(query, radius) {
                // A verified candidate is a random read (~20 ns); a scanned code costs
                // ~0.3 ns in a batch: MIH while candidates stay under n/64.
                Some(c) if c.saturating_mul(64) <= n => Ok(Plan::Mih),
                _ => Ok(Plan::Scan),
            }
        }
    }
}

/// Search the segments of one list: per query, its hits sorted by (distance, id).
/// [`Backend::Gpu`] is refused here; see [`search_with`].
pub fn search<const W: usize>(
    segments: &[Segment<'_, W>],
    dead: Tombstones<'_>,
    queries: &[[u64; W]],
    p: &Params,
) -> Result<Vec<Vec<Hit>>, SearchError> {
    search_with(None, segments, dead, queries, p)
}

/// [`search`], with a GPU context for [`Backend::Gpu`]: each segment's codes are uploaded and
/// scanned on the GPU at the radius; tombstones and `k` are applied here to the GPU's hits.
pub fn search_with<const W: usize>(
    gpu: Option<&crate::gpu::GpuContext>,
    segments: &[Segment<'_, W>],
    dead: Tombstones<'_>,
    queries: &[[u64; W]],
    p: &Params,
) -> Result<Vec<Vec<Hit>>, SearchError> {
    if p.kernel > Kernel::detected() {
        return Err(SearchError::Kernel(p.kernel.name()));
    }
    if p.backend == Backend::Gpu {
        let ctx = gpu.ok_or(SearchError::Unavailable("gpu"))?;
        return search_gpu(ctx, segments, dead, queries, p);
    }
    if p.backend == Backend::Mih && p.radius > mih::max_radius(W) {
        return Err(SearchError::MihNotApplicable {
            radius: p.radius,
            max: mih::max_radius(W),
        });
    }
    let mut out: Vec<Vec<Hit>> = vec![Vec::new(); queries.len()];
    if p.k == Some(0) {
        return Ok(out);
    }
    for (si, seg) in segments.iter().enumerate() {
        let mut plans = Vec::with_capacity(queries.len());
        for q in queries {
            plans.push(plan(p.backend, seg, q, p.radius)?);
        }
        let fresh = || Collect::new(p, seg.first_id, si as u32, dead);
        // MIH queries, in parallel.
        let mih_idx: Vec<usize> = (0..queries.len())
            .filter(|&i| plans[i] == Plan::Mih)
            .collect();
        let threads = rayon::current_num_threads().max(1);
        let mih_hits: Vec<(usize, Vec<Hit>)> = match seg.mih {
            // Enough queries to keep every core busy: one query per task.
            Some(view) if mih_idx.len() >= 2 * threads => mih_idx
                .par_iter()
                .map(|&i| {
                    let mut sink = fresh();
                    view.search(&queries[i], seg.codes, p.radius, 0, &mut sink);
                    (i, sink.finish())
                })
                .collect(),
            // A few queries: split each one's tables across cores (each hit is offered from
            // exactly one table, so the parts merge without duplicates).
            Some(view) => mih_idx
                .iter()
                .map(|&i| {
                    let m = mih::tables(W);
                    let parts = threads.min(m);
                    let forks: Vec<Collect<'_>> = (0..parts)
                        .into_par_iter()
                        .map(|g| {
                            let mut sink = fresh();
                            let r = g * m / parts..(g + 1) * m / parts;
                            view.search_tables(&queries[i], seg.codes, p.radius, 0, r, &mut sink);
                            sink
                        })
                        .collect();
                    let mut sink = fresh();
                    for f in forks {
                        sink.merge(f);
                    }
                    (i, sink.finish())
                })
                .collect(),
            None => Vec::new(),
        };
        // Scan queries, batched.
        let scan_idx: Vec<usize> = (0..queries.len())
            .filter(|&i| plans[i] == Plan::Scan)
            .collect();
        let scan_q: Vec<[u64; W]> = scan_idx.iter().map(|&i| queries[i]).collect();
        let mut sinks: Vec<Collect<'_>> = scan_idx.iter().map(|_| fresh()).collect();
        scan(p.kernel, &scan_q, seg.codes, &mut sinks);
        let scan_hits = scan_idx
            .into_iter()
            .zip(sinks.into_iter().map(Collect::finish));
        for (i, hits) in mih_hits.into_iter().chain(scan_hits) {
            out[i].extend(hits);
        }
    }
    for hits in &mut out {
        hits.sort_unstable_by_key(|h| (h.distance, h.id));
        if let Some(k) = p.k {
            hits.truncate(k);
        }
    }
    Ok(out)
}

/// The GPU path of [`search_with`].
fn search_gpu<const W: usize>(
    ctx: &crate::gpu::GpuContext,
    segments: &[Segment<'_, W>],
    dead: Tombstones<'_>,
    queries: &[[u64; W]],
    p: &Params,
) -> Result<Vec<Vec<Hit>>, SearchError> {
    let gpu_err = |e: crate::gpu::GpuError| SearchError::Gpu(e.to_string());
    let mut out: Vec<Vec<Hit>> = vec![Vec::new(); queries.len()];
    if p.k == Some(0) || queries.is_empty() {
        return Ok(out);
    }
    for (si, seg) in segments.iter().enumerate() {
        if seg.codes.is_empty() {
            continue;
        }
        let codes = ctx.upload_codes(seg.codes).map_err(gpu_err)?;
        for h in ctx
            .hamming_range(&codes, queries, p.radius)
            .map_err(gpu_err)?
        {
            let id = seg.first_id + u64::from(h.entry);
            if dead.is_dead(id) {
                continue;
            }
            out[h.query as usize].push(Hit {
                distance: h.distance,
                id,
                variant: 0,
                segment: si as u32,
                entry: h.entry,
            });
        }
    }
    for hits in &mut out {
        hits.sort_unstable_by_key(|h| (h.distance, h.id));
        if let Some(k) = p.k {
            hits.truncate(k);
        }
    }
    Ok(out)
}

/// Dihedral search: `queries` holds 8 variants per image, in `DIHEDRAL_NAMES` order. Each
/// entry is reported once per image, with its best variant (lowest distance; the earlier
/// variant on a tie). With `k`, the k best entries by that distance, then id (exact: an entry
/// in the overall k best is in its best variant's k best).
pub fn search_dihedral<const W: usize>(
    segments: &[Segment<'_, W>],
    dead: Tombstones<'_>,
    queries: &[[[u64; W]; 8]],
    p: &Params,
) -> Result<Vec<Vec<Hit>>, SearchError> {
    search_dihedral_with(None, segments, dead, queries, p)
}

/// [`search_dihedral`], with a GPU context for [`Backend::Gpu`].
pub fn search_dihedral_with<const W: usize>(
    gpu: Option<&crate::gpu::GpuContext>,
    segments: &[Segment<'_, W>],
    dead: Tombstones<'_>,
    queries: &[[[u64; W]; 8]],
    p: &Params,
) -> Result<Vec<Vec<Hit>>, SearchError> {
    let flat: Vec<[u64; W]> = queries.iter().flatten().copied().collect();
    let per_variant = search_with(gpu, segments, dead, &flat, p)?;
    Ok(per_variant
        .chunks(8)
        .map(|variants| {
            let mut best: HashMap<u64, Hit> = HashMap::new();
            for (v, hits) in variants.iter().enumerate() {
                for h in hits {
                    let h = Hit {
                        variant: v as u8,
                        ..*h
                    };
                    best.entry(h.id)
                        .and_modify(|b| {
                            if (h.distance, h.variant) < (b.distance, b.variant) {
                                *b = h;
                            }
                        })
                        .or_insert(h);
                }
            }
            let mut hits: Vec<Hit> = best.into_values().collect();
            hits.sort_unstable_by_key(|h| (h.distance, h.id));
            if let Some(k) = p.k {
                hits.truncate(k);
            }
            hits
        })
        .collect())
}
