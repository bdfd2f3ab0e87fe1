//! `vigil hash`: hash files and directories, one record per input and algorithm, streamed in
//! input order through a bounded reorder buffer.
//!
//! Worker threads read, decode and hash; the main thread walks the inputs lazily, keeps at
//! most a window of inputs in flight, writes records in order, and acts as a watchdog: an
//! image that takes longer than `--timeout` is recorded as failed and its worker is retired
//! and replaced (a stuck decoder cannot be interrupted, but it no longer holds up the run).

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::io::{self, IsTerminal};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use crossbeam_channel::{Receiver, Sender, unbounded};
use vigil::decode::{self, DecodeError, DecodeOptions, Decoded};
use vigil::scan::{Entry, EntryKind, Inputs, MemoryBudget, read_input};
use vigil::{
    Algorithms, Backend, Compat, Engine, FileHashes, HashOptions, hash_decoded_batch,
    hash_decoded_with,
};

use super::output::{Format, Record, Status, Writer};

/// `vigil hash` arguments.
#[derive(clap::Args, Debug)]
pub struct HashArgs {
    /// Files or directories (recursed, sorted by name); `-` reads paths from stdin.
    #[arg(value_name = "PATH")]
    paths: Vec<OsString>,
    /// Algorithms to run.
    #[arg(long, value_enum, default_value = "pdq")]
    algo: Algo,
    /// Also output the 8 dihedral PDQ hashes (columns dih_orig … dih_flipminus1).
    #[arg(long)]
    dihedral: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    format: Format,
    /// Pre-processing: full resolution (the reference) or the upstream C++ CLI's 512×512 squash.
    #[arg(long, value_enum, default_value = "full")]
    compat: CompatArg,
    /// Apply the EXIF orientation before hashing (policy suffix +exif).
    #[arg(long)]
    exif_rotate: bool,
    /// Refuse images with more pixels than this, from the header, before decoding.
    #[arg(long, default_value_t = 200_000_000, value_name = "N")]
    max_pixels: u64,
    /// Decode-memory budget shared by all workers (bytes; K, M, G suffixes).
    #[arg(long, default_value = "1G", value_parser = parse_bytes, value_name = "BYTES")]
    max_memory: u64,
    /// Per-image time limit in seconds; a slower image is recorded as failed.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    timeout: u64,
    /// Worker threads (default: one per core).
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Paths on stdin are NUL-separated (with `-`, or when no PATH is given).
    #[arg(short = '0', long = "null")]
    null: bool,
    /// Write records as they finish instead of in input order.
    #[arg(long)]
    unordered: bool,
    /// No progress bar.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Backend: auto (a hardware GPU if any, else cpu), gpu (any adapter, software
    /// included; an error without one), cpu (SIMD fast path) or scalar (the oracle). On a GPU,
    /// pHash's luma and resize run there and its DCT on the CPU. VIGIL_CHECK_GPU=1 re-hashes
    /// every GPU batch on the CPU and reports differences on stderr.
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendArg,
}

/// What computes the hashes (`vigil hash` and `vigil scan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BackendArg {
    /// A hardware GPU when present, else the SIMD CPU path.
    Auto,
    /// Any GPU adapter (lavapipe included); an error without one.
    Gpu,
    /// The SIMD CPU path.
    Cpu,
    /// The scalar oracle.
    Scalar,
}

impl BackendArg {
    /// The engine backend.
    pub(crate) fn backend(self) -> Backend {
        match self {
            BackendArg::Auto => Backend::Auto,
            BackendArg::Gpu => Backend::Gpu,
            BackendArg::Cpu => Backend::Cpu,
            BackendArg::Scalar => Backend::Scalar,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Algo {
    Pdq,
    Phash,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CompatArg {
    Full,
    Cli512,
}

pub(super) fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("unknown size suffix in {s:?}")),
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("not a size: {s:?}"))
}

/// What happened to one input.
enum Outcome {
    Hashed(Box<FileHashes>),
    Failed(String),
    Skipped(String),
}

struct Ctx {
    opts: HashOptions,
    budget: MemoryBudget,
    engine: Arc<Engine>,
    /// With a GPU engine: the stage that gathers decoded images from all workers into one
    /// engine batch (so the GPU sees many images per submission while the other workers go on
    /// decoding). `None` on CPU engines, where each worker hashes its own image.
    batcher: Option<Sender<BatchJob>>,
}

/// A decoded image for the batching stage, and where to send its hashes.
pub(super) type BatchJob = (Decoded, Sender<FileHashes>);

/// Gather jobs into batches of up to `max` (one per worker, since each worker waits for its
/// result), hash each batch with one engine call per algorithm, and reply in order.
pub(super) fn spawn_batcher(
    engine: Arc<Engine>,
    opts: HashOptions,
    max: usize,
) -> Sender<BatchJob> {
    let (tx, rx) = unbounded::<BatchJob>();
    std::thread::spawn(move || {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            while batch.len() < max {
                match rx.recv_timeout(Duration::from_millis(2)) {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let decoded: Vec<&Decoded> = batch.iter().map(|(d, _)| d).collect();
            // A panic drops the reply senders, so each waiting worker records a failure.
            if let Ok(hashes) = catch_unwind(AssertUnwindSafe(|| {
                hash_decoded_batch(&decoded, &opts, &engine)
            })) {
                for ((_, reply), h) in batch.iter().zip(hashes) {
                    let _ = reply.send(h);
                }
            }
        }
    });
    tx
}

fn not_an_image(entry: &Entry, bytes: &[u8]) -> Outcome {
    if bytes.is_empty() {
        Outcome::Failed(DecodeError::Empty.to_string())
    } else if entry.walked {
        Outcome::Skipped("not an image".into())
    } else {
        Outcome::Failed(DecodeError::NotAnImage.to_string())
    }
}

fn decode_failure(e: DecodeError) -> Outcome {
    match e {
        DecodeError::Unsupported(_) => Outcome::Skipped(e.to_string()),
        e => Outcome::Failed(e.to_string()),
    }
}

/// Read, decode and hash one entry.
fn process(entry: &Entry, ctx: &Ctx) -> Outcome {
    match &entry.kind {
        EntryKind::Special(kind) => {
            return Outcome::Skipped(format!("not a regular file ({kind})"));
        }
        EntryKind::Error(msg) => return Outcome::Failed(msg.clone()),
        EntryKind::Skipped(why) => return Outcome::Skipped(why.clone()),
        EntryKind::File => {}
    }
    // A link named explicitly is followed (walk.rs): open its target, still with O_NOFOLLOW
    // and the fstat check. Links met while walking never get here.
    let open_path = entry.open_path();
    #[cfg(debug_assertions)]
    test_seam_delay(&entry.path);
    let read = match read_input(open_path, |head| decode::sniff(head).is_some()) {
        Ok(r) => r,
        Err(e) if e.is_skip() => return Outcome::Skipped(e.to_string()),
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    if !read.complete || decode::sniff(&read.bytes).is_none() {
        return not_an_image(entry, &read.bytes);
    }
    let info = match decode::probe(&read.bytes) {
        Ok(i) => i,
        Err(e) => return decode_failure(e),
    };
    // Decoded RGB plus the float buffers of the hashing paths, about 8 bytes per pixel.
    let pixels = (u64::from(info.width) * u64::from(info.height)).min(ctx.opts.decode.max_pixels);
    let _permit = ctx.budget.acquire(pixels * 8 + read.bytes.len() as u64);
    let run = || -> Outcome {
        match decode::decode(&read.bytes, &ctx.opts.decode) {
            Ok(d) => match &ctx.batcher {
                Some(batcher) => {
                    let (reply, result) = crossbeam_channel::bounded(1);
                    match batcher
                        .send((d, reply))
                        .ok()
                        .and_then(|()| result.recv().ok())
                    {
                        Some(h) => Outcome::Hashed(Box::new(h)),
                        None => Outcome::Failed("internal error while hashing (batch)".into()),
                    }
                }
                None => Outcome::Hashed(Box::new(hash_decoded_with(&d, &ctx.opts, &ctx.engine))),
            },
            Err(e) => decode_failure(e),
        }
    };
    catch_unwind(AssertUnwindSafe(run))
        .unwrap_or_else(|_| Outcome::Failed("internal error while hashing (panic)".into()))
}

/// Test seam (debug builds only): `VIGIL_TEST_DELAY=SUBSTRING:MS` makes every input whose path
/// contains SUBSTRING take MS milliseconds longer, so tests can exercise `--timeout` without a
/// real decoder that hangs.
#[cfg(debug_assertions)]
pub(crate) fn test_seam_delay(path: &std::path::Path) {
    if let Some((pat, ms)) = std::env::var("VIGIL_TEST_DELAY")
        .ok()
        .as_deref()
        .and_then(|v| v.rsplit_once(':'))
        .and_then(|(p, ms)| Some((p.to_owned(), ms.parse::<u64>().ok()?)))
        && path.to_string_lossy().contains(&pat)
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

fn records(entry: &Entry, outcome: &Outcome, algos: Algorithms) -> Vec<Record> {
    let mut out = Vec::with_capacity(2);
    let base = |algo| Record {
        path: entry.path.clone(),
        algo,
        hash: None,
        quality: None,
        width: None,
        height: None,
        status: Status::Failed,
        reason: None,
        dihedral: None,
    };
    for (on, algo) in [(algos.pdq, "pdq"), (algos.phash, "phash")] {
        if !on {
            continue;
        }
        let mut r = base(algo);
        match outcome {
            Outcome::Hashed(h) => {
                r.width = Some(h.width);
                r.height = Some(h.height);
                r.status = Status::Hashed;
                if algo == "pdq" {
                    match (&h.pdq, h.pdq_not_applicable) {
                        (Some(p), _) => {
                            r.hash = Some(p.hash.to_string());
                            r.quality = Some(p.quality);
                            r.dihedral = h.dihedral.map(|d| d.map(|x| x.to_string()));
                        }
                        (None, why) => {
                            r.status = Status::Skipped;
                            r.reason = Some(why.unwrap_or("not computed").to_owned());
                        }
                    }
                } else {
                    r.hash = h.phash.map(|p| p.to_string());
                }
            }
            Outcome::Failed(why) => r.reason = Some(why.clone()),
            Outcome::Skipped(why) => {
                r.status = Status::Skipped;
                r.reason = Some(why.clone());
            }
        }
        out.push(r);
    }
    out
}

type Job = (usize, Entry);
type Done = (usize, Vec<Record>);

struct WorkerSlot {
    /// The job in hand: index, start time, entry.
    current: Mutex<Option<(usize, Instant, Entry)>>,
    retired: AtomicBool,
}

fn spawn_worker(ctx: Arc<Ctx>, jobs: Receiver<Job>, done: Sender<Done>) -> Arc<WorkerSlot> {
    let slot = Arc::new(WorkerSlot {
        current: Mutex::new(None),
        retired: AtomicBool::new(false),
    });
    let me = slot.clone();
    std::thread::spawn(move || {
        let algos = ctx.opts.algorithms;
        while let Ok((idx, entry)) = jobs.recv() {
            *me.current.lock().unwrap_or_else(|e| e.into_inner()) =
                Some((idx, Instant::now(), entry.clone()));
            let outcome = process(&entry, &ctx);
            *me.current.lock().unwrap_or_else(|e| e.into_inner()) = None;
            if done.send((idx, records(&entry, &outcome, algos))).is_err()
                || me.retired.load(Ordering::SeqCst)
            {
                break;
            }
        }
    });
    slot
}

/// Run `vigil hash`; returns the exit code.
pub fn run(args: HashArgs) -> anyhow::Result<i32> {
    let algorithms = match args.algo {
        Algo::Pdq => Algorithms {
            pdq: true,
            phash: false,
        },
        Algo::Phash => Algorithms {
            pdq: false,
            phash: true,
        },
        Algo::All => Algorithms {
            pdq: true,
            phash: true,
        },
    };
    if args.format == Format::Te && algorithms.phash {
        bail!("--format te carries PDQ hashes only; use --algo pdq");
    }
    if args.dihedral && !algorithms.pdq {
        bail!("--dihedral needs PDQ (--algo pdq or all)");
    }
    let compat = match args.compat {
        CompatArg::Full => Compat::Full,
        CompatArg::Cli512 => Compat::Cli512,
    };
    let mut paths = args.paths.clone();
    if paths.is_empty() {
        if args.null || !io::stdin().is_terminal() {
            paths.push("-".into());
        } else {
            bail!("no PATH given (use - to read paths from stdin)");
        }
    }
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    // PDQ and pHash (its resize) both run on the engine's backend.
    let engine = Arc::new(Engine::new(args.backend.backend()).context("--backend")?);
    let opts = HashOptions {
        algorithms,
        dihedral: args.dihedral,
        compat,
        decode: DecodeOptions {
            max_pixels: args.max_pixels,
            exif_rotate: args.exif_rotate,
        },
    };
    let batcher =
        (engine.backend_name() == "gpu").then(|| spawn_batcher(engine.clone(), opts.clone(), jobs));
    let ctx = Arc::new(Ctx {
        opts,
        batcher,
        budget: MemoryBudget::new(args.max_memory),
        engine,
    });
    let policy = compat.policy(args.exif_rotate);
    let timeout = Duration::from_secs(args.timeout.max(1));

    let stdout = io::stdout().lock();
    let mut writer = Writer::new(io::BufWriter::new(stdout), args.format, args.dihedral)
        .context("writing to stdout")?;
    let progress = (!args.quiet && io::stderr().is_terminal()).then(|| {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos} files  {per_sec}  {msg}")
                .expect("valid template"),
        );
        pb.enable_steady_tick(Duration::from_millis(200));
        pb
    });

    let (job_tx, job_rx) = unbounded::<Job>();
    let (done_tx, done_rx) = unbounded::<Done>();
    let mut workers: Vec<Arc<WorkerSlot>> = (0..jobs)
        .map(|_| spawn_worker(ctx.clone(), job_rx.clone(), done_tx.clone()))
        .collect();

    let window = jobs * 4 + 16;
    let mut inputs = Inputs::new(&paths, args.null).peekable();
    let (mut dispatched, mut completed, mut next_out) = (0usize, 0usize, 0usize);
    let mut pending: BTreeMap<usize, Vec<Record>> = BTreeMap::new();
    let mut abandoned: HashSet<usize> = HashSet::new();
    let mut failed = 0u64;

    let emit = |records: Vec<Record>, writer: &mut Writer<_>, failed: &mut u64| -> io::Result<()> {
        if records.iter().any(|r| r.status == Status::Failed) {
            *failed += 1;
        }
        for r in &records {
            writer.write(r, &policy)?;
        }
        Ok(())
    };

    let result: io::Result<()> = (|| {
        loop {
            // Feed inputs while the window allows.
            loop {
                let lag = if args.unordered {
                    dispatched - completed
                } else {
                    dispatched - next_out
                };
                if lag >= window {
                    break;
                }
                let Some(entry) = inputs.next() else { break };
                let idx = dispatched;
                dispatched += 1;
                if entry.kind == EntryKind::File {
                    job_tx.send((idx, entry)).expect("workers alive");
                } else {
                    let outcome = process(&entry, &ctx);
                    let recs = records(&entry, &outcome, algorithms);
                    completed += 1;
                    pending.insert(idx, recs);
                }
            }
            // Write what is ready.
            if args.unordered {
                for (_, recs) in std::mem::take(&mut pending) {
                    emit(recs, &mut writer, &mut failed)?;
                }
            } else {
                while let Some(recs) = pending.remove(&next_out) {
                    emit(recs, &mut writer, &mut failed)?;
                    next_out += 1;
                }
            }
            if let Some(pb) = &progress {
                pb.set_position(completed as u64);
                if failed > 0 {
                    pb.set_message(format!("{failed} failed"));
                }
            }
            if completed == dispatched && inputs.peek().is_none() {
                break;
            }
            if completed == dispatched {
                continue;
            }
            writer.flush()?;
            match done_rx.recv_timeout(Duration::from_millis(250)) {
                Ok((idx, recs)) => {
                    if !abandoned.remove(&idx) {
                        completed += 1;
                        pending.insert(idx, recs);
                    }
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    unreachable!("the main thread holds a sender")
                }
            }
            // Watchdog: retire workers stuck past the time limit.
            for worker in workers.iter_mut() {
                let stuck = {
                    let cur = worker.current.lock().unwrap_or_else(|e| e.into_inner());
                    match &*cur {
                        Some((idx, start, entry))
                            if start.elapsed() > timeout && !abandoned.contains(idx) =>
                        {
                            Some((*idx, entry.clone()))
                        }
                        _ => None,
                    }
                };
                if let Some((idx, entry)) = stuck {
                    worker.retired.store(true, Ordering::SeqCst);
                    abandoned.insert(idx);
                    *worker = spawn_worker(ctx.clone(), job_rx.clone(), done_tx.clone());
                    let why = format!("timed out after {} s (decoder abandoned)", args.timeout);
                    completed += 1;
                    pending.insert(idx, records(&entry, &Outcome::Failed(why), algorithms));
                }
            }
        }
        writer.flush()
    })();
    drop(job_tx);
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    match result {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            return Ok(if failed > 0 { 2 } else { 0 });
        }
        Err(e) => return Err(e).context("writing records"),
    }
    let counters = ctx.engine.counters();
    if counters.gpu_fallback_cpu > 0 {
        eprintln!(
            "vigil: {} image(s) hashed on the CPU instead of the GPU (too large, or the GPU failed)",
            counters.gpu_fallback_cpu
        );
    }
    if counters.check_mismatches > 0 {
        eprintln!(
            "vigil: VIGIL_CHECK_GPU: {} GPU result(s) differed from the oracle",
            counters.check_mismatches
        );
    }
    if writer.low_quality_omitted > 0 {
        eprintln!(
            "vigil: left out {} PDQ hash(es) with quality < 50 (te lists carry only quality >= 50)",
            writer.low_quality_omitted
        );
    }
    Ok(if failed > 0 { 2 } else { 0 })
}
