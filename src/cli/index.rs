//! `vigil index build|add|remove|replace|info|verify`: hash lists in one checksummed file.
//!
//! Lists are imported with format detection (`vigil::index::import`). Problems are reported on
//! stderr by line number only (never list contents); `--strict` makes the first one fatal.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use vigil::index::import::{self, ParseOptions, Parsed};
use vigil::index::store::utc;
use vigil::index::vpdq_import;
use vigil::index::{
    Algo, Index, NewEntry, NewList, NewVideo, NewVpdqList, Provenance, Source, VpdqThresholds,
};

use super::video::SemanticsArg;

/// `vigil index` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum IndexCmd {
    /// Build an index file from lists (written beside --out and renamed over it).
    Build(BuildArgs),
    /// Append a file's entries to a list (a new segment; nothing is rebuilt).
    Add(AddArgs),
    /// Remove entries (tombstones): by id, or every entry whose hash is in FILE.
    Remove(RemoveArgs),
    /// Replace a list's entries and version atomically.
    Replace(AddArgs),
    /// Show provenance and, per list, name, algorithm, radius, version, entries and sha256.
    Info(InfoArgs),
    /// Check every checksum and the structure of every table.
    Verify(InfoArgs),
}

/// How list files are read.
#[derive(clap::Args, Debug, Clone)]
pub struct ImportArgs {
    /// Algorithm of plain hex lists (default: by length; 64 hex digits mean pdq, so SHA-256
    /// lists need `--algo sha256`).
    #[arg(long, value_parser = parse_algo)]
    pub algo: Option<Algo>,
    /// Radius per algorithm (`pdq=31`, `phash=8`; a bare number means pdq). A list's own
    /// `:RADIUS` wins.
    #[arg(long, value_name = "[ALGO=]R")]
    pub radius: Vec<String>,
    /// Allow a pHash radius above 16 (unrelated pHashes sit about 32 bits apart).
    #[arg(long)]
    pub allow_wide_radius: bool,
    /// Fail at the first malformed or refused line (default: skip, report and count).
    #[arg(long)]
    pub strict: bool,
    /// Keep PDQ hashes of quality below 50.
    #[arg(long)]
    pub keep_low_quality: bool,
    /// Version recorded for the list (default: the UTC time of the import).
    #[arg(long, value_name = "TEXT")]
    pub list_version: Option<String>,
}

/// `vigil index build`.
#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    /// Index file to write.
    #[arg(long)]
    out: PathBuf,
    /// A list: `[NAME=]FILE[:RADIUS]` (NAME defaults to the file stem).
    #[arg(
        long,
        value_name = "[NAME=]FILE[:RADIUS]",
        required_unless_present = "vpdq"
    )]
    list: Vec<String>,
    /// A vPDQ list: `[NAME=]PATH`, PATH a vPDQ file or a folder of them (upstream
    /// `frameNumber,quality,pdqHex,timestamp` files, one video each; python-threatexchange
    /// signal JSON lists; `vpdq [ … ]` file-exchange lines, one video each). Repeat with the
    /// same NAME to gather several paths in one list. NAME defaults to the file stem.
    #[arg(long, value_name = "[NAME=]PATH")]
    vpdq: Vec<String>,
    #[command(flatten)]
    import: ImportArgs,
    #[command(flatten)]
    thresholds: VpdqListArgs,
}

/// Matching thresholds stored with vPDQ lists (`build`, `replace`); defaults
/// python-threatexchange's.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct VpdqListArgs {
    /// vPDQ lists: frame-match rules, `ptx` (default) or `cpp`.
    #[arg(long, value_enum)]
    vpdq_semantics: Option<SemanticsArg>,
    /// vPDQ lists: frame distance threshold D (default 31).
    #[arg(long, value_name = "D")]
    vpdq_distance: Option<u32>,
    /// vPDQ lists: frames below quality Q are not matched (default 50).
    #[arg(long, value_name = "Q")]
    vpdq_quality: Option<u8>,
    /// vPDQ lists: percentage of the query's frames that must match (default 80).
    #[arg(long, value_name = "P")]
    vpdq_query_pct: Option<f64>,
    /// vPDQ lists: percentage of the listed video's frames that must match (default 0).
    #[arg(long, value_name = "P")]
    vpdq_target_pct: Option<f64>,
}

impl VpdqListArgs {
    fn any(&self) -> bool {
        self.vpdq_semantics.is_some()
            || self.vpdq_distance.is_some()
            || self.vpdq_quality.is_some()
            || self.vpdq_query_pct.is_some()
            || self.vpdq_target_pct.is_some()
    }

    fn apply(&self, base: VpdqThresholds) -> anyhow::Result<VpdqThresholds> {
        let t = VpdqThresholds {
            semantics: self
                .vpdq_semantics
                .map_or(base.semantics, SemanticsArg::semantics),
            distance: self.vpdq_distance.unwrap_or(base.distance),
            quality: self.vpdq_quality.unwrap_or(base.quality),
            query_pct: self.vpdq_query_pct.unwrap_or(base.query_pct),
            target_pct: self.vpdq_target_pct.unwrap_or(base.target_pct),
        };
        t.check().map_err(anyhow::Error::msg)?;
        Ok(t)
    }
}

/// `vigil index add` / `replace`.
#[derive(clap::Args, Debug)]
pub struct AddArgs {
    /// Index file (rewritten atomically).
    index: PathBuf,
    /// List name.
    #[arg(long)]
    list: String,
    /// File of hashes (for a vPDQ list: a vPDQ file or a folder of them).
    file: PathBuf,
    #[command(flatten)]
    import: ImportArgs,
    #[command(flatten)]
    thresholds: VpdqListArgs,
}

/// `vigil index remove`.
#[derive(clap::Args, Debug)]
pub struct RemoveArgs {
    /// Index file (rewritten atomically).
    index: PathBuf,
    /// List name.
    #[arg(long)]
    list: String,
    /// Entry ids to remove (for a vPDQ list: video ids; all its frames go).
    #[arg(long)]
    id: Vec<u64>,
    /// File of hashes: every entry with one of these exact hashes is removed.
    file: Option<PathBuf>,
}

/// `vigil index info` / `verify`.
#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    /// Index file.
    index: PathBuf,
    /// JSON instead of text.
    #[arg(long)]
    json: bool,
}

fn parse_algo(s: &str) -> Result<Algo, String> {
    Algo::parse(s).ok_or_else(|| format!("unknown algorithm {s:?} (pdq, phash, md5, sha1, sha256)"))
}

/// Radii from `--radius` (`pdq=31`, `phash=8`, bare number = pdq).
pub fn parse_radii(specs: &[String]) -> anyhow::Result<Vec<(Algo, u32)>> {
    specs
        .iter()
        .map(|s| {
            let (a, r) = match s.split_once('=') {
                Some((a, r)) => (parse_algo(a).map_err(anyhow::Error::msg)?, r),
                None => (Algo::Pdq, s.as_str()),
            };
            let r: u32 = r
                .trim()
                .parse()
                .with_context(|| format!("--radius {s}: not a number"))?;
            Ok((a, r))
        })
        .collect()
}

/// Check a radius for its algorithm (pHash > 16 needs `allow_wide`).
pub fn check_radius(algo: Algo, r: u32, allow_wide: bool) -> anyhow::Result<u32> {
    if r > algo.bits() {
        bail!(
            "radius {r} is more than the {} bits of {}",
            algo.bits(),
            algo.name()
        );
    }
    if algo == Algo::Phash && r > 16 && !allow_wide {
        bail!("pHash radius {r} would match unrelated images; --allow-wide-radius to force it");
    }
    if !algo.is_perceptual() && r != 0 {
        bail!("{} lists match exactly; radius must be 0", algo.name());
    }
    Ok(r)
}

/// `[NAME=]FILE[:RADIUS]`.
pub struct ListSpec {
    /// List name.
    pub name: String,
    /// File.
    pub file: PathBuf,
    /// The list's own radius.
    pub radius: Option<u32>,
}

/// Parse a list spec.
pub fn parse_spec(s: &str) -> anyhow::Result<ListSpec> {
    let (name, rest) = match s.split_once('=') {
        Some((n, r)) if !n.is_empty() && !n.contains('/') => (Some(n.to_owned()), r),
        _ => (None, s),
    };
    let (file, radius) = match rest.rsplit_once(':') {
        Some((f, r)) if !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()) => {
            (f, Some(r.parse::<u32>().context("radius")?))
        }
        _ => (rest, None),
    };
    let file = PathBuf::from(file);
    let name = name.unwrap_or_else(|| {
        file.file_stem()
            .map_or_else(|| "list".into(), |s| s.to_string_lossy().into_owned())
    });
    Ok(ListSpec { name, file, radius })
}

/// Report a parse/check outcome on stderr: every problem by line number.
fn report(path: &Path, parsed: &Parsed, problems: &[import::Problem], accepted: usize) {
    for p in problems {
        eprintln!("vigil: {}: line {}: {}", path.display(), p.line, p.kind);
    }
    eprintln!(
        "vigil: {}: format {}, {} accepted, {} refused, {} error rows skipped",
        path.display(),
        parsed.format.map_or("?", |f| f.name()),
        accepted,
        problems.len(),
        parsed.error_rows
    );
}

/// Accepted entries, per algorithm.
pub type PerAlgo = Vec<(Algo, Vec<NewEntry>)>;

/// Read a list file into entries per algorithm, reporting problems.
pub fn load(
    path: &Path,
    args: &ImportArgs,
    existing: &dyn Fn(Algo, &[u8]) -> bool,
) -> anyhow::Result<(Parsed, PerAlgo)> {
    let parsed = import::parse_file(path, &ParseOptions { algo: args.algo })?;
    let checked = import::check_entries(
        &path.display().to_string(),
        &parsed,
        args.strict,
        args.keep_low_quality,
        existing,
    )?;
    let accepted = checked.entries.values().map(Vec::len).sum();
    report(path, &parsed, &checked.problems, accepted);
    Ok((parsed, checked.entries.into_iter().collect()))
}

fn radius_for(
    algo: Algo,
    own: Option<u32>,
    args: &ImportArgs,
    radii: &[(Algo, u32)],
) -> anyhow::Result<u32> {
    let r = own
        .or_else(|| {
            radii
                .iter()
                .rev()
                .find(|(a, _)| *a == algo)
                .map(|(_, r)| *r)
        })
        .unwrap_or_else(|| algo.default_radius());
    check_radius(algo, r, args.allow_wide_radius)
}

/// Lists from specs (shared with `vigil match --list`).
pub fn lists_from_specs(specs: &[String], args: &ImportArgs) -> anyhow::Result<Vec<NewList>> {
    let radii = parse_radii(&args.radius)?;
    let now = utc(SystemTime::now());
    let mut out = Vec::new();
    for s in specs {
        let spec = parse_spec(s)?;
        let (parsed, per_algo) = load(&spec.file, args, &|_, _| false)?;
        let several = per_algo.len() > 1;
        for (algo, entries) in per_algo {
            let name = if several {
                format!("{}.{}", spec.name, algo.name())
            } else {
                spec.name.clone()
            };
            out.push(NewList {
                name,
                algo,
                radius: radius_for(algo, spec.radius, args, &radii)?,
                version: args.list_version.clone().unwrap_or_else(|| now.clone()),
                sources: vec![Source {
                    path: spec.file.display().to_string(),
                    sha256: parsed.sha256.clone(),
                    entries: entries.len() as u64,
                    added: now.clone(),
                    action: "build".into(),
                }],
                entries,
            });
        }
    }
    Ok(out)
}

/// Videos from a vPDQ file or folder, reporting problems by line number (never content);
/// `strict` makes the first one fatal. Returns the videos and the import's source record
/// (for a folder, sha256 is of its `sha256  relative-path` lines, as sha256sum prints them).
pub fn load_videos(path: &Path, strict: bool) -> anyhow::Result<(Vec<NewVideo>, Source)> {
    let mut videos = Vec::new();
    let files = vpdq_import::files(path)?;
    let mut listing = Sha256::new();
    let mut file_sha = String::new();
    for (file, name) in &files {
        let parsed = vpdq_import::parse_file(file, name)?;
        if strict {
            vpdq_import::strict(file, &parsed)?;
        }
        for p in &parsed.problems {
            eprintln!("vigil: {}: {p}", file.display());
        }
        let frames: usize = parsed.videos.iter().map(|v| v.frames.len()).sum();
        let low: u64 = parsed.videos.iter().map(|v| v.low_quality).sum();
        eprintln!(
            "vigil: {}: format {}, {} videos accepted ({frames} frames, {low} below quality \
             50: kept, not matched at Q = 50), {} refused",
            file.display(),
            parsed.format.name(),
            parsed.videos.len(),
            parsed.refused
        );
        listing.update(format!("{}  {name}\n", parsed.sha256).as_bytes());
        file_sha = parsed.sha256.clone();
        videos.extend(parsed.videos.into_iter().map(|v| v.into_new()));
    }
    let is_file = files.len() == 1 && files[0].0 == path;
    let source = Source {
        path: path.display().to_string(),
        sha256: if is_file {
            file_sha
        } else {
            vigil::index::store::hex(&listing.finalize())
        },
        entries: videos.len() as u64,
        added: utc(SystemTime::now()),
        action: "build".into(),
    };
    Ok((videos, source))
}

/// vPDQ lists from `[NAME=]PATH` specs (the same NAME gathers paths into one list).
fn vpdq_lists_from_specs(
    specs: &[String],
    import: &ImportArgs,
    th: &VpdqListArgs,
) -> anyhow::Result<Vec<NewVpdqList>> {
    let thresholds = th.apply(VpdqThresholds::default())?;
    let version = import
        .list_version
        .clone()
        .unwrap_or_else(|| utc(SystemTime::now()));
    let mut out: Vec<NewVpdqList> = Vec::new();
    for s in specs {
        let (name, path) = match s.split_once('=') {
            Some((n, p)) if !n.is_empty() && !n.contains('/') => (n.to_owned(), PathBuf::from(p)),
            _ => {
                let p = PathBuf::from(s);
                let n = p
                    .file_stem()
                    .map_or_else(|| "vpdq".into(), |n| n.to_string_lossy().into_owned());
                (n, p)
            }
        };
        let (videos, source) = load_videos(&path, import.strict)?;
        match out.iter_mut().find(|l| l.name == name) {
            Some(l) => {
                l.videos.extend(videos);
                l.sources.push(source);
            }
            None => out.push(NewVpdqList {
                name,
                version: version.clone(),
                thresholds,
                videos,
                sources: vec![source],
            }),
        }
    }
    Ok(out)
}

/// Run a `vigil index` subcommand.
pub fn run(cmd: IndexCmd) -> anyhow::Result<i32> {
    match cmd {
        IndexCmd::Build(a) => {
            let lists = lists_from_specs(&a.list, &a.import)?;
            if a.thresholds.any() && a.vpdq.is_empty() {
                bail!("--vpdq-* thresholds need a --vpdq list");
            }
            let videos = vpdq_lists_from_specs(&a.vpdq, &a.import, &a.thresholds)?;
            vigil::index::build_with_videos(&a.out, lists, videos, Provenance::now())?;
            eprintln!("vigil: wrote {}", a.out.display());
            Ok(0)
        }
        IndexCmd::Add(a) => add_or_replace(a, false),
        IndexCmd::Replace(a) => add_or_replace(a, true),
        IndexCmd::Remove(a) => {
            let idx = Index::open(&a.index)?;
            let li = idx.list(&a.list)?;
            let algo = idx.manifest().lists[li].algo;
            let mut ids = a.id.clone();
            let mut src = Source {
                path: "--id".into(),
                sha256: String::new(),
                entries: 0,
                added: utc(SystemTime::now()),
                action: "remove".into(),
            };
            if let Some(file) = &a.file {
                if algo == Algo::Vpdq {
                    bail!(
                        "list {} is a vPDQ list: remove its videos by --id (see vigil index info)",
                        a.list
                    );
                }
                let parsed = import::parse_file(file, &ParseOptions { algo: Some(algo) })?;
                for p in &parsed.problems {
                    eprintln!("vigil: {}: line {}: {}", file.display(), p.line, p.kind);
                }
                if !parsed.problems.is_empty() {
                    bail!(
                        "{}: {} malformed lines; nothing removed",
                        file.display(),
                        parsed.problems.len()
                    );
                }
                for r in parsed.records.iter().filter(|r| r.algo == algo) {
                    ids.extend(idx.find_exact(li, &r.code)?);
                }
                src.path = file.display().to_string();
                src.sha256 = parsed.sha256;
            }
            ids.sort_unstable();
            ids.dedup();
            let n = idx.remove(&a.index, &a.list, &ids, src, Provenance::now())?;
            eprintln!(
                "vigil: {}: removed {n} entries from {} ({} ids unknown or already removed)",
                a.index.display(),
                a.list,
                ids.len() as u64 - n
            );
            Ok(0)
        }
        IndexCmd::Info(a) => {
            let idx = Index::open(&a.index)?;
            info(&idx, a.json)?;
            Ok(0)
        }
        IndexCmd::Verify(a) => {
            let idx = Index::open(&a.index)?;
            idx.verify_deep()?;
            out!(
                "{}: ok ({} lists, every checksum and table verified)",
                a.index.display(),
                idx.manifest().lists.len()
            );
            Ok(0)
        }
    }
}

/// `index add` / `replace` of a vPDQ list.
fn add_or_replace_videos(
    a: &AddArgs,
    idx: &Index,
    li: usize,
    replace: bool,
) -> anyhow::Result<i32> {
    let meta = &idx.manifest().lists[li];
    if !replace && a.thresholds.any() {
        bail!("a vPDQ list's thresholds are set by build or replace, not add");
    }
    let (videos, mut source) = load_videos(&a.file, a.import.strict)?;
    source.action = if replace { "replace" } else { "add" }.into();
    if replace {
        let base = idx.vpdq_thresholds(li).unwrap_or_default();
        let n = videos.len();
        idx.replace_videos(
            &a.index,
            NewVpdqList {
                name: a.list.clone(),
                version: a
                    .import
                    .list_version
                    .clone()
                    .unwrap_or_else(|| source.added.clone()),
                thresholds: a.thresholds.apply(base)?,
                videos,
                sources: vec![source],
            },
            Provenance::now(),
        )?;
        eprintln!(
            "vigil: {}: list {} replaced ({n} videos)",
            a.index.display(),
            meta.name
        );
    } else {
        let ids = idx.add_videos(&a.index, &a.list, videos, source, Provenance::now())?;
        eprintln!(
            "vigil: {}: added video ids {}..{} to {}",
            a.index.display(),
            ids.start,
            ids.end,
            a.list
        );
    }
    Ok(0)
}

fn add_or_replace(a: AddArgs, replace: bool) -> anyhow::Result<i32> {
    let idx = Index::open(&a.index)?;
    let li = idx.list(&a.list)?;
    let meta = idx.manifest().lists[li].clone();
    if meta.algo == Algo::Vpdq {
        return add_or_replace_videos(&a, &idx, li, replace);
    }
    if a.thresholds.any() {
        bail!("--vpdq-* thresholds apply to vPDQ lists only");
    }
    let args = ImportArgs {
        algo: a.import.algo.or(Some(meta.algo)),
        ..a.import.clone()
    };
    let existing = |algo: Algo, code: &[u8]| {
        !replace && algo == meta.algo && idx.find_exact(li, code).is_ok_and(|v| !v.is_empty())
    };
    let (parsed, per_algo) = load(&a.file, &args, &existing)?;
    let mut entries = Vec::new();
    for (algo, e) in per_algo {
        if algo != meta.algo {
            eprintln!(
                "vigil: {}: {} {} entries ignored (list {} is {})",
                a.file.display(),
                e.len(),
                algo.name(),
                a.list,
                meta.algo.name()
            );
            continue;
        }
        entries = e;
    }
    let now = utc(SystemTime::now());
    let source = Source {
        path: a.file.display().to_string(),
        sha256: parsed.sha256,
        entries: entries.len() as u64,
        added: now.clone(),
        action: if replace { "replace" } else { "add" }.into(),
    };
    if replace {
        let radii = parse_radii(&a.import.radius)?;
        let radius = match radii.iter().rev().find(|(al, _)| *al == meta.algo) {
            Some(&(_, r)) => check_radius(meta.algo, r, a.import.allow_wide_radius)?,
            None => meta.radius,
        };
        let n = entries.len();
        idx.replace(
            &a.index,
            NewList {
                name: a.list.clone(),
                algo: meta.algo,
                radius,
                version: a.import.list_version.clone().unwrap_or(now),
                entries,
                sources: vec![source],
            },
            Provenance::now(),
        )?;
        eprintln!(
            "vigil: {}: list {} replaced ({n} entries)",
            a.index.display(),
            a.list
        );
    } else {
        let ids = idx.add(&a.index, &a.list, entries, source, Provenance::now())?;
        eprintln!(
            "vigil: {}: added ids {}..{} to {}",
            a.index.display(),
            ids.start,
            ids.end,
            a.list
        );
    }
    Ok(0)
}

fn info(idx: &Index, json: bool) -> anyhow::Result<()> {
    let m = idx.manifest();
    if json {
        let lists: Vec<serde_json::Value> = m
            .lists
            .iter()
            .map(|l| {
                let mut v = serde_json::json!({
                    "name": l.name, "algo": l.algo.name(), "radius": l.radius,
                    "version": l.version, "entries": l.live, "removed": l.removed,
                    "segments": l.segments.len(), "min_quality": l.min_quality,
                    "sha256": l.sha256, "sources": l.sources,
                });
                if let Some(m) = &l.vpdq {
                    v["videos"] = m.groups.into();
                    v["videos_removed"] = m.removed_groups.into();
                    v["thresholds"] = serde_json::to_value(m.thresholds).unwrap_or_default();
                }
                v
            })
            .collect();
        let v = serde_json::json!({
            "schema": 1, "path": idx.path(), "format": vigil::index::format::FORMAT_VERSION,
            "provenance": m.provenance, "lists": lists,
        });
        out!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    out!(
        "index: {} (format {})",
        idx.path(),
        vigil::index::format::FORMAT_VERSION
    );
    let p = &m.provenance;
    out!(
        "written: {} by vigil {} (git {}): {}",
        p.written,
        p.vigil,
        p.git,
        p.command
    );
    out!("name\talgo\tradius\tversion\tentries\tremoved\tsegments\tmin_quality\tsha256");
    for l in &m.lists {
        out!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            l.name,
            l.algo.name(),
            l.radius,
            l.version,
            l.live,
            l.removed,
            l.segments.len(),
            l.min_quality,
            l.sha256
        );
        if let Some(m) = &l.vpdq {
            let t = &m.thresholds;
            out!(
                "  vpdq: {} videos ({} removed; entries are frames), semantics {}, D {}, Q {}, \
                 query ≥ {}%, target ≥ {}%",
                m.groups,
                m.removed_groups,
                t.semantics.name(),
                t.distance,
                t.quality,
                t.query_pct,
                t.target_pct
            );
        }
        for s in &l.sources {
            out!(
                "  {} {} ({} entries, {}) sha256 {}",
                s.action,
                s.path,
                s.entries,
                s.added,
                s.sha256
            );
        }
    }
    Ok(())
}
