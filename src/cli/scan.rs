//! `vigil scan` (issue 5, first version): walk → read (digests from the same bytes) → decode →
//! hash → match → report, accounting for every file met.
//!
//! Every non-directory entry of the walk ends as exactly one record: `hashes.jsonl` when hashed
//! (PDQ, pHash, dihedral PDQ with `--dihedral`), else `errors.jsonl` with `status` `failed` or
//! `skipped` and a reason; `size`, `sha256` and `md5` whenever the bytes could be read. Every
//! readable file is checked against digest lists, decodable or not. Matches go to
//! `matches.jsonl`, counts and provenance to `summary.json`. Files are processed in batches
//! (rayon across a batch); records are appended and flushed per batch.
//!
//! `--resume` continues a stopped scan: records are appended and flushed per batch (matches
//! before records), a torn last line is cut, recorded files are not read again, and
//! `journal.jsonl` (each decode begun and ended, one unbuffered write per line) tells which
//! files a stopped run was decoding: those are hashed first, one at a time, and a file that
//! was being decoded when two runs stopped is recorded as `failed: decoder crash suspected`.
//!
//! Decoders run in `vigil scan-worker` children ([`vigil::scan::isolate`]): a crash or a
//! timeout costs one file. With a GPU engine the children send pixels back and the batching
//! stage of `vigil hash` hashes them; on a GPU `vigil check-gpu` has not recorded as exact,
//! files within a list's radius + 4 are hashed again on the CPU oracle.
//!
//! Videos (recognised by magic bytes) are decoded from their path in the same children,
//! which stream frame hashes back ([`vigil::scan::video`]): every frame (by default) is
//! matched against the PDQ lists (`kind: video-frame`), one record per video, its 1 s vPDQ in
//! `vpdq/<sha256>.txt`; budgets mark a record `truncated`. Animated GIF/APNG/WebP: frame 0 is
//! the file's hash, later frames are matched as `kind: image-frame`.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use md5::Md5;
use rayon::prelude::*;
use serde_json::{Map, Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use vigil::decode::{self, DecodeError, DecodeOptions, Decoded};
use vigil::index::store::utc;
use vigil::index::{Algo, Hit, Index, Params, Provenance, Queries};
use vigil::pdq::DIHEDRAL_NAMES;
use vigil::scan::isolate::{
    self, Animation, ChildOutcome, DecoderPool, Task, animation_frames, thread_cpu,
};
use vigil::scan::video::{VPDQ_SECONDS_PER_HASH, VideoOutcome, VideoReport, VideoTask, hash_video};
use vigil::scan::{Entry, EntryKind, MemoryBudget, WalkOptions, read_input, walk_parallel};
use vigil::video::{self as vvideo, VpdqFrame};
use vigil::{Algorithms, Compat, Engine, FileHashes, HashOptions, hash_decoded_with};

use super::hash::{BackendArg, BatchJob};
use super::index::{ImportArgs, lists_from_specs};

/// Record format version (`"schema"` in every record and the summary).
const SCHEMA: u32 = 1;

/// `vigil scan` arguments.
#[derive(clap::Args, Debug)]
pub struct ScanArgs {
    /// A list read now: `[NAME=]FILE[:RADIUS]` (RADIUS only when all digits).
    #[arg(long, value_name = "[NAME=]FILE[:RADIUS]")]
    list: Vec<String>,
    /// An index file (from `vigil index build`); not together with `--list`.
    #[arg(long, conflicts_with = "list")]
    index: Option<PathBuf>,
    #[command(flatten)]
    import: ImportArgs,
    /// PDQ hashes below this quality are recorded but not matched (counted).
    #[arg(long, default_value_t = 50)]
    min_quality: u8,
    /// Match all 8 dihedral variants of each image's PDQ (and record them in hashes.jsonl).
    #[arg(long)]
    dihedral: bool,
    /// What computes the hashes.
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendArg,
    /// Output directory (created 0700; must be new or empty unless `--resume`).
    #[arg(long)]
    out: PathBuf,
    /// Continue the scan in `--out` (same options): files already recorded are not read
    /// again, a torn last line is repaired, and a file that was being decoded when two runs
    /// were interrupted is recorded as `failed: decoder crash suspected`.
    #[arg(long)]
    resume: bool,
    /// Largest image, in pixels, that is decoded (checked from the header first).
    #[arg(long, default_value_t = 200_000_000, value_name = "N")]
    max_pixels: u64,
    /// Decode-memory budget shared by all workers (bytes; K, M, G suffixes): each image
    /// reserves about 8 bytes per pixel of its header's size before it is decoded; a larger
    /// image waits and decodes alone.
    #[arg(long, default_value = "1G", value_parser = super::hash::parse_bytes, value_name = "BYTES")]
    max_memory: u64,
    /// Per-file decoding time limit in seconds; a decoder past it is killed and the file is
    /// recorded as failed.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    timeout: u64,
    /// Where decoders run: `process` (child processes, so a decoder crash or runaway costs one
    /// file) or `none` (in this process, under catch_unwind only).
    #[arg(long, value_enum, default_value = "process")]
    isolation: Isolation,
    /// Files per batch (records are flushed after each batch).
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Frames a video keeps in memory until its batch is written; past this, only its 1 s vPDQ
    /// frames and the frames within a PDQ list's radius are kept (tests set it low).
    #[arg(long, default_value_t = FRAMES_IN_MEMORY, hide = true)]
    video_frames_in_memory: usize,
    /// Only files whose path or name matches one of these globs are read (repeatable); the
    /// others are recorded as `excluded`.
    #[arg(long, value_name = "GLOB")]
    include: Vec<String>,
    /// Files whose path or name matches one of these globs are not read, and are recorded as
    /// `excluded` (repeatable).
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Also write CSV twins of the JSONL files (hashes.csv, errors.csv, matches.csv; RFC 4180,
    /// written from the JSONL files when the scan ends).
    #[arg(long)]
    csv: bool,
    /// Follow symbolic links met while walking (a link to a file is read through it and
    /// recorded at the link's path; loops are detected and recorded as skipped). Without it a
    /// link is recorded as skipped and never read.
    #[arg(long)]
    follow_symlinks: bool,
    /// Do not descend into directories on other file systems (each is recorded as skipped).
    #[arg(long)]
    one_file_system: bool,
    /// Seconds between the video frames matched against image lists; 0 (the default) matches
    /// every frame, so that a known image shown for a fraction of a second is found. The
    /// vPDQ written to `vpdq/` is always at 1 s per hash.
    #[arg(long, default_value_t = 0.0, value_name = "S")]
    video_seconds_per_hash: f64,
    /// Per-video frame budget: decoding stops after this many frames and the record is
    /// marked `truncated` (the frames hashed so far are kept and matched).
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    video_max_frames: u64,
    /// Per-video wall-time budget, seconds (as `--video-max-frames`). A decoder that sends
    /// nothing for `--timeout` seconds is killed and the video recorded as failed.
    #[arg(long, default_value_t = 600.0, value_name = "SECS")]
    video_max_seconds: f64,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Files and directories to scan.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<OsString>,
}

/// `--isolation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Isolation {
    /// Decoder child processes.
    Process,
    /// In this process.
    None,
}

/// The digests of a file's bytes.
#[derive(Debug, Clone)]
struct Digests {
    sha256: [u8; 32],
    sha1: [u8; 20],
    md5: [u8; 16],
}

impl Digests {
    /// The digests of `bytes`.
    fn of(bytes: &[u8]) -> Self {
        let mut s = DigestState::default();
        s.update(bytes);
        s.finish()
    }
}

/// The three digests, fed chunk by chunk.
#[derive(Default)]
struct DigestState(Sha256, Sha1, Md5);

impl DigestState {
    fn update(&mut self, chunk: &[u8]) {
        self.0.update(chunk);
        self.1.update(chunk);
        self.2.update(chunk);
    }

    fn finish(self) -> Digests {
        Digests {
            sha256: self.0.finalize().into(),
            sha1: self.1.finalize().into(),
            md5: self.2.finalize().into(),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What happened to one file.
enum Outcome {
    Hashed(Box<FileHashes>),
    /// A video: its hashed frames and how decoding ended (hashed, failed or skipped).
    Video(Box<VideoResult>),
    Failed(String),
    Skipped(String),
    Excluded(String),
}

/// `--include` / `--exclude`: globs matched against the path as walked and the file name.
struct Filter {
    include: Option<globset::GlobSet>,
    exclude: globset::GlobSet,
}

impl Filter {
    fn new(include: &[String], exclude: &[String]) -> anyhow::Result<Self> {
        let set = |globs: &[String], what: &str| -> anyhow::Result<globset::GlobSet> {
            let mut b = globset::GlobSetBuilder::new();
            for g in globs {
                b.add(globset::Glob::new(g).with_context(|| format!("{what} {g:?}"))?);
            }
            Ok(b.build()?)
        };
        Ok(Filter {
            include: (!include.is_empty())
                .then(|| set(include, "--include"))
                .transpose()?,
            exclude: set(exclude, "--exclude")?,
        })
    }

    /// Why `path` is excluded, if it is.
    fn excluded(&self, path: &Path) -> Option<&'static str> {
        let name = path.file_name().map(Path::new);
        let hit = |s: &globset::GlobSet| s.is_match(path) || name.is_some_and(|n| s.is_match(n));
        if self.include.as_ref().is_some_and(|s| !hit(s)) {
            Some("not matched by --include")
        } else if hit(&self.exclude) {
            Some("matched by --exclude")
        } else {
            None
        }
    }
}

/// CPU time of the whole process (user + system).
fn process_cpu() -> Duration {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage; RUSAGE_SELF is always valid.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// CPU time per stage, summed over worker threads.
#[derive(Default, Clone, Copy)]
struct Stages {
    read: Duration,
    digest: Duration,
    decode: Duration,
    video_decode: Duration,
    pdq: Duration,
    phash: Duration,
}

impl Stages {
    fn add(&mut self, o: &Stages) {
        self.read += o.read;
        self.digest += o.digest;
        self.decode += o.decode;
        self.video_decode += o.video_decode;
        self.pdq += o.pdq;
        self.phash += o.phash;
    }
}

/// A video's frames and end.
struct VideoResult {
    /// The frames hashed (both samplings, see `VideoTask::options`), in frame order; for a
    /// long video only those that can still matter (see [`compact_frames`]).
    frames: Vec<VpdqFrame>,
    /// How many frames were hashed, before any were dropped from `frames`.
    frames_hashed: u64,
    /// How many of them were compared with the image lists (`--video-seconds-per-hash`).
    frames_compared: u64,
    outcome: VideoOutcome,
}

impl VideoResult {
    /// Stream facts, when decoding got far enough.
    fn report(&self) -> Option<&VideoReport> {
        match &self.outcome {
            VideoOutcome::Hashed(r) => Some(r),
            VideoOutcome::Failed { report, .. } => report.as_ref(),
            VideoOutcome::Skipped(_) => None,
        }
    }

    /// The frames of one sampling (all frames received when the frame rate is unknown: a
    /// decoder that died before its end).
    fn sampled(&self, seconds_per_hash: f64) -> impl Iterator<Item = &VpdqFrame> {
        let m = self
            .report()
            .map_or(1, |r| vvideo::frame_mod(seconds_per_hash, r.fps));
        self.frames.iter().filter(move |f| f.frame_number % m == 0)
    }
}

/// Decode memory reserved for one video while it decodes (frames are decoded and converted
/// a batch at a time, at most 64 MiB of RGB per batch, plus the decoder's own frames).
const VIDEO_PERMIT: u64 = 256 << 20;

/// One file's result.
struct FileResult {
    path: PathBuf,
    size: Option<u64>,
    digests: Option<Digests>,
    format: &'static str,
    outcome: Outcome,
    cpu: Stages,
    /// An animation's frames after frame 0 (scan matches them too).
    anim: Option<Animation>,
}

fn format_name(head: &[u8]) -> &'static str {
    use decode::ImageFormat as F;
    match decode::sniff(head) {
        Some(F::Jpeg) => "jpeg",
        Some(F::Png) => "png",
        Some(F::Gif) => "gif",
        Some(F::WebP) => "webp",
        Some(F::Bmp) => "bmp",
        Some(F::Tiff) => "tiff",
        Some(F::Heic) => "heic",
        Some(F::Avif) => "avif",
        Some(F::Jxl) => "jxl",
        Some(_) => "image",
        None if head.is_empty() => "empty",
        None => "other",
    }
}

/// Stream the digests of `path` (for files not read whole), opened as `read_input` opens.
fn stream_digests(path: &Path) -> io::Result<Digests> {
    let mut f = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    if !f.metadata()?.file_type().is_file() {
        return Err(io::Error::other("no longer a regular file"));
    }
    let mut buf = vec![0u8; 1 << 20];
    let mut state = DigestState::default();
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(state.finish());
        }
        state.update(&buf[..n]);
    }
}

/// What every worker shares.
struct Ctx<'a> {
    opts: HashOptions,
    /// The lists, for [`compact_frames`].
    index: &'a Index,
    /// `--min-quality`.
    min_quality: u8,
    /// Frames a video may hold in memory before [`compact_frames`] thins them.
    frames_in_memory: usize,
    /// The engine and, with a GPU engine, the stage that gathers decoded images into GPU
    /// batches; empty while `--backend auto` is still probing.
    engine: Arc<EngineCell>,
    filter: Filter,
    journal: Journal,
    /// Decoder children; `None` with `--isolation none` (decoding in this process).
    pool: Option<DecoderPool>,
    /// Decode-memory budget (`--max-memory`), reserved from each image's header size.
    budget: MemoryBudget,
    /// What is done with each video.
    video: VideoTask,
    /// Animations: frame budget and time budget (ms) for the frames after frame 0.
    anim_task: (u64, u64),
}

/// The engine and its GPU batching stage, set once.
type EngineCell = OnceLock<(Arc<Engine>, Option<crossbeam_channel::Sender<BatchJob>>)>;

/// Read, digest, decode and hash one entry.
fn process(entry: &Entry, ctx: &Ctx<'_>) -> FileResult {
    process_with(entry, ctx, Decode::Engine)
}

/// How [`process_with`] treats a file once it is read and digested.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Decode {
    /// Decode and hash with the engine.
    Engine,
    /// Decode and hash on the scalar oracle (re-checks of GPU hashes).
    Oracle,
    /// Do not decode: the file was being decoded when the scan stopped twice. It is still
    /// read and digested (so digest lists match it), and recorded as failed.
    Suspected,
}

/// Why a crash-suspected file is failed.
const CRASH_SUSPECTED: &str = "decoder crash suspected (the scan stopped twice while decoding it)";

/// [`process`], with the choice of [`Decode`].
fn process_with(entry: &Entry, ctx: &Ctx<'_>, how: Decode) -> FileResult {
    let oracle = how == Decode::Oracle;
    let mut r = FileResult {
        path: entry.path.clone(),
        size: None,
        digests: None,
        format: "none",
        outcome: Outcome::Failed(String::new()),
        cpu: Stages::default(),
        anim: None,
    };
    if let Some(why) = ctx.filter.excluded(&entry.path) {
        r.outcome = Outcome::Excluded(why.into());
        return r;
    }
    match &entry.kind {
        EntryKind::Special(kind) => {
            r.outcome = Outcome::Skipped(format!("not a regular file ({kind})"));
            return r;
        }
        EntryKind::Error(msg) => {
            r.outcome = Outcome::Failed(msg.clone());
            return r;
        }
        EntryKind::Skipped(why) => {
            r.outcome = Outcome::Skipped(why.clone());
            return r;
        }
        EntryKind::File => {}
    }
    let t = thread_cpu();
    let read = read_input(entry.open_path(), |head| decode::sniff(head).is_some());
    r.cpu.read = thread_cpu() - t;
    let read = match read {
        Ok(read) => read,
        Err(e) if e.is_skip() => {
            r.outcome = Outcome::Skipped(e.to_string());
            return r;
        }
        Err(e) => {
            r.outcome = Outcome::Failed(e.to_string());
            return r;
        }
    };
    r.size = Some(read.size);
    r.format = format_name(&read.bytes);
    let t = thread_cpu();
    let digests = if read.complete {
        Ok(Digests::of(&read.bytes))
    } else {
        stream_digests(entry.open_path())
    };
    r.cpu.digest = thread_cpu() - t;
    match digests {
        Ok(d) => r.digests = Some(d),
        Err(e) => {
            r.outcome = Outcome::Failed(format!("reading: {e}"));
            return r;
        }
    }
    if read.bytes.is_empty() {
        r.outcome = Outcome::Failed(DecodeError::Empty.to_string());
        return r;
    }
    if let Some(container) = vvideo::sniff(&read.bytes) {
        r.format = container.name();
        r.outcome = if how == Decode::Suspected {
            Outcome::Video(Box::new(VideoResult {
                frames: Vec::new(),
                frames_hashed: 0,
                frames_compared: 0,
                outcome: VideoOutcome::Failed {
                    reason: CRASH_SUSPECTED.into(),
                    report: None,
                },
            }))
        } else {
            process_video(entry, ctx, &mut r.cpu)
        };
        return r;
    }
    if how == Decode::Suspected {
        r.outcome = Outcome::Failed(CRASH_SUSPECTED.into());
        return r;
    }
    if !read.complete || decode::sniff(&read.bytes).is_none() {
        r.outcome = Outcome::Skipped("not an image".into());
        return r;
    }
    // The header's size reserves decode memory: decoded RGB plus the decoder's and the
    // hashing paths' buffers, about 8 bytes per pixel. An image over the whole budget waits
    // for it and decodes alone; one over --max-pixels is refused by the decoder from its
    // header. (Header parsing is the one decoder step done in this process.)
    let probe = catch_unwind(AssertUnwindSafe(|| decode::probe(&read.bytes)));
    let pixels = match probe {
        Ok(Ok(info)) => {
            (u64::from(info.width) * u64::from(info.height)).min(ctx.opts.decode.max_pixels)
        }
        Ok(Err(e @ DecodeError::Unsupported(_))) => {
            r.outcome = Outcome::Skipped(e.to_string());
            return r;
        }
        Ok(Err(e)) => {
            r.outcome = Outcome::Failed(e.to_string());
            return r;
        }
        Err(_) => {
            r.outcome = Outcome::Failed("internal error while reading the header (panic)".into());
            return r;
        }
    };
    let _permit = ctx.budget.acquire(pixels * 8 + read.bytes.len() as u64);
    ctx.journal.note("begin", &entry.path);
    let gpu = ctx
        .engine
        .get()
        .and_then(|(_, b)| b.as_ref())
        .filter(|_| !oracle);
    r.outcome = match &ctx.pool {
        Some(pool) => {
            let task = Task {
                pdq: true,
                phash: true,
                dihedral: ctx.opts.dihedral,
                pixels: gpu.is_some(),
                oracle,
                max_pixels: ctx.opts.decode.max_pixels,
                // No frames on an oracle re-check: they were hashed on the CPU already.
                max_frames: if oracle { 0 } else { ctx.anim_task.0 },
                frames_ms: ctx.anim_task.1,
            };
            match pool.run(&entry.path, &read.bytes, &task) {
                Ok((out, cpu, anim)) => {
                    r.anim = anim;
                    r.cpu.decode = Duration::from_nanos(cpu.decode_ns);
                    r.cpu.pdq = Duration::from_nanos(cpu.pdq_ns);
                    r.cpu.phash = Duration::from_nanos(cpu.phash_ns);
                    match out {
                        ChildOutcome::Hashed(h) => Outcome::Hashed(h),
                        ChildOutcome::Pixels(d) => batch_hash(gpu, *d),
                        ChildOutcome::Failed(why) => Outcome::Failed(why),
                        ChildOutcome::Skipped(why) => Outcome::Skipped(why),
                    }
                }
                Err(e) => Outcome::Failed(e.to_string()),
            }
        }
        None => {
            let out = in_process(&read.bytes, entry, ctx, gpu, oracle, &mut r.cpu);
            if !oracle && matches!(out, Outcome::Hashed(_)) {
                let task = Task {
                    pdq: true,
                    phash: false,
                    dihedral: false,
                    pixels: false,
                    oracle: false,
                    max_pixels: ctx.opts.decode.max_pixels,
                    max_frames: ctx.anim_task.0,
                    frames_ms: ctx.anim_task.1,
                };
                let t = thread_cpu();
                r.anim = animation_frames(&read.bytes, &task, &ctx.engine.wait().0);
                r.cpu.pdq += thread_cpu() - t;
            }
            out
        }
    };
    ctx.journal.note("end", &entry.path);
    r
}

/// Decode one video (in a decoder child, or here with `--isolation none`) and hash its
/// frames; the frames received before a crash or a stall are kept.
fn process_video(entry: &Entry, ctx: &Ctx<'_>, cpu: &mut Stages) -> Outcome {
    let _permit = ctx.budget.acquire(VIDEO_PERMIT);
    ctx.journal.note("begin", &entry.path);
    let mut frames: Vec<VpdqFrame> = Vec::new();
    let outcome = match &ctx.pool {
        Some(pool) => {
            match pool.run_video(entry.open_path(), &ctx.video, |b| {
                frames.extend_from_slice(b)
            }) {
                Ok((o, c)) => {
                    cpu.video_decode = Duration::from_nanos(c.video_decode_ns);
                    cpu.pdq = Duration::from_nanos(c.pdq_ns);
                    o
                }
                Err(e) => VideoOutcome::Failed {
                    reason: e.to_string(),
                    report: None,
                },
            }
        }
        None => {
            #[cfg(debug_assertions)]
            test_seams(&entry.path);
            let engine = &ctx.engine.wait().0;
            let (o, c) = hash_video(entry.open_path(), &ctx.video, engine, |b| {
                frames.extend_from_slice(b)
            });
            // In this process the split is approximate: it is the process's CPU time, which
            // other workers share.
            cpu.video_decode = Duration::from_nanos(c.decode_ns);
            cpu.pdq = Duration::from_nanos(c.pdq_ns);
            o
        }
    };
    ctx.journal.note("end", &entry.path);
    let frames_hashed = frames.len() as u64;
    let mut v = VideoResult {
        frames,
        frames_hashed,
        frames_compared: 0,
        outcome,
    };
    v.frames_compared = v.sampled(ctx.video.seconds_per_hash).count() as u64;
    compact_frames(&mut v, ctx);
    Outcome::Video(Box::new(v))
}

/// Frames held per video beyond which [`compact_frames`] drops the ones that cannot matter.
const FRAMES_IN_MEMORY: usize = 20_000;

/// A batch holds every file's result until its records are written, so a batch of long videos
/// hashed at every frame would hold millions of frames (a two-hour film at 30 fps: 216,000,
/// about 10 MB). Past [`Ctx::frames_in_memory`] frames, a video keeps only the frames that can
/// still appear in the output: its vPDQ sampling (1 s, for `vpdq/<sha256>.txt` and vPDQ
/// lists) and the frames of the image-list sampling that are within a PDQ list's radius (the
/// same search `write_batch` repeats, with the same radius and quality gate, so the matches
/// are unchanged). If that search fails, every frame is kept.
fn compact_frames(v: &mut VideoResult, ctx: &Ctx<'_>) {
    if v.frames.len() <= ctx.frames_in_memory {
        return;
    }
    let fps = v.report().map(|r| r.fps);
    let m = |sph: f64| fps.map_or(1, |fps| vvideo::frame_mod(sph, fps));
    let (m_vpdq, m_img) = (m(VPDQ_SECONDS_PER_HASH), m(ctx.video.seconds_per_hash));
    let cand: Vec<usize> = (0..v.frames.len())
        .filter(|&i| {
            let f = &v.frames[i];
            f.frame_number % m_img == 0 && f.quality >= ctx.min_quality
        })
        .collect();
    let mut keep = vec![false; v.frames.len()];
    if !cand.is_empty() {
        let qs: Vec<[u64; 4]> = cand.iter().map(|&i| v.frames[i].hash.0).collect();
        for (li, list) in ctx.index.manifest().lists.iter().enumerate() {
            if list.algo != Algo::Pdq {
                continue;
            }
            let p = Params::range(list.radius);
            let Ok(hits) = ctx.index.search(li, Queries::Pdq(&qs), &p) else {
                return;
            };
            for (&i, h) in cand.iter().zip(hits) {
                keep[i] |= !h.is_empty();
            }
        }
    }
    let mut i = 0;
    v.frames.retain(|f| {
        let k = keep[i] || f.frame_number % m_vpdq == 0;
        i += 1;
        k
    });
    v.frames.shrink_to_fit();
}

/// Hash one decoded image in the GPU batching stage.
fn batch_hash(batcher: Option<&crossbeam_channel::Sender<BatchJob>>, d: Decoded) -> Outcome {
    let Some(batcher) = batcher else {
        return Outcome::Failed("internal error: pixels without a batching stage".into());
    };
    let (reply, result) = crossbeam_channel::bounded(1);
    match batcher
        .send((d, reply))
        .ok()
        .and_then(|()| result.recv().ok())
    {
        #[cfg(debug_assertions)]
        Some(mut h) if std::env::var_os("VIGIL_TEST_GPU_FLIP").is_some() => {
            // Test seam: a GPU whose PDQ hashes are 3 bits off (the re-check must catch it).
            let flip = |x: &mut vigil::PdqHash| x.0[0] ^= 0b111;
            if let Some(p) = &mut h.pdq {
                flip(&mut p.hash);
            }
            if let Some(d) = &mut h.dihedral {
                d.iter_mut().for_each(flip);
            }
            Outcome::Hashed(Box::new(h))
        }
        Some(h) => Outcome::Hashed(Box::new(h)),
        None => Outcome::Failed("internal error while hashing (batch)".into()),
    }
}

/// `--isolation none`: decode (and hash) in this process, under `catch_unwind`.
fn in_process(
    bytes: &[u8],
    entry: &Entry,
    ctx: &Ctx<'_>,
    gpu: Option<&crossbeam_channel::Sender<BatchJob>>,
    oracle: bool,
    cpu: &mut Stages,
) -> Outcome {
    // PDQ (with its dihedral variants) and pHash hashed one after the other, so each has its
    // own CPU time.
    let pdq_only = HashOptions {
        algorithms: Algorithms {
            pdq: true,
            phash: false,
        },
        ..ctx.opts.clone()
    };
    let phash_only = HashOptions {
        algorithms: Algorithms {
            pdq: false,
            phash: true,
        },
        dihedral: false,
        ..ctx.opts.clone()
    };
    #[cfg(debug_assertions)]
    test_seams(&entry.path);
    #[cfg(not(debug_assertions))]
    let _ = entry;
    let scalar;
    let engine: &Engine = if oracle {
        scalar = Engine::new(vigil::Backend::Scalar).expect("the scalar engine always opens");
        &scalar
    } else {
        &ctx.engine.wait().0
    };
    let mut c = Stages::default();
    let run = || {
        let t = thread_cpu();
        let decoded = decode::decode(bytes, &ctx.opts.decode);
        c.decode = thread_cpu() - t;
        match decoded {
            Ok(d) if gpu.is_some() => batch_hash(gpu, d),
            Ok(d) => {
                let t = thread_cpu();
                let mut h = hash_decoded_with(&d, &pdq_only, engine);
                c.pdq = thread_cpu() - t;
                let t = thread_cpu();
                h.phash = hash_decoded_with(&d, &phash_only, engine).phash;
                c.phash = thread_cpu() - t;
                Outcome::Hashed(Box::new(h))
            }
            Err(e @ DecodeError::Unsupported(_)) => Outcome::Skipped(e.to_string()),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    };
    let out = catch_unwind(AssertUnwindSafe(run))
        .unwrap_or_else(|_| Outcome::Failed("internal error while decoding (panic)".into()));
    cpu.decode = c.decode;
    cpu.pdq = c.pdq;
    cpu.phash = c.phash;
    out
}

/// `path` and, for a name that is not UTF-8, `path_bytes` (base64 of the exact bytes).
fn put_path(obj: &mut Map<String, Value>, path: &Path) {
    use base64::Engine as _;
    match path.to_str() {
        Some(s) => {
            obj.insert("path".into(), s.into());
        }
        None => {
            obj.insert("path".into(), path.to_string_lossy().into_owned().into());
            obj.insert(
                "path_bytes".into(),
                base64::engine::general_purpose::STANDARD
                    .encode(path.as_os_str().as_bytes())
                    .into(),
            );
        }
    }
}

/// The record's common head: schema, path, size and digests when known.
fn head(r: &FileResult) -> Map<String, Value> {
    let mut obj = Map::new();
    obj.insert("schema".into(), SCHEMA.into());
    put_path(&mut obj, &r.path);
    if let Some(s) = r.size {
        obj.insert("size".into(), s.into());
    }
    if let Some(d) = &r.digests {
        obj.insert("sha256".into(), hex(&d.sha256).into());
        obj.insert("md5".into(), hex(&d.md5).into());
    }
    obj
}

/// An output file created 0600 (never over an existing one).
fn create(dir: &Path, name: &str) -> anyhow::Result<BufWriter<File>> {
    let path = dir.join(name);
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    Ok(BufWriter::new(f))
}

fn line(w: &mut BufWriter<File>, v: &Value) -> io::Result<()> {
    serde_json::to_writer(&mut *w, v)?;
    w.write_all(b"\n")
}

#[derive(Default, Clone)]
struct Counts {
    hashed: u64,
    failed: u64,
    skipped: u64,
    excluded: u64,
    below_quality: u64,
    matched_files: u64,
    matches: u64,
    bytes: u64,
    by_format: std::collections::BTreeMap<&'static str, u64>,
    by_reason: std::collections::BTreeMap<String, u64>,
    cpu: Stages,
    match_cpu: Duration,
    this_run: u64,
    video: VideoCounts,
    anim: AnimCounts,
}

/// Summary counts of animations (frames after frame 0 matched), tallied from records.
#[derive(Default, Clone, Copy)]
struct AnimCounts {
    files: u64,
    frames: u64,
    truncated: u64,
    errors: u64,
}

impl AnimCounts {
    fn tally(&mut self, rec: &Map<String, Value>) {
        let Some(n) = rec.get("animation_frames").and_then(Value::as_u64) else {
            return;
        };
        self.files += 1;
        self.frames += n;
        if rec.get("truncated").and_then(Value::as_bool) == Some(true) {
            self.truncated += 1;
        }
        if rec.get("animation_error").is_some() {
            self.errors += 1;
        }
    }
}

/// Summary counts of videos, tallied from their records (so a resumed scan counts the
/// records of earlier runs the same way).
#[derive(Default, Clone, Copy)]
struct VideoCounts {
    files: u64,
    hashed: u64,
    truncated: u64,
    failed: u64,
    skipped: u64,
    frames_decoded: u64,
    frames_hashed: u64,
}

impl VideoCounts {
    /// Count one record (of hashes.jsonl or errors.jsonl) if it is a video's.
    fn tally(&mut self, rec: &Map<String, Value>) {
        if rec.get("kind").and_then(Value::as_str) != Some("video") {
            return;
        }
        self.files += 1;
        match rec.get("status").and_then(Value::as_str) {
            Some("failed") => self.failed += 1,
            Some("skipped") => self.skipped += 1,
            _ => self.hashed += 1,
        }
        if rec.get("truncated").and_then(Value::as_bool) == Some(true) {
            self.truncated += 1;
        }
        let n = |k: &str| rec.get(k).and_then(Value::as_u64).unwrap_or(0);
        self.frames_decoded += n("frames_decoded");
        self.frames_hashed += n("frames_hashed");
    }

    fn json(&self) -> Value {
        json!({
            "files": self.files,
            "hashed": self.hashed,
            "truncated": self.truncated,
            "failed": self.failed,
            "skipped": self.skipped,
            "frames_decoded": self.frames_decoded,
            "frames_hashed": self.frames_hashed,
        })
    }
}

/// An output file opened for appending (created 0600 if missing).
fn append(dir: &Path, name: &str) -> anyhow::Result<BufWriter<File>> {
    let path = dir.join(name);
    let f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    Ok(BufWriter::new(f))
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The options a resumed scan must share with the scan it continues (`scan.json`).
fn fingerprint(a: &ScanArgs, index: &Index, policy: &str) -> Value {
    json!({
        "schema": SCHEMA,
        "vigil": env!("CARGO_PKG_VERSION"),
        "paths": a.paths.iter().map(|p| b64(p.as_bytes())).collect::<Vec<_>>(),
        "lists": index.manifest().lists.iter().map(|l| json!({
            "name": l.name,
            "algo": l.algo.name(),
            "radius": l.radius,
            "sha256": l.sha256,
        })).collect::<Vec<_>>(),
        "policy": policy,
        "dihedral": a.dihedral,
        "min_quality": a.min_quality,
        "max_pixels": a.max_pixels,
        "follow_symlinks": a.follow_symlinks,
        "one_file_system": a.one_file_system,
        "include": a.include,
        "exclude": a.exclude,
        "video_seconds_per_hash": a.video_seconds_per_hash,
        "video_max_frames": a.video_max_frames,
        "video_max_seconds": a.video_max_seconds,
    })
}

/// The exact path bytes a record names.
fn record_path(v: &Value) -> Option<Vec<u8>> {
    use base64::Engine as _;
    match v.get("path_bytes").and_then(Value::as_str) {
        Some(b) => base64::engine::general_purpose::STANDARD.decode(b).ok(),
        None => v
            .get("path")
            .and_then(Value::as_str)
            .map(|p| p.as_bytes().to_vec()),
    }
}

/// Cut a JSONL file after its last complete line (a run killed mid-write leaves a torn one);
/// the complete lines, parsed.
fn repair(path: &Path) -> anyhow::Result<Vec<Value>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if keep < bytes.len() {
        OpenOptions::new()
            .write(true)
            .open(path)?
            .set_len(keep as u64)?;
    }
    bytes[..keep]
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).with_context(|| format!("{}: bad line", path.display())))
        .collect()
}

/// What earlier runs in `--out` left: recorded files, crash suspects, the run number.
#[derive(Default)]
struct ResumeState {
    /// Runs before this one.
    run: u64,
    /// Paths recorded in hashes.jsonl or errors.jsonl.
    recorded: std::collections::HashSet<Vec<u8>>,
    /// Paths that were being decoded when two earlier runs stopped, and are not recorded.
    suspects: std::collections::HashSet<Vec<u8>>,
    /// Paths that were being decoded when one earlier run stopped: hashed first, one at a
    /// time, so that if one of them crashes the process again the journal names it alone.
    retry: Vec<Vec<u8>>,
    /// Earlier records, for the summary's counts.
    earlier: Counts,
}

impl ResumeState {
    fn load(out: &Path, print: &Value) -> anyhow::Result<Self> {
        let saved: Value = serde_json::from_slice(
            &std::fs::read(out.join("scan.json"))
                .with_context(|| format!("--resume: no scan in {}", out.display()))?,
        )?;
        if &saved != print {
            bail!(
                "--resume: the options differ from those of the scan in {} (scan.json)",
                out.display()
            );
        }
        let mut st = ResumeState::default();
        for r in repair(&out.join("hashes.jsonl"))? {
            st.earlier.hashed += 1;
            st.recorded.extend(record_path(&r));
            if let Some(o) = r.as_object() {
                st.earlier.video.tally(o);
                st.earlier.anim.tally(o);
            }
        }
        for r in repair(&out.join("errors.jsonl"))? {
            if let Some(o) = r.as_object() {
                st.earlier.video.tally(o);
            }
            match r.get("status").and_then(Value::as_str) {
                Some("failed") => st.earlier.failed += 1,
                Some("skipped") => st.earlier.skipped += 1,
                _ => st.earlier.excluded += 1,
            }
            st.recorded.extend(record_path(&r));
        }
        // Keep only the matches of recorded files (the others are written again).
        let matches = repair(&out.join("matches.jsonl"))?;
        let tmp = out.join("matches.jsonl.tmp");
        let mut w = create(out, "matches.jsonl.tmp")?;
        let mut files = std::collections::HashSet::new();
        for m in &matches {
            if let Some(p) = record_path(m)
                && st.recorded.contains(&p)
            {
                line(&mut w, m)?;
                st.earlier.matches += 1;
                files.insert(p);
            }
        }
        st.earlier.matched_files = files.len() as u64;
        w.flush()?;
        w.get_ref().sync_all()?;
        drop(w);
        std::fs::rename(&tmp, out.join("matches.jsonl"))?;
        // The journal: per run, the files begun and not ended.
        let mut open: HashMap<(u64, Vec<u8>), i64> = HashMap::new();
        for j in repair(&out.join("journal.jsonl"))? {
            let run = j.get("run").and_then(Value::as_u64).unwrap_or(0);
            st.run = st.run.max(run + 1);
            let Some(p) = j.get("path").and_then(Value::as_str).and_then(|p| {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.decode(p).ok()
            }) else {
                continue;
            };
            let d = if j.get("event").and_then(Value::as_str) == Some("begin") {
                1
            } else {
                -1
            };
            *open.entry((run, p)).or_default() += d;
        }
        let mut interrupted: HashMap<Vec<u8>, u32> = HashMap::new();
        for ((_, p), n) in open {
            if n > 0 && !st.recorded.contains(&p) {
                *interrupted.entry(p).or_default() += 1;
            }
        }
        for (p, runs) in interrupted {
            if runs >= 2 {
                st.suspects.insert(p);
            } else {
                st.retry.push(p);
            }
        }
        st.retry.sort();
        Ok(st)
    }

    /// Counts to continue from.
    fn counts(&self) -> Counts {
        Counts {
            hashed: self.earlier.hashed,
            failed: self.earlier.failed,
            skipped: self.earlier.skipped,
            excluded: self.earlier.excluded,
            matches: self.earlier.matches,
            matched_files: self.earlier.matched_files,
            video: self.earlier.video,
            anim: self.earlier.anim,
            ..Counts::default()
        }
    }
}

/// `journal.jsonl`: each file's decoding begun and ended, written straight to the file (no
/// buffer), so a file being decoded when the process dies is known on resume.
struct Journal {
    file: std::sync::Mutex<File>,
    run: u64,
}

impl Journal {
    fn open(out: &Path, run: u64) -> anyhow::Result<Self> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(out.join("journal.jsonl"))?;
        Ok(Journal {
            file: std::sync::Mutex::new(file),
            run,
        })
    }

    fn note(&self, event: &str, path: &Path) {
        let mut l = serde_json::to_vec(&json!({
            "run": self.run,
            "event": event,
            "path": b64(path.as_os_str().as_bytes()),
        }))
        .expect("serialisable");
        l.push(b'\n');
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        // One write per line: an interrupted run leaves at most one torn line, repaired later.
        let _ = f.write_all(&l);
    }
}

/// Test seams (debug builds only), run where a file is about to be decoded (in the decoder
/// child, or in this process with `--isolation none`): `VIGIL_TEST_CRASH=SUBSTRING` aborts the
/// process when the file's path contains SUBSTRING, as a crashing decoder would;
/// `VIGIL_TEST_DELAY=SUBSTRING:MS` (as in `vigil hash`) slows such files down.
#[cfg(debug_assertions)]
fn test_seams(path: &Path) {
    if let Ok(pat) = std::env::var("VIGIL_TEST_CRASH")
        && !pat.is_empty()
        && path.to_string_lossy().contains(&pat)
    {
        std::process::abort();
    }
    super::hash::test_seam_delay(path);
}

/// `vigil scan-worker`: a decoder child of `vigil scan` (see `vigil::scan::isolate`).
#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    /// Address-space limit of this process, bytes.
    #[arg(long)]
    address_space: Option<u64>,
}

/// Run a decoder child: serve requests on stdin/stdout until stdin closes.
pub fn worker(a: WorkerArgs) -> anyhow::Result<i32> {
    isolate::apply_limits(a.address_space).context("setting the decoder's limits")?;
    let seams = |_p: &Path| {
        #[cfg(debug_assertions)]
        test_seams(_p);
    };
    isolate::serve(
        io::BufReader::new(io::stdin().lock()),
        BufWriter::new(io::stdout()),
        &seams,
    )?;
    Ok(0)
}

/// Run `vigil scan`; returns the exit code.
pub fn run(a: ScanArgs) -> anyhow::Result<i32> {
    let started = SystemTime::now();
    let t0 = Instant::now();
    if a.list.is_empty() && a.index.is_none() {
        bail!("nothing to match against: give --list or --index");
    }
    if !a.video_seconds_per_hash.is_finite() || a.video_seconds_per_hash < 0.0 {
        bail!("--video-seconds-per-hash must be a number ≥ 0");
    }
    if !a.video_max_seconds.is_finite() || a.video_max_seconds <= 0.0 {
        bail!("--video-max-seconds must be > 0");
    }
    let index = match &a.index {
        Some(p) => Index::open(p).with_context(|| format!("opening {}", p.display()))?,
        None => Index::from_lists(lists_from_specs(&a.list, &a.import)?, Provenance::now())?,
    };
    // The engine. `--backend auto` probes for a hardware GPU on a background thread (loading
    // Vulkan drivers can take half a second): until it answers, files are hashed on the CPU in
    // the decoder children, which gives the same hashes.
    let engine_cell: Arc<EngineCell> = Arc::new(OnceLock::new());
    let backend = a.backend.backend();
    let start_engine = {
        let cell = engine_cell.clone();
        move |engine: Engine, opts: &HashOptions, jobs: usize| {
            let engine = Arc::new(engine);
            let batcher = (engine.backend_name() == "gpu")
                .then(|| super::hash::spawn_batcher(engine.clone(), opts.clone(), jobs));
            let _ = cell.set((engine, batcher));
        }
    };
    let sync_engine = match backend {
        vigil::Backend::Auto => None,
        b => Some(Engine::new(b).context("--backend")?),
    };
    let opts = HashOptions {
        algorithms: Algorithms {
            pdq: true,
            phash: true,
        },
        dihedral: a.dihedral,
        compat: Compat::Full,
        decode: DecodeOptions {
            max_pixels: a.max_pixels,
            exif_rotate: false,
        },
    };
    let policy = Compat::Full.policy(false);

    // The output directory: new or empty (or a scan to resume), 0700, never walked.
    let print = fingerprint(&a, &index, &policy);
    let used = a.out.exists()
        && std::fs::read_dir(&a.out)
            .with_context(|| format!("--out {}", a.out.display()))?
            .next()
            .is_some();
    let state = match (used, a.resume) {
        (true, false) => bail!(
            "--out {} is not empty (add --resume to continue the scan in it)",
            a.out.display()
        ),
        (false, _) => {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&a.out)
                .with_context(|| format!("creating {}", a.out.display()))?;
            let mut w = create(&a.out, "scan.json")?;
            serde_json::to_writer_pretty(&mut w, &print)?;
            w.write_all(b"\n")?;
            w.flush()?;
            w.get_ref().sync_all()?;
            for f in [
                "hashes.jsonl",
                "errors.jsonl",
                "matches.jsonl",
                "journal.jsonl",
            ] {
                create(&a.out, f)?;
            }
            ResumeState::default()
        }
        (true, true) => ResumeState::load(&a.out, &print)?,
    };
    let out_canon = std::fs::canonicalize(&a.out)?;
    let mut hashes_w = append(&a.out, "hashes.jsonl")?;
    let mut errors_w = append(&a.out, "errors.jsonl")?;
    let mut matches_w = append(&a.out, "matches.jsonl")?;
    let journal = Journal::open(&a.out, state.run)?;
    // On a terminal: a progress bar whose total comes from a second, metadata-only walk that
    // counts entries in the background (so the rate and ETA firm up as the count finishes).
    let total = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let progress = (!a.quiet && io::stderr().is_terminal()).then(|| {
        let pb = indicatif::ProgressBar::new(0);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {pos}/{len} files  {per_sec}  {elapsed}  ETA {eta}  {msg}",
            )
            .expect("valid template"),
        );
        pb.enable_steady_tick(Duration::from_millis(200));
        pb.set_position(state.recorded.len() as u64);
        if a.paths.iter().any(|p| p == "-") {
            // Paths on stdin can be read once only: no count, no ETA.
            return pb;
        }
        let (paths, follow, onefs, total) = (
            a.paths.clone(),
            a.follow_symlinks,
            a.one_file_system,
            total.clone(),
        );
        std::thread::spawn(move || {
            let walk = walk_parallel(
                &paths,
                &WalkOptions {
                    follow_symlinks: follow,
                    one_file_system: onefs,
                    threads: 1,
                },
            );
            for _ in walk {
                total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        pb
    });

    let jobs = rayon::current_num_threads().max(1);
    // The file workers get their own thread pool: with a GPU engine they wait for the batching
    // stage, whose engine calls use the global pool (a shared pool would deadlock).
    let workers = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("vigil-scan-{i}"))
        .build()
        .context("starting worker threads")?;
    let pool = match a.isolation {
        Isolation::None => None,
        Isolation::Process => {
            let exe = std::env::current_exe().context("finding vigil's own executable")?;
            // Room for one image of --max-pixels (or the whole budget) plus the program.
            let space = a.max_memory.max(a.max_pixels.saturating_mul(8)) + (512 << 20);
            Some(DecoderPool::new(
                exe,
                vec![
                    "scan-worker".into(),
                    "--address-space".into(),
                    space.to_string().into(),
                ],
                Duration::from_secs(a.timeout.max(1)),
            ))
        }
    };
    match sync_engine {
        Some(e) => start_engine(e, &opts, jobs),
        None => {
            let opts = opts.clone();
            std::thread::spawn(move || {
                start_engine(
                    Engine::new(vigil::Backend::Auto).expect("auto never fails"),
                    &opts,
                    jobs,
                )
            });
        }
    }
    let ctx = Ctx {
        opts: opts.clone(),
        index: &index,
        min_quality: a.min_quality,
        frames_in_memory: a.video_frames_in_memory,
        engine: engine_cell.clone(),
        filter: Filter::new(&a.include, &a.exclude)?,
        journal,
        pool,
        budget: MemoryBudget::new(a.max_memory),
        video: VideoTask {
            seconds_per_hash: a.video_seconds_per_hash,
            max_frames: Some(a.video_max_frames.max(1)),
            max_seconds: a.video_max_seconds,
            max_pixels: a.max_pixels.min(vvideo::DEFAULT_MAX_PIXELS),
        },
        // An animation's frames are decoded within the image's own --timeout: at most half
        // of it, so that frame 0's hash is never lost to them.
        anim_task: (
            a.video_max_frames.max(1),
            ((a.video_max_seconds * 1000.0) as u64).min(a.timeout.max(1) * 500),
        ),
    };
    let mut counts = state.counts();
    let mut inputs = walk_parallel(
        &a.paths,
        &WalkOptions {
            follow_symlinks: a.follow_symlinks,
            one_file_system: a.one_file_system,
            threads: 0,
        },
    );
    let in_out_dir = |p: &Path| {
        p.parent()
            .and_then(|d| {
                std::fs::canonicalize(if d.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    d
                })
                .ok()
            })
            .is_some_and(|d| d.starts_with(&out_canon))
    };
    // On a GPU not shown exact by `vigil check-gpu`, near matches are re-hashed on the oracle.
    // (Known once the engine is: see `slack_now`.)
    let mut gpu_verified: Option<Option<bool>> = None;
    let slack_now = |gpu_verified: &mut Option<Option<bool>>| {
        if gpu_verified.is_none()
            && let Some((e, _)) = engine_cell.get()
        {
            *gpu_verified = Some(e.gpu().map(|g| vigil::check::is_verified(g.adapter())));
        }
        (*gpu_verified == Some(Some(false))).then_some(RECHECK_SLACK)
    };
    let mut recheck = Recheck::default();
    // Files a stopped run was decoding: alone first (see ResumeState::retry).
    let mut done_now: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::new();
    for p in &state.retry {
        let path = PathBuf::from(OsStr::from_bytes(p));
        // A file reached through a followed link is read from the link's target.
        let target = (a.follow_symlinks && path.is_symlink())
            .then(|| std::fs::canonicalize(&path).ok())
            .flatten();
        let entry = Entry {
            path,
            kind: EntryKind::File,
            walked: true,
            target,
        };
        let mut results = [process(&entry, &ctx)];
        if let Some(slack) = slack_now(&mut gpu_verified) {
            recheck_batch(
                &a,
                &index,
                &ctx,
                &[entry],
                &mut results,
                slack,
                &mut recheck,
            )?;
        }
        write_batch(
            &a,
            &index,
            &policy,
            &results,
            &mut counts,
            [&mut hashes_w, &mut errors_w, &mut matches_w],
        )?;
        done_now.insert(p.clone());
    }
    loop {
        let batch: Vec<Entry> = inputs
            .by_ref()
            .filter(|e| !in_out_dir(&e.path))
            .filter(|e| {
                let p = e.path.as_os_str().as_bytes();
                !state.recorded.contains(p) && !done_now.contains(p)
            })
            .take(a.batch.max(1))
            .collect();
        if batch.is_empty() {
            break;
        }
        let mut results: Vec<FileResult> = workers.install(|| {
            batch
                .par_iter()
                .map(|e| {
                    if state.suspects.contains(e.path.as_os_str().as_bytes()) {
                        process_with(e, &ctx, Decode::Suspected)
                    } else {
                        process(e, &ctx)
                    }
                })
                .collect()
        });
        if let Some(slack) = slack_now(&mut gpu_verified) {
            workers.install(|| {
                recheck_batch(&a, &index, &ctx, &batch, &mut results, slack, &mut recheck)
            })?;
        }
        write_batch(
            &a,
            &index,
            &policy,
            &results,
            &mut counts,
            [&mut hashes_w, &mut errors_w, &mut matches_w],
        )?;
        if let Some(pb) = &progress {
            pb.inc(results.len() as u64);
            let seen = total.load(std::sync::atomic::Ordering::Relaxed);
            pb.set_length(seen.max(pb.position()));
            pb.set_message(format!("{} matches", counts.matches));
        }
    }
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    for w in [&mut hashes_w, &mut errors_w, &mut matches_w] {
        w.flush()?;
        w.get_ref().sync_all()?;
    }

    let pool_counts = ctx
        .pool
        .as_ref()
        .map(DecoderPool::counters)
        .unwrap_or_default();
    drop(ctx);
    let wall = t0.elapsed().as_secs_f64();
    let m = index.manifest();
    let summary = json!({
        "schema": SCHEMA,
        "provenance": {
            "vigil": env!("CARGO_PKG_VERSION"),
            "git": vigil::GIT_COMMIT,
            "command": std::env::args().collect::<Vec<_>>().join(" "),
            "started": utc(started),
            "finished": utc(SystemTime::now()),
        },
        "policy": policy,
        "backend": engine_cell.wait().0.description(),
        "index": a.index.as_ref().map(|p| p.to_string_lossy().into_owned()),
        "lists": m.lists.iter().map(|l| json!({
            "name": l.name,
            "algo": l.algo.name(),
            "radius": l.radius,
            "min_quality": l.min_quality,
            "entries": l.live,
            "sha256": l.sha256,
            "sources": l.sources.iter().map(|s| json!({
                "path": s.path,
                "sha256": s.sha256,
                "entries": s.entries,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "min_quality": a.min_quality,
        "dihedral": a.dihedral,
        "runs": state.run + 1,
        "resumed": {
            "already_recorded": state.recorded.len(),
            "processed_this_run": counts.this_run,
            "retried_alone": state.retry.len(),
            "crash_suspected": state.suspects.len(),
        },
        "gpu": gpu_verified.flatten().map(|v| json!({
            "verified_by_check_gpu": v,
            "recheck_radius_slack": (!v).then_some(RECHECK_SLACK),
            "rechecked_files": recheck.files,
            "recheck_changed": recheck.changed,
        })),
        "decoders": {
            "isolation": match a.isolation {
                Isolation::Process => "process",
                Isolation::None => "none",
            },
            "processes_started": pool_counts.spawned,
            "crashed": pool_counts.crashed,
            "timed_out": pool_counts.timed_out,
        },
        "videos": counts.video.json(),
        "animations": {
            "files": counts.anim.files,
            "frames": counts.anim.frames,
            "truncated": counts.anim.truncated,
            "frame_errors": counts.anim.errors,
        },
        "video_seconds_per_hash": a.video_seconds_per_hash,
        "vpdq_seconds_per_hash": VPDQ_SECONDS_PER_HASH,
        "counts": {
            "files": counts.hashed + counts.failed + counts.skipped + counts.excluded,
            "hashed": counts.hashed,
            "failed": counts.failed,
            "skipped": counts.skipped,
            "excluded": counts.excluded,
            "below_quality": counts.below_quality,
            "matched_files": counts.matched_files,
            "matches": counts.matches,
        },
        "by_format": counts.by_format,
        "by_reason": counts.by_reason,
        "bytes_read": counts.bytes,
        // CPU seconds per stage, summed over threads (matching includes writing records).
        "cpu_s": {
            "read": counts.cpu.read.as_secs_f64(),
            "digest": counts.cpu.digest.as_secs_f64(),
            "decode": counts.cpu.decode.as_secs_f64(),
            "video_decode": counts.cpu.video_decode.as_secs_f64(),
            "pdq": counts.cpu.pdq.as_secs_f64(),
            "phash": counts.cpu.phash.as_secs_f64(),
            "match": counts.match_cpu.as_secs_f64(),
        },
        "wall_s": wall,
        "images_per_s": counts.hashed as f64 / wall.max(1e-9),
    });
    if a.csv {
        for (name, columns) in [
            ("hashes", HASH_COLUMNS),
            ("errors", ERROR_COLUMNS),
            ("matches", MATCH_COLUMNS),
        ] {
            write_csv(&a.out, name, columns)?;
        }
    }
    // Through a temporary file: a resumed scan replaces the summary of the run before.
    let _ = std::fs::remove_file(a.out.join("summary.json.tmp"));
    let mut w = create(&a.out, "summary.json.tmp")?;
    serde_json::to_writer_pretty(&mut w, &summary)?;
    w.write_all(b"\n")?;
    w.flush()?;
    w.get_ref().sync_all()?;
    drop(w);
    std::fs::rename(a.out.join("summary.json.tmp"), a.out.join("summary.json"))?;
    if !a.quiet {
        eprintln!(
            "vigil scan: {} files: {} hashed, {} skipped, {} excluded, {} failed; {} matches in {} files; {:.1} s",
            counts.hashed + counts.failed + counts.skipped + counts.excluded,
            counts.hashed,
            counts.skipped,
            counts.excluded,
            counts.failed,
            counts.matches,
            counts.matched_files,
            wall
        );
    }
    Ok(match (counts.matches > 0, counts.failed > 0) {
        (true, false) => 0,
        (false, false) => 1,
        (false, true) => 2,
        (true, true) => 3,
    })
}

/// Columns of `hashes.csv` (`dih_*` are the dihedral hashes, conventions.md).
const HASH_COLUMNS: &[&str] = &[
    "schema",
    "path",
    "path_bytes",
    "size",
    "sha256",
    "md5",
    "pdq",
    "quality",
    "phash",
    "policy",
    "dih_orig",
    "dih_rot90",
    "dih_rot180",
    "dih_rot270",
    "dih_flipx",
    "dih_flipy",
    "dih_flipplus1",
    "dih_flipminus1",
    "kind",
    "format",
    "frames_hashed",
    "truncated",
    "vpdq",
];
/// Columns of `errors.csv`.
const ERROR_COLUMNS: &[&str] = &[
    "schema",
    "path",
    "path_bytes",
    "status",
    "reason",
    "size",
    "sha256",
    "md5",
    "kind",
    "frames_hashed",
];
/// Columns of `matches.csv`.
const MATCH_COLUMNS: &[&str] = &[
    "schema",
    "path",
    "path_bytes",
    "size",
    "sha256",
    "md5",
    "algo",
    "hash",
    "quality",
    "list",
    "id",
    "label",
    "distance",
    "variant",
    "kind",
    "frame",
    "timestamp",
    "query_pct",
    "target_pct",
];

/// `NAME.csv` from `NAME.jsonl` in `out` (rewritten whole, so a resumed scan's CSV is complete).
fn write_csv(out: &Path, name: &str, columns: &[&str]) -> anyhow::Result<()> {
    let tmp = format!("{name}.csv.tmp");
    let _ = std::fs::remove_file(out.join(&tmp));
    let mut w = csv::Writer::from_writer(create(out, &tmp)?);
    w.write_record(columns)?;
    let text = std::fs::read(out.join(format!("{name}.jsonl")))?;
    for l in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: Value = serde_json::from_slice(l)?;
        let row = columns.iter().map(|c| {
            let x = match c.strip_prefix("dih_") {
                Some(k) => v.get("dihedral").and_then(|d| d.get(k)),
                None => v.get(*c),
            };
            match x {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            }
        });
        w.write_record(row)?;
    }
    let mut f = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    f.flush()?;
    f.get_ref().sync_all()?;
    drop(f);
    std::fs::rename(out.join(&tmp), out.join(format!("{name}.csv")))?;
    Ok(())
}

/// Write one batch's records and its matches, and flush.
fn write_batch(
    a: &ScanArgs,
    index: &Index,
    policy: &str,
    results: &[FileResult],
    counts: &mut Counts,
    [hashes_w, errors_w, matches_w]: [&mut BufWriter<File>; 3],
) -> anyhow::Result<()> {
    // Process CPU time: the index search runs on rayon's threads, and the file workers are
    // idle while a batch is matched.
    let t = process_cpu();
    // Matches first: a file is recorded only once its matches are on disk, so a resume
    // never loses them (match lines of files not yet recorded are dropped on resume).
    let matched = write_matches(a, index, results, counts, matches_w)?;
    matches_w.flush()?;
    counts.matched_files += matched.iter().filter(|&&m| m).count() as u64;
    // Records.
    for r in results {
        counts.this_run += 1;
        counts.cpu.add(&r.cpu);
        counts.bytes += r.size.unwrap_or(0);
        *counts.by_format.entry(r.format).or_default() += 1;
        let mut obj = head(r);
        match &r.outcome {
            Outcome::Hashed(h) => {
                counts.hashed += 1;
                if let Some(p) = &h.pdq {
                    obj.insert("pdq".into(), p.hash.to_string().into());
                    obj.insert("quality".into(), p.quality.into());
                    if p.quality < a.min_quality {
                        counts.below_quality += 1;
                    }
                }
                if let Some(p) = &h.phash {
                    obj.insert("phash".into(), p.to_string().into());
                }
                obj.insert("policy".into(), policy.into());
                if let Some(d) = &h.dihedral {
                    let mut dm = Map::new();
                    for (name, x) in DIHEDRAL_NAMES.iter().zip(d) {
                        dm.insert((*name).into(), x.to_string().into());
                    }
                    obj.insert("dihedral".into(), dm.into());
                }
                if let Some(an) = &r.anim {
                    obj.insert("animation_frames".into(), an.decoded.into());
                    if let Some(t) = &an.truncated {
                        obj.insert("truncated".into(), true.into());
                        obj.insert("truncated_by".into(), t.clone().into());
                    }
                    if let Some(e) = &an.error {
                        obj.insert("animation_error".into(), e.clone().into());
                    }
                }
                counts.anim.tally(&obj);
                line(hashes_w, &Value::Object(obj))?;
            }
            Outcome::Video(v) => {
                video_fields(a, r, v, &mut obj);
                match &v.outcome {
                    VideoOutcome::Hashed(_) => {
                        counts.hashed += 1;
                        // The vPDQ first: a recorded video always has its file.
                        if let Some(d) = &r.digests {
                            let rel = format!("vpdq/{}.txt", hex(&d.sha256));
                            let frames: Vec<VpdqFrame> =
                                v.sampled(VPDQ_SECONDS_PER_HASH).copied().collect();
                            write_private(&a.out, &rel, vvideo::write_vpdq(&frames).as_bytes())?;
                            obj.insert("vpdq".into(), rel.into());
                            obj.insert("vpdq_frames".into(), frames.len().into());
                            obj.insert(
                                "vpdq_seconds_per_hash".into(),
                                VPDQ_SECONDS_PER_HASH.into(),
                            );
                        }
                        counts.video.tally(&obj);
                        line(hashes_w, &Value::Object(obj))?;
                    }
                    VideoOutcome::Failed { reason: why, .. } | VideoOutcome::Skipped(why) => {
                        let status = if matches!(v.outcome, VideoOutcome::Skipped(_)) {
                            "skipped"
                        } else {
                            "failed"
                        };
                        put_status(counts, &mut obj, status, why);
                        counts.video.tally(&obj);
                        line(errors_w, &Value::Object(obj))?;
                    }
                }
            }
            Outcome::Failed(why) | Outcome::Skipped(why) | Outcome::Excluded(why) => {
                let status = match r.outcome {
                    Outcome::Failed(_) => "failed",
                    Outcome::Skipped(_) => "skipped",
                    _ => "excluded",
                };
                put_status(counts, &mut obj, status, why);
                line(errors_w, &Value::Object(obj))?;
            }
        }
    }

    counts.match_cpu += process_cpu().saturating_sub(t);
    for w in [hashes_w, errors_w] {
        w.flush()?;
    }
    Ok(())
}

/// `status` and `reason` of an error record, counted.
fn put_status(counts: &mut Counts, obj: &mut Map<String, Value>, status: &str, why: &str) {
    match status {
        "failed" => counts.failed += 1,
        "skipped" => counts.skipped += 1,
        _ => counts.excluded += 1,
    }
    *counts
        .by_reason
        .entry(format!("{status}: {why}"))
        .or_default() += 1;
    obj.insert("status".into(), status.into());
    obj.insert("reason".into(), why.into());
}

/// A video record's fields (no frame content: counts and stream facts only).
fn video_fields(a: &ScanArgs, r: &FileResult, v: &VideoResult, obj: &mut Map<String, Value>) {
    obj.insert("kind".into(), "video".into());
    obj.insert("format".into(), r.format.into());
    if let Some(rep) = v.report() {
        obj.insert("codec".into(), rep.codec.clone().into());
        obj.insert("width".into(), rep.width.into());
        obj.insert("height".into(), rep.height.into());
        obj.insert("fps".into(), rep.fps.into());
        obj.insert(
            "duration".into(),
            rep.duration_seconds.map_or(Value::Null, Value::from),
        );
        obj.insert("frames_decoded".into(), rep.frames_decoded.into());
        obj.insert("truncated".into(), rep.truncated.is_some().into());
        if let Some(b) = &rep.truncated {
            obj.insert("truncated_by".into(), b.clone().into());
        }
        if let Some(e) = &rep.read_error {
            obj.insert("read_error".into(), e.clone().into());
        }
    }
    obj.insert("frames_hashed".into(), v.frames_hashed.into());
    // Frames compared with the image lists (not frames that matched: see matches.jsonl).
    obj.insert("frames_compared".into(), v.frames_compared.into());
    obj.insert("seconds_per_hash".into(), a.video_seconds_per_hash.into());
}

/// Write `rel` under `out` (0600; directories 0700) through a temporary file, replacing any
/// earlier copy (the same video met twice, or again after a resume).
fn write_private(out: &Path, rel: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let path = out.join(rel);
    let dir = path.parent().expect("a file under out");
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let tmp = path.with_extension("txt.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Every (list, result index, hit) of one batch: PDQ and pHash lists at their radius plus
/// `slack` (quality-gated PDQ, all dihedral variants with `--dihedral`); digest lists only when
/// `slack` is 0.
fn batch_hits(
    a: &ScanArgs,
    index: &Index,
    results: &[FileResult],
    slack: u32,
) -> anyhow::Result<Vec<(usize, usize, Hit)>> {
    let mut out = Vec::new();
    let m = index.manifest();
    for (li, list) in m.lists.iter().enumerate() {
        let perceptual = matches!(list.algo, Algo::Pdq | Algo::Phash);
        // vPDQ lists match whole videos (`video_list_matches`), not files' hashes.
        if (slack > 0 && !perceptual) || list.algo == Algo::Vpdq {
            continue;
        }
        let p = Params::range(if perceptual {
            list.radius + slack
        } else {
            list.radius
        });
        // (result index, query) for this list.
        let mut idx: Vec<usize> = Vec::new();
        let hits = match list.algo {
            Algo::Pdq => {
                let mut plain: Vec<[u64; 4]> = Vec::new();
                let mut dih: Vec<[[u64; 4]; 8]> = Vec::new();
                for (i, r) in results.iter().enumerate() {
                    if let Outcome::Hashed(h) = &r.outcome
                        && let Some(p) = &h.pdq
                    {
                        if p.quality < a.min_quality {
                            continue;
                        }
                        idx.push(i);
                        match (&h.dihedral, a.dihedral) {
                            (Some(d), true) => dih.push(d.map(|x| x.0)),
                            _ => plain.push(p.hash.0),
                        }
                    }
                }
                if a.dihedral {
                    index.search(li, Queries::PdqDihedral(&dih), &p)?
                } else {
                    index.search(li, Queries::Pdq(&plain), &p)?
                }
            }
            Algo::Phash => {
                let mut qs: Vec<[u64; 1]> = Vec::new();
                for (i, r) in results.iter().enumerate() {
                    if let Outcome::Hashed(h) = &r.outcome
                        && let Some(p) = &h.phash
                    {
                        idx.push(i);
                        qs.push([p.0]);
                    }
                }
                index.search(li, Queries::Phash(&qs), &p)?
            }
            algo => {
                let mut qs: Vec<Vec<u8>> = Vec::new();
                for (i, r) in results.iter().enumerate() {
                    if let Some(d) = &r.digests {
                        let code = match algo {
                            Algo::Md5 => d.md5.to_vec(),
                            Algo::Sha1 => d.sha1.to_vec(),
                            _ => d.sha256.to_vec(),
                        };
                        idx.push(i);
                        qs.push(code);
                    }
                }
                index.search(li, Queries::Digest(algo, &qs), &p)?
            }
        };
        for (&i, hits) in idx.iter().zip(hits) {
            out.extend(hits.into_iter().map(|h| (li, i, h)));
        }
    }
    Ok(out)
}

/// How far past a list's radius a GPU hash is re-checked on the CPU oracle (issue 5).
const RECHECK_SLACK: u32 = 4;

/// Counts of the re-check of GPU hashes near a list entry.
#[derive(Default, Clone, Copy)]
struct Recheck {
    /// Files re-hashed on the CPU oracle.
    files: u64,
    /// Of which the oracle's hashes differed from the GPU's.
    changed: u64,
}

/// On a GPU that `vigil check-gpu` has not shown exact: every file whose hashes lie within a
/// list's radius + `slack` of an entry is decoded and hashed again on the scalar oracle, and
/// the oracle's result replaces the GPU's (so a GPU off by a few bits can neither add nor
/// lose a match).
fn recheck_batch(
    a: &ScanArgs,
    index: &Index,
    ctx: &Ctx<'_>,
    entries: &[Entry],
    results: &mut [FileResult],
    slack: u32,
    counts: &mut Recheck,
) -> anyhow::Result<()> {
    let mut near: Vec<usize> = batch_hits(a, index, results, slack)?
        .into_iter()
        .map(|(_, i, _)| i)
        .collect();
    near.sort_unstable();
    near.dedup();
    let again: Vec<(usize, FileResult)> = near
        .par_iter()
        .filter_map(|&i| {
            let e = entries.iter().find(|e| e.path == results[i].path)?;
            Some((i, process_with(e, ctx, Decode::Oracle)))
        })
        .collect();
    for (i, mut r) in again {
        counts.files += 1;
        let same = match (&results[i].outcome, &r.outcome) {
            (Outcome::Hashed(g), Outcome::Hashed(o)) => {
                g.pdq == o.pdq && g.dihedral == o.dihedral && g.phash == o.phash
            }
            _ => false,
        };
        if !same {
            counts.changed += 1;
            eprintln!(
                "vigil scan: warning: the GPU's hashes of {} differ from the CPU oracle's; the oracle's are reported",
                results[i].path.display()
            );
        }
        r.cpu.add(&results[i].cpu);
        r.anim = results[i].anim.take();
        results[i] = r;
    }
    Ok(())
}

/// Match one batch against every list and write `matches.jsonl` lines; which files matched.
fn write_matches(
    a: &ScanArgs,
    index: &Index,
    results: &[FileResult],
    counts: &mut Counts,
    matches_w: &mut BufWriter<File>,
) -> anyhow::Result<Vec<bool>> {
    let mut matched = vec![false; results.len()];
    let m = index.manifest();
    for (li, i, h) in batch_hits(a, index, results, 0)? {
        let list = &m.lists[li];
        {
            let r = &results[i];
            {
                matched[i] = true;
                counts.matches += 1;
                let mut obj = head(r);
                let (hash, quality) = match (&r.outcome, list.algo) {
                    (Outcome::Hashed(fh), Algo::Pdq) => {
                        let p = fh.pdq.as_ref().expect("queried");
                        let shown = match (&fh.dihedral, a.dihedral) {
                            (Some(d), true) => d[h.variant as usize].to_string(),
                            _ => p.hash.to_string(),
                        };
                        (shown, Some(p.quality))
                    }
                    (Outcome::Hashed(fh), Algo::Phash) => {
                        (fh.phash.map(|p| p.to_string()).unwrap_or_default(), None)
                    }
                    _ => {
                        let d = r.digests.as_ref().expect("queried");
                        let code: &[u8] = match list.algo {
                            Algo::Md5 => &d.md5,
                            Algo::Sha1 => &d.sha1,
                            _ => &d.sha256,
                        };
                        (hex(code), None)
                    }
                };
                obj.insert("algo".into(), list.algo.name().into());
                obj.insert("hash".into(), hash.into());
                if let Some(q) = quality {
                    obj.insert("quality".into(), q.into());
                }
                obj.insert("list".into(), list.name.clone().into());
                obj.insert("id".into(), h.id.into());
                obj.insert(
                    "label".into(),
                    index.label(li, &h).map_or(Value::Null, |l| l.into()),
                );
                obj.insert("distance".into(), h.distance.into());
                obj.insert(
                    "variant".into(),
                    if a.dihedral && list.algo == Algo::Pdq {
                        DIHEDRAL_NAMES[h.variant as usize].into()
                    } else {
                        Value::Null
                    },
                );
                // A digest match is of the file's bytes, decodable or not.
                let kind = if matches!(list.algo, Algo::Pdq | Algo::Phash) {
                    "image"
                } else {
                    "file"
                };
                obj.insert("kind".into(), kind.into());
                line(matches_w, &Value::Object(obj))?;
            }
        }
    }
    // Frames (of videos, and of animations after frame 0) against the PDQ lists.
    let frames = frame_queries(a, results);
    if !frames.is_empty() {
        let qs: Vec<[u64; 4]> = frames.iter().map(|q| q.hash.0).collect();
        for (li, list) in m.lists.iter().enumerate() {
            if list.algo != Algo::Pdq {
                continue;
            }
            let p = Params::range(list.radius);
            for (q, hits) in frames.iter().zip(index.search(li, Queries::Pdq(&qs), &p)?) {
                for h in hits {
                    let r = &results[q.result];
                    matched[q.result] = true;
                    counts.matches += 1;
                    let mut obj = head(r);
                    obj.insert("algo".into(), "pdq".into());
                    obj.insert("hash".into(), q.hash.to_string().into());
                    obj.insert("quality".into(), q.quality.into());
                    obj.insert("list".into(), list.name.clone().into());
                    obj.insert("id".into(), h.id.into());
                    obj.insert(
                        "label".into(),
                        index.label(li, &h).map_or(Value::Null, |l| l.into()),
                    );
                    obj.insert("distance".into(), h.distance.into());
                    obj.insert("variant".into(), Value::Null);
                    obj.insert("kind".into(), q.kind.into());
                    obj.insert("frame".into(), q.frame.into());
                    if let Some(t) = q.timestamp {
                        // As the vPDQ lines print it (3 decimals).
                        let t: f64 = vvideo::format_timestamp(t).parse().unwrap_or(0.0);
                        obj.insert("timestamp".into(), t.into());
                    }
                    line(matches_w, &Value::Object(obj))?;
                }
            }
        }
    }
    // Whole videos against vPDQ lists (the hook; see `video_list_matches`).
    for (i, r) in results.iter().enumerate() {
        if let Outcome::Video(v) = &r.outcome
            && let VideoOutcome::Hashed(_) = v.outcome
        {
            let vpdq: Vec<VpdqFrame> = v.sampled(VPDQ_SECONDS_PER_HASH).copied().collect();
            for vm in video_list_matches(index, &vpdq)? {
                matched[i] = true;
                counts.matches += 1;
                let mut obj = head(r);
                obj.insert("algo".into(), "vpdq".into());
                obj.insert("list".into(), m.lists[vm.list].name.clone().into());
                obj.insert("id".into(), vm.id.into());
                obj.insert("label".into(), vm.label.map_or(Value::Null, Value::from));
                obj.insert("query_pct".into(), vm.query_pct.into());
                obj.insert("target_pct".into(), vm.target_pct.into());
                obj.insert("kind".into(), "video".into());
                line(matches_w, &Value::Object(obj))?;
            }
        }
    }
    Ok(matched)
}

/// One frame to match against the PDQ lists.
struct FrameQuery {
    /// Index of the file's result in the batch.
    result: usize,
    /// `video-frame` or `image-frame`.
    kind: &'static str,
    /// Frame number (decoder order for videos, frame index for animations).
    frame: u64,
    /// Seconds, for video frames.
    timestamp: Option<f32>,
    hash: vigil::PdqHash,
    quality: u8,
}

/// The frames of a batch that are matched against image lists: each video's frames at
/// `--video-seconds-per-hash` (every frame by default) and every frame after frame 0 of an
/// animation, quality-gated like images.
fn frame_queries(a: &ScanArgs, results: &[FileResult]) -> Vec<FrameQuery> {
    let mut out = Vec::new();
    for (i, r) in results.iter().enumerate() {
        if let Outcome::Video(v) = &r.outcome {
            for f in v.sampled(a.video_seconds_per_hash) {
                if f.quality >= a.min_quality {
                    out.push(FrameQuery {
                        result: i,
                        kind: "video-frame",
                        frame: f.frame_number,
                        timestamp: Some(f.timestamp),
                        hash: f.hash,
                        quality: f.quality,
                    });
                }
            }
        }
        if let (Outcome::Hashed(_), Some(an)) = (&r.outcome, &r.anim) {
            for &(frame, quality, hash) in &an.hashed {
                if quality >= a.min_quality {
                    out.push(FrameQuery {
                        result: i,
                        kind: "image-frame",
                        frame,
                        timestamp: None,
                        hash: vigil::PdqHash(hash),
                        quality,
                    });
                }
            }
        }
    }
    out
}

/// A video matched against a vPDQ list as a bag of frames.
struct VideoListMatch {
    /// List number in the index manifest.
    list: usize,
    /// The matched video's id in that list.
    id: u64,
    label: Option<String>,
    /// Percentage of the video's (query's) frames matched.
    query_pct: f64,
    /// Percentage of the listed video's (target's) frames matched.
    target_pct: f64,
}

/// Whole videos against the index's vPDQ lists (`kind: "video"` matches): the video's vPDQ
/// at 1 s per hash, the rate lists are shared at, matched by `Index::match_vpdq` with each
/// list's stored thresholds (defaults python-threatexchange's: distance ≤ 31, quality ≥ 50,
/// query ≥ 80%). Only videos meeting the thresholds are reported.
fn video_list_matches(index: &Index, vpdq: &[VpdqFrame]) -> anyhow::Result<Vec<VideoListMatch>> {
    if index.vpdq_lists().is_empty() || vpdq.is_empty() {
        return Ok(Vec::new());
    }
    let found = index.match_vpdq(vpdq, &vigil::index::VpdqMatchParams::default())?;
    Ok(found
        .into_iter()
        .filter(|m| m.is_match)
        .map(|m| VideoListMatch {
            list: m.list,
            id: m.group,
            label: m.label,
            query_pct: m.percent.query,
            target_pct: m.percent.target,
        })
        .collect())
}
