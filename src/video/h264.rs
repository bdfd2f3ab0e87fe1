//! What the skip plan needs to know about H.264 packets in the `avcC` (length-prefixed)
//! layout of MP4 and Matroska, read from the packets' bytes without decoding them
//! (ITU-T H.264 §7.3–7.4): which packets hold a reference picture, which are IDR pictures,
//! and what decoder state a packet leaves behind that outlives an IDR picture.
//!
//! An IDR picture empties the reference buffer, so the pictures from it to the next IDR can
//! be decoded by a decoder that never saw the earlier packets ([`super::decode`] does, two
//! stretches of a video at once). What a decoder keeps across an IDR picture, and which can
//! change pixels, is what [`Scanner`] tracks:
//! - parameter sets (SPS, PPS): a fresh decoder holds the `avcC` record's; a stretch may
//!   start at an IDR only while every in-band set so far repeated those byte for byte;
//! - FFmpeg's `x264_build` (from x264's version SEI, which enables workarounds for old
//!   x264 bugs): handed to the fresh decoder as its `x264_build` option;
//! - any SEI message other than the known harmless ones (film grain, for one, persists), any
//!   NAL unit type other than slices, SEI, parameter sets, delimiters and filler, and any
//!   malformed length: no stretch may start after them.

/// The `avcC` decoder configuration record's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AvcConfig {
    /// Bytes in each NAL unit's length prefix (1, 2 or 4).
    pub(crate) length_size: usize,
    /// The record's SPS and PPS NAL units, in the order a decoder reads them.
    pub(crate) sets: Vec<Vec<u8>>,
}

/// Parse an `avcC` record (ISO/IEC 14496-15 §5.3.3.1); `None` for anything else (Annex B
/// extradata, a truncated record, a length size of 3).
pub(crate) fn avc_config(extradata: &[u8]) -> Option<AvcConfig> {
    if extradata.len() < 7 || extradata[0] != 1 {
        return None;
    }
    let length_size = usize::from(extradata[4] & 3) + 1;
    if length_size == 3 {
        return None;
    }
    let mut at = 5;
    let mut sets = Vec::new();
    for count_mask in [0x1f_u8, 0xff] {
        let count = *extradata.get(at)? & count_mask;
        at += 1;
        for _ in 0..count {
            let len = usize::from(u16::from_be_bytes([
                *extradata.get(at)?,
                *extradata.get(at + 1)?,
            ]));
            at += 2;
            let nal = extradata.get(at..at + len)?;
            if nal.is_empty() {
                return None;
            }
            sets.push(nal.to_vec());
            at += len;
        }
    }
    Some(AvcConfig { length_size, sets })
}

/// Split a length-prefixed packet into NAL units; `None` if a length runs past the end or is
/// zero.
pub(crate) fn nal_units(data: &[u8], length_size: usize) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let prefix = data.get(at..at + length_size)?;
        let len = prefix
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        at += length_size;
        if len == 0 {
            return None;
        }
        out.push(data.get(at..at.checked_add(len)?)?);
        at += len;
    }
    Some(out)
}

/// A NAL unit's payload with emulation-prevention bytes (`00 00 03`) removed.
fn rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal.get(1..).unwrap_or_default() {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Unsigned Exp-Golomb code at bit `pos` of `data`; advances `pos`.
fn ue(data: &[u8], pos: &mut usize) -> Option<u32> {
    let bit = |p: usize| -> Option<u32> { Some(u32::from(data.get(p / 8)? >> (7 - p % 8) & 1)) };
    let mut zeros = 0;
    while bit(*pos)? == 0 {
        zeros += 1;
        *pos += 1;
        if zeros > 31 {
            return None;
        }
    }
    *pos += 1;
    let mut v: u64 = 1;
    for _ in 0..zeros {
        v = (v << 1) | u64::from(bit(*pos)?);
        *pos += 1;
    }
    u32::try_from(v - 1).ok()
}

/// `(nal_unit_type, id)` of an SPS (id after `profile_idc`, the constraint flags and
/// `level_idc`) or a PPS (its first field).
fn set_key(nal: &[u8]) -> Option<(u8, u32)> {
    let kind = nal.first()? & 0x1f;
    let body = rbsp(nal);
    let mut pos = match kind {
        7 => 24,
        8 => 0,
        _ => return None,
    };
    Some((kind, ue(&body, &mut pos)?))
}

/// SEI payload types that change no pixel and leave no state behind that could: buffering
/// period, picture timing, pan-scan, filler, registered and unregistered user data, recovery
/// point, frame packing, display orientation, mastering display, content light level,
/// alternative transfer characteristics.
const HARMLESS_SEI: [u32; 12] = [0, 1, 2, 3, 4, 5, 6, 45, 47, 137, 144, 147];

/// x264's user-data UUID (`dc45e9bd-e6d9-48b7-962c-d820d923eeef`).
const X264_UUID: [u8; 16] = [
    0xdc, 0x45, 0xe9, 0xbd, 0xe6, 0xd9, 0x48, 0xb7, 0x96, 0x2c, 0xd8, 0x20, 0xd9, 0x23, 0xee, 0xef,
];

/// What an SEI NAL unit does to the state a fresh decoder would lack.
#[derive(Debug, Default, PartialEq, Eq)]
struct SeiFacts {
    /// A payload outside [`HARMLESS_SEI`], or one that could not be read.
    unusual: bool,
    /// `N` from an unregistered user-data payload `x264 - core N`.
    x264_build: Option<i32>,
}

fn sei(nal: &[u8]) -> SeiFacts {
    let body = rbsp(nal);
    let mut facts = SeiFacts::default();
    let mut at = 0;
    // Payloads until the RBSP trailing bits (0x80).
    while at < body.len() && body[at] != 0x80 {
        let mut field = || -> Option<u32> {
            let mut v = 0u32;
            loop {
                let b = *body.get(at)?;
                at += 1;
                v = v.checked_add(u32::from(b))?;
                if b != 0xff {
                    return Some(v);
                }
            }
        };
        let (Some(kind), Some(size)) = (field(), field()) else {
            facts.unusual = true;
            return facts;
        };
        let Some(payload) = body.get(at..at + size as usize) else {
            facts.unusual = true;
            return facts;
        };
        at += size as usize;
        if !HARMLESS_SEI.contains(&kind) {
            facts.unusual = true;
        }
        if kind == 5 && payload.len() > 16 {
            let text = &payload[16..];
            // FFmpeg reads `x264 - core %d` from any unregistered payload, whatever its UUID;
            // a version string in any other shape is treated as unusual.
            if let Some(rest) = text.strip_prefix(b"x264 - core ".as_slice()) {
                let digits: Vec<u8> = rest
                    .iter()
                    .copied()
                    .take_while(u8::is_ascii_digit)
                    .collect();
                let build = std::str::from_utf8(&digits)
                    .ok()
                    .and_then(|d| d.parse::<i32>().ok());
                match build {
                    Some(b) if b > 0 && digits[0] != b'0' && payload[..16] == X264_UUID => {
                        facts.x264_build = Some(b);
                    }
                    _ => facts.unusual = true,
                }
            } else if text.windows(4).any(|w| w == b"x264") {
                facts.unusual = true;
            }
        }
    }
    facts
}

/// One packet's facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PacketFacts {
    /// Some slice has `nal_ref_idc != 0`: other pictures may reference this one, so it is
    /// decoded even when unsampled.
    pub(crate) reference: bool,
    /// Every slice is an IDR slice (type 5), and there is at least one.
    pub(crate) idr: bool,
}

/// Reads a stream's packets in decode order and says where a fresh decoder may start.
#[derive(Debug)]
pub(crate) struct Scanner {
    length_size: usize,
    /// Parameter sets a fresh decoder holds (from `avcC`), by `(type, id)`.
    fresh: Vec<((u8, u32), Vec<u8>)>,
    /// Set once the decoder's state may differ from a fresh one for good.
    tainted: bool,
    /// What FFmpeg's `x264_build` is after the packets so far (`-1`: none seen).
    x264_build: i32,
}

impl Scanner {
    /// A scanner for a stream with this `avcC` record. If the record's own sets cannot be
    /// read or repeat an id, no packet is a starting point.
    pub(crate) fn new(config: &AvcConfig) -> Scanner {
        let mut fresh: Vec<((u8, u32), Vec<u8>)> = Vec::new();
        let mut tainted = false;
        for nal in &config.sets {
            match set_key(nal) {
                Some(key) if !fresh.iter().any(|(k, _)| *k == key) => {
                    fresh.push((key, nal.clone()));
                }
                _ => tainted = true,
            }
        }
        Scanner {
            length_size: config.length_size,
            fresh,
            tainted,
            x264_build: -1,
        }
    }

    /// Whether a fresh decoder given the `avcC` record and `x264_build` option [`Self::x264_build`]
    /// is in the same state, for what follows, as one that decoded every packet so far. Ask
    /// before [`Self::packet`] with the candidate packet.
    pub(crate) fn can_start_here(&self) -> bool {
        !self.tainted
    }

    /// FFmpeg's `x264_build` after the packets so far.
    pub(crate) fn x264_build(&self) -> i32 {
        self.x264_build
    }

    /// Read the next packet in decode order. `None`: its NAL units cannot be split, or it
    /// has no slice (one picture per packet is what the skip plan assumes).
    pub(crate) fn packet(&mut self, data: &[u8]) -> Option<PacketFacts> {
        let nals = nal_units(data, self.length_size)?;
        let mut slices = 0;
        let mut idr_slices = 0;
        let mut reference = false;
        for nal in nals {
            let header = nal[0];
            if header & 0x80 != 0 {
                // forbidden_zero_bit
                return None;
            }
            match header & 0x1f {
                kind @ (1 | 5) => {
                    slices += 1;
                    idr_slices += usize::from(kind == 5);
                    reference |= header & 0x60 != 0;
                }
                6 => {
                    let facts = sei(nal);
                    self.tainted |= facts.unusual;
                    if let Some(b) = facts.x264_build {
                        self.x264_build = b;
                    }
                }
                7 | 8 => match set_key(nal) {
                    Some(key) => {
                        let same = self
                            .fresh
                            .iter()
                            .any(|(k, bytes)| *k == key && bytes.as_slice() == nal);
                        self.tainted |= !same;
                    }
                    None => self.tainted = true,
                },
                // Access unit delimiter, end of sequence, end of stream, filler.
                9..=12 => {}
                _ => self.tainted = true,
            }
        }
        (slices > 0).then_some(PacketFacts {
            reference,
            idr: idr_slices == slices,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Length-prefix (4 bytes) each NAL unit.
    fn packet(nals: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for n in nals {
            out.extend_from_slice(&(n.len() as u32).to_be_bytes());
            out.extend_from_slice(n);
        }
        out
    }

    // SPS id 0 (profile 100, level 30; `ue` 0 = bit 1), PPS id 0 and id 1 (`ue` 1 = 010).
    const SPS0: &[u8] = &[0x67, 100, 0, 30, 0b1000_0000];
    const SPS0_OTHER: &[u8] = &[0x67, 100, 0, 30, 0b1100_0000];
    const PPS0: &[u8] = &[0x68, 0b1100_0000];
    const PPS1: &[u8] = &[0x68, 0b0101_0000];

    fn config() -> AvcConfig {
        let mut rec = vec![1, 100, 0, 30, 0xff, 0xe1];
        rec.extend_from_slice(&(SPS0.len() as u16).to_be_bytes());
        rec.extend_from_slice(SPS0);
        rec.push(1);
        rec.extend_from_slice(&(PPS0.len() as u16).to_be_bytes());
        rec.extend_from_slice(PPS0);
        avc_config(&rec).unwrap()
    }

    fn x264_sei(text: &[u8]) -> Vec<u8> {
        let mut payload = X264_UUID.to_vec();
        payload.extend_from_slice(text);
        let mut nal = vec![0x06, 5, payload.len() as u8];
        nal.extend_from_slice(&payload);
        nal.push(0x80);
        nal
    }

    #[test]
    fn reads_the_avcc_record() {
        let c = config();
        assert_eq!(c.length_size, 4);
        assert_eq!(c.sets, vec![SPS0.to_vec(), PPS0.to_vec()]);
        assert_eq!(avc_config(&[0, 0, 0, 1, 0x67]), None);
        assert_eq!(avc_config(&[1, 100, 0, 30, 0xff, 0xe1, 0, 9, 0x67]), None);
    }

    #[test]
    fn splits_nal_units_and_refuses_bad_lengths() {
        assert_eq!(
            nal_units(&packet(&[&[0x65, 1], &[0x06, 2, 3]]), 4),
            Some(vec![&[0x65, 1][..], &[0x06, 2, 3][..]])
        );
        assert_eq!(nal_units(&[0, 0, 0, 5, 0x65], 4), None);
        assert_eq!(nal_units(&[0, 0, 0, 0], 4), None);
        assert_eq!(nal_units(&[0, 0], 4), None);
    }

    #[test]
    fn exp_golomb_and_emulation_prevention() {
        let mut pos = 0;
        // 1 | 010 | 011 | 00100 → 0, 1, 2, 3
        let data = [0b1010_0110, 0b0100_0000];
        let got: Vec<u32> = (0..4).map(|_| ue(&data, &mut pos).unwrap()).collect();
        assert_eq!(got, [0, 1, 2, 3]);
        assert_eq!(rbsp(&[0x06, 0, 0, 3, 1, 0, 0, 3]), vec![0, 0, 1, 0, 0]);
    }

    #[test]
    fn tracks_what_outlives_an_idr_picture() {
        let mut s = Scanner::new(&config());
        assert!(s.can_start_here());
        // x264's version SEI with an IDR slice (nal_ref_idc 3).
        let f = s
            .packet(&packet(&[
                &x264_sei(b"x264 - core 157 r2935"),
                &[0x65, 0x88],
            ]))
            .unwrap();
        assert_eq!(
            f,
            PacketFacts {
                reference: true,
                idr: true
            }
        );
        assert_eq!(s.x264_build(), 157);
        // A non-reference P/B slice, then the same parameter sets again in-band.
        let f = s.packet(&packet(&[&[0x01, 0x9a]])).unwrap();
        assert!(!f.reference && !f.idr);
        s.packet(&packet(&[SPS0, PPS0, &[0x65, 0x88]])).unwrap();
        assert!(s.can_start_here());
        // A packet with no slice is refused; a PPS the record lacks taints for good.
        assert_eq!(s.packet(&packet(&[PPS1])), None);
        assert!(!s.can_start_here());
        s.packet(&packet(&[PPS0, &[0x65, 0x88]])).unwrap();
        assert!(!s.can_start_here());
    }

    #[test]
    fn a_changed_set_an_odd_sei_or_nal_type_taints() {
        let mut s = Scanner::new(&config());
        s.packet(&packet(&[SPS0_OTHER, &[0x65, 0x88]])).unwrap();
        assert!(!s.can_start_here());
        // Film grain characteristics (SEI 19) persist across pictures.
        let mut s = Scanner::new(&config());
        s.packet(&packet(&[&[0x06, 19, 1, 0, 0x80], &[0x41, 0x9a]]))
            .unwrap();
        assert!(!s.can_start_here());
        // Recovery point and picture timing are harmless.
        let mut s = Scanner::new(&config());
        s.packet(&packet(&[
            &[0x06, 6, 1, 0x80, 1, 1, 0, 0x80],
            &[0x41, 0x9a],
        ]))
        .unwrap();
        assert!(s.can_start_here());
        // A subset SPS (SVC/MVC) or an SEI cut short.
        let mut s = Scanner::new(&config());
        s.packet(&packet(&[&[0x6f, 1], &[0x41, 0x9a]])).unwrap();
        assert!(!s.can_start_here());
        let mut s = Scanner::new(&config());
        s.packet(&packet(&[&[0x06, 5, 40, 1, 2], &[0x41, 0x9a]]))
            .unwrap();
        assert!(!s.can_start_here());
        // A version string FFmpeg would read differently.
        let mut s = Scanner::new(&config());
        s.packet(&packet(&[&x264_sei(b"x264 - core 0157"), &[0x65, 0x88]]))
            .unwrap();
        assert!(!s.can_start_here());
    }
}
