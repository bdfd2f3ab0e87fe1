//! What the decoding plan needs to know about H.264 packets in the `avcC` (length-prefixed)
//! layout of MP4 and Matroska, read from the packets' bytes without decoding them
//! (ITU-T H.264 §7.3–7.4): which packets hold a reference picture, which are IDR pictures,
//! where each picture stands in the frame-number and picture-order sequences
//! ([`sequence_holds`]), and what decoder state a packet leaves behind that outlives an IDR
//! picture.
//!
//! An IDR picture empties the reference buffer, so the pictures from it to the next IDR can
//! be decoded by a decoder that never saw the earlier packets ([`super::decode`] does,
//! several stretches of a video at once). What a decoder keeps across an IDR picture, and which can
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

/// `n` bits at bit `pos` of `data`, as an unsigned number; advances `pos`.
fn bits(data: &[u8], pos: &mut usize, n: u32) -> Option<u32> {
    let mut v = 0u32;
    for _ in 0..n {
        let b = u32::from(data.get(*pos / 8)? >> (7 - *pos % 8) & 1);
        v = (v << 1) | b;
        *pos += 1;
    }
    Some(v)
}

/// Signed Exp-Golomb code.
fn se(data: &[u8], pos: &mut usize) -> Option<i32> {
    let k = ue(data, pos)?;
    let magnitude = i32::try_from(k.div_ceil(2)).ok()?;
    Some(if k % 2 == 1 { magnitude } else { -magnitude })
}

/// The SPS fields a slice header's first fields depend on (§7.3.2.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sps {
    separate_colour_plane: bool,
    log2_max_frame_num: u32,
    poc_type: u32,
    log2_max_poc_lsb: u32,
    frame_mbs_only: bool,
}

fn parse_sps(nal: &[u8]) -> Option<Sps> {
    let d = rbsp(nal);
    let profile = *d.first()?;
    let mut pos = 24;
    ue(&d, &mut pos)?; // seq_parameter_set_id
    let mut separate_colour_plane = false;
    if [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].contains(&profile) {
        let chroma_format_idc = ue(&d, &mut pos)?;
        if chroma_format_idc == 3 {
            separate_colour_plane = bits(&d, &mut pos, 1)? == 1;
        }
        ue(&d, &mut pos)?; // bit_depth_luma_minus8
        ue(&d, &mut pos)?; // bit_depth_chroma_minus8
        bits(&d, &mut pos, 1)?; // qpprime_y_zero_transform_bypass_flag
        if bits(&d, &mut pos, 1)? == 1 {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if bits(&d, &mut pos, 1)? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i32, 8i32);
                    for _ in 0..size {
                        if next != 0 {
                            next = (last + se(&d, &mut pos)? + 256).rem_euclid(256);
                        }
                        if next != 0 {
                            last = next;
                        }
                    }
                }
            }
        }
    }
    let log2_max_frame_num = ue(&d, &mut pos)?.checked_add(4).filter(|&v| v <= 16)?;
    let poc_type = ue(&d, &mut pos)?;
    let log2_max_poc_lsb = match poc_type {
        0 => ue(&d, &mut pos)?.checked_add(4).filter(|&v| v <= 16)?,
        2 => 0,
        // Type 1 (a cycle of offsets) is not followed here.
        _ => return None,
    };
    ue(&d, &mut pos)?; // max_num_ref_frames
    bits(&d, &mut pos, 1)?; // gaps_in_frame_num_value_allowed_flag
    ue(&d, &mut pos)?; // pic_width_in_mbs_minus1
    ue(&d, &mut pos)?; // pic_height_in_map_units_minus1
    let frame_mbs_only = bits(&d, &mut pos, 1)? == 1;
    Some(Sps {
        separate_colour_plane,
        log2_max_frame_num,
        poc_type,
        log2_max_poc_lsb,
        frame_mbs_only,
    })
}

/// The PPS fields a slice header's first fields depend on (§7.3.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pps {
    sps_id: u32,
    bottom_field_pic_order_in_frame_present: bool,
}

fn parse_pps(nal: &[u8]) -> Option<Pps> {
    let d = rbsp(nal);
    let mut pos = 0;
    ue(&d, &mut pos)?; // pic_parameter_set_id
    let sps_id = ue(&d, &mut pos)?;
    bits(&d, &mut pos, 1)?; // entropy_coding_mode_flag
    let bottom_field_pic_order_in_frame_present = bits(&d, &mut pos, 1)? == 1;
    Some(Pps {
        sps_id,
        bottom_field_pic_order_in_frame_present,
    })
}

/// A picture's place in the frame-number and picture-order sequences, from its slice
/// headers (§7.3.3; every slice of the packet agrees, or there is no picture).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Picture {
    /// `frame_num`.
    pub(crate) frame_num: u32,
    /// `1 << log2_max_frame_num`.
    pub(crate) max_frame_num: u32,
    /// Picture order count type (0 or 2).
    pub(crate) poc_type: u32,
    /// `pic_order_cnt_lsb` (type 0).
    pub(crate) poc_lsb: u32,
    /// `1 << log2_max_pic_order_cnt_lsb` (type 0).
    pub(crate) max_poc_lsb: u32,
    /// `delta_pic_order_cnt_bottom` (type 0, 0 when absent).
    pub(crate) delta_bottom: i32,
}

/// The first fields of a slice header: `(first_mb_in_slice, picture)`; `None` for a field
/// picture, a header that cannot be read, or a PPS or SPS not held.
fn slice_header(nal: &[u8], pps: &[(u32, Pps)], sps: &[(u32, Sps)]) -> Option<(u32, Picture)> {
    let d = rbsp(nal);
    let idr = nal.first()? & 0x1f == 5;
    let mut pos = 0;
    let first_mb = ue(&d, &mut pos)?;
    if ue(&d, &mut pos)? > 9 {
        return None;
    }
    let pps_id = ue(&d, &mut pos)?;
    let p = pps.iter().find(|(id, _)| *id == pps_id)?.1;
    let s = sps.iter().find(|(id, _)| *id == p.sps_id)?.1;
    if s.separate_colour_plane {
        bits(&d, &mut pos, 2)?;
    }
    let frame_num = bits(&d, &mut pos, s.log2_max_frame_num)?;
    if !s.frame_mbs_only && bits(&d, &mut pos, 1)? == 1 {
        // field_pic_flag: fields pair up across slices and packets; not followed here.
        return None;
    }
    if idr {
        ue(&d, &mut pos)?; // idr_pic_id
    }
    let (mut poc_lsb, mut delta_bottom) = (0, 0);
    if s.poc_type == 0 {
        poc_lsb = bits(&d, &mut pos, s.log2_max_poc_lsb)?;
        if p.bottom_field_pic_order_in_frame_present {
            delta_bottom = se(&d, &mut pos)?;
        }
    }
    Some((
        first_mb,
        Picture {
            frame_num,
            max_frame_num: 1 << s.log2_max_frame_num,
            poc_type: s.poc_type,
            poc_lsb,
            max_poc_lsb: 1 << s.log2_max_poc_lsb,
            delta_bottom,
        },
    ))
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

/// The SPSs and PPSs a decoder holds, by id.
type HeldSets = (Vec<(u32, Sps)>, Vec<(u32, Pps)>);

/// Apply an SPS or PPS to the held sets (replacing one of the same id), or forget them all
/// if it cannot be read; returns its `(nal_unit_type, id)` when that can be read.
fn read_set(sets: &mut Option<HeldSets>, nal: &[u8]) -> Option<(u8, u32)> {
    let key = set_key(nal);
    let Some((sps, pps)) = sets else { return key };
    let ok = match key {
        Some((7, id)) => parse_sps(nal).map(|s| {
            sps.retain(|(i, _)| *i != id);
            sps.push((id, s));
        }),
        Some((8, id)) => parse_pps(nal).map(|p| {
            pps.retain(|(i, _)| *i != id);
            pps.push((id, p));
        }),
        _ => None,
    };
    if ok.is_none() {
        *sets = None;
    }
    key
}

/// Whether a decoder that reads only the pictures marked `decoded` sees the same frame-number
/// and picture-order sequences, as far as they steer it, as one that reads every picture:
/// - frame numbers: each picture's is its predecessor's or one more (modulo its maximum), an
///   IDR picture's 0, in the whole sequence and in the decoded one (FFmpeg fills any other
///   step with made-up reference pictures, which the two decoders would make differently);
/// - picture order (output order): within each IDR period, ordering the pictures by order
///   count orders them by timestamp, so a skipped picture's order count cannot make the
///   full decoder output, hold back or drop a picture differently. Type 0 follows §8.2.1.1
///   (`prevPicOrderCntMsb/Lsb` from the previous reference picture); type 2 outputs in
///   decoding order, so the timestamps must rise in it.
///
/// `pictures[i]`, `idr[i]`, `reference[i]`, `decoded[i]`, `pts[i]`: packet `i` in decoding
/// order.
pub(crate) fn sequence_holds(
    pictures: &[Picture],
    idr: &[bool],
    reference: &[bool],
    decoded: &[bool],
    pts: &[i64],
) -> bool {
    let steps_ok = |only_decoded: bool| {
        let mut prev: Option<u32> = None;
        for (i, p) in pictures.iter().enumerate() {
            if only_decoded && !decoded[i] {
                continue;
            }
            let ok = if idr[i] {
                p.frame_num == 0
            } else {
                prev.is_some_and(|q| p.frame_num == q || p.frame_num == (q + 1) % p.max_frame_num)
            };
            if !ok {
                return false;
            }
            prev = Some(p.frame_num);
        }
        true
    };
    if !steps_ok(false) || !steps_ok(true) {
        return false;
    }
    // (timestamp, order count) of each picture of the current IDR period.
    let mut period: Vec<(i64, i64)> = Vec::new();
    let period_ok = |period: &mut Vec<(i64, i64)>| {
        period.sort_unstable();
        period.windows(2).all(|w| w[0].1 < w[1].1)
    };
    let (mut prev_msb, mut prev_lsb) = (0i64, 0i64);
    for (i, p) in pictures.iter().enumerate() {
        if idr[i] {
            if !period_ok(&mut period) {
                return false;
            }
            period.clear();
            (prev_msb, prev_lsb) = (0, 0);
        }
        let poc = match p.poc_type {
            0 => {
                let (lsb, max) = (i64::from(p.poc_lsb), i64::from(p.max_poc_lsb));
                let msb = if lsb < prev_lsb && prev_lsb - lsb >= max / 2 {
                    prev_msb + max
                } else if lsb > prev_lsb && lsb - prev_lsb > max / 2 {
                    prev_msb - max
                } else {
                    prev_msb
                };
                if reference[i] {
                    (prev_msb, prev_lsb) = (msb, lsb);
                }
                let top = msb + lsb;
                top.min(top + i64::from(p.delta_bottom))
            }
            // Type 2: output in decoding order.
            _ => period.len() as i64,
        };
        period.push((pts[i], poc));
    }
    period_ok(&mut period)
}

/// One packet's facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PacketFacts {
    /// Some slice has `nal_ref_idc != 0`: other pictures may reference this one, so it is
    /// decoded even when unsampled.
    pub(crate) reference: bool,
    /// Every slice is an IDR slice (type 5), and there is at least one.
    pub(crate) idr: bool,
    /// Where the picture stands in the frame-number and picture-order sequences; `None` if
    /// its slice headers cannot be read or disagree (see [`sequence_holds`]).
    pub(crate) picture: Option<Picture>,
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
    /// The parameter sets a decoder holds now, as far as slice headers need them; `None`
    /// once one could not be read.
    sets: Option<HeldSets>,
}

impl Scanner {
    /// A scanner for a stream with this `avcC` record. If the record's own sets cannot be
    /// read or repeat an id, no packet is a starting point.
    pub(crate) fn new(config: &AvcConfig) -> Scanner {
        let mut fresh: Vec<((u8, u32), Vec<u8>)> = Vec::new();
        let mut tainted = false;
        let mut sets = Some((Vec::new(), Vec::new()));
        for nal in &config.sets {
            match read_set(&mut sets, nal) {
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
            sets,
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
        // The first slice's header, and the last slice's first macroblock.
        let mut picture: Option<Option<Picture>> = None;
        let mut last_mb = 0;
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
                    let this = self
                        .sets
                        .as_ref()
                        .and_then(|(sps, pps)| slice_header(nal, pps, sps));
                    picture = Some(match (picture, this) {
                        // The first slice starts the picture at macroblock 0.
                        (None, Some((0, pic))) => {
                            last_mb = 0;
                            Some(pic)
                        }
                        // Later slices follow in order and agree on the picture.
                        (Some(Some(first)), Some((mb, pic))) if mb > last_mb && pic == first => {
                            last_mb = mb;
                            Some(first)
                        }
                        _ => None,
                    });
                }
                6 => {
                    let facts = sei(nal);
                    self.tainted |= facts.unusual;
                    if let Some(b) = facts.x264_build {
                        self.x264_build = b;
                    }
                }
                7 | 8 => {
                    let same = read_set(&mut self.sets, nal).is_some_and(|key| {
                        self.fresh
                            .iter()
                            .any(|(k, bytes)| *k == key && bytes.as_slice() == nal)
                    });
                    self.tainted |= !same;
                }
                // Access unit delimiter, end of sequence, end of stream, filler.
                9..=12 => {}
                _ => self.tainted = true,
            }
        }
        (slices > 0).then_some(PacketFacts {
            reference,
            idr: idr_slices == slices,
            picture: picture.flatten(),
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

    /// Bytes from a string of '0'/'1' (other characters ignored), zero-padded.
    fn bitstring(header: u8, text: &str) -> Vec<u8> {
        let bits: Vec<u8> = text
            .bytes()
            .filter(|b| b"01".contains(b))
            .map(|b| b - b'0')
            .collect();
        let mut out = vec![header];
        for chunk in bits.chunks(8) {
            let mut byte = 0u8;
            for (i, b) in chunk.iter().enumerate() {
                byte |= b << (7 - i);
            }
            out.push(byte);
        }
        out
    }

    /// Baseline SPS id 0: 4-bit frame_num, order count type 0 with a 6-bit lsb, frames only.
    fn baseline_sps() -> Vec<u8> {
        let mut nal = vec![0x67, 66, 0, 30];
        nal.extend_from_slice(&bitstring(0, "1 1 1 011 010 0 1 1 1 1 0 0 1")[1..]);
        nal
    }

    /// A slice of PPS 0: (nal header, first_mb, frame_num, lsb).
    fn slice(header: u8, first_mb: &str, frame_num: &str, lsb: &str) -> Vec<u8> {
        let idr_pic_id = if header & 0x1f == 5 { "1" } else { "" };
        bitstring(
            header,
            &format!("{first_mb} 00110 1 {frame_num} {idr_pic_id} {lsb} 1"),
        )
    }

    /// A picture of a 4-bit frame number and a 6-bit order count lsb (type 0), as
    /// [`baseline_sps`] declares them.
    fn picture(frame_num: u32, poc_lsb: u32) -> Picture {
        Picture {
            frame_num,
            max_frame_num: 16,
            poc_type: 0,
            poc_lsb,
            max_poc_lsb: 64,
            delta_bottom: 0,
        }
    }

    #[test]
    fn reads_frame_numbers_and_order_counts_from_slice_headers() {
        let sps = baseline_sps();
        let pps = bitstring(0x68, "1 1 0 0 1");
        let mut s = Scanner::new(&AvcConfig {
            length_size: 4,
            sets: vec![sps, pps],
        });
        let want = picture;
        let idr = s
            .packet(&packet(&[&slice(0x65, "1", "0000", "000000")]))
            .unwrap();
        assert_eq!(idr.picture, Some(want(0, 0)));
        // Two slices of one picture: the second starts at macroblock 3 (ue 010 0 = 3).
        let two = packet(&[
            &slice(0x41, "1", "0001", "000110"),
            &slice(0x41, "00100", "0001", "000110"),
        ]);
        assert_eq!(s.packet(&two).unwrap().picture, Some(want(1, 6)));
        // Slices that disagree, or a second picture starting at macroblock 0: no picture.
        let bad = packet(&[
            &slice(0x41, "1", "0010", "001000"),
            &slice(0x41, "00100", "0011", "001000"),
        ]);
        assert_eq!(s.packet(&bad).unwrap().picture, None);
        let again = packet(&[
            &slice(0x41, "1", "0010", "001000"),
            &slice(0x41, "1", "0010", "001000"),
        ]);
        assert_eq!(s.packet(&again).unwrap().picture, None);
        // A PPS naming an SPS that is not held.
        let mut s = Scanner::new(&AvcConfig {
            length_size: 4,
            sets: vec![baseline_sps(), bitstring(0x68, "1 010 0 0 1")],
        });
        assert_eq!(
            s.packet(&packet(&[&slice(0x65, "1", "0000", "000000")]))
                .unwrap()
                .picture,
            None
        );
    }

    #[test]
    fn frame_number_steps_and_order_counts_must_agree_with_the_timestamps() {
        let pic = picture;
        // I0 P3 b1 b2 P6 b4 b5 in decoding order (order counts twice the display index).
        let pics = [
            pic(0, 0),
            pic(1, 6),
            pic(2, 2),
            pic(2, 4),
            pic(2, 12),
            pic(3, 8),
            pic(3, 10),
        ];
        let idr = [true, false, false, false, false, false, false];
        let reference = [true, true, false, false, true, false, false];
        let pts = [0, 3, 1, 2, 6, 4, 5];
        let all = [true; 7];
        let refs_only = reference;
        assert!(sequence_holds(&pics, &idr, &reference, &all, &pts));
        assert!(sequence_holds(&pics, &idr, &reference, &refs_only, &pts));
        // A skipped picture whose frame number jumps (FFmpeg would make up pictures).
        let mut jump = pics;
        jump[2].frame_num = 7;
        assert!(!sequence_holds(&jump, &idr, &reference, &refs_only, &pts));
        // A skipped picture whose order count puts it after the next P-picture.
        let mut late = pics;
        late[3].poc_lsb = 14;
        assert!(!sequence_holds(&late, &idr, &reference, &refs_only, &pts));
        // Steps of one between pictures, but of two between the decoded ones.
        let mut steps = pics;
        steps[3].frame_num = 3;
        steps[4].frame_num = 3;
        steps[5].frame_num = 4;
        steps[6].frame_num = 4;
        assert!(sequence_holds(&steps, &idr, &reference, &all, &pts));
        assert!(!sequence_holds(&steps, &idr, &reference, &refs_only, &pts));
        // An IDR picture with a frame number other than 0.
        let mut first = pics;
        first[0].frame_num = 1;
        assert!(!sequence_holds(&first, &idr, &reference, &all, &pts));
        // Order counts wrap at 64: I 0, P 24, b 12, P 48, b 36, P 8 (72 after the wrap),
        // b 60 (its msb from the P before it: 60 is below 72).
        let wrap = [
            pic(0, 0),
            pic(1, 24),
            pic(2, 12),
            pic(2, 48),
            pic(3, 36),
            pic(3, 8),
            pic(4, 60),
        ];
        let wrap_idr = [true, false, false, false, false, false, false];
        let wrap_ref = [true, true, false, true, false, true, false];
        let wrap_pts = [0, 2, 1, 4, 3, 6, 5];
        assert!(sequence_holds(
            &wrap, &wrap_idr, &wrap_ref, &[true; 7], &wrap_pts
        ));
        // Read without the wrap, the last P-picture would come before the b-picture after it.
        let unwrapped = [0, 2, 1, 4, 3, 5, 6];
        assert!(!sequence_holds(
            &wrap, &wrap_idr, &wrap_ref, &[true; 7], &unwrapped
        ));
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
        assert!(f.reference && f.idr);
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
