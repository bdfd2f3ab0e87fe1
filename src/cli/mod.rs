//! Command-line parsing and dispatch. Exit codes follow conventions.md: 0 success, 2 when any
//! input failed (`vigil match` and `vigil video match`: 0 matches, 1 none, 2 failures, 3 both), 64 and up for fatal
//! errors (64 bad arguments or unreadable lists/index, 74 output not writable).

/// `println!` for the CLI's plain-text reports (`info`, `index info`, `index verify`): when
/// standard output is closed early (`vigil info | head -1`) the process ends quietly with
/// code 0, where `println!` would panic; any other write error ends it with [`EXIT_IO`].
macro_rules! out {
    ($($t:tt)*) => { $crate::cli::emit(format_args!($($t)*)) };
}

mod bench;
mod hash;
mod index;
mod matching;
mod output;
mod scan;
mod video;

use clap::{Parser, Subcommand};

/// One line of [`out!`].
fn emit(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_fmt(args).and_then(|()| o.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("vigil: writing to standard output: {e}");
        std::process::exit(EXIT_IO);
    }
}

/// Exit code for bad arguments.
pub const EXIT_USAGE: i32 = 64;
/// Exit code when the output cannot be written.
pub const EXIT_IO: i32 = 74;

/// `vigil --version`: the version and the git commit provenance records ([`vigil::GIT_COMMIT`]).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("VIGIL_GIT_COMMIT"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "vigil",
    version = VERSION,
    about = "Perceptual hashing (PDQ, pHash) of images, exactly as the reference implementations."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Hash image files: one record per input and algorithm on stdout.
    Hash(hash::HashArgs),
    /// Build and maintain index files of known hashes (PDQ, pHash, MD5, SHA-1, SHA-256).
    #[command(subcommand)]
    Index(index::IndexCmd),
    /// Look hashes up in an index or lists: one record per (query, match).
    Match(matching::MatchArgs),
    /// Scan storage for known material: every file hashed (PDQ, pHash, digests) and matched
    /// against lists; hashes.jsonl, errors.jsonl, matches.jsonl and summary.json in --out.
    Scan(scan::ScanArgs),
    /// A decoder child of `vigil scan` (internal: requests on stdin, replies on stdout).
    #[command(hide = true)]
    ScanWorker(scan::WorkerArgs),
    /// Show the build, the SIMD level, the decoding policy, the GPU adapters and the backend
    /// `--backend auto` would choose.
    Info,
    /// Show that the GPU hashes exactly as the CPU oracle: PDQ, quality, dihedral hashes and
    /// pHash of a fixed set of synthetic images, bit for bit. A passing adapter is recorded
    /// (see `vigil::check`), so `vigil scan` trusts its matches without re-hashing them on the
    /// CPU. Exit 0 exact, 2 any difference.
    CheckGpu,
    /// Measure PDQ on the GPU: parity with the oracle on reference images, frames/s (kernels,
    /// end to end, CPU for comparison), the phase split and the host-to-device copy rate.
    /// Writes report.md and report.json (see scripts/gpu-bench.sh).
    GpuBench(bench::BenchArgs),
    /// Videos: vPDQ hashes (`video hash`) and bag-of-frames matching (`video match`).
    #[command(subcommand)]
    Video(video::VideoCmd),
}

/// Parse arguments, run, and return the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let result = match cli.command {
        Command::Hash(args) => hash::run(args),
        Command::Index(cmd) => index::run(cmd),
        Command::Match(args) => matching::run(args),
        Command::Scan(args) => scan::run(args),
        Command::ScanWorker(args) => scan::worker(args),
        Command::GpuBench(args) => bench::run(args),
        Command::CheckGpu => check_gpu(),
        Command::Video(cmd) => video::run(cmd),
        Command::Info => {
            info();
            Ok(0)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vigil: {e:#}");
            match e.downcast_ref::<std::io::Error>() {
                Some(_) => EXIT_IO,
                None => EXIT_USAGE,
            }
        }
    }
}

fn check_gpu() -> anyhow::Result<i32> {
    use anyhow::Context;
    let engine = vigil::Engine::new(vigil::Backend::Gpu).context("no GPU adapter")?;
    let adapter = engine.gpu().expect("a GPU engine").adapter().clone();
    let t = std::time::Instant::now();
    let report = vigil::check::check_engine(&engine);
    let c = engine.counters();
    println!("adapter: {}", vigil::check::adapter_key(&adapter));
    println!(
        "{} images, {} on the GPU, {} on the CPU fallback, {:.1} s",
        report.images,
        c.gpu,
        c.gpu_fallback_cpu + c.cpu,
        t.elapsed().as_secs_f64()
    );
    for m in &report.mismatches {
        println!("MISMATCH {m}");
    }
    let when = vigil::index::store::utc(std::time::SystemTime::now());
    vigil::check::record(&adapter, &report, when).context("recording the check")?;
    if report.exact() {
        println!("exact: every result equals the scalar oracle; recorded");
        Ok(0)
    } else {
        println!(
            "NOT exact: {} of {} images differ; vigil scan re-hashes near matches on the CPU",
            report.mismatches.len(),
            report.images
        );
        Ok(2)
    }
}

fn info() {
    let levels: Vec<_> = vigil::simd::available().iter().map(|l| l.name()).collect();
    out!("vigil {VERSION}");
    out!(
        "simd: {} (available: {})",
        vigil::simd::level().name(),
        levels.join(", ")
    );
    out!("decoding policy: {}", vigil::decode::POLICY);
    let (adapters, why) = vigil::engine::auto_choice();
    if adapters.is_empty() {
        out!("gpu adapters: none");
    }
    for a in &adapters {
        out!(
            "gpu adapter: {} | type {} | backend {} | {} | compute {} | max_storage_buffer_binding_size {} | max_compute_workgroups_per_dimension {}",
            a.name,
            a.device_type,
            a.backend,
            if a.hardware { "hardware" } else { "software" },
            if a.compute { "yes" } else { "no" },
            a.max_storage_buffer_binding_size,
            a.max_compute_workgroups_per_dimension
        );
    }
    out!("backend auto: {why}");
}
