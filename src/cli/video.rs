//! `vigil video hash` and `vigil video match`: vPDQ hashes of videos and bag-of-frames
//! matching (`pdq-spec.md` §2).

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};
use rayon::prelude::*;
use vigil::Engine;
use vigil::index::{Index, VpdqThresholds};
use vigil::video::{self, MatchOptions, Semantics, VideoError, VpdqFrame, VpdqHashes, VpdqOptions};

use super::EXIT_USAGE;
use super::hash::BackendArg;
use super::output::{SCHEMA, path_fields};

/// `vigil video` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum VideoCmd {
    /// vPDQ-hash videos: one line per hashed frame, `frameNumber,quality,pdqHex,timestamp`
    /// (upstream's format), or one JSONL record per video.
    Hash(HashArgs),
    /// Compare vPDQ hashes (files, or videos hashed now) as bags of frames: one line per
    /// (query, target) pair with both match percentages; or, with --index, against the vPDQ
    /// lists of an index: one line per (query, listed video) sharing a matching frame.
    Match(MatchArgs),
}

/// Options shared by hashing and by matching videos.
#[derive(clap::Args, Debug, Clone)]
pub struct VideoOptions {
    /// Seconds between hashed frames; 0 hashes every frame (upstream: every
    /// `(int)(S × fps)`-th frame by frame number).
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    seconds_per_hash: f64,
    /// Scale frames to N×N before hashing (aspect not kept), as upstream's `-s N`.
    #[arg(long, value_name = "N")]
    downsample: Option<u32>,
    /// Stop a video after this many decoded frames; what was hashed is kept, marked
    /// truncated.
    #[arg(long, value_name = "N")]
    max_frames: Option<u64>,
    /// Stop a video after this many seconds of wall time; marked truncated.
    #[arg(long, value_name = "SECONDS")]
    max_seconds: Option<f64>,
    /// What hashes the frames.
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendArg,
    /// Decode with FFmpeg's frame threads instead of upstream's slice threads: not exact on
    /// some damaged streams (see `VpdqOptions::frame_threads`); for timing.
    #[arg(long, hide = true)]
    frame_threads: bool,
    /// Leave unsampled non-reference frames undecoded (`VpdqOptions::skip_unsampled`): the
    /// same lines on intact streams, but damage in a skipped frame goes unseen, so not exact
    /// on some damaged files; for timing.
    #[arg(long, hide = true)]
    skip_unsampled: bool,
    /// Decode up to N stretches of a video at once, each from an IDR picture
    /// (`VpdqOptions::decode_threads`; default: the CPUs per video); for timing and
    /// comparison: the output is the same.
    #[arg(long, hide = true, value_name = "N")]
    decode_threads: Option<usize>,
}

impl VideoOptions {
    fn vpdq(&self) -> anyhow::Result<VpdqOptions> {
        let s = self.seconds_per_hash;
        if !s.is_finite() || s < 0.0 {
            bail!("--seconds-per-hash must be a number ≥ 0");
        }
        let downsample = match self.downsample {
            Some(n) if !(5..=16384).contains(&n) => bail!("--downsample must be 5..=16384"),
            Some(n) => Some((n, n)),
            None => None,
        };
        let max_duration = match self.max_seconds {
            Some(t) if !t.is_finite() || t <= 0.0 => bail!("--max-seconds must be > 0"),
            Some(t) => Some(std::time::Duration::from_secs_f64(t)),
            None => None,
        };
        Ok(VpdqOptions {
            seconds_per_hash: s,
            downsample,
            max_frames: self.max_frames,
            max_duration,
            frame_threads: self.frame_threads,
            skip_unsampled: self.skip_unsampled,
            decode_threads: self
                .decode_threads
                .unwrap_or(VpdqOptions::default().decode_threads)
                .max(1),
            ..VpdqOptions::default()
        })
    }

    fn engine(&self) -> anyhow::Result<Engine> {
        Engine::new(self.backend.backend()).context("--backend")
    }
}

/// Output format of `vigil video hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HashFormat {
    /// Upstream lines `frameNumber,quality,pdqHex,timestamp`.
    Vpdq,
    /// One JSON record per video (`schema`, `path`, `status`, stream facts, `frames`).
    Jsonl,
}

/// `vigil video hash` arguments.
#[derive(clap::Args, Debug)]
pub struct HashArgs {
    #[command(flatten)]
    video: VideoOptions,
    /// Output format.
    #[arg(long, value_enum, default_value = "vpdq")]
    format: HashFormat,
    /// Write each video's hash to DIR/<path>.txt (`.jsonl` for JSONL), mirroring the path as
    /// given or walked. Needed for more than one video; without it one video goes to stdout.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Videos hashed at the same time with --out (default: the number of CPUs). A video
    /// decodes on one core (upstream's threading) unless it can be cut at IDR pictures into
    /// stretches decoded at once, on the CPUs per video left; the output files are the same.
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Video files, or folders walked for files.
    #[arg(value_name = "VIDEO", required = true)]
    videos: Vec<PathBuf>,
}

/// `vigil video match` arguments.
#[derive(clap::Args, Debug)]
pub struct MatchArgs {
    #[command(flatten)]
    video: VideoOptions,
    /// Frame-match rules: `ptx` (python-threatexchange and the vPDQ README: identical
    /// hashes de-duplicated, distance ≤ D) or `cpp` (upstream C++ matcher: no
    /// de-duplication, distance < D). Default ptx; with --index, each list's own.
    #[arg(long, value_enum)]
    semantics: Option<SemanticsArg>,
    /// Frame distance threshold D (default 31; with --index, each list's own).
    #[arg(long, value_name = "D")]
    distance: Option<u32>,
    /// Frames with quality below Q are dropped on both sides (default 50; with --index, each
    /// list's own).
    #[arg(long, value_name = "Q")]
    quality: Option<u8>,
    /// A pair matches when at least P% of the query's frames match (python-threatexchange's
    /// side for the 80% rule; default 80, with --index each list's own) …
    #[arg(long, value_name = "P")]
    query_pct: Option<f64>,
    /// … and at least P% of the target's frames match (default 0; with --index, each
    /// list's own).
    #[arg(long, value_name = "P")]
    target_pct: Option<f64>,
    /// Match against the vPDQ lists of this index (`vigil index build --vpdq`) instead of
    /// TARGETs.
    #[arg(long, value_name = "FILE", conflicts_with = "targets")]
    index: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    format: MatchFormat,
    /// A vPDQ file, a video, or a folder of them.
    #[arg(value_name = "QUERY")]
    query: PathBuf,
    /// vPDQ files, videos, or folders of them.
    #[arg(value_name = "TARGET", required_unless_present = "index")]
    targets: Vec<PathBuf>,
}

/// `--semantics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SemanticsArg {
    /// python-threatexchange / README rules.
    Ptx,
    /// Upstream C++ `matchTwoHashBrute` rules.
    Cpp,
}

/// `vigil video match --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MatchFormat {
    /// `query,target,query_pct,target_pct,query_frames,target_frames,match` with a header.
    Csv,
    /// One JSON object per pair.
    Jsonl,
}

/// Run a `vigil video` subcommand; returns the exit code.
pub fn run(cmd: VideoCmd) -> anyhow::Result<i32> {
    match cmd {
        VideoCmd::Hash(a) => run_hash(a),
        VideoCmd::Match(a) => run_match(a),
    }
}

/// Files under `inputs`: files as given, folders walked (sorted, links not followed).
fn expand(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in inputs {
        let meta = fs::symlink_metadata(p).with_context(|| format!("{}", p.display()));
        match meta {
            Ok(m) if m.is_dir() => {
                for e in walkdir::WalkDir::new(p).sort_by_file_name() {
                    let e = e.with_context(|| format!("walking {}", p.display()))?;
                    if !e.file_type().is_dir() {
                        out.push(e.into_path());
                    }
                }
            }
            // Files, and paths that do not exist (they fail with a record of their own).
            _ => out.push(p.clone()),
        }
    }
    Ok(out)
}

/// DIR/<path>.EXT for `path` as given: root and `.` dropped, `..` written as `_..`.
fn mirror(dir: &Path, path: &Path, ext: &str) -> PathBuf {
    let mut rel = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(s) => rel.push(s),
            Component::ParentDir => rel.push("_.."),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    let mut name = rel.into_os_string();
    name.push(".");
    name.push(ext);
    dir.join(name)
}

fn create_dirs(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Write `bytes` to `path` (0600) through a temporary file renamed into place.
fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        create_dirs(parent)?;
    }
    // Unique per write: two paths given for the same file (`a.mp4`, `./a.mp4`) mirror to one
    // destination, possibly written by two workers at once.
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = PathBuf::from(tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)
}

fn jsonl_record(path: &Path, result: &Result<VpdqHashes, VideoError>) -> String {
    let (p, pb) = path_fields(path);
    let mut obj = serde_json::Map::new();
    obj.insert("schema".into(), SCHEMA.into());
    obj.insert("path".into(), p.into());
    if let Some(b) = pb {
        obj.insert("path_bytes".into(), b.into());
    }
    match result {
        Ok(h) => {
            obj.insert("status".into(), "hashed".into());
            obj.insert("algo".into(), "vpdq".into());
            obj.insert("width".into(), h.info.width.into());
            obj.insert("height".into(), h.info.height.into());
            obj.insert("source_width".into(), h.info.source_width.into());
            obj.insert("source_height".into(), h.info.source_height.into());
            obj.insert("fps".into(), h.info.fps.into());
            obj.insert("frame_mod".into(), h.info.frame_mod.into());
            obj.insert("codec".into(), h.info.codec.clone().into());
            obj.insert("frames_decoded".into(), h.frames_decoded.into());
            obj.insert("frames_skipped".into(), h.frames_skipped.into());
            obj.insert("stretches".into(), h.stretches.into());
            obj.insert("truncated".into(), h.truncated.is_some().into());
            if let Some(b) = h.truncated {
                obj.insert("truncated_by".into(), b.name().into());
            }
            if let Some(e) = &h.read_error {
                obj.insert("read_error".into(), e.clone().into());
            }
            let frames: Vec<serde_json::Value> = h
                .frames
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "frame": f.frame_number,
                        "quality": f.quality,
                        "pdq": f.hash.to_string(),
                        "timestamp": video::format_timestamp(f.timestamp).parse::<f64>().unwrap_or(0.0),
                    })
                })
                .collect();
            obj.insert("frames".into(), frames.into());
        }
        Err(e) => {
            obj.insert("status".into(), "failed".into());
            obj.insert("reason".into(), e.to_string().into());
        }
    }
    serde_json::Value::Object(obj).to_string()
}

fn run_hash(a: HashArgs) -> anyhow::Result<i32> {
    let mut opts = a.video.vpdq()?;
    let files = expand(&a.videos)?;
    if files.len() > 1 && a.out.is_none() {
        eprintln!("vigil: video hash: {} videos need --out DIR", files.len());
        return Ok(EXIT_USAGE);
    }
    if let Some(dir) = &a.out {
        create_dirs(dir).with_context(|| format!("--out {}", dir.display()))?;
    }
    let engine = a.video.engine()?;
    let jobs = match (&a.out, a.jobs) {
        (None, _) => 1,
        (Some(_), Some(0)) => bail!("--jobs must be at least 1"),
        (Some(_), Some(n)) => n,
        (Some(_), None) => std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
    .min(files.len().max(1));
    if a.video.decode_threads.is_none() {
        // The CPUs left to each video decode stretches of it at once.
        opts.decode_threads = (opts.decode_threads / jobs).max(1);
    }
    // A pool of `jobs` threads, each taking the next video as it finishes one (videos differ
    // in length); the first output that cannot be written stops the others.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("video-{i}"))
        .build()
        .context("video worker threads")?;
    let hashed: Vec<bool> = pool.install(|| {
        files
            .par_iter()
            .with_max_len(1)
            .map(|path| hash_one(&a, path, &opts, &engine))
            .collect::<anyhow::Result<_>>()
    })?;
    Ok(if hashed.contains(&false) { 2 } else { 0 })
}

/// Hash one video and write its output (`--out` file or stdout); `Ok(false)` when the video
/// failed (reported on stderr), `Err` when the output could not be written.
fn hash_one(
    a: &HashArgs,
    path: &Path,
    opts: &VpdqOptions,
    engine: &Engine,
) -> anyhow::Result<bool> {
    let result = video::hash_file(path, opts, engine);
    match &result {
        Ok(h) => {
            if let Some(b) = h.truncated {
                eprintln!(
                    "vigil: video hash: {}: truncated by the {} budget after {} frames",
                    path.display(),
                    b.name(),
                    h.frames_decoded
                );
            }
        }
        Err(e) => eprintln!("vigil: video hash: {}: {e}", path.display()),
    }
    let text = match (a.format, &result) {
        (HashFormat::Vpdq, Ok(h)) => video::write_vpdq(&h.frames),
        (HashFormat::Vpdq, Err(_)) => return Ok(false),
        (HashFormat::Jsonl, r) => jsonl_record(path, r) + "\n",
    };
    match &a.out {
        Some(dir) => {
            let ext = match a.format {
                HashFormat::Vpdq => "txt",
                HashFormat::Jsonl => "jsonl",
            };
            let dest = mirror(dir, path, ext);
            write_file(&dest, text.as_bytes())
                .with_context(|| format!("writing {}", dest.display()))?;
        }
        None => {
            let mut out = io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(result.is_ok())
}

/// A vPDQ hash read from a file, or made from a video.
fn load(
    path: &Path,
    opts: &VpdqOptions,
    engine: &mut Option<Engine>,
    video_opts: &VideoOptions,
) -> anyhow::Result<Result<Vec<VpdqFrame>, String>> {
    if let Some(frames) = read_hash_file(path) {
        return Ok(frames);
    }
    if engine.is_none() {
        *engine = Some(video_opts.engine()?);
    }
    let engine = engine.as_ref().expect("engine just made");
    Ok(match video::hash_file(path, opts, engine) {
        Ok(h) => {
            if let Some(b) = h.truncated {
                eprintln!(
                    "vigil: video match: {}: truncated by the {} budget",
                    path.display(),
                    b.name()
                );
            }
            Ok(h.frames)
        }
        Err(e) => Err(e.to_string()),
    })
}

/// `Some` when `path` is a vPDQ text file (parsed, or the reason it is not valid); `None`
/// when it is not text of that kind (then it is taken as a video).
fn read_hash_file(path: &Path) -> Option<Result<Vec<VpdqFrame>, String>> {
    let meta = fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > (256 << 20) {
        return None;
    }
    let bytes = fs::read(path).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let first = text.trim_start_matches('\u{feff}').trim_start();
    let looks = first.starts_with('[')
        || first.lines().next().is_some_and(|l| {
            l.split(',').count() >= 3 && l.starts_with(|c: char| c.is_ascii_digit())
        });
    if !looks && !text.trim().is_empty() {
        return None;
    }
    Some(video::parse_vpdq(text).map_err(|e| format!("not a vPDQ file: {e}")))
}

impl SemanticsArg {
    /// The library's value.
    pub fn semantics(self) -> Semantics {
        match self {
            SemanticsArg::Ptx => Semantics::Ptx,
            SemanticsArg::Cpp => Semantics::Cpp,
        }
    }
}

/// `base` with the thresholds given on the command line.
fn thresholds(a: &MatchArgs, base: VpdqThresholds) -> anyhow::Result<VpdqThresholds> {
    let t = VpdqThresholds {
        semantics: a.semantics.map_or(base.semantics, SemanticsArg::semantics),
        distance: a.distance.unwrap_or(base.distance),
        quality: a.quality.unwrap_or(base.quality),
        query_pct: a.query_pct.unwrap_or(base.query_pct),
        target_pct: a.target_pct.unwrap_or(base.target_pct),
    };
    if !(0.0..=100.0).contains(&t.query_pct) || !(0.0..=100.0).contains(&t.target_pct) {
        bail!("--query-pct and --target-pct must be 0..=100");
    }
    if t.quality > 100 {
        bail!("--quality must be 0..=100");
    }
    Ok(t)
}

fn exit_code(matches: u64, failures: u64) -> i32 {
    match (matches > 0, failures > 0) {
        (true, false) => 0,
        (false, false) => 1,
        (false, true) => 2,
        (true, true) => 3,
    }
}

/// `vigil video match QUERY --index FILE`: each query against every vPDQ list of the index
/// (`Index::match_vpdq_list`, equal to `match_percent` against every listed video), one line
/// per (query, listed video) sharing at least one matching frame.
fn run_match_index(a: &MatchArgs, index: &Path) -> anyhow::Result<i32> {
    let opts = a.video.vpdq()?;
    let idx = Index::open(index)?;
    let lists = idx.vpdq_lists();
    if lists.is_empty() {
        bail!("{}: the index has no vPDQ lists", index.display());
    }
    let per_list = lists
        .iter()
        .map(|&li| {
            let base = idx.vpdq_thresholds(li).unwrap_or_default();
            thresholds(a, base).map(|t| (li, t))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let queries = expand(std::slice::from_ref(&a.query))?;
    let mut engine: Option<Engine> = None;
    let mut failures = 0u64;
    let mut matches = 0u64;
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut csv = csv::Writer::from_writer(io::BufWriter::new(io::stdout()));
    if a.format == MatchFormat::Csv {
        csv.write_record([
            "query",
            "list",
            "id",
            "label",
            "query_pct",
            "target_pct",
            "query_frames",
            "target_frames",
            "match",
        ])?;
    }
    for qp in &queries {
        let frames = match load(qp, &opts, &mut engine, &a.video)? {
            Ok(f) => f,
            Err(e) => {
                failures += 1;
                eprintln!("vigil: video match: {}: {e}", qp.display());
                continue;
            }
        };
        for (li, th) in &per_list {
            let list = &idx.manifest().lists[*li].name;
            for m in idx.match_vpdq_list(*li, &frames, th, true)? {
                matches += u64::from(m.is_match);
                let label = m.label.clone().unwrap_or_default();
                match a.format {
                    MatchFormat::Csv => csv.write_record([
                        path_fields(qp).0,
                        list.clone(),
                        m.group.to_string(),
                        label,
                        format!("{:.4}", m.percent.query),
                        format!("{:.4}", m.percent.target),
                        m.percent.query_frames.to_string(),
                        m.percent.target_frames.to_string(),
                        if m.is_match { "yes" } else { "no" }.to_owned(),
                    ])?,
                    MatchFormat::Jsonl => {
                        let v = serde_json::json!({
                            "schema": SCHEMA,
                            "query": path_fields(qp).0,
                            "list": list,
                            "id": m.group,
                            "label": m.label,
                            "semantics": th.semantics.name(),
                            "query_pct": m.percent.query,
                            "target_pct": m.percent.target,
                            "query_frames": m.percent.query_frames,
                            "target_frames": m.percent.target_frames,
                            "match": m.is_match,
                        });
                        writeln!(out, "{v}")?;
                    }
                }
            }
        }
        csv.flush()?;
        out.flush()?;
    }
    csv.flush()?;
    out.flush()?;
    Ok(exit_code(matches, failures))
}

fn run_match(a: MatchArgs) -> anyhow::Result<i32> {
    if let Some(index) = &a.index {
        return run_match_index(&a, index);
    }
    let opts = a.video.vpdq()?;
    let th = thresholds(&a, VpdqThresholds::default())?;
    let (query_pct, target_pct) = (th.query_pct, th.target_pct);
    let mo: MatchOptions = th.match_options();
    let queries = expand(std::slice::from_ref(&a.query))?;
    let targets = expand(&a.targets)?;
    let mut engine: Option<Engine> = None;
    let mut failures = 0u64;
    let mut load_all = |paths: &[PathBuf]| -> anyhow::Result<Vec<(PathBuf, Vec<VpdqFrame>)>> {
        let mut out = Vec::new();
        for p in paths {
            match load(p, &opts, &mut engine, &a.video)? {
                Ok(f) => out.push((p.clone(), f)),
                Err(e) => {
                    failures += 1;
                    eprintln!("vigil: video match: {}: {e}", p.display());
                }
            }
        }
        Ok(out)
    };
    let q = load_all(&queries)?;
    let t = load_all(&targets)?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut csv = csv::Writer::from_writer(io::BufWriter::new(io::stdout()));
    if a.format == MatchFormat::Csv {
        csv.write_record([
            "query",
            "target",
            "query_pct",
            "target_pct",
            "query_frames",
            "target_frames",
            "match",
        ])?;
    }
    let mut matches = 0u64;
    for (qp, qf) in &q {
        for (tp, tf) in &t {
            let m = video::match_percent(qf, tf, &mo);
            let is_match = m.query_frames > 0
                && m.target_frames > 0
                && m.query >= query_pct
                && m.target >= target_pct;
            matches += u64::from(is_match);
            match a.format {
                MatchFormat::Csv => {
                    csv.write_record([
                        path_fields(qp).0,
                        path_fields(tp).0,
                        format!("{:.4}", m.query),
                        format!("{:.4}", m.target),
                        m.query_frames.to_string(),
                        m.target_frames.to_string(),
                        if is_match { "yes" } else { "no" }.to_owned(),
                    ])?;
                }
                MatchFormat::Jsonl => {
                    let v = serde_json::json!({
                        "schema": SCHEMA,
                        "query": path_fields(qp).0,
                        "target": path_fields(tp).0,
                        "semantics": mo.semantics.name(),
                        "query_pct": m.query,
                        "target_pct": m.target,
                        "query_frames": m.query_frames,
                        "target_frames": m.target_frames,
                        "match": is_match,
                    });
                    writeln!(out, "{v}")?;
                }
            }
        }
    }
    csv.flush()?;
    out.flush()?;
    Ok(exit_code(matches, failures))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_keeps_relative_paths_inside_the_folder() {
        let d = Path::new("/o");
        assert_eq!(
            mirror(d, Path::new("a/b.mp4"), "txt"),
            Path::new("/o/a/b.mp4.txt")
        );
        assert_eq!(
            mirror(d, Path::new("/abs/c.mp4"), "txt"),
            Path::new("/o/abs/c.mp4.txt")
        );
        assert_eq!(
            mirror(d, Path::new("../x.mp4"), "txt"),
            Path::new("/o/_../x.mp4.txt")
        );
        assert_eq!(
            mirror(d, Path::new("./y.mp4"), "jsonl"),
            Path::new("/o/y.mp4.jsonl")
        );
    }
}
