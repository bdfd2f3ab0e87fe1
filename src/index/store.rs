//! [`Index`]: named lists in one file; open (map + verify), search, and the mutations
//! (build, add, remove, replace) that write a new file and rename it over the old one.
//!
//! The manifest section (JSON, [`Manifest`]) names, for each list, its metadata and its
//! segments; each segment names its sections by number. A search reads only codes, MIH tables,
//! digest order and tombstones; label sections are checked at open and then released from the
//! resident set, to be faulted back in only for hits.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Cursor};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::format::{self, FormatError, Kind, Section, Storage, Writer};
use super::kernel::Kernel;
use super::mih::{self, MihTables, MihView};
use super::search::{self, Backend, Hit, Params, SearchError, Segment, Tombstones};
use super::vpdq::{self as vlist, NewVideo, NewVpdqList, VpdqListMeta};

/// Manifest schema written by this build.
pub const MANIFEST_SCHEMA: u32 = 1;

/// The quality gate: PDQ hashes of lower quality are never matched nor listed (conventions.md).
pub const MIN_QUALITY: u8 = 50;

/// A list's algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algo {
    /// PDQ, 256 bits, Hamming distance.
    Pdq,
    /// pHash (imagehash flavour), 64 bits, Hamming distance.
    Phash,
    /// MD5 of a file's bytes, exact.
    Md5,
    /// SHA-1, exact.
    Sha1,
    /// SHA-256, exact.
    Sha256,
    /// vPDQ: videos as groups of PDQ frame hashes (frame number, quality, timestamp), matched
    /// as bags of frames (`pdq-spec.md` §2.4; [`super::vpdq`]). Not in [`Algo::ALL`] (the
    /// algorithms of hash lists) and not named by [`Algo::parse`]: vPDQ lists are built from
    /// vPDQ files ([`super::vpdq_import`]), and searched only through
    /// [`Index::match_vpdq`].
    Vpdq,
}

impl Algo {
    /// Every algorithm of hash lists (one code per entry); [`Algo::Vpdq`] is not one.
    pub const ALL: [Algo; 5] = [Algo::Pdq, Algo::Phash, Algo::Md5, Algo::Sha1, Algo::Sha256];

    /// The name used in files and records.
    pub fn name(self) -> &'static str {
        match self {
            Algo::Pdq => "pdq",
            Algo::Phash => "phash",
            Algo::Md5 => "md5",
            Algo::Sha1 => "sha1",
            Algo::Sha256 => "sha256",
            Algo::Vpdq => "vpdq",
        }
    }

    /// Parse a name (case-insensitive).
    pub fn parse(s: &str) -> Option<Algo> {
        Algo::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s.trim()))
    }

    /// Bytes per code.
    pub fn code_bytes(self) -> usize {
        match self {
            Algo::Pdq | Algo::Sha256 | Algo::Vpdq => 32,
            Algo::Phash => 8,
            Algo::Md5 => 16,
            Algo::Sha1 => 20,
        }
    }

    /// Whether codes are compared by Hamming distance (else by equality).
    pub fn is_perceptual(self) -> bool {
        matches!(self, Algo::Pdq | Algo::Phash | Algo::Vpdq)
    }

    /// The default radius (conventions.md): pdq 31, phash 10, digests 0; vpdq 31 (its frame
    /// distance D).
    pub fn default_radius(self) -> u32 {
        match self {
            Algo::Pdq | Algo::Vpdq => 31,
            Algo::Phash => 10,
            _ => 0,
        }
    }

    /// The largest meaningful radius (all bits).
    pub fn bits(self) -> u32 {
        self.code_bytes() as u32 * 8
    }

    /// Parse `hex` (either case, exact length) into the stored code bytes: PDQ as 4
    /// little-endian u64 limbs (limb 0 = bits 0..64, the last 16 hex digits), pHash as one
    /// little-endian u64, digests as their bytes.
    pub fn parse_hex(self, hex: &str) -> Option<Vec<u8>> {
        if hex.len() != 2 * self.code_bytes() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let be: Vec<u8> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<_>>()?;
        Some(match self {
            Algo::Pdq | Algo::Phash | Algo::Vpdq => be
                .rchunks(8)
                .flat_map(|c| c.iter().rev().copied())
                .collect(),
            _ => be,
        })
    }

    /// Lowercase hex of stored code bytes (the inverse of [`Algo::parse_hex`]).
    pub fn to_hex(self, code: &[u8]) -> String {
        let be: Vec<u8> = match self {
            Algo::Pdq | Algo::Phash | Algo::Vpdq => code
                .rchunks(8)
                .flat_map(|c| c.iter().rev().copied())
                .collect(),
            _ => code.to_vec(),
        };
        be.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Stored code bytes of a PDQ hash (see [`Algo::parse_hex`]).
pub fn pdq_code(limbs: &[u64; 4]) -> Vec<u8> {
    limbs.iter().flat_map(|l| l.to_le_bytes()).collect()
}

/// `YYYY-MM-DDTHH:MM:SSZ` (days to civil date: Howard Hinnant's algorithm).
pub fn utc(t: SystemTime) -> String {
    let s = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let (days, rem) = (s.div_euclid(86_400), s.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Who wrote an index, when, and how (conventions.md "Summaries and provenance").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Provenance {
    /// vigil version.
    pub vigil: String,
    /// Git commit of the build (`unknown` when not built from a checkout).
    pub git: String,
    /// The command line.
    pub command: String,
    /// UTC time the file was written.
    pub written: String,
}

impl Provenance {
    /// This build, this process's command line, now.
    pub fn now() -> Provenance {
        Provenance {
            vigil: env!("CARGO_PKG_VERSION").to_owned(),
            git: crate::GIT_COMMIT.to_owned(),
            command: std::env::args().collect::<Vec<_>>().join(" "),
            written: utc(SystemTime::now()),
        }
    }
}

/// Where a list's entries came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The file imported (as given).
    pub path: String,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// Entries taken from it.
    pub entries: u64,
    /// UTC time of the import.
    pub added: String,
    /// What was imported: `build`, `add`, `remove` or `replace`.
    pub action: String,
}

/// One segment in the manifest: section numbers and id range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentManifest {
    /// Id of entry 0.
    pub first_id: u64,
    /// Entries.
    pub count: u64,
    /// Codes section.
    pub codes: u32,
    /// MIH offsets section (perceptual lists).
    pub mih_offsets: Option<u32>,
    /// MIH entry-number section (perceptual lists).
    pub mih_ids: Option<u32>,
    /// Sorted order section (digest lists).
    pub digest_order: Option<u32>,
    /// Label offsets section (vPDQ lists: one label per video, not per frame).
    pub label_offsets: u32,
    /// Label bytes section.
    pub label_bytes: u32,
    /// vPDQ lists: the frame records section ([`super::vpdq`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpdq_frames: Option<u32>,
    /// vPDQ lists: the video (group) table section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpdq_groups: Option<u32>,
}

/// One list in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListManifest {
    /// Name, unique in the index.
    pub name: String,
    /// Algorithm.
    pub algo: Algo,
    /// Match radius (Hamming; 0 for digests).
    pub radius: u32,
    /// Version (free text, set by build and replace).
    pub version: String,
    /// Quality gate applied to queries carrying a quality.
    pub min_quality: u8,
    /// The next id `add` gives.
    pub next_id: u64,
    /// Live entries (not removed).
    pub live: u64,
    /// Removed entries.
    pub removed: u64,
    /// SHA-256 of the live entries as lowercase hex lines (`hash\n`) in id order.
    pub sha256: String,
    /// Import history.
    pub sources: Vec<Source>,
    /// Tombstone bitmap section.
    pub tombstones: Option<u32>,
    /// Segments in id order.
    pub segments: Vec<SegmentManifest>,
    /// vPDQ lists: videos and matching thresholds (entries are the frames).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpdq: Option<VpdqListMeta>,
}

/// The manifest section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_SCHEMA`].
    pub schema: u32,
    /// Who wrote this file.
    pub provenance: Provenance,
    /// The lists.
    pub lists: Vec<ListManifest>,
}

/// Errors opening, checking, writing or searching an index.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// The container is damaged or foreign.
    #[error("{path}: {source}")]
    Format {
        /// The index file (or `<memory>`).
        path: String,
        /// The cause.
        source: FormatError,
    },
    /// The manifest does not describe the sections.
    #[error("{path}: index manifest is invalid: {reason}")]
    Manifest {
        /// The index file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Writing the new file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// No list of that name.
    #[error("no list named {0:?} in the index")]
    NoList(String),
    /// A list name used twice.
    #[error("list name {0:?} is used twice")]
    DuplicateList(String),
    /// A code of the wrong size for its list.
    #[error("entry {0} has the wrong code length for its list")]
    CodeLength(usize),
    /// The search could not run.
    #[error(transparent)]
    Search(#[from] SearchError),
    /// An operation on a list of the wrong kind (hash entries for a vPDQ list, videos for a
    /// hash list).
    #[error("list {name:?} is a {algo} list: {reason}")]
    WrongKind {
        /// The list.
        name: String,
        /// Its algorithm's name.
        algo: &'static str,
        /// What was asked.
        reason: &'static str,
    },
    /// A video without frames, or thresholds out of range.
    #[error("{0}")]
    Vpdq(String),
}

/// An entry to store: code bytes ([`Algo::parse_hex`] form) and an optional label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// Code bytes.
    pub code: Vec<u8>,
    /// Label (source id, category…), stored as given.
    pub label: Option<String>,
}

/// A list to build or to replace another with.
#[derive(Debug, Clone)]
pub struct NewList {
    /// Name.
    pub name: String,
    /// Algorithm.
    pub algo: Algo,
    /// Radius.
    pub radius: u32,
    /// Version.
    pub version: String,
    /// Entries; ids are their positions.
    pub entries: Vec<NewEntry>,
    /// Where they came from.
    pub sources: Vec<Source>,
}

/// Queries for one list, matching its algorithm.
#[derive(Debug, Clone, Copy)]
pub enum Queries<'a> {
    /// PDQ hashes (limbs).
    Pdq(&'a [[u64; 4]]),
    /// The 8 dihedral PDQ hashes of each image.
    PdqDihedral(&'a [[[u64; 4]; 8]]),
    /// pHashes.
    Phash(&'a [[u64; 1]]),
    /// Digests (their bytes), for a digest list of the same algorithm.
    Digest(Algo, &'a [Vec<u8>]),
}

impl Queries<'_> {
    /// The algorithm these queries belong to.
    pub fn algo(&self) -> Algo {
        match self {
            Queries::Pdq(_) | Queries::PdqDihedral(_) => Algo::Pdq,
            Queries::Phash(_) => Algo::Phash,
            Queries::Digest(a, _) => *a,
        }
    }
}

/// Reinterpret words as codes of `W` words.
fn as_codes<const W: usize>(words: &[u64]) -> &[[u64; W]] {
    assert!(
        words.len() % W == 0,
        "codes section is a whole number of codes"
    );
    // SAFETY: `[u64; W]` has the size and alignment of W consecutive u64 and no padding; the
    // length is a multiple of W; the lifetime is the input's.
    unsafe { std::slice::from_raw_parts(words.as_ptr().cast(), words.len() / W) }
}

/// An open index.
pub struct Index {
    storage: Storage,
    sections: Vec<Section>,
    manifest: Manifest,
    path: String,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("path", &self.path)
            .field("lists", &self.manifest.lists.len())
            .finish()
    }
}

impl Index {
    /// Map `path`, check the header, the table, every section checksum and the manifest.
    pub fn open(path: &Path) -> Result<Index, IndexError> {
        let name = path.display().to_string();
        let storage = Storage::map(path).map_err(|source| IndexError::Format {
            path: name.clone(),
            source,
        })?;
        Index::from_storage(storage, name)
    }

    /// Open an index held in memory (copied), with every check [`Index::open`] makes; for
    /// the fuzz targets (`crate::fuzzing`).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Index, IndexError> {
        Index::from_storage(Storage::heap(bytes), "<memory>".into())
    }

    /// The container's bytes (for the fuzz targets).
    pub(crate) fn bytes(&self) -> &[u8] {
        self.storage.bytes()
    }

    /// Build an index in memory from lists (for `vigil match --list`).
    pub fn from_lists(lists: Vec<NewList>, prov: Provenance) -> Result<Index, IndexError> {
        Index::from_lists_with_videos(lists, Vec::new(), prov)
    }

    /// [`Index::from_lists`] with vPDQ lists too (after the hash lists).
    pub fn from_lists_with_videos(
        lists: Vec<NewList>,
        videos: Vec<NewVpdqList>,
        prov: Provenance,
    ) -> Result<Index, IndexError> {
        let mut buf = Cursor::new(Vec::new());
        write_lists(&mut buf, None, plans_from_all(lists, videos)?, prov).map_err(|source| {
            IndexError::Io {
                path: "<memory>".into(),
                source,
            }
        })?;
        Index::from_storage(Storage::heap(buf.get_ref()), "<memory>".into())
    }

    fn from_storage(storage: Storage, path: String) -> Result<Index, IndexError> {
        let fe = |source| IndexError::Format {
            path: path.clone(),
            source,
        };
        let bytes = storage.bytes();
        let sections = format::read_table(bytes).map_err(fe)?;
        format::verify_sections(bytes, &sections).map_err(fe)?;
        let bad = |reason: String| IndexError::Manifest {
            path: path.clone(),
            reason,
        };
        let m = sections
            .iter()
            .find(|s| s.kind == Kind::Manifest)
            .ok_or_else(|| bad("no manifest section".into()))?;
        let manifest: Manifest = serde_json::from_slice(format::section_bytes(bytes, m))
            .map_err(|e| bad(e.to_string()))?;
        if manifest.schema != MANIFEST_SCHEMA {
            return Err(bad(format!("manifest schema {}", manifest.schema)));
        }
        let mut index = Index {
            storage,
            sections,
            manifest,
            path: String::new(),
        };
        index.check_manifest().map_err(bad)?;
        index.path = path;
        // Labels are read only for hits: let them leave the resident set.
        for s in &index.sections {
            if !s.kind.hot() {
                index.storage.release(s.offset as usize, s.len as usize);
            }
        }
        Ok(index)
    }

    /// A section's bytes, checked to be of `kind`.
    pub(super) fn sec(&self, i: u32, kind: Kind) -> Result<&[u8], String> {
        let s = self
            .sections
            .get(i as usize)
            .ok_or_else(|| format!("section {i} does not exist"))?;
        if s.kind != kind {
            return Err(format!("section {i} is {:?}, not {kind:?}", s.kind));
        }
        Ok(format::section_bytes(self.storage.bytes(), s))
    }

    fn words(&self, i: u32, kind: Kind) -> Result<&[u64], String> {
        bytemuck::try_cast_slice(self.sec(i, kind)?).map_err(|e| format!("section {i}: {e}"))
    }

    fn u32s(&self, i: u32, kind: Kind) -> Result<&[u32], String> {
        bytemuck::try_cast_slice(self.sec(i, kind)?).map_err(|e| format!("section {i}: {e}"))
    }

    /// Structural checks that cost no more than reading the small sections.
    fn check_manifest(&self) -> Result<(), String> {
        let mut names = HashSet::new();
        for l in &self.manifest.lists {
            if !names.insert(&l.name) {
                return Err(format!("list name {:?} used twice", l.name));
            }
            let mut next = 0u64;
            let mut total = 0u64;
            for s in &l.segments {
                if s.first_id != next {
                    return Err(format!("list {:?}: segment ids are not contiguous", l.name));
                }
                next = s.first_id + s.count;
                total += s.count;
                let codes = self.sec(s.codes, Kind::Codes)?;
                if codes.len() as u64 != s.count * l.algo.code_bytes() as u64 {
                    return Err(format!("list {:?}: codes section length", l.name));
                }
                if s.count > u64::from(u32::MAX) - 1 {
                    return Err(format!("list {:?}: segment too large", l.name));
                }
                let lo = self.sec(s.label_offsets, Kind::LabelOffsets)?;
                self.sec(s.label_bytes, Kind::LabelBytes)?;
                let labelled = if l.algo == Algo::Vpdq {
                    vlist::check_segment(self, l, s)?
                } else {
                    if s.vpdq_frames.is_some() || s.vpdq_groups.is_some() {
                        return Err(format!("list {:?}: vPDQ sections in a hash list", l.name));
                    }
                    s.count
                };
                if lo.len() as u64 != (labelled + 1) * 8 {
                    return Err(format!("list {:?}: label offsets length", l.name));
                }
                if l.algo.is_perceptual() {
                    let w = l.algo.code_bytes() / 8;
                    let (Some(o), Some(i)) = (s.mih_offsets, s.mih_ids) else {
                        return Err(format!("list {:?}: MIH sections missing", l.name));
                    };
                    let view = MihView {
                        offsets: self.u32s(o, Kind::MihOffsets)?,
                        ids: self.u32s(i, Kind::MihIds)?,
                    };
                    // Entry numbers in range too: a search indexes the codes by them, so an
                    // index that opens must not hold one past the segment (found by fuzzing,
                    // fuzz/regressions/index_patch/).
                    view.check_shape(w, s.count as usize)
                        .and_then(|()| view.check_ids(s.count as usize))
                        .map_err(|e| format!("list {:?}: {e}", l.name))?;
                } else {
                    let o = s
                        .digest_order
                        .ok_or_else(|| format!("list {:?}: digest order missing", l.name))?;
                    if self.u32s(o, Kind::DigestOrder)?.len() as u64 != s.count {
                        return Err(format!("list {:?}: digest order length", l.name));
                    }
                }
            }
            if next != l.next_id {
                return Err(format!("list {:?}: next_id {} ≠ {next}", l.name, l.next_id));
            }
            let dead = self.tombstones(l)?;
            let removed: u64 = dead.iter().map(|w| u64::from(w.count_ones())).sum();
            if removed != l.removed || l.live + l.removed != total {
                return Err(format!("list {:?}: entry counts disagree", l.name));
            }
            if dead.len() as u64 > total.div_ceil(64) {
                return Err(format!("list {:?}: tombstones past the last id", l.name));
            }
            if l.algo == Algo::Vpdq {
                vlist::check_list(self, l)?;
            } else if l.vpdq.is_some() {
                return Err(format!("list {:?}: vPDQ metadata on a hash list", l.name));
            }
        }
        Ok(())
    }

    pub(super) fn tombstones(&self, l: &ListManifest) -> Result<&[u64], String> {
        match l.tombstones {
            Some(t) => self.words(t, Kind::Tombstones),
            None => Ok(&[]),
        }
    }

    /// The full check behind `vigil index verify`: what [`Index::open`] checks, plus every
    /// MIH entry in its own bucket, label offsets in order, digest order sorted.
    pub fn verify_deep(&self) -> Result<(), IndexError> {
        let bad = |reason: String| IndexError::Manifest {
            path: self.path.clone(),
            reason,
        };
        for l in &self.manifest.lists {
            for (si, s) in l.segments.iter().enumerate() {
                let lo = self
                    .words(s.label_offsets, Kind::LabelOffsets)
                    .map_err(bad)?;
                let lb = self.sec(s.label_bytes, Kind::LabelBytes).map_err(bad)?;
                if lo.first() != Some(&0)
                    || lo.windows(2).any(|p| p[0] > p[1])
                    || lo.last().copied() != Some(lb.len() as u64)
                {
                    return Err(bad(format!(
                        "list {:?} segment {si}: label offsets",
                        l.name
                    )));
                }
                let err = |e: mih::MihError| bad(format!("list {:?} segment {si}: {e}", l.name));
                match l.algo {
                    Algo::Pdq | Algo::Vpdq => {
                        let (codes, view) = self.pdq_segment(s).map_err(bad)?;
                        view.check_codes(codes).map_err(err)?;
                    }
                    Algo::Phash => {
                        let (codes, view) = self.phash_segment(s).map_err(bad)?;
                        view.check_codes(codes).map_err(err)?;
                    }
                    _ => {
                        let order = self
                            .u32s(s.digest_order.unwrap_or(u32::MAX), Kind::DigestOrder)
                            .map_err(bad)?;
                        let codes = self.sec(s.codes, Kind::Codes).map_err(bad)?;
                        let len = l.algo.code_bytes();
                        let mut seen = vec![false; order.len()];
                        for &o in order {
                            let o = o as usize;
                            if o >= seen.len() || std::mem::replace(&mut seen[o], true) {
                                return Err(bad(format!("list {:?}: digest order", l.name)));
                            }
                        }
                        let at = |i: u32| &codes[i as usize * len..(i as usize + 1) * len];
                        if order.windows(2).any(|p| at(p[0]) > at(p[1])) {
                            return Err(bad(format!("list {:?}: digest order unsorted", l.name)));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    pub(super) fn pdq_segment(
        &self,
        s: &SegmentManifest,
    ) -> Result<(&[[u64; 4]], MihView<'_>), String> {
        let codes = as_codes::<4>(self.words(s.codes, Kind::Codes)?);
        let view = MihView {
            offsets: self.u32s(s.mih_offsets.unwrap_or(u32::MAX), Kind::MihOffsets)?,
            ids: self.u32s(s.mih_ids.unwrap_or(u32::MAX), Kind::MihIds)?,
        };
        Ok((codes, view))
    }

    fn phash_segment(&self, s: &SegmentManifest) -> Result<(&[[u64; 1]], MihView<'_>), String> {
        let codes = as_codes::<1>(self.words(s.codes, Kind::Codes)?);
        let view = MihView {
            offsets: self.u32s(s.mih_offsets.unwrap_or(u32::MAX), Kind::MihOffsets)?,
            ids: self.u32s(s.mih_ids.unwrap_or(u32::MAX), Kind::MihIds)?,
        };
        Ok((codes, view))
    }

    /// The manifest (lists, provenance).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The file path (or `<memory>`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Number of the list called `name`.
    pub fn list(&self, name: &str) -> Result<usize, IndexError> {
        self.manifest
            .lists
            .iter()
            .position(|l| l.name == name)
            .ok_or_else(|| IndexError::NoList(name.to_owned()))
    }

    /// Search list `list`. `queries` must be of its algorithm (else no hits: queries are
    /// compared only with lists of their algorithm). Digest lists match by equality; `p.radius`
    /// and `p.backend` do not apply to them.
    pub fn search(
        &self,
        list: usize,
        queries: Queries<'_>,
        p: &Params,
    ) -> Result<Vec<Vec<Hit>>, IndexError> {
        self.search_with(None, list, queries, p)
    }

    /// [`Self::search`], with a GPU context for `Backend::Gpu` (PDQ and pHash lists).
    pub fn search_with(
        &self,
        gpu: Option<&crate::gpu::GpuContext>,
        list: usize,
        queries: Queries<'_>,
        p: &Params,
    ) -> Result<Vec<Vec<Hit>>, IndexError> {
        let l = &self.manifest.lists[list];
        let internal = |e: String| IndexError::Manifest {
            path: self.path.clone(),
            reason: e,
        };
        let dead = Tombstones {
            words: self.tombstones(l).map_err(internal)?,
        };
        let n = match queries {
            Queries::Pdq(q) => q.len(),
            Queries::PdqDihedral(q) => q.len(),
            Queries::Phash(q) => q.len(),
            Queries::Digest(_, q) => q.len(),
        };
        // vPDQ lists are matched as videos (`match_vpdq`), never by single hashes.
        if queries.algo() != l.algo || l.algo == Algo::Vpdq {
            return Ok(vec![Vec::new(); n]);
        }
        match queries {
            Queries::Pdq(_) | Queries::PdqDihedral(_) => {
                let segs = l
                    .segments
                    .iter()
                    .map(|s| {
                        self.pdq_segment(s).map(|(codes, view)| Segment {
                            first_id: s.first_id,
                            codes,
                            mih: Some(view),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(internal)?;
                Ok(match queries {
                    Queries::PdqDihedral(d) => {
                        search::search_dihedral_with(gpu, &segs, dead, d, p)?
                    }
                    Queries::Pdq(q) => search::search_with(gpu, &segs, dead, q, p)?,
                    _ => unreachable!("matched above"),
                })
            }
            Queries::Phash(q) => {
                let segs = l
                    .segments
                    .iter()
                    .map(|s| {
                        self.phash_segment(s).map(|(codes, view)| Segment {
                            first_id: s.first_id,
                            codes,
                            mih: Some(view),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(internal)?;
                Ok(search::search_with(gpu, &segs, dead, q, p)?)
            }
            Queries::Digest(_, q) => {
                let len = l.algo.code_bytes();
                let mut out = vec![Vec::new(); q.len()];
                for (si, s) in l.segments.iter().enumerate() {
                    let codes = self.sec(s.codes, Kind::Codes).map_err(internal)?;
                    let order = self
                        .u32s(s.digest_order.unwrap_or(u32::MAX), Kind::DigestOrder)
                        .map_err(internal)?;
                    let at = |i: u32| codes.get(i as usize * len..(i as usize + 1) * len);
                    for (qi, d) in q.iter().enumerate() {
                        let start = order.partition_point(|&i| at(i) < Some(d.as_slice()));
                        for &i in &order[start..] {
                            if at(i) != Some(d.as_slice()) {
                                break;
                            }
                            let id = s.first_id + u64::from(i);
                            if !dead.is_dead(id) {
                                out[qi].push(Hit {
                                    distance: 0,
                                    id,
                                    variant: 0,
                                    segment: si as u32,
                                    entry: i,
                                });
                            }
                        }
                    }
                }
                for hits in &mut out {
                    hits.sort_unstable_by_key(|h| h.id);
                    if let Some(k) = p.k {
                        hits.truncate(k);
                    }
                }
                Ok(out)
            }
        }
    }

    /// The label of a hit's entry, if it has one (read from the mapping on demand).
    /// For a vPDQ list, the label of the hit frame's video.
    pub fn label(&self, list: usize, hit: &Hit) -> Option<&str> {
        let l = self.manifest.lists.get(list)?;
        let s = l.segments.get(hit.segment as usize)?;
        let at = if l.algo == Algo::Vpdq {
            vlist::group_of(self, s, hit.entry)?
        } else {
            hit.entry as usize
        };
        self.label_at(s, at)
    }

    /// Label number `at` of a segment (an entry's, or a vPDQ video's).
    pub(super) fn label_at(&self, s: &SegmentManifest, at: usize) -> Option<&str> {
        let lo = self.words(s.label_offsets, Kind::LabelOffsets).ok()?;
        let lb = self.sec(s.label_bytes, Kind::LabelBytes).ok()?;
        let (a, b) = (*lo.get(at)?, *lo.get(at + 1)?);
        let text = std::str::from_utf8(lb.get(a as usize..b as usize)?).ok()?;
        (!text.is_empty()).then_some(text)
    }

    /// The stored code of entry `entry` of segment `segment` in list `list`.
    pub fn code(&self, list: usize, segment: u32, entry: u32) -> Option<&[u8]> {
        let l = self.manifest.lists.get(list)?;
        let s = l.segments.get(segment as usize)?;
        let len = l.algo.code_bytes();
        self.sec(s.codes, Kind::Codes)
            .ok()?
            .get(entry as usize * len..(entry as usize + 1) * len)
    }

    /// Ids of live entries whose code equals `code` exactly.
    pub fn find_exact(&self, list: usize, code: &[u8]) -> Result<Vec<u64>, IndexError> {
        let l = &self.manifest.lists[list];
        if code.len() != l.algo.code_bytes() {
            return Err(IndexError::CodeLength(0));
        }
        let words: Vec<u64> = code
            .chunks(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        let p = Params {
            radius: 0,
            k: None,
            backend: Backend::Auto,
            kernel: Kernel::best(),
        };
        let hits = match l.algo {
            Algo::Pdq => {
                let q = [[words[0], words[1], words[2], words[3]]];
                self.search(list, Queries::Pdq(&q), &p)?
            }
            Algo::Phash => self.search(list, Queries::Phash(&[[words[0]]]), &p)?,
            a => self.search(list, Queries::Digest(a, &[code.to_vec()]), &p)?,
        };
        Ok(hits[0].iter().map(|h| h.id).collect())
    }

    /// Live entries of a list in id order: (id, code bytes, label).
    pub fn entries(&self, list: usize) -> impl Iterator<Item = (u64, &[u8], Option<&str>)> + '_ {
        let l = &self.manifest.lists[list];
        let dead = self.tombstones(l).unwrap_or(&[]);
        l.segments.iter().enumerate().flat_map(move |(si, s)| {
            (0..s.count as u32).filter_map(move |e| {
                let id = s.first_id + u64::from(e);
                if (Tombstones { words: dead }).is_dead(id) {
                    return None;
                }
                let hit = Hit {
                    distance: 0,
                    id,
                    variant: 0,
                    segment: si as u32,
                    entry: e,
                };
                Some((id, self.code(list, si as u32, e)?, self.label(list, &hit)))
            })
        })
    }

    /// SHA-256 of a list's live entries as hex lines in id order (what the manifest stores).
    pub fn content_sha256(&self, list: usize) -> String {
        let algo = self.manifest.lists[list].algo;
        lines_sha256(self.entries(list).map(|(_, code, _)| algo.to_hex(code)))
    }
}

/// Lowercase hex of bytes.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// SHA-256 of lines, each followed by `\n`: every list checksum is this over its entries'
/// hex codes, in id order.
fn lines_sha256(lines: impl IntoIterator<Item = String>) -> String {
    let mut h = Sha256::new();
    for l in lines {
        h.update(l.as_bytes());
        h.update(b"\n");
    }
    hex(&h.finalize())
}

/// SHA-256 of entries as hex lines (the list checksum of a new list).
fn entries_sha256(algo: Algo, entries: &[NewEntry]) -> String {
    lines_sha256(entries.iter().map(|e| algo.to_hex(&e.code)))
}

/// A segment to write: copied from the open index, or built from new entries or videos.
enum SegPlan {
    Existing(SegmentManifest),
    New {
        first_id: u64,
        entries: Vec<NewEntry>,
    },
    NewVideos {
        first_id: u64,
        first_group: u64,
        videos: Vec<NewVideo>,
    },
}

/// A list to write.
struct ListPlan {
    meta: ListManifest,
    segments: Vec<SegPlan>,
    tombstones: Vec<u64>,
}

fn plans_from_new(lists: Vec<NewList>) -> Result<Vec<ListPlan>, IndexError> {
    plans_from_all(lists, Vec::new())
}

fn plans_from_all(
    lists: Vec<NewList>,
    videos: Vec<NewVpdqList>,
) -> Result<Vec<ListPlan>, IndexError> {
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(lists.len() + videos.len());
    for l in lists {
        if !names.insert(l.name.clone()) {
            return Err(IndexError::DuplicateList(l.name));
        }
        out.push(new_plan(l)?);
    }
    for v in videos {
        if !names.insert(v.name.clone()) {
            return Err(IndexError::DuplicateList(v.name));
        }
        out.push(new_vpdq_plan(v)?);
    }
    Ok(out)
}

/// SHA-256 of the frame hashes of videos as hex lines (a vPDQ list's checksum).
fn videos_sha256(videos: &[NewVideo]) -> String {
    lines_sha256(
        videos
            .iter()
            .flat_map(|v| &v.frames)
            .map(|f| f.hash.to_string()),
    )
}

fn new_vpdq_plan(l: NewVpdqList) -> Result<ListPlan, IndexError> {
    l.thresholds.check().map_err(IndexError::Vpdq)?;
    vlist::check_videos(&l.videos)?;
    let frames: u64 = l.videos.iter().map(|v| v.frames.len() as u64).sum();
    let groups = l.videos.len() as u64;
    Ok(ListPlan {
        meta: ListManifest {
            sha256: videos_sha256(&l.videos),
            name: l.name,
            algo: Algo::Vpdq,
            radius: l.thresholds.distance,
            version: l.version,
            min_quality: l.thresholds.quality,
            next_id: frames,
            live: frames,
            removed: 0,
            sources: l.sources,
            tombstones: None,
            segments: Vec::new(),
            vpdq: Some(VpdqListMeta {
                next_group: groups,
                groups,
                removed_groups: 0,
                thresholds: l.thresholds,
            }),
        },
        segments: vec![SegPlan::NewVideos {
            first_id: 0,
            first_group: 0,
            videos: l.videos,
        }],
        tombstones: Vec::new(),
    })
}

fn new_plan(l: NewList) -> Result<ListPlan, IndexError> {
    if let Some(i) = l
        .entries
        .iter()
        .position(|e| e.code.len() != l.algo.code_bytes())
    {
        return Err(IndexError::CodeLength(i));
    }
    let n = l.entries.len() as u64;
    Ok(ListPlan {
        meta: ListManifest {
            sha256: entries_sha256(l.algo, &l.entries),
            name: l.name,
            algo: l.algo,
            radius: l.radius,
            version: l.version,
            min_quality: MIN_QUALITY,
            next_id: n,
            live: n,
            removed: 0,
            sources: l.sources,
            tombstones: None,
            segments: Vec::new(),
            vpdq: None,
        },
        segments: vec![SegPlan::New {
            first_id: 0,
            entries: l.entries,
        }],
        tombstones: Vec::new(),
    })
}

fn u32_bytes(v: &[u32]) -> &[u8] {
    bytemuck::cast_slice(v)
}

/// Write a new segment's sections.
fn write_new_segment<W: io::Write + io::Seek>(
    w: &mut Writer<W>,
    algo: Algo,
    first_id: u64,
    entries: &[NewEntry],
) -> io::Result<SegmentManifest> {
    let mut codes = Vec::with_capacity(entries.len() * algo.code_bytes());
    for e in entries {
        codes.extend_from_slice(&e.code);
    }
    let codes_sec = w.section(Kind::Codes, &codes)?;
    let (mut mih_offsets, mut mih_ids, mut digest_order) = (None, None, None);
    let le_words = |b: &[u8]| -> Vec<u64> {
        b.chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect()
    };
    let tables = match algo {
        Algo::Pdq => Some(MihTables::build(as_codes::<4>(&le_words(&codes)))),
        Algo::Phash => Some(MihTables::build(as_codes::<1>(&le_words(&codes)))),
        _ => {
            let len = algo.code_bytes();
            let mut order: Vec<u32> = (0..entries.len() as u32).collect();
            order.sort_by(|&a, &b| {
                codes[a as usize * len..(a as usize + 1) * len]
                    .cmp(&codes[b as usize * len..(b as usize + 1) * len])
                    .then(a.cmp(&b))
            });
            digest_order = Some(w.section(Kind::DigestOrder, u32_bytes(&order))?);
            None
        }
    };
    if let Some(t) = tables {
        mih_offsets = Some(w.section(Kind::MihOffsets, u32_bytes(&t.offsets))?);
        mih_ids = Some(w.section(Kind::MihIds, u32_bytes(&t.ids))?);
    }
    let mut offsets = Vec::with_capacity(entries.len() + 1);
    let mut labels = Vec::new();
    offsets.push(0u64);
    for e in entries {
        labels.extend_from_slice(e.label.as_deref().unwrap_or("").as_bytes());
        offsets.push(labels.len() as u64);
    }
    let label_offsets = w.section(Kind::LabelOffsets, bytemuck::cast_slice(&offsets))?;
    let label_bytes = w.section(Kind::LabelBytes, &labels)?;
    Ok(SegmentManifest {
        first_id,
        count: entries.len() as u64,
        codes: codes_sec,
        mih_offsets,
        mih_ids,
        digest_order,
        label_offsets,
        label_bytes,
        vpdq_frames: None,
        vpdq_groups: None,
    })
}

/// Write a new vPDQ segment: the frames' codes and MIH tables (the PDQ search machinery),
/// the frame records and the video table; one label per video.
fn write_new_video_segment<W: io::Write + io::Seek>(
    w: &mut Writer<W>,
    first_id: u64,
    first_group: u64,
    videos: &[NewVideo],
) -> io::Result<SegmentManifest> {
    let enc = vlist::encode_segment(videos, first_group);
    let mut codes = Vec::with_capacity(enc.codes.len() * 32);
    for c in &enc.codes {
        codes.extend_from_slice(&pdq_code(c));
    }
    let codes_sec = w.section(Kind::Codes, &codes)?;
    let t = MihTables::build(&enc.codes);
    let mih_offsets = Some(w.section(Kind::MihOffsets, u32_bytes(&t.offsets))?);
    let mih_ids = Some(w.section(Kind::MihIds, u32_bytes(&t.ids))?);
    let mut offsets = Vec::with_capacity(videos.len() + 1);
    let mut labels = Vec::new();
    offsets.push(0u64);
    for v in videos {
        labels.extend_from_slice(v.label.as_deref().unwrap_or("").as_bytes());
        offsets.push(labels.len() as u64);
    }
    let label_offsets = w.section(Kind::LabelOffsets, bytemuck::cast_slice(&offsets))?;
    let label_bytes = w.section(Kind::LabelBytes, &labels)?;
    let vpdq_frames = Some(w.section(Kind::VpdqFrames, &enc.frames)?);
    let vpdq_groups = Some(w.section(Kind::VpdqGroups, &enc.groups)?);
    Ok(SegmentManifest {
        first_id,
        count: enc.codes.len() as u64,
        codes: codes_sec,
        mih_offsets,
        mih_ids,
        digest_order: None,
        label_offsets,
        label_bytes,
        vpdq_frames,
        vpdq_groups,
    })
}

/// Write a complete index: existing segments are copied byte for byte from `from`.
fn write_lists<W: io::Write + io::Seek>(
    out: W,
    from: Option<&Index>,
    plans: Vec<ListPlan>,
    provenance: Provenance,
) -> io::Result<W> {
    let mut w = Writer::new(out)?;
    let mut lists = Vec::with_capacity(plans.len());
    for plan in plans {
        let mut meta = plan.meta;
        meta.segments.clear();
        for seg in plan.segments {
            let s = match seg {
                SegPlan::New { first_id, entries } => {
                    write_new_segment(&mut w, meta.algo, first_id, &entries)?
                }
                SegPlan::NewVideos {
                    first_id,
                    first_group,
                    videos,
                } => write_new_video_segment(&mut w, first_id, first_group, &videos)?,
                SegPlan::Existing(old) => {
                    let src = from.expect("existing segments come from an open index");
                    let mut copy = |i: u32| -> io::Result<u32> {
                        let s = src.sections[i as usize];
                        w.section_with_crc(
                            s.kind,
                            format::section_bytes(src.storage.bytes(), &s),
                            s.crc,
                        )
                    };
                    SegmentManifest {
                        first_id: old.first_id,
                        count: old.count,
                        codes: copy(old.codes)?,
                        mih_offsets: old.mih_offsets.map(&mut copy).transpose()?,
                        mih_ids: old.mih_ids.map(&mut copy).transpose()?,
                        digest_order: old.digest_order.map(&mut copy).transpose()?,
                        label_offsets: copy(old.label_offsets)?,
                        label_bytes: copy(old.label_bytes)?,
                        vpdq_frames: old.vpdq_frames.map(&mut copy).transpose()?,
                        vpdq_groups: old.vpdq_groups.map(&mut copy).transpose()?,
                    }
                }
            };
            meta.segments.push(s);
        }
        meta.tombstones = if plan.tombstones.iter().any(|&x| x != 0) {
            Some(w.section(Kind::Tombstones, bytemuck::cast_slice(&plan.tombstones))?)
        } else {
            None
        };
        lists.push(meta);
    }
    let manifest = Manifest {
        schema: MANIFEST_SCHEMA,
        provenance,
        lists,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(io::Error::other)?;
    w.section(Kind::Manifest, &json)?;
    w.finish()
}

/// Write to a new file beside `path` (0600) and rename it over `path`: a reader that has the
/// old file open keeps the old lists; a new open sees the new ones; never a mix.
fn write_atomic(
    path: &Path,
    from: Option<&Index>,
    plans: Vec<ListPlan>,
    prov: Provenance,
) -> Result<(), IndexError> {
    let io_err = |p: &Path| {
        let p = p.display().to_string();
        move |source| IndexError::Io { path: p, source }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map_or_else(|| "index".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| -> io::Result<()> {
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        let f = write_lists(BufWriter::with_capacity(1 << 20, f), from, plans, prov)?;
        let f = f.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io_err(path))
}

/// Build a new index file at `path` from lists (replacing any file there atomically).
pub fn build(path: &Path, lists: Vec<NewList>, prov: Provenance) -> Result<(), IndexError> {
    write_atomic(path, None, plans_from_new(lists)?, prov)
}

/// [`build`] with vPDQ lists too (written after the hash lists).
pub fn build_with_videos(
    path: &Path,
    lists: Vec<NewList>,
    videos: Vec<NewVpdqList>,
    prov: Provenance,
) -> Result<(), IndexError> {
    write_atomic(path, None, plans_from_all(lists, videos)?, prov)
}

impl Index {
    /// The current lists as plans that copy every segment.
    fn plans(&self) -> Vec<ListPlan> {
        self.manifest
            .lists
            .iter()
            .map(|l| ListPlan {
                meta: l.clone(),
                segments: l.segments.iter().cloned().map(SegPlan::Existing).collect(),
                tombstones: self.tombstones(l).unwrap_or(&[]).to_vec(),
            })
            .collect()
    }

    /// Append entries to list `name` as a new segment (existing segments are copied, not
    /// rebuilt), writing the result to `path` atomically. Returns the ids given.
    pub fn add(
        &self,
        path: &Path,
        name: &str,
        entries: Vec<NewEntry>,
        source: Source,
        prov: Provenance,
    ) -> Result<std::ops::Range<u64>, IndexError> {
        let li = self.list(name)?;
        let mut plans = self.plans();
        let plan = &mut plans[li];
        if plan.meta.algo == Algo::Vpdq {
            return Err(IndexError::WrongKind {
                name: name.to_owned(),
                algo: "vpdq",
                reason: "add videos (add_videos), not hash entries",
            });
        }
        if let Some(i) = entries
            .iter()
            .position(|e| e.code.len() != plan.meta.algo.code_bytes())
        {
            return Err(IndexError::CodeLength(i));
        }
        let first = plan.meta.next_id;
        let n = entries.len() as u64;
        let algo = plan.meta.algo;
        plan.meta.sha256 = lines_sha256(
            self.entries(li)
                .map(|(_, code, _)| algo.to_hex(code))
                .chain(entries.iter().map(|e| algo.to_hex(&e.code))),
        );
        plan.meta.next_id += n;
        plan.meta.live += n;
        plan.meta.sources.push(source);
        if n > 0 {
            plan.segments.push(SegPlan::New {
                first_id: first,
                entries,
            });
        }
        write_atomic(path, Some(self), plans, prov)?;
        Ok(first..first + n)
    }

    /// Mark ids of list `name` removed (a new tombstone bitmap; segments copied), writing to
    /// `path` atomically. Returns how many live entries were removed (unknown or already
    /// removed ids are not counted).
    ///
    /// For a vPDQ list the ids are video (group) ids: every frame of each video is removed,
    /// and the count returned is of videos.
    pub fn remove(
        &self,
        path: &Path,
        name: &str,
        ids: &[u64],
        source: Source,
        prov: Provenance,
    ) -> Result<u64, IndexError> {
        let li = self.list(name)?;
        let mut plans = self.plans();
        let plan = &mut plans[li];
        let total = plan.meta.next_id;
        plan.tombstones.resize(total.div_ceil(64) as usize, 0);
        let mut removed = 0;
        let mut groups_removed = 0;
        let frame_ids;
        let ids = if plan.meta.algo == Algo::Vpdq {
            let (f, g) = vlist::frames_of_groups(self, li, ids);
            frame_ids = f;
            groups_removed = g;
            &frame_ids[..]
        } else {
            ids
        };
        for &id in ids {
            if id < total {
                let (w, b) = ((id / 64) as usize, id % 64);
                if plan.tombstones[w] >> b & 1 == 0 {
                    plan.tombstones[w] |= 1 << b;
                    removed += 1;
                }
            }
        }
        plan.meta.live -= removed;
        plan.meta.removed += removed;
        let reported = match &mut plan.meta.vpdq {
            Some(v) => {
                v.groups -= groups_removed;
                v.removed_groups += groups_removed;
                groups_removed
            }
            None => removed,
        };
        let dead = Tombstones {
            words: &plan.tombstones,
        };
        let algo = plan.meta.algo;
        plan.meta.sha256 = lines_sha256(
            self.entries(li)
                .filter(|&(id, _, _)| !dead.is_dead(id))
                .map(|(_, code, _)| algo.to_hex(code)),
        );
        plan.meta.sources.push(Source {
            entries: reported,
            ..source
        });
        write_atomic(path, Some(self), plans, prov)?;
        Ok(reported)
    }

    /// Append videos to vPDQ list `name` as a new segment (existing segments copied), writing
    /// to `path` atomically. Returns the video (group) ids given.
    pub fn add_videos(
        &self,
        path: &Path,
        name: &str,
        videos: Vec<NewVideo>,
        source: Source,
        prov: Provenance,
    ) -> Result<std::ops::Range<u64>, IndexError> {
        let li = self.list(name)?;
        let mut plans = self.plans();
        let plan = &mut plans[li];
        let Some(meta) = plan.meta.vpdq.as_mut() else {
            return Err(IndexError::WrongKind {
                name: name.to_owned(),
                algo: plan.meta.algo.name(),
                reason: "videos go to vPDQ lists only",
            });
        };
        vlist::check_videos(&videos)?;
        let first_group = meta.next_group;
        let g = videos.len() as u64;
        meta.next_group += g;
        meta.groups += g;
        let first = plan.meta.next_id;
        let n: u64 = videos.iter().map(|v| v.frames.len() as u64).sum();
        plan.meta.sha256 = lines_sha256(
            self.entries(li)
                .map(|(_, code, _)| Algo::Vpdq.to_hex(code))
                .chain(
                    videos
                        .iter()
                        .flat_map(|v| &v.frames)
                        .map(|f| f.hash.to_string()),
                ),
        );
        plan.meta.next_id += n;
        plan.meta.live += n;
        plan.meta.sources.push(source);
        if g > 0 {
            plan.segments.push(SegPlan::NewVideos {
                first_id: first,
                first_group,
                videos,
            });
        }
        write_atomic(path, Some(self), plans, prov)?;
        Ok(first_group..first_group + g)
    }

    /// Replace list `list.name` (which must exist, of any kind) by the vPDQ list `list`: new
    /// videos (ids from 0), new version and thresholds, no tombstones; written atomically.
    pub fn replace_videos(
        &self,
        path: &Path,
        list: NewVpdqList,
        prov: Provenance,
    ) -> Result<(), IndexError> {
        let li = self.list(&list.name)?;
        let mut plans = self.plans();
        let mut sources = plans[li].meta.sources.clone();
        let mut new = new_vpdq_plan(list)?;
        sources.append(&mut new.meta.sources);
        new.meta.sources = sources;
        plans[li] = new;
        write_atomic(path, Some(self), plans, prov)
    }

    /// Replace list `list.name` (which must exist, with the same algorithm or not) by `list`:
    /// new entries (ids from 0), new version, no tombstones; written to `path` atomically.
    pub fn replace(&self, path: &Path, list: NewList, prov: Provenance) -> Result<(), IndexError> {
        let li = self.list(&list.name)?;
        let mut plans = self.plans();
        let mut sources = plans[li].meta.sources.clone();
        let mut new = new_plan(list)?;
        sources.append(&mut new.meta.sources);
        new.meta.sources = sources;
        plans[li] = new;
        write_atomic(path, Some(self), plans, prov)
    }
}
