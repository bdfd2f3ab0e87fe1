//! vPDQ lists: videos as groups of frame hashes, matched as bags of frames (`pdq-spec.md`
//! §2.4), exactly as [`crate::video::match_percent`] would against every video of the list.
//!
//! # Storage
//! A vPDQ list ([`Algo::Vpdq`]) is stored like a PDQ list whose entries are the frames of its
//! videos: the frame hashes are the segment's codes, with the segment's MIH tables, so the PDQ
//! search machinery ([`super::search`]) finds frames near a query frame. Each segment adds two
//! sections:
//!
//! | kind | section | layout |
//! |---|---|---|
//! | 9 | vPDQ frames | per frame, 16 bytes: frame number u64 · timestamp f32 bits u32 · quality u8 · flags u8 (bit 0: an earlier frame of the same video has the same hash) · 0 u16 |
//! | 10 | vPDQ groups | per video, 16 bytes: id u64 · first frame (entry in the segment) u32 · frame count u32 |
//!
//! A video's frames are contiguous in its segment, in the order given (upstream files are in
//! frame order). Its label is in the segment's label sections, which for a vPDQ list have one
//! label per video (not per frame). Entry ids number frames; video ids are separate
//! ([`VpdqListMeta::next_group`]); removing a video tombstones all its frames. A video has at
//! least one frame, so "first frame removed" is "video removed".
//!
//! # Matching ([`Index::match_vpdq_list`])
//! 1. The query's kept frames: quality ≥ Q and, under `ptx`, the first frame of each hash
//!    ([`crate::video::vpdq::kept`], the same function the brute-force matcher uses).
//! 2. One range search per distinct kept query hash over the list's frames, at radius D
//!    (`ptx`, distance ≤ D) or D − 1 (`cpp`, distance < D; nothing matches when D = 0). Hits on
//!    frames the target side does not keep (quality < Q; under `ptx` a frame flagged as a
//!    repeat of an earlier hash of its video) are dropped. Every other pair of frames within
//!    the threshold is a hit, so the hits are exactly the frame pairs brute force would find.
//! 3. Per video hit (the candidates): query% = query frames with a hit in it (counting
//!    repeated hashes under `cpp` as brute force does) × 100 / kept query frames; target% =
//!    its kept frames with a hit × 100 / its kept frames (counted from its records). The
//!    arithmetic is [`crate::video::match_percent`]'s, so the numbers are equal bit for bit.
//! 4. A video with no hit has 0% / 0%: it can only match when both thresholds are ≤ 0, and
//!    then every live video is enumerated, as brute force would.
//!
//! `tests/index_vpdq.rs` checks the results against [`crate::video::match_percent`] on every
//! video, on random lists and queries, under both semantics.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::format::Kind;
use super::kernel::Kernel;
use super::search::{self, Backend, Params, Segment, Tombstones};
use super::store::{Algo, Index, IndexError, ListManifest, SegmentManifest};
use crate::pdq::PdqHash;
use crate::video::vpdq::{self, MatchOptions, MatchPercent, Semantics, VpdqFrame};

/// Bytes per frame record.
pub const FRAME_RECORD: usize = 16;
/// Bytes per video (group) record.
pub const GROUP_RECORD: usize = 16;
/// Frame flag: an earlier frame of the same video has the same hash (`ptx` drops it).
pub const FLAG_REPEAT: u8 = 1;

/// When a query video matches a listed one (`pdq-spec.md` §2.4). The defaults are
/// python-threatexchange's (`vpdq_util.py`): `ptx` rules, D = 31, Q = 50, query side ≥ 80%,
/// target side ≥ 0%.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VpdqThresholds {
    /// Frame-match rules.
    pub semantics: Semantics,
    /// Frame distance threshold D (`ptx`: ≤ D; `cpp`: < D).
    pub distance: u32,
    /// Frames of quality below Q are dropped on both sides.
    pub quality: u8,
    /// Match when at least this percentage of the query's kept frames match …
    pub query_pct: f64,
    /// … and at least this percentage of the listed video's kept frames match.
    pub target_pct: f64,
}

// Percentages are checked finite (`check`), so equality is reflexive.
impl Eq for VpdqThresholds {}

impl Default for VpdqThresholds {
    fn default() -> Self {
        VpdqThresholds {
            semantics: Semantics::Ptx,
            distance: 31,
            quality: 50,
            query_pct: 80.0,
            target_pct: 0.0,
        }
    }
}

impl VpdqThresholds {
    /// Check the ranges: percentages 0..=100, quality 0..=100, distance ≤ 256.
    pub fn check(&self) -> Result<(), String> {
        let pct = |p: f64| p.is_finite() && (0.0..=100.0).contains(&p);
        if !pct(self.query_pct) || !pct(self.target_pct) {
            return Err("vPDQ match percentages must be 0..=100".into());
        }
        if self.quality > 100 {
            return Err("vPDQ quality threshold must be 0..=100".into());
        }
        if self.distance > 256 {
            return Err("vPDQ distance threshold must be 0..=256".into());
        }
        Ok(())
    }

    /// The frame-level options of [`crate::video::match_percent`].
    pub fn match_options(&self) -> MatchOptions {
        MatchOptions {
            semantics: self.semantics,
            distance: self.distance,
            quality: self.quality,
        }
    }

    /// Whether percentages make a match: both sides keep frames and both thresholds are met
    /// (the rule of `vigil video match`).
    pub fn is_match(&self, m: &MatchPercent) -> bool {
        m.query_frames > 0
            && m.target_frames > 0
            && m.query >= self.query_pct
            && m.target >= self.target_pct
    }
}

/// A vPDQ list's manifest fields (`ListManifest::vpdq`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpdqListMeta {
    /// The id the next added video gets.
    pub next_group: u64,
    /// Live videos.
    pub groups: u64,
    /// Removed videos.
    pub removed_groups: u64,
    /// The list's own thresholds (a call may override them).
    pub thresholds: VpdqThresholds,
}

/// A video to store: its frames (at least one) and a label.
#[derive(Debug, Clone, PartialEq)]
pub struct NewVideo {
    /// Label (file name, signal metadata …), stored as given.
    pub label: Option<String>,
    /// Frames in the order of the source (frame order for upstream files).
    pub frames: Vec<VpdqFrame>,
}

/// A vPDQ list to build or to replace another with.
#[derive(Debug, Clone)]
pub struct NewVpdqList {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Matching thresholds stored with the list.
    pub thresholds: VpdqThresholds,
    /// Videos; ids are their positions.
    pub videos: Vec<NewVideo>,
    /// Where they came from.
    pub sources: Vec<super::store::Source>,
}

/// A listed video read back from an index.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedVideo {
    /// Video id in its list.
    pub id: u64,
    /// Label.
    pub label: Option<String>,
    /// Frames as stored.
    pub frames: Vec<VpdqFrame>,
}

/// One (query, listed video) result of [`Index::match_vpdq`].
#[derive(Debug, Clone, PartialEq)]
pub struct VpdqMatch {
    /// List number in the index.
    pub list: usize,
    /// Video id in that list.
    pub group: u64,
    /// The video's label.
    pub label: Option<String>,
    /// Both percentages and kept frame counts, equal to
    /// `match_percent(query, that video's frames, thresholds.match_options())`.
    pub percent: MatchPercent,
    /// Whether the thresholds are met ([`VpdqThresholds::is_match`]).
    pub is_match: bool,
}

/// Per-call options of [`Index::match_vpdq`].
#[derive(Debug, Clone, Copy, Default)]
pub struct VpdqMatchParams {
    /// Thresholds for every list instead of each list's own.
    pub thresholds: Option<VpdqThresholds>,
    /// Also return videos that share at least one matching frame with the query but miss the
    /// thresholds (`is_match: false`): near misses, for review.
    pub include_near: bool,
}

/// The sections of a new segment.
pub(super) struct Encoded {
    pub codes: Vec<[u64; 4]>,
    pub frames: Vec<u8>,
    pub groups: Vec<u8>,
}

/// Encode videos (checked by [`check_videos`]) as a segment's codes, frame and group records.
pub(super) fn encode_segment(videos: &[NewVideo], first_group: u64) -> Encoded {
    let n: usize = videos.iter().map(|v| v.frames.len()).sum();
    let mut e = Encoded {
        codes: Vec::with_capacity(n),
        frames: Vec::with_capacity(n * FRAME_RECORD),
        groups: Vec::with_capacity(videos.len() * GROUP_RECORD),
    };
    for (g, v) in videos.iter().enumerate() {
        e.groups
            .extend_from_slice(&(first_group + g as u64).to_le_bytes());
        e.groups
            .extend_from_slice(&(e.codes.len() as u32).to_le_bytes());
        e.groups
            .extend_from_slice(&(v.frames.len() as u32).to_le_bytes());
        let first = vpdq::first_occurrences(&v.frames);
        for (f, is_first) in v.frames.iter().zip(first) {
            e.codes.push(f.hash.0);
            e.frames.extend_from_slice(&f.frame_number.to_le_bytes());
            e.frames
                .extend_from_slice(&f.timestamp.to_bits().to_le_bytes());
            e.frames.push(f.quality);
            e.frames.push(if is_first { 0 } else { FLAG_REPEAT });
            e.frames.extend_from_slice(&[0, 0]);
        }
    }
    e
}

/// Videos must have frames (a removed video is one whose first frame is removed), valid
/// qualities, and fit a segment.
pub(super) fn check_videos(videos: &[NewVideo]) -> Result<(), IndexError> {
    if let Some(i) = videos.iter().position(|v| v.frames.is_empty()) {
        return Err(IndexError::Vpdq(format!("video {i} has no frames")));
    }
    if videos
        .iter()
        .flat_map(|v| &v.frames)
        .any(|f| f.quality > 100 || !f.timestamp.is_finite())
    {
        return Err(IndexError::Vpdq(
            "a frame has a quality above 100 or a timestamp that is not finite".into(),
        ));
    }
    let n: u64 = videos.iter().map(|v| v.frames.len() as u64).sum();
    if n > u64::from(u32::MAX) - 1 {
        return Err(IndexError::Vpdq("too many frames for one segment".into()));
    }
    Ok(())
}

/// One frame record.
#[derive(Debug, Clone, Copy)]
struct FrameRec {
    frame_number: u64,
    timestamp: f32,
    quality: u8,
    repeat: bool,
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn frame_rec(frames: &[u8], entry: usize) -> FrameRec {
    let b = &frames[entry * FRAME_RECORD..(entry + 1) * FRAME_RECORD];
    FrameRec {
        frame_number: u64_at(b, 0),
        timestamp: f32::from_bits(u32_at(b, 8)),
        quality: b[12],
        repeat: b[13] & FLAG_REPEAT != 0,
    }
}

/// (id, first entry, frame count) of video `g` of a segment.
fn group_rec(groups: &[u8], g: usize) -> (u64, u32, u32) {
    let b = &groups[g * GROUP_RECORD..(g + 1) * GROUP_RECORD];
    (u64_at(b, 0), u32_at(b, 8), u32_at(b, 12))
}

/// The frame and group sections of a vPDQ segment.
fn sections<'a>(idx: &'a Index, s: &SegmentManifest) -> Result<(&'a [u8], &'a [u8]), String> {
    let f = idx.sec(s.vpdq_frames.unwrap_or(u32::MAX), Kind::VpdqFrames)?;
    let g = idx.sec(s.vpdq_groups.unwrap_or(u32::MAX), Kind::VpdqGroups)?;
    Ok((f, g))
}

/// Structural checks of a vPDQ segment at open; returns its video count (its label count).
pub(super) fn check_segment(
    idx: &Index,
    l: &ListManifest,
    s: &SegmentManifest,
) -> Result<u64, String> {
    let bad = |what: &str| format!("list {:?}: vPDQ {what}", l.name);
    let (frames, groups) = sections(idx, s).map_err(|e| bad(&e))?;
    if frames.len() as u64 != s.count * FRAME_RECORD as u64 {
        return Err(bad("frame records length"));
    }
    if groups.len() % GROUP_RECORD != 0 {
        return Err(bad("group records length"));
    }
    let n = groups.len() / GROUP_RECORD;
    let next_group = l.vpdq.as_ref().map_or(0, |m| m.next_group);
    let mut next_entry = 0u64;
    let mut last_id = None;
    for g in 0..n {
        let (id, first, count) = group_rec(groups, g);
        if u64::from(first) != next_entry || count == 0 {
            return Err(bad("videos do not tile the frames"));
        }
        if last_id.is_some_and(|x| id <= x) || id >= next_group {
            return Err(bad("video ids out of order or past next_group"));
        }
        last_id = Some(id);
        next_entry += u64::from(count);
    }
    if next_entry != s.count {
        return Err(bad("videos do not tile the frames"));
    }
    for e in 0..s.count as usize {
        if frame_rec(frames, e).quality > 100 {
            return Err(bad("frame quality above 100"));
        }
    }
    Ok(n as u64)
}

/// List-level checks: metadata present, thresholds valid, ids increasing across segments,
/// video counts agreeing with the tombstones.
pub(super) fn check_list(idx: &Index, l: &ListManifest) -> Result<(), String> {
    let meta = l
        .vpdq
        .as_ref()
        .ok_or_else(|| format!("list {:?}: vPDQ metadata missing", l.name))?;
    meta.thresholds
        .check()
        .map_err(|e| format!("list {:?}: {e}", l.name))?;
    let dead = Tombstones {
        words: idx.tombstones(l)?,
    };
    let (mut live, mut total, mut last) = (0u64, 0u64, None);
    for s in &l.segments {
        let (_, groups) = sections(idx, s)?;
        for g in 0..groups.len() / GROUP_RECORD {
            let (id, first, count) = group_rec(groups, g);
            if last.is_some_and(|x| id <= x) {
                return Err(format!("list {:?}: vPDQ video ids out of order", l.name));
            }
            last = Some(id);
            total += 1;
            let frame_ids = s.first_id + u64::from(first)..s.first_id + u64::from(first + count);
            let removed = frame_ids.clone().filter(|&i| dead.is_dead(i)).count() as u64;
            if removed == 0 {
                live += 1;
            } else if removed != u64::from(count) {
                return Err(format!("list {:?}: a vPDQ video is partly removed", l.name));
            }
        }
    }
    if live != meta.groups || total != meta.groups + meta.removed_groups {
        return Err(format!("list {:?}: vPDQ video counts disagree", l.name));
    }
    Ok(())
}

/// The video (index in its segment) holding entry `entry`.
pub(super) fn group_of(idx: &Index, s: &SegmentManifest, entry: u32) -> Option<usize> {
    let (_, groups) = sections(idx, s).ok()?;
    if groups.len() < GROUP_RECORD || group_rec(groups, 0).1 > entry {
        return None;
    }
    Some(group_index(groups, entry))
}

/// The video holding entry `entry`, by binary search without allocating.
fn group_index(groups: &[u8], entry: u32) -> usize {
    let (mut lo, mut hi) = (0usize, groups.len() / GROUP_RECORD);
    // Invariant: groups before lo start at or before entry; groups from hi start after it.
    while lo < hi {
        let mid = (lo + hi) / 2;
        if group_rec(groups, mid).1 <= entry {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo - 1
}

/// Frame ids of the live videos among `ids` of list `li`, and how many such videos.
pub(super) fn frames_of_groups(idx: &Index, li: usize, ids: &[u64]) -> (Vec<u64>, u64) {
    let l = &idx.manifest().lists[li];
    let wanted: std::collections::HashSet<u64> = ids.iter().copied().collect();
    let dead = Tombstones {
        words: idx.tombstones(l).unwrap_or(&[]),
    };
    let mut out = Vec::new();
    let mut n = 0;
    for s in &l.segments {
        let Ok((_, groups)) = sections(idx, s) else {
            continue;
        };
        for g in 0..groups.len() / GROUP_RECORD {
            let (id, first, count) = group_rec(groups, g);
            let start = s.first_id + u64::from(first);
            if wanted.contains(&id) && !dead.is_dead(start) {
                n += 1;
                out.extend(start..start + u64::from(count));
            }
        }
    }
    (out, n)
}

fn internal(idx: &Index) -> impl Fn(String) -> IndexError + '_ {
    move |reason| IndexError::Manifest {
        path: idx.path().to_owned(),
        reason,
    }
}

/// A candidate video's accumulated hits.
#[derive(Default)]
struct Acc {
    /// Distinct query hashes (positions in the distinct list) with a hit in the video.
    queries: Vec<u32>,
    /// Its frames (entries) with a hit.
    frames: Vec<u32>,
}

impl Index {
    /// The numbers of the vPDQ lists.
    pub fn vpdq_lists(&self) -> Vec<usize> {
        (0..self.manifest().lists.len())
            .filter(|&i| self.manifest().lists[i].algo == Algo::Vpdq)
            .collect()
    }

    /// A vPDQ list's stored thresholds (`None` for other lists).
    pub fn vpdq_thresholds(&self, list: usize) -> Option<VpdqThresholds> {
        self.manifest()
            .lists
            .get(list)?
            .vpdq
            .as_ref()
            .map(|m| m.thresholds)
    }

    /// The live videos of a vPDQ list in id order, with their frames as stored (empty for
    /// other lists).
    pub fn videos(&self, list: usize) -> Result<Vec<IndexedVideo>, IndexError> {
        let l = &self.manifest().lists[list];
        if l.algo != Algo::Vpdq {
            return Ok(Vec::new());
        }
        let dead = Tombstones {
            words: self.tombstones(l).map_err(internal(self))?,
        };
        let mut out = Vec::new();
        for s in &l.segments {
            let (codes, _) = self.pdq_segment(s).map_err(internal(self))?;
            let (frames, groups) = sections(self, s).map_err(internal(self))?;
            for g in 0..groups.len() / GROUP_RECORD {
                let (id, first, count) = group_rec(groups, g);
                if dead.is_dead(s.first_id + u64::from(first)) {
                    continue;
                }
                let frames = (first..first + count)
                    .map(|e| {
                        let r = frame_rec(frames, e as usize);
                        VpdqFrame {
                            frame_number: r.frame_number,
                            quality: r.quality,
                            hash: PdqHash(codes[e as usize]),
                            timestamp: r.timestamp,
                        }
                    })
                    .collect();
                out.push(IndexedVideo {
                    id,
                    label: self.label_at(s, g).map(str::to_owned),
                    frames,
                });
            }
        }
        Ok(out)
    }

    /// Match one query video against every vPDQ list of the index, for `vigil scan` and other
    /// embedders.
    ///
    /// `query` is the video's frames as [`crate::video::hash_file`] returns them (or as read
    /// from a vPDQ file with [`crate::video::parse_vpdq`]); frames below the quality
    /// threshold may be included, they are dropped here as the matchers drop them. Each list
    /// is matched with its own thresholds (defaults: `ptx`, D = 31, Q = 50, query ≥ 80%,
    /// target ≥ 0%), or with `p.thresholds` for every list.
    ///
    /// Returns, sorted by (list, video id), every listed video that matches
    /// (`is_match: true`), plus with `p.include_near` every video sharing at least one
    /// matching frame pair with the query. Each result's `percent` equals
    /// `crate::video::match_percent(query, frames of that video, thresholds)` exactly (query% is
    /// the query side, target% the listed video's side). Cost: one Hamming range search per
    /// distinct kept query frame (MIH at D = 31), then work proportional to the hits and to
    /// the frames of the videos hit. An index without vPDQ lists returns nothing.
    ///
    /// For `vigil scan` records: `kind: "video"`, `list` = `index.manifest().lists[m.list].name`,
    /// `id` = `m.group`, `label`, `query_pct` = `m.percent.query`, `target_pct` =
    /// `m.percent.target`.
    pub fn match_vpdq(
        &self,
        query: &[VpdqFrame],
        p: &VpdqMatchParams,
    ) -> Result<Vec<VpdqMatch>, IndexError> {
        let mut out = Vec::new();
        for li in self.vpdq_lists() {
            let th = match p.thresholds {
                Some(t) => t,
                None => self.vpdq_thresholds(li).unwrap_or_default(),
            };
            out.extend(self.match_vpdq_list(li, query, &th, p.include_near)?);
        }
        Ok(out)
    }

    /// [`Index::match_vpdq`] for one list with explicit thresholds (empty for a list that is
    /// not vPDQ). Results sorted by video id.
    pub fn match_vpdq_list(
        &self,
        list: usize,
        query: &[VpdqFrame],
        th: &VpdqThresholds,
        include_near: bool,
    ) -> Result<Vec<VpdqMatch>, IndexError> {
        let l = &self.manifest().lists[list];
        if l.algo != Algo::Vpdq {
            return Ok(Vec::new());
        }
        th.check().map_err(IndexError::Vpdq)?;
        let o = th.match_options();
        // The query's kept frames, and its distinct hashes with their multiplicity (only
        // `cpp` keeps repeats; each repeat matches where its first does).
        let kept = vpdq::kept(query, &o);
        let mut weight: HashMap<PdqHash, u32> = HashMap::new();
        let mut distinct: Vec<[u64; 4]> = Vec::new();
        for h in &kept {
            let w = weight.entry(*h).or_insert(0);
            if *w == 0 {
                distinct.push(h.0);
            }
            *w += 1;
        }
        let radius = match o.semantics {
            Semantics::Ptx => Some(o.distance.min(256)),
            Semantics::Cpp => o.distance.checked_sub(1).map(|r| r.min(256)),
        };
        let ie = internal(self);
        let dead = Tombstones {
            words: self.tombstones(l).map_err(&ie)?,
        };
        let mut segs = Vec::with_capacity(l.segments.len());
        let mut recs = Vec::with_capacity(l.segments.len());
        for s in &l.segments {
            let (codes, view) = self.pdq_segment(s).map_err(&ie)?;
            segs.push(Segment::<4> {
                first_id: s.first_id,
                codes,
                mih: Some(view),
            });
            recs.push(sections(self, s).map_err(&ie)?);
        }
        let keeps =
            |r: &FrameRec| r.quality >= o.quality && (o.semantics == Semantics::Cpp || !r.repeat);
        // (segment, video index in it) → hits.
        let mut acc: HashMap<(u32, u32), Acc> = HashMap::new();
        if let (Some(radius), false) = (radius, distinct.is_empty()) {
            let params = Params {
                radius,
                k: None,
                backend: Backend::Auto,
                kernel: Kernel::best(),
            };
            let hits = search::search(&segs, dead, &distinct, &params)?;
            for (qi, hits) in hits.iter().enumerate() {
                for h in hits {
                    let (frames, groups) = recs[h.segment as usize];
                    if !keeps(&frame_rec(frames, h.entry as usize)) {
                        continue;
                    }
                    let g = group_index(groups, h.entry) as u32;
                    let a = acc.entry((h.segment, g)).or_default();
                    a.queries.push(qi as u32);
                    a.frames.push(h.entry);
                }
            }
        }
        let enumerate_all = th.query_pct <= 0.0 && th.target_pct <= 0.0 && !kept.is_empty();
        let mut out = Vec::new();
        for (si, s) in l.segments.iter().enumerate() {
            let (frames, groups) = recs[si];
            for g in 0..groups.len() / GROUP_RECORD {
                let a = acc.get_mut(&(si as u32, g as u32));
                if a.is_none() && !enumerate_all {
                    continue;
                }
                let (id, first, count) = group_rec(groups, g);
                if dead.is_dead(s.first_id + u64::from(first)) {
                    continue;
                }
                let target_frames = (first..first + count)
                    .filter(|&e| keeps(&frame_rec(frames, e as usize)))
                    .count();
                let (qm, tm) = match a {
                    Some(a) => {
                        a.queries.sort_unstable();
                        a.queries.dedup();
                        a.frames.sort_unstable();
                        a.frames.dedup();
                        let qm: u64 = a
                            .queries
                            .iter()
                            .map(|&q| u64::from(weight[&PdqHash(distinct[q as usize])]))
                            .sum();
                        (qm, a.frames.len())
                    }
                    None => (0, 0),
                };
                // match_percent's arithmetic and its empty-side rule.
                let percent = if kept.is_empty() || target_frames == 0 {
                    MatchPercent {
                        query: 0.0,
                        target: 0.0,
                        query_frames: kept.len(),
                        target_frames,
                    }
                } else {
                    MatchPercent {
                        query: qm as f64 * 100.0 / kept.len() as f64,
                        target: tm as f64 * 100.0 / target_frames as f64,
                        query_frames: kept.len(),
                        target_frames,
                    }
                };
                let is_match = th.is_match(&percent);
                if is_match || (include_near && percent.query > 0.0) {
                    out.push(VpdqMatch {
                        list,
                        group: id,
                        label: self.label_at(s, g).map(str::to_owned),
                        percent,
                        is_match,
                    });
                }
            }
        }
        out.sort_by_key(|m| m.group);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let h: PdqHash = "ab".repeat(32).parse().unwrap();
        let v = NewVideo {
            label: None,
            frames: vec![
                VpdqFrame {
                    frame_number: 7,
                    quality: 40,
                    hash: h,
                    timestamp: 0.25,
                },
                VpdqFrame {
                    frame_number: 9,
                    quality: 90,
                    hash: h,
                    timestamp: 0.3,
                },
            ],
        };
        let e = encode_segment(&[v], 5);
        let r = frame_rec(&e.frames, 1);
        assert_eq!((r.frame_number, r.quality, r.repeat), (9, 90, true));
        assert_eq!(r.timestamp, 0.3);
        assert!(!frame_rec(&e.frames, 0).repeat);
        assert_eq!(group_rec(&e.groups, 0), (5, 0, 2));
        assert_eq!(group_index(&e.groups, 1), 0);
    }
}
