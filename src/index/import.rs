//! Reading hash lists and query files, with format detection.
//!
//! Formats, recognised from the first line that is not blank or a `#` comment:
//! - vigil `hash` CSV (header `path,algo,hash,…`; `dih_*` columns read for dihedral queries);
//! - vigil JSONL (`vigil hash --format jsonl`, `vigil scan`'s `hashes.jsonl`): objects with
//!   `algo`/`hash` (and `quality`, `status`, `path`, `dihedral`; `md5`/`sha1`/`sha256` keys give
//!   digest records);
//! - ThreatExchange lines `pdq <hex>` (any algorithm name in front);
//! - the C++ tool's `hash,quality,filename` and `--details` lines
//!   (`hash=…,norm=…,delta=…,quality=…,…,filename=…`);
//! - plain hex, either case, with an optional `hash=` prefix and `,metadata`; the algorithm
//!   comes from `algo` in [`ParseOptions`] or the length (16 pHash, 32 MD5, 40 SHA-1, 64 PDQ;
//!   SHA-256 lists need it named).
//!
//! Rows that record a failed or skipped input (vigil `error`/`status`) are counted, not
//! problems. Every other line that does not give a hash is a [`Problem`] with its line number;
//! [`check_entries`] adds the list rules (duplicates, the all-zero hash, known flat-noise PDQ
//! hashes, quality below 50). Nothing is dropped without being counted.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::store::{Algo, MIN_QUALITY, NewEntry, hex};
use crate::pdq::DIHEDRAL_NAMES;

/// PDQ hashes of flat images (float noise, quality 0; the 8 dihedral variants, from the
/// reference synthetic set `synth-flat-*`): never useful in a list.
pub const FLAT_NOISE_PDQ: [&str; 8] = [
    "000000002c4b11342c4b2c4b0000554b00002c4b113411342c4b585e2c4b017e",
    "000000012c4a2c4b2c4e103500002c4e0000103010312c4a2d4f2c4a2d4f1035",
    "00000000391e391e391e04610000d741000004610461391e391ef2f4391e0b54",
    "01040001381e0461381b381f010504640004381a04640460381a0460381a381f",
    "000000002c4b2c4b2c4b1134000082000000113411342c4b2c4ba7a12c4b5e01",
    "00000000391e0461391e391e0000000a0000391e04610461391e0d0b391e542b",
    "000001042c4a11342c4e2d4a0000113100002d4f103110352d4f10352d4f2d4a",
    "01040104381e391e381b05600105391b000405650464381f381a381f381a0560",
];

/// A detected file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Nothing but blank lines and comments.
    Empty,
    /// `vigil hash` CSV.
    VigilCsv,
    /// vigil JSONL (`hash` or `scan`).
    VigilJsonl,
    /// `pdq <hex>` lines.
    ThreatExchange,
    /// The C++ tool's `hash,quality,filename`.
    CppCli,
    /// The C++ tool's `--details` lines.
    CppDetails,
    /// Hex per line, optional `hash=` and `,metadata`.
    Plain,
}

impl Format {
    /// Name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Format::Empty => "empty",
            Format::VigilCsv => "vigil-csv",
            Format::VigilJsonl => "vigil-jsonl",
            Format::ThreatExchange => "threatexchange",
            Format::CppCli => "pdq-cli",
            Format::CppDetails => "pdq-cli-details",
            Format::Plain => "plain",
        }
    }
}

/// What is wrong with one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// A hex string of the wrong length for its algorithm.
    WrongLength,
    /// Not hexadecimal.
    NotHex,
    /// No hash could be read from the line.
    Unparseable(&'static str),
    /// An algorithm name vigil does not know.
    UnknownAlgo,
    /// The same code earlier in the list.
    Duplicate,
    /// All bits zero.
    AllZero,
    /// A known flat-image noise hash.
    FlatNoise,
    /// PDQ quality below the gate.
    LowQuality(u8),
}

impl std::fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProblemKind::WrongLength => write!(f, "hash of the wrong length"),
            ProblemKind::NotHex => write!(f, "hash is not hexadecimal"),
            ProblemKind::Unparseable(why) => write!(f, "unreadable line: {why}"),
            ProblemKind::UnknownAlgo => write!(f, "unknown algorithm"),
            ProblemKind::Duplicate => write!(f, "duplicate of an earlier entry"),
            ProblemKind::AllZero => write!(f, "all-zero hash"),
            ProblemKind::FlatNoise => write!(f, "flat-image noise hash (quality 0 image)"),
            ProblemKind::LowQuality(q) => write!(f, "quality {q} below {MIN_QUALITY}"),
        }
    }
}

/// A problem and its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Line number.
    pub line: u64,
    /// What is wrong.
    pub kind: ProblemKind,
}

/// One hash read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Line number (1-based).
    pub line: u64,
    /// Algorithm.
    pub algo: Algo,
    /// Code bytes ([`Algo::parse_hex`] form).
    pub code: Vec<u8>,
    /// Quality, when the line carries one.
    pub quality: Option<u8>,
    /// Metadata, file name or path (a list entry's label; a query's path).
    pub text: Option<String>,
    /// The 8 dihedral codes, when the line carries them (vigil `--dihedral` output).
    pub dihedral: Option<Vec<Vec<u8>>>,
}

/// A parsed file.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// Detected format.
    pub format: Option<Format>,
    /// Hashes read, in line order.
    pub records: Vec<Record>,
    /// Lines that gave no hash.
    pub problems: Vec<Problem>,
    /// vigil rows that record a failed or skipped input (skipped, counted).
    pub error_rows: u64,
    /// Lines read.
    pub lines: u64,
    /// SHA-256 of the bytes read.
    pub sha256: String,
}

/// Parsing options.
#[derive(Debug, Clone, Copy, Default)]
pub struct ParseOptions {
    /// Algorithm of plain hex lines (else from their length; 64 digits mean PDQ).
    pub algo: Option<Algo>,
}

/// An import that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Strict mode: the first problem of a vPDQ file.
    #[error("{path}: {problem}")]
    Vpdq {
        /// The file.
        path: String,
        /// The problem (line number and reason, never content).
        problem: String,
    },
    /// Strict mode: the first problem.
    #[error("{path}: line {line}: {kind}")]
    Strict {
        /// The file.
        path: String,
        /// Line number.
        line: u64,
        /// What is wrong.
        kind: ProblemKind,
    },
}

fn algo_by_len(len: usize) -> Option<Algo> {
    match len {
        16 => Some(Algo::Phash),
        32 => Some(Algo::Md5),
        40 => Some(Algo::Sha1),
        64 => Some(Algo::Pdq),
        _ => None,
    }
}

/// Parse `hex` for `algo` (or by length), naming the problem.
fn code_of(hex: &str, algo: Option<Algo>) -> Result<(Algo, Vec<u8>), ProblemKind> {
    let hex = hex.trim();
    if hex.is_empty() {
        return Err(ProblemKind::Unparseable("no hash"));
    }
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ProblemKind::NotHex);
    }
    let algo = algo
        .or_else(|| algo_by_len(hex.len()))
        .ok_or(ProblemKind::WrongLength)?;
    algo.parse_hex(hex)
        .map(|c| (algo, c))
        .ok_or(ProblemKind::WrongLength)
}

fn detect(first: &str) -> Format {
    let t = first.trim_start_matches('\u{feff}').trim();
    let lower = t.to_ascii_lowercase();
    if lower.starts_with("path,algo,hash") {
        return Format::VigilCsv;
    }
    if t.starts_with('{') {
        return Format::VigilJsonl;
    }
    if let Some((name, rest)) = t.split_once(char::is_whitespace)
        && Algo::parse(name).is_some()
        && !rest.trim().is_empty()
    {
        return Format::ThreatExchange;
    }
    if lower.starts_with("hash=") && lower.contains(",quality=") {
        return Format::CppDetails;
    }
    let mut parts = t.splitn(3, ',');
    if let (Some(h), Some(q), Some(_)) = (parts.next(), parts.next(), parts.next())
        && h.len() == 64
        && h.bytes().all(|b| b.is_ascii_hexdigit())
        && !q.is_empty()
        && q.len() <= 3
        && q.bytes().all(|b| b.is_ascii_digit())
    {
        return Format::CppCli;
    }
    Format::Plain
}

/// Parse a file's bytes (see the module docs for the formats).
pub fn parse_bytes(bytes: &[u8], opts: &ParseOptions) -> Parsed {
    let mut out = Parsed {
        sha256: hex(&Sha256::digest(bytes)),
        ..Parsed::default()
    };
    let text = String::from_utf8_lossy(bytes);
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    let format = first.map_or(Format::Empty, detect);
    out.format = Some(format);
    if format == Format::VigilCsv {
        parse_csv(bytes, &mut out);
        return out;
    }
    for (i, raw) in text.lines().enumerate() {
        let line = i as u64 + 1;
        out.lines = line;
        let l = raw.trim_start_matches('\u{feff}').trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let rec = match format {
            Format::VigilJsonl => {
                parse_json_line(l, line, &mut out);
                continue;
            }
            Format::ThreatExchange => match l.split_once(char::is_whitespace) {
                Some((name, rest)) => match Algo::parse(name) {
                    Some(a) => code_of(rest, Some(a)).map(|(algo, code)| (algo, code, None, None)),
                    None => Err(ProblemKind::UnknownAlgo),
                },
                None => Err(ProblemKind::Unparseable("expected `<algo> <hash>`")),
            },
            Format::CppCli => {
                let mut p = l.splitn(3, ',');
                let (h, q, name) = (p.next().unwrap_or(""), p.next(), p.next());
                match q.map(|q| q.trim().parse::<u8>()) {
                    Some(Ok(q)) => code_of(h, Some(Algo::Pdq))
                        .map(|(a, c)| (a, c, Some(q), name.map(str::to_owned))),
                    _ => Err(ProblemKind::Unparseable("expected hash,quality,filename")),
                }
            }
            Format::CppDetails => {
                let mut hash = None;
                let mut quality = None;
                let mut name = None;
                // filename= is last and may contain commas.
                let (fields, fname) = match l.find(",filename=") {
                    Some(at) => (&l[..at], Some(&l[at + ",filename=".len()..])),
                    None => (l, None),
                };
                for f in fields.split(',') {
                    match f.split_once('=') {
                        Some(("hash", v)) => hash = Some(v),
                        Some(("quality", v)) => quality = v.trim().parse::<u8>().ok(),
                        _ => {}
                    }
                }
                if let Some(f) = fname {
                    name = Some(f.to_owned());
                }
                match (hash, quality) {
                    (Some(h), Some(q)) => {
                        code_of(h, Some(Algo::Pdq)).map(|(a, c)| (a, c, Some(q), name))
                    }
                    _ => Err(ProblemKind::Unparseable("expected hash=…,quality=…")),
                }
            }
            Format::Plain | Format::Empty | Format::VigilCsv => {
                let body = l
                    .strip_prefix("hash=")
                    .or_else(|| l.strip_prefix("HASH="))
                    .unwrap_or(l);
                let (h, meta) = match body.split_once(',') {
                    Some((h, m)) => (h, Some(m.to_owned())),
                    None => (body, None),
                };
                code_of(h, opts.algo).map(|(a, c)| (a, c, None, meta))
            }
        };
        match rec {
            Ok((algo, code, quality, text)) => out.records.push(Record {
                line,
                algo,
                code,
                quality,
                text,
                dihedral: None,
            }),
            Err(kind) => out.problems.push(Problem { line, kind }),
        }
    }
    out
}

fn parse_json_line(l: &str, line: u64, out: &mut Parsed) {
    let v: serde_json::Value = match serde_json::from_str(l) {
        Ok(v) => v,
        Err(_) => {
            out.problems.push(Problem {
                line,
                kind: ProblemKind::Unparseable("not a JSON object"),
            });
            return;
        }
    };
    let s = |k: &str| v.get(k).and_then(|x| x.as_str());
    let status = s("status");
    if status.is_some_and(|st| st != "hashed" && st != "ok") {
        out.error_rows += 1;
        return;
    }
    let path = s("path").map(str::to_owned);
    let mut any = false;
    if let Some(h) = s("hash") {
        any = true;
        let algo = match s("algo") {
            Some(a) => match Algo::parse(a) {
                Some(a) => Some(a),
                None => {
                    out.problems.push(Problem {
                        line,
                        kind: ProblemKind::UnknownAlgo,
                    });
                    return;
                }
            },
            None => None,
        };
        match code_of(h, algo) {
            Ok((algo, code)) => {
                let dihedral = v.get("dihedral").and_then(|d| {
                    DIHEDRAL_NAMES
                        .iter()
                        .map(|n| {
                            d.get(*n)
                                .and_then(|x| x.as_str())
                                .and_then(|x| algo.parse_hex(x))
                        })
                        .collect::<Option<Vec<_>>>()
                });
                out.records.push(Record {
                    line,
                    algo,
                    code,
                    quality: v
                        .get("quality")
                        .and_then(|q| q.as_u64())
                        .map(|q| q.min(255) as u8),
                    text: path.clone(),
                    dihedral,
                });
            }
            Err(kind) => out.problems.push(Problem { line, kind }),
        }
    } else if v.get("hash").is_some_and(|h| h.is_null())
        || v.get("error").is_some_and(|e| !e.is_null())
    {
        out.error_rows += 1;
        return;
    }
    for algo in [Algo::Md5, Algo::Sha1, Algo::Sha256] {
        if let Some(h) = s(algo.name()) {
            any = true;
            match code_of(h, Some(algo)) {
                Ok((algo, code)) => out.records.push(Record {
                    line,
                    algo,
                    code,
                    quality: None,
                    text: path.clone(),
                    dihedral: None,
                }),
                Err(kind) => out.problems.push(Problem { line, kind }),
            }
        }
    }
    if !any {
        out.problems.push(Problem {
            line,
            kind: ProblemKind::Unparseable("no hash field"),
        });
    }
}

fn parse_csv(bytes: &[u8], out: &mut Parsed) {
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let headers = match rdr.headers() {
        Ok(h) => h.clone(),
        Err(_) => {
            out.problems.push(Problem {
                line: 1,
                kind: ProblemKind::Unparseable("bad CSV header"),
            });
            return;
        }
    };
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}') == name)
    };
    let (c_path, c_algo, c_hash, c_quality, c_error) = (
        col("path"),
        col("algo"),
        col("hash"),
        col("quality"),
        col("error"),
    );
    let dih: Option<Vec<usize>> = DIHEDRAL_NAMES
        .iter()
        .map(|n| col(&format!("dih_{n}")))
        .collect();
    let mut rec = csv::StringRecord::new();
    loop {
        let line = rdr.position().line();
        match rdr.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(_) => {
                out.problems.push(Problem {
                    line,
                    kind: ProblemKind::Unparseable("bad CSV row"),
                });
                continue;
            }
        }
        out.lines = line;
        let get = |c: Option<usize>| c.and_then(|c| rec.get(c)).unwrap_or("");
        let hash = get(c_hash);
        if !get(c_error).is_empty() || hash.is_empty() {
            out.error_rows += 1;
            continue;
        }
        let Some(algo) = Algo::parse(get(c_algo)) else {
            out.problems.push(Problem {
                line,
                kind: ProblemKind::UnknownAlgo,
            });
            continue;
        };
        match code_of(hash, Some(algo)) {
            Ok((algo, code)) => {
                let dihedral = dih.as_ref().and_then(|cols| {
                    cols.iter()
                        .map(|&c| rec.get(c).and_then(|x| algo.parse_hex(x)))
                        .collect::<Option<Vec<_>>>()
                });
                out.records.push(Record {
                    line,
                    algo,
                    code,
                    quality: get(c_quality).parse().ok(),
                    text: Some(get(c_path).to_owned()).filter(|p| !p.is_empty()),
                    dihedral,
                });
            }
            Err(kind) => out.problems.push(Problem { line, kind }),
        }
    }
}

/// Read and parse a file (`-` for stdin).
pub fn parse_file(path: &Path, opts: &ParseOptions) -> Result<Parsed, ImportError> {
    let mut bytes = Vec::new();
    let r = if path.as_os_str() == "-" {
        std::io::stdin().lock().read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes))
    };
    r.map_err(|source| ImportError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(parse_bytes(&bytes, opts))
}

/// Entries for lists, per algorithm, after the list rules.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// Accepted entries per algorithm, in line order.
    pub entries: BTreeMap<Algo, Vec<NewEntry>>,
    /// Every problem (parse and list rules), in line order.
    pub problems: Vec<Problem>,
}

/// Apply the list rules to parsed records: duplicates (within the file and of `existing`), the
/// all-zero hash, flat-noise PDQ hashes, quality below 50 (unless `keep_low_quality`). Strict:
/// the first problem (in line order, parse problems included) is an error.
pub fn check_entries(
    path: &str,
    parsed: &Parsed,
    strict: bool,
    keep_low_quality: bool,
    existing: &dyn Fn(Algo, &[u8]) -> bool,
) -> Result<Checked, ImportError> {
    let flat: HashSet<Vec<u8>> = FLAT_NOISE_PDQ
        .iter()
        .filter_map(|h| Algo::Pdq.parse_hex(h))
        .collect();
    let mut seen: HashSet<(Algo, &[u8])> = HashSet::new();
    let mut out = Checked {
        problems: parsed.problems.clone(),
        ..Checked::default()
    };
    for r in &parsed.records {
        let kind = if r.code.iter().all(|&b| b == 0) {
            Some(ProblemKind::AllZero)
        } else if r.algo == Algo::Pdq && flat.contains(&r.code) {
            Some(ProblemKind::FlatNoise)
        } else if let Some(q) = r.quality.filter(|&q| q < MIN_QUALITY && !keep_low_quality) {
            Some(ProblemKind::LowQuality(q))
        } else if !seen.insert((r.algo, &r.code)) || existing(r.algo, &r.code) {
            Some(ProblemKind::Duplicate)
        } else {
            None
        };
        match kind {
            Some(kind) => out.problems.push(Problem { line: r.line, kind }),
            None => out.entries.entry(r.algo).or_default().push(NewEntry {
                code: r.code.clone(),
                label: r.text.clone(),
            }),
        }
    }
    out.problems.sort_by_key(|p| p.line);
    if strict && let Some(p) = out.problems.first() {
        return Err(ImportError::Strict {
            path: path.to_owned(),
            line: p.line,
            kind: p.kind.clone(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PDQ: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";

    #[test]
    fn detects_each_format() {
        let cases = [
            (
                "path,algo,hash,quality,width,height,error,path_bytes\n",
                Format::VigilCsv,
            ),
            ("{\"schema\":1}\n", Format::VigilJsonl),
            ("pdq f8f8\n", Format::ThreatExchange),
            (&*format!("{PDQ},100,a.jpg\n"), Format::CppCli),
            (
                &*format!("hash={PDQ},norm=128,delta=0,quality=100,filename=a.jpg\n"),
                Format::CppDetails,
            ),
            (&*format!("hash={PDQ},meta\n"), Format::Plain),
            ("# only a comment\n\n", Format::Empty),
        ];
        for (text, want) in cases {
            assert_eq!(
                parse_bytes(text.as_bytes(), &ParseOptions::default()).format,
                Some(want),
                "{text}"
            );
        }
    }
}
