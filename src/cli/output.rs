//! Record writers for `vigil hash`: CSV (RFC 4180), JSONL and ThreatExchange `te` lines.

use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use base64::Engine as _;
use vigil::pdq::DIHEDRAL_NAMES;

/// JSONL schema version.
pub const SCHEMA: u32 = 1;

/// What happened to one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Hashed.
    Hashed,
    /// Could not be read or decoded.
    Failed,
    /// Deliberately not hashed (not a regular file, unsupported format, n/a under a compat).
    Skipped,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Hashed => "hashed",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

/// One output record: one input and one algorithm.
#[derive(Debug, Clone)]
pub struct Record {
    pub path: std::path::PathBuf,
    pub algo: &'static str,
    pub hash: Option<String>,
    pub quality: Option<u8>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub status: Status,
    pub reason: Option<String>,
    pub dihedral: Option<[String; 8]>,
}

/// The `path` text (lossy) and, for a name that is not UTF-8, its exact bytes in base64.
pub(crate) fn path_fields(path: &Path) -> (String, Option<String>) {
    match path.to_str() {
        Some(s) => (s.to_owned(), None),
        None => (
            path.to_string_lossy().into_owned(),
            Some(base64::engine::general_purpose::STANDARD.encode(path.as_os_str().as_bytes())),
        ),
    }
}

fn error_text(r: &Record) -> String {
    match (&r.reason, r.status) {
        (Some(reason), Status::Hashed) => reason.clone(),
        (Some(reason), s) => format!("{}: {reason}", s.name()),
        (None, _) => String::new(),
    }
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// RFC 4180 CSV with a header.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// ThreatExchange lines `pdq <hex>` (quality ≥ 50 only).
    Te,
}

/// Writes records in one format.
pub struct Writer<W: Write> {
    format: Format,
    dihedral: bool,
    csv: Option<csv::Writer<W>>,
    raw: Option<W>,
    /// PDQ hashes left out of `te` output for quality < 50.
    pub low_quality_omitted: u64,
}

impl<W: Write> Writer<W> {
    /// A writer; the CSV header is written at once.
    pub fn new(out: W, format: Format, dihedral: bool) -> io::Result<Self> {
        let mut w = Self {
            format,
            dihedral,
            csv: None,
            raw: None,
            low_quality_omitted: 0,
        };
        if format == Format::Csv {
            let mut c = csv::WriterBuilder::new().from_writer(out);
            let mut header = vec![
                "path",
                "algo",
                "hash",
                "quality",
                "width",
                "height",
                "error",
                "path_bytes",
            ];
            if dihedral {
                header.extend([
                    "dih_orig",
                    "dih_rot90",
                    "dih_rot180",
                    "dih_rot270",
                    "dih_flipx",
                    "dih_flipy",
                    "dih_flipplus1",
                    "dih_flipminus1",
                ]);
            }
            c.write_record(&header)?;
            w.csv = Some(c);
        } else {
            w.raw = Some(out);
        }
        Ok(w)
    }

    /// Write one record. In `te` format, errors go to stderr and low-quality hashes are counted.
    pub fn write(&mut self, r: &Record, policy: &str) -> io::Result<()> {
        let (path, path_bytes) = path_fields(&r.path);
        match self.format {
            Format::Csv => {
                let c = self.csv.as_mut().expect("csv writer");
                let mut row = vec![
                    path,
                    r.algo.to_owned(),
                    r.hash.clone().unwrap_or_default(),
                    r.quality.map(|q| q.to_string()).unwrap_or_default(),
                    r.width.map(|v| v.to_string()).unwrap_or_default(),
                    r.height.map(|v| v.to_string()).unwrap_or_default(),
                    error_text(r),
                    path_bytes.unwrap_or_default(),
                ];
                if self.dihedral {
                    match &r.dihedral {
                        Some(d) => row.extend(d.iter().cloned()),
                        None => row.extend(std::iter::repeat_n(String::new(), 8)),
                    }
                }
                c.write_record(&row)?;
            }
            Format::Jsonl => {
                let mut obj = serde_json::Map::new();
                obj.insert("schema".into(), SCHEMA.into());
                obj.insert("path".into(), path.into());
                if let Some(b) = path_bytes {
                    obj.insert("path_bytes".into(), b.into());
                }
                obj.insert("algo".into(), r.algo.into());
                obj.insert("hash".into(), r.hash.clone().into());
                obj.insert("quality".into(), r.quality.into());
                obj.insert("width".into(), r.width.into());
                obj.insert("height".into(), r.height.into());
                obj.insert("status".into(), r.status.name().into());
                obj.insert(
                    "error".into(),
                    r.reason
                        .clone()
                        .filter(|_| r.status != Status::Hashed)
                        .into(),
                );
                if r.status == Status::Hashed {
                    obj.insert("policy".into(), policy.into());
                }
                if let Some(d) = &r.dihedral {
                    let m: serde_json::Map<_, _> = DIHEDRAL_NAMES
                        .iter()
                        .zip(d)
                        .map(|(k, v)| ((*k).to_owned(), v.clone().into()))
                        .collect();
                    obj.insert("dihedral".into(), m.into());
                }
                let out = self.raw.as_mut().expect("raw writer");
                serde_json::to_writer(&mut *out, &obj)?;
                out.write_all(b"\n")?;
            }
            Format::Te => match (r.status, &r.hash) {
                (Status::Hashed, Some(h)) if r.algo == "pdq" => {
                    if r.quality.unwrap_or(0) < 50 {
                        self.low_quality_omitted += 1;
                    } else {
                        writeln!(self.raw.as_mut().expect("raw writer"), "pdq {h}")?;
                    }
                }
                _ => eprintln!("vigil: {}: {}", path, error_text(r)),
            },
        }
        Ok(())
    }

    /// Flush buffered output.
    pub fn flush(&mut self) -> io::Result<()> {
        if let Some(c) = &mut self.csv {
            c.flush()?;
        }
        if let Some(r) = &mut self.raw {
            r.flush()?;
        }
        Ok(())
    }
}
