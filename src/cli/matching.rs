//! `vigil match`: look query hashes up in an index or in lists read on the fly; one record per
//! (query, match).
//!
//! Queries are read with the import formats (a file of hashes, or vigil `hash`/`scan` output;
//! stdin when no file is named). Each query is compared only with lists of its algorithm. A
//! query whose quality is below `--min-quality` is counted and not matched. Malformed query
//! lines are failures, reported by line number. Exit codes: 0 matches and no failure, 1 no
//! match, 2 failures and no match, 3 matches and failures.

use std::io::{self, Write};
use std::path::PathBuf;

use vigil::index::import::{self, ParseOptions, Record};
use vigil::index::{Algo, Backend, Index, Kernel, Params, Provenance, Queries};
use vigil::pdq::DIHEDRAL_NAMES;

use super::index::{ImportArgs, lists_from_specs};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MatchFormat {
    /// RFC 4180 CSV with a header.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// Search path choice (for testing and benchmarks; results are the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendArg {
    /// The planner: MIH when its candidate count is small, else the scan.
    Auto,
    /// Always the flat scan.
    Scan,
    /// Always MIH (an error past its radius range).
    Mih,
    /// The GPU range scan on any adapter (lavapipe included); an error without one.
    Gpu,
}

/// Queries of one list from which `--backend auto` takes a hardware GPU when there is one.
const GPU_MIN_QUERIES: usize = 4096;

/// `vigil match` arguments.
#[derive(clap::Args, Debug)]
pub struct MatchArgs {
    /// Index file (from `vigil index build`).
    #[arg(long, conflicts_with = "list", required_unless_present = "list")]
    index: Option<PathBuf>,
    /// A list read now: `[NAME=]FILE[:RADIUS]`.
    #[arg(long, value_name = "[NAME=]FILE[:RADIUS]")]
    list: Vec<String>,
    #[command(flatten)]
    import: ImportArgs,
    /// Keep only the k nearest entries per query and list (by distance, then id).
    #[arg(long, value_name = "N")]
    k: Option<usize>,
    /// Match all 8 dihedral variants of each PDQ query (vigil `hash --dihedral` output) and
    /// report the best variant per entry.
    #[arg(long)]
    dihedral: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    format: MatchFormat,
    /// Queries carrying a quality below this are not matched (counted on stderr).
    #[arg(long, default_value_t = 50)]
    min_quality: u8,
    /// Search path (results are identical). `auto`: the planner on the CPU, or the GPU scan
    /// for lists with 4,096 queries or more when a hardware GPU is present.
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendArg,
    /// Files of query hashes or of vigil output (`-` or none: stdin).
    #[arg(value_name = "QUERIES")]
    queries: Vec<PathBuf>,
}

const HEADER: [&str; 9] = [
    "query",
    "query_path",
    "algo",
    "list",
    "id",
    "label",
    "hash",
    "distance",
    "variant",
];

/// Run `vigil match`; returns the exit code.
pub fn run(a: MatchArgs) -> anyhow::Result<i32> {
    let index = match &a.index {
        Some(p) => {
            if !a.import.radius.is_empty() {
                eprintln!("vigil: --radius ignored: the index stores each list's radius");
            }
            Index::open(p)?
        }
        None => Index::from_lists(lists_from_specs(&a.list, &a.import)?, Provenance::now())?,
    };
    let backend = match a.backend {
        BackendArg::Auto => Backend::Auto,
        BackendArg::Scan => Backend::Scan,
        BackendArg::Mih => Backend::Mih,
        BackendArg::Gpu => Backend::Gpu,
    };
    // The GPU: asked for (any adapter; fatal without one), or for large batches on hardware.
    let mut gpu: Option<vigil::gpu::GpuContext> = None;
    if a.backend == BackendArg::Gpu {
        gpu = Some(
            vigil::gpu::GpuContext::new(false)
                .map_err(|e| anyhow::anyhow!("--backend gpu: {e}"))?,
        );
    }
    let mut gpu_tried = a.backend == BackendArg::Gpu;
    // Queries.
    let files = if a.queries.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        a.queries.clone()
    };
    let mut queries: Vec<Record> = Vec::new();
    let mut failures = 0u64;
    let mut error_rows = 0u64;
    for f in &files {
        let parsed = import::parse_file(
            f,
            &ParseOptions {
                algo: a.import.algo,
            },
        )?;
        for p in &parsed.problems {
            eprintln!("vigil: {}: line {}: {}", f.display(), p.line, p.kind);
        }
        failures += parsed.problems.len() as u64;
        error_rows += parsed.error_rows;
        queries.extend(parsed.records);
    }
    let gated: Vec<bool> = queries
        .iter()
        .map(|q| q.quality.is_some_and(|x| x < a.min_quality))
        .collect();
    let below = gated.iter().filter(|&&g| g).count();
    // Rows per query, in query order.
    let mut rows: Vec<Vec<[String; 9]>> = vec![Vec::new(); queries.len()];
    let m = index.manifest();
    for (li, list) in m.lists.iter().enumerate() {
        let idx_of: Vec<usize> = (0..queries.len())
            .filter(|&i| queries[i].algo == list.algo && !gated[i])
            .collect();
        if idx_of.is_empty() {
            continue;
        }
        let mut list_backend = if list.algo.is_perceptual() {
            backend
        } else {
            Backend::Auto
        };
        if list_backend == Backend::Auto
            && list.algo.is_perceptual()
            && idx_of.len() >= GPU_MIN_QUERIES
        {
            if !gpu_tried {
                gpu_tried = true;
                gpu = vigil::gpu::GpuContext::new(true).ok();
            }
            if gpu.is_some() {
                list_backend = Backend::Gpu;
            }
        }
        let p = Params {
            radius: list.radius,
            k: a.k,
            backend: list_backend,
            kernel: Kernel::best(),
        };
        let words = |c: &[u8]| -> Vec<u64> {
            c.chunks_exact(8)
                .map(|b| u64::from_le_bytes(b.try_into().expect("8")))
                .collect()
        };
        let (dih, plain): (Vec<usize>, Vec<usize>) = idx_of
            .iter()
            .partition(|&&i| a.dihedral && list.algo == Algo::Pdq && queries[i].dihedral.is_some());
        let mut results: Vec<(usize, Vec<vigil::index::Hit>, bool)> = Vec::new();
        if !dih.is_empty() {
            let qs: Vec<[[u64; 4]; 8]> = dih
                .iter()
                .map(|&i| {
                    let d = queries[i].dihedral.as_ref().expect("partitioned");
                    std::array::from_fn(|v| {
                        let w = words(&d[v]);
                        [w[0], w[1], w[2], w[3]]
                    })
                })
                .collect();
            let hits = index.search_with(gpu.as_ref(), li, Queries::PdqDihedral(&qs), &p)?;
            results.extend(dih.iter().zip(hits).map(|(&i, h)| (i, h, true)));
        }
        if !plain.is_empty() {
            let hits = match list.algo {
                Algo::Pdq => {
                    let qs: Vec<[u64; 4]> = plain
                        .iter()
                        .map(|&i| {
                            let w = words(&queries[i].code);
                            [w[0], w[1], w[2], w[3]]
                        })
                        .collect();
                    index.search_with(gpu.as_ref(), li, Queries::Pdq(&qs), &p)?
                }
                Algo::Phash => {
                    let qs: Vec<[u64; 1]> = plain
                        .iter()
                        .map(|&i| [words(&queries[i].code)[0]])
                        .collect();
                    index.search_with(gpu.as_ref(), li, Queries::Phash(&qs), &p)?
                }
                algo => {
                    let qs: Vec<Vec<u8>> = plain.iter().map(|&i| queries[i].code.clone()).collect();
                    index.search(li, Queries::Digest(algo, &qs), &p)?
                }
            };
            results.extend(plain.iter().zip(hits).map(|(&i, h)| (i, h, false)));
        }
        for (qi, hits, dihedral) in results {
            let q = &queries[qi];
            for h in hits {
                let code = index.code(li, h.segment, h.entry).unwrap_or_default();
                rows[qi].push([
                    list.algo.to_hex(&q.code),
                    q.text.clone().unwrap_or_default(),
                    list.algo.name().to_owned(),
                    list.name.clone(),
                    h.id.to_string(),
                    index.label(li, &h).unwrap_or("").to_owned(),
                    list.algo.to_hex(code),
                    h.distance.to_string(),
                    if dihedral {
                        DIHEDRAL_NAMES[h.variant as usize].to_owned()
                    } else {
                        String::new()
                    },
                ]);
            }
        }
    }
    let matched_queries = rows.iter().filter(|r| !r.is_empty()).count();
    let matches: usize = rows.iter().map(Vec::len).sum();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match a.format {
        MatchFormat::Csv => {
            let mut w = csv::Writer::from_writer(&mut out);
            w.write_record(HEADER)?;
            for r in rows.iter().flatten() {
                w.write_record(r)?;
            }
            w.flush()?;
        }
        MatchFormat::Jsonl => {
            for r in rows.iter().flatten() {
                let mut obj = serde_json::Map::new();
                obj.insert("schema".into(), 1.into());
                for (k, v) in HEADER.iter().zip(r) {
                    let val: serde_json::Value = match *k {
                        "id" | "distance" => v.parse::<u64>().map_or(v.clone().into(), Into::into),
                        "label" | "query_path" | "variant" if v.is_empty() => {
                            serde_json::Value::Null
                        }
                        _ => v.clone().into(),
                    };
                    obj.insert((*k).into(), val);
                }
                serde_json::to_writer(&mut out, &obj)?;
                out.write_all(b"\n")?;
            }
        }
    }
    out.flush()?;
    eprintln!(
        "vigil: {} queries, {matched_queries} matched ({matches} matches), {failures} malformed, {below} below quality {}, {error_rows} error rows skipped",
        queries.len(),
        a.min_quality
    );
    eprintln!(
        "vigil: backend {:?}, kernel {}, vigil {}",
        a.backend,
        Kernel::best().name(),
        env!("CARGO_PKG_VERSION")
    );
    for l in &m.lists {
        eprintln!(
            "vigil: list {} ({}, radius {}, version {}, {} entries, sha256 {}) from {}",
            l.name,
            l.algo.name(),
            l.radius,
            l.version,
            l.live,
            l.sha256,
            index.path()
        );
    }
    Ok(match (matches > 0, failures > 0) {
        (true, false) => 0,
        (false, false) => 1,
        (false, true) => 2,
        (true, true) => 3,
    })
}
