//! The index file container: a header, checksummed sections, a section table; memory-mapped.
//!
//! ```text
//! offset 0     header (64 bytes, little-endian)
//!                magic "VIGILIDX" | format u32 | header_len u32 (64) | sections u32 | 0 u32
//!                table_offset u64 | file_len u64 | table_crc u32 | 0 × 16 bytes | header_crc u32
//! offset 64    sections, each starting on a 64-byte boundary (zero padding between)
//! table_offset section table: per section kind u32 | 0 u32 | offset u64 | len u64 | crc u32 | 0 u32
//! ```
//!
//! Every checksum is CRC-32 (IEEE; `crc32fast`, hardware-accelerated): `header_crc` covers
//! header bytes 0..60, `table_crc` the table, each section's `crc` its bytes. What the sections
//! mean is in the manifest section (JSON), described in `store.rs` and ARCHITECTURE.md.
//! Numbers are little-endian; big-endian hosts are refused at open.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

use rayon::prelude::*;

/// File magic.
pub const MAGIC: &[u8; 8] = b"VIGILIDX";
/// Container format version written and read by this build.
pub const FORMAT_VERSION: u32 = 1;
/// Header size.
pub const HEADER_LEN: usize = 64;
/// Section alignment.
pub const ALIGN: usize = 64;
/// Bytes per section-table entry.
pub const TABLE_ENTRY_LEN: usize = 32;

/// Section kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Kind {
    /// JSON manifest: lists, segments, provenance.
    Manifest = 1,
    /// Codes in entry order (perceptual: `W` little-endian u64 each; digests: raw bytes).
    Codes = 2,
    /// MIH offsets, u32.
    MihOffsets = 3,
    /// MIH entry numbers, u32.
    MihIds = 4,
    /// Label offsets, u64 × (n + 1).
    LabelOffsets = 5,
    /// Label bytes (UTF-8).
    LabelBytes = 6,
    /// Tombstone bitmap, u64 words.
    Tombstones = 7,
    /// Digest lists: entry numbers sorted by digest, u32.
    DigestOrder = 8,
    /// vPDQ lists: one 16-byte record per frame (frame number, timestamp, quality, flags).
    VpdqFrames = 9,
    /// vPDQ lists: one 16-byte record per video (id, first frame, frame count).
    VpdqGroups = 10,
}

impl Kind {
    fn from_u32(v: u32) -> Option<Kind> {
        Some(match v {
            1 => Kind::Manifest,
            2 => Kind::Codes,
            3 => Kind::MihOffsets,
            4 => Kind::MihIds,
            5 => Kind::LabelOffsets,
            6 => Kind::LabelBytes,
            7 => Kind::Tombstones,
            8 => Kind::DigestOrder,
            9 => Kind::VpdqFrames,
            10 => Kind::VpdqGroups,
            _ => return None,
        })
    }

    /// Whether a search reads this kind on every query (others are touched only on hits).
    pub fn hot(self) -> bool {
        matches!(
            self,
            Kind::Codes
                | Kind::MihOffsets
                | Kind::MihIds
                | Kind::Tombstones
                | Kind::DigestOrder
                | Kind::VpdqFrames
                | Kind::VpdqGroups
        )
    }
}

/// One section-table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    /// What it holds.
    pub kind: Kind,
    /// Byte offset in the file (a multiple of [`ALIGN`]).
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// CRC-32 of its bytes.
    pub crc: u32,
}

/// A damaged or foreign file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// Reading, writing or mapping failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// Not an index file.
    #[error("not a vigil index (bad magic)")]
    Magic,
    /// A format version this build does not read.
    #[error("index format version {0} is not supported (this build reads {FORMAT_VERSION})")]
    Version(u32),
    /// The header checksum or fields are wrong.
    #[error("index header is damaged: {0}")]
    Header(&'static str),
    /// The section table checksum or an entry is wrong.
    #[error("index section table is damaged: {0}")]
    Table(String),
    /// A section's bytes do not match its checksum.
    #[error("index section {index} ({kind:?}) fails its checksum")]
    Checksum {
        /// Section number.
        index: usize,
        /// Its kind.
        kind: Kind,
    },
    /// The host is big-endian.
    #[error("index files are little-endian; this host is not")]
    Endian,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Bytes backing an open index: a read-only shared mapping or an aligned heap buffer.
pub struct Storage {
    ptr: *const u8,
    len: usize,
    mapped: bool,
    /// Owns the heap bytes (u64 for 8-byte alignment; sections need at most that).
    _heap: Vec<u64>,
}

// SAFETY: the bytes are immutable for the Storage's lifetime (a PROT_READ mapping of a file
// that writers never modify in place — they write a new file and rename it — or a heap buffer
// owned here), so sharing them across threads is sound.
unsafe impl Send for Storage {}
// SAFETY: as for Send: nothing mutates the bytes after construction.
unsafe impl Sync for Storage {}

impl Storage {
    /// Map `path` read-only.
    pub fn map(path: &Path) -> Result<Storage, FormatError> {
        use std::os::unix::io::AsRawFd;
        let io_err = |source| FormatError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len() as usize;
        if len < HEADER_LEN {
            return Err(FormatError::Magic);
        }
        // SAFETY: a fresh read-only mapping of `len` bytes of an open file; the result is
        // checked for MAP_FAILED. The file descriptor may be closed after mmap returns.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io_err(io::Error::last_os_error()));
        }
        Ok(Storage {
            ptr: ptr.cast(),
            len,
            mapped: true,
            _heap: Vec::new(),
        })
    }

    /// Own `bytes` (copied into an 8-byte-aligned buffer).
    pub fn heap(bytes: &[u8]) -> Storage {
        let mut heap = vec![0u64; bytes.len().div_ceil(8)];
        // SAFETY: `heap` has at least `bytes.len()` bytes; the regions do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), heap.as_mut_ptr().cast(), bytes.len())
        };
        Storage {
            ptr: heap.as_ptr().cast(),
            len: bytes.len(),
            mapped: false,
            _heap: heap,
        }
    }

    /// All bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` points at `len` readable bytes (mapping or heap buffer) that live and
        // stay unchanged as long as `self`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// Drop the pages of `range` from this process's resident set (mapped files only; they
    /// stay in the page cache and fault back in when read).
    pub fn release(&self, offset: usize, len: usize) {
        if !self.mapped || len == 0 {
            return;
        }
        let page = 4096;
        let start = offset.next_multiple_of(page);
        let end = (offset + len) / page * page;
        if end > start {
            // SAFETY: [start, end) is page-aligned and inside the mapping; MADV_DONTNEED on a
            // read-only shared file mapping only drops our page-table entries.
            unsafe {
                libc::madvise(
                    self.ptr.add(start) as *mut libc::c_void,
                    end - start,
                    libc::MADV_DONTNEED,
                );
            }
        }
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        if self.mapped {
            // SAFETY: `ptr`/`len` are the mapping made in `map`, unmapped exactly once; no
            // borrow of the bytes outlives `self`.
            unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
        }
    }
}

/// Parse and check the header and section table (not the section checksums).
pub fn read_table(bytes: &[u8]) -> Result<Vec<Section>, FormatError> {
    if cfg!(target_endian = "big") {
        return Err(FormatError::Endian);
    }
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err(FormatError::Magic);
    }
    let h = &bytes[..HEADER_LEN];
    if crc32fast::hash(&h[..60]) != u32_at(h, 60) {
        return Err(FormatError::Header("checksum mismatch"));
    }
    let version = u32_at(h, 8);
    if version != FORMAT_VERSION {
        return Err(FormatError::Version(version));
    }
    if u32_at(h, 12) as usize != HEADER_LEN {
        return Err(FormatError::Header("header length"));
    }
    let count = u32_at(h, 16) as usize;
    let table_offset = u64_at(h, 24) as usize;
    if u64_at(h, 32) as usize != bytes.len() {
        return Err(FormatError::Header(
            "file length differs (truncated or extended)",
        ));
    }
    let table_len = count
        .checked_mul(TABLE_ENTRY_LEN)
        .ok_or(FormatError::Header("section count"))?;
    let table = bytes
        .get(table_offset..table_offset.saturating_add(table_len))
        .ok_or(FormatError::Header("section table out of bounds"))?;
    if crc32fast::hash(table) != u32_at(h, 40) {
        return Err(FormatError::Table("checksum mismatch".into()));
    }
    let mut out = Vec::with_capacity(count);
    for (i, e) in table.chunks_exact(TABLE_ENTRY_LEN).enumerate() {
        let kind = Kind::from_u32(u32_at(e, 0))
            .ok_or_else(|| FormatError::Table(format!("section {i}: unknown kind")))?;
        let (offset, len) = (u64_at(e, 8), u64_at(e, 16));
        let end = offset.checked_add(len);
        if offset as usize % ALIGN != 0
            || offset < HEADER_LEN as u64
            || end.is_none_or(|end| end > table_offset as u64)
        {
            return Err(FormatError::Table(format!("section {i}: out of bounds")));
        }
        out.push(Section {
            kind,
            offset,
            len,
            crc: u32_at(e, 24),
        });
    }
    Ok(out)
}

/// The bytes of a section.
pub fn section_bytes<'a>(bytes: &'a [u8], s: &Section) -> &'a [u8] {
    &bytes[s.offset as usize..(s.offset + s.len) as usize]
}

/// Check every section's checksum (in parallel; large sections in 64 MiB pieces).
pub fn verify_sections(bytes: &[u8], sections: &[Section]) -> Result<(), FormatError> {
    const PIECE: usize = 64 << 20;
    sections.par_iter().enumerate().try_for_each(|(i, s)| {
        let b = section_bytes(bytes, s);
        let crc = b
            .par_chunks(PIECE)
            .map(|p| {
                let mut h = crc32fast::Hasher::new();
                h.update(p);
                h
            })
            .collect::<Vec<_>>()
            .into_iter()
            .reduce(|mut a, b| {
                a.combine(&b);
                a
            })
            .map_or_else(|| crc32fast::hash(&[]), |h| h.finalize());
        if crc == s.crc {
            Ok(())
        } else {
            Err(FormatError::Checksum {
                index: i,
                kind: s.kind,
            })
        }
    })
}

/// Writes sections one after another, then the table and the header.
pub struct Writer<W: Write + Seek> {
    out: W,
    pos: u64,
    sections: Vec<Section>,
}

impl<W: Write + Seek> Writer<W> {
    /// Start a file (the header is written by [`Writer::finish`]).
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(&[0u8; HEADER_LEN])?;
        Ok(Writer {
            out,
            pos: HEADER_LEN as u64,
            sections: Vec::new(),
        })
    }

    fn pad(&mut self) -> io::Result<()> {
        let pad = self.pos.next_multiple_of(ALIGN as u64) - self.pos;
        self.out.write_all(&[0u8; ALIGN][..pad as usize])?;
        self.pos += pad;
        Ok(())
    }

    /// Append a section; returns its number.
    pub fn section(&mut self, kind: Kind, bytes: &[u8]) -> io::Result<u32> {
        self.section_with_crc(kind, bytes, crc32fast::hash(bytes))
    }

    /// Append a section whose CRC is already known (copied verbatim from another index).
    pub fn section_with_crc(&mut self, kind: Kind, bytes: &[u8], crc: u32) -> io::Result<u32> {
        self.pad()?;
        self.out.write_all(bytes)?;
        self.sections.push(Section {
            kind,
            offset: self.pos,
            len: bytes.len() as u64,
            crc,
        });
        self.pos += bytes.len() as u64;
        Ok(self.sections.len() as u32 - 1)
    }

    /// Write the table and header; returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.pad()?;
        let table_offset = self.pos;
        let mut table = Vec::with_capacity(self.sections.len() * TABLE_ENTRY_LEN);
        for s in &self.sections {
            table.extend_from_slice(&(s.kind as u32).to_le_bytes());
            table.extend_from_slice(&0u32.to_le_bytes());
            table.extend_from_slice(&s.offset.to_le_bytes());
            table.extend_from_slice(&s.len.to_le_bytes());
            table.extend_from_slice(&s.crc.to_le_bytes());
            table.extend_from_slice(&0u32.to_le_bytes());
        }
        self.out.write_all(&table)?;
        let file_len = table_offset + table.len() as u64;
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(MAGIC);
        h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        h[16..20].copy_from_slice(&(self.sections.len() as u32).to_le_bytes());
        h[24..32].copy_from_slice(&table_offset.to_le_bytes());
        h[32..40].copy_from_slice(&file_len.to_le_bytes());
        h[40..44].copy_from_slice(&crc32fast::hash(&table).to_le_bytes());
        let crc = crc32fast::hash(&h[..60]);
        h[60..64].copy_from_slice(&crc.to_le_bytes());
        self.out.seek(SeekFrom::Start(0))?;
        self.out.write_all(&h)?;
        self.out.seek(SeekFrom::Start(file_len))?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_byte_is_covered() {
        let mut w = Writer::new(io::Cursor::new(Vec::new())).unwrap();
        w.section(Kind::Manifest, b"{}").unwrap();
        w.section(Kind::Codes, &[7u8; 100]).unwrap();
        let bytes = w.finish().unwrap().into_inner();
        let table = read_table(&bytes).unwrap();
        assert_eq!(table.len(), 2);
        verify_sections(&bytes, &table).unwrap();
        assert_eq!(section_bytes(&bytes, &table[1]), &[7u8; 100]);
        // Flipping any bit of a header, table or section byte is caught.
        let covered: Vec<usize> = (0..60)
            .chain(table[0].offset as usize..table[0].offset as usize + 2)
            .chain(table[1].offset as usize..table[1].offset as usize + 100)
            .chain(bytes.len() - 2 * TABLE_ENTRY_LEN..bytes.len())
            .collect();
        for i in covered {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            let ok = read_table(&b).and_then(|t| verify_sections(&b, &t));
            assert!(ok.is_err(), "flip at byte {i} not detected");
        }
        assert!(matches!(
            read_table(&bytes[..bytes.len() - 1]),
            Err(FormatError::Header(_))
        ));
    }
}
