//! Search timing helper for `scripts/compare-search.py` (which runs faiss on the same files and
//! checks the hit sets are equal). Codes and queries are raw files of 32-byte PDQ codes.
//!
//! ```text
//! search_bench build CODES.bin OUT.vidx
//! search_bench batch INDEX.vidx QUERIES.bin RADIUS auto|scan|mih HITS.bin
//! search_bench single INDEX.vidx QUERIES.bin RADIUS auto|scan|mih HITS.bin
//! search_bench open INDEX.vidx QUERIES.bin [cold]
//! ```
//!
//! Hits are written as little-endian u32 triples (query, id, distance), sorted. Each mode
//! prints one JSON line of figures.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use vigil::index::{
    Algo, Backend, Index, Kernel, NewEntry, NewList, Params, Provenance, Queries, build,
};

fn read_codes(path: &str) -> Vec<[u64; 4]> {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(b.len() % 32 == 0, "{path}: not whole 32-byte codes");
    b.chunks_exact(32)
        .map(|c| {
            std::array::from_fn(|i| u64::from_le_bytes(c[8 * i..8 * i + 8].try_into().unwrap()))
        })
        .collect()
}

fn backend(s: &str) -> Backend {
    match s {
        "scan" => Backend::Scan,
        "mih" => Backend::Mih,
        _ => Backend::Auto,
    }
}

fn write_hits(path: &str, hits: &[Vec<vigil::index::Hit>]) -> usize {
    let mut rows: Vec<[u32; 3]> = hits
        .iter()
        .enumerate()
        .flat_map(|(q, h)| h.iter().map(move |h| [q as u32, h.id as u32, h.distance]))
        .collect();
    rows.sort_unstable();
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for r in &rows {
        for v in r {
            f.write_all(&v.to_le_bytes()).unwrap();
        }
    }
    rows.len()
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("");
    match mode {
        "build" => {
            let codes = std::fs::read(&args[2]).unwrap();
            let entries: Vec<NewEntry> = codes
                .chunks_exact(32)
                .map(|c| NewEntry {
                    code: c.to_vec(),
                    label: None,
                })
                .collect();
            let t = Instant::now();
            let list = NewList {
                name: "bench".into(),
                algo: Algo::Pdq,
                radius: 31,
                version: "bench".into(),
                entries,
                sources: vec![],
            };
            build(Path::new(&args[3]), vec![list], Provenance::now()).unwrap();
            println!(
                "{{\"mode\":\"build\",\"wall_s\":{:.3}}}",
                t.elapsed().as_secs_f64()
            );
        }
        "batch" | "single" => {
            let idx = Index::open(Path::new(&args[2])).unwrap();
            let queries = read_codes(&args[3]);
            let radius: u32 = args[4].parse().unwrap();
            let p = Params {
                radius,
                k: None,
                backend: backend(&args[5]),
                kernel: Kernel::best(),
            };
            let n = idx.manifest().lists[0].live as f64;
            if mode == "batch" {
                // Warm-up on a few queries (page cache, rayon pool), then the timed batch.
                idx.search(0, Queries::Pdq(&queries[..queries.len().min(16)]), &p)
                    .unwrap();
                let t = Instant::now();
                let hits = idx.search(0, Queries::Pdq(&queries), &p).unwrap();
                let wall = t.elapsed().as_secs_f64();
                let nh = write_hits(&args[6], &hits);
                println!(
                    "{{\"mode\":\"batch\",\"backend\":\"{}\",\"kernel\":\"{}\",\"queries\":{},\"codes\":{},\"wall_s\":{wall:.4},\"comparisons_per_s\":{:.4e},\"hits\":{nh}}}",
                    args[5],
                    p.kernel.name(),
                    queries.len(),
                    n,
                    queries.len() as f64 * n / wall
                );
            } else {
                idx.search(0, Queries::Pdq(&queries[..1]), &p).unwrap();
                let mut times = Vec::with_capacity(queries.len());
                let mut hits = Vec::with_capacity(queries.len());
                let t0 = Instant::now();
                for q in &queries {
                    let t = Instant::now();
                    let h = idx
                        .search(0, Queries::Pdq(std::slice::from_ref(q)), &p)
                        .unwrap();
                    times.push(t.elapsed().as_secs_f64());
                    hits.extend(h);
                }
                let wall = t0.elapsed().as_secs_f64();
                let nh = write_hits(&args[6], &hits);
                let mut t2 = times.clone();
                let med = median(&mut t2);
                let p90 = t2[t2.len() * 9 / 10];
                println!(
                    "{{\"mode\":\"single\",\"backend\":\"{}\",\"queries\":{},\"codes\":{},\"median_ms\":{:.4},\"p90_ms\":{:.4},\"queries_per_s\":{:.1},\"hits\":{nh}}}",
                    args[5],
                    queries.len(),
                    n,
                    med * 1e3,
                    p90 * 1e3,
                    queries.len() as f64 / wall
                );
            }
        }
        "open" => {
            let path = Path::new(&args[2]);
            let queries = read_codes(&args[3]);
            if args.get(4).map(String::as_str) == Some("cold") {
                use std::os::unix::io::AsRawFd;
                let f = std::fs::File::open(path).unwrap();
                // SAFETY: advisory call on an open descriptor; evicts this file's clean pages.
                unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
            }
            let before = rss_kib();
            let t = Instant::now();
            let idx = Index::open(path).unwrap();
            let opened = t.elapsed().as_secs_f64();
            let p = Params::range(31);
            idx.search(0, Queries::Pdq(&queries[..1]), &p).unwrap();
            let first = t.elapsed().as_secs_f64();
            for q in queries.iter().take(1000) {
                idx.search(0, Queries::Pdq(std::slice::from_ref(q)), &p)
                    .unwrap();
            }
            let after = rss_kib();
            let n = idx.manifest().lists[0].live;
            println!(
                "{{\"mode\":\"open\",\"cold\":{},\"entries\":{n},\"open_s\":{opened:.4},\"open_and_first_query_s\":{first:.4},\"rss_before_kib\":{before},\"rss_after_kib\":{after},\"bytes_per_entry\":{:.2}}}",
                args.get(4).map(String::as_str) == Some("cold"),
                (after.saturating_sub(before) as f64 * 1024.0) / n as f64
            );
        }
        _ => {
            eprintln!("usage: see the header of examples/search_bench.rs");
            std::process::exit(64);
        }
    }
}
