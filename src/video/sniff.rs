//! Video containers recognised by their magic bytes (never by file name), so that `vigil
//! scan` hands them to the video decoder. What FFmpeg then finds inside (no video stream, an
//! unknown codec) is the decoder's to say.

/// A video container family, named as records name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Container {
    /// ISO-BMFF with an MP4/3GP brand (`ftyp`), MPEG-4 video.
    Mp4,
    /// QuickTime (`ftyp qt`, or a file starting with a `moov`, `mdat`, `wide`, `free`, `skip`
    /// or `pnot` atom).
    Mov,
    /// Matroska / WebM (EBML header).
    Matroska,
    /// RIFF AVI.
    Avi,
    /// Flash video.
    Flv,
    /// ASF / WMV.
    Asf,
    /// MPEG program stream.
    MpegPs,
    /// MPEG transport stream (sync bytes every 188 bytes).
    MpegTs,
    /// Ogg (Theora, or audio only).
    Ogg,
}

impl Container {
    /// The format name used in records and summaries.
    pub fn name(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4",
            Container::Mov => "mov",
            Container::Matroska => "matroska",
            Container::Avi => "avi",
            Container::Flv => "flv",
            Container::Asf => "asf",
            Container::MpegPs => "mpeg-ps",
            Container::MpegTs => "mpeg-ts",
            Container::Ogg => "ogg",
        }
    }
}

/// Recognise a video container from a file's first bytes (64 KiB is plenty). Image formats
/// in ISO-BMFF (HEIC, AVIF) are not videos here: `decode::sniff` claims them.
pub fn sniff(b: &[u8]) -> Option<Container> {
    if crate::decode::sniff(b).is_some() {
        return None;
    }
    if b.len() >= 12 && &b[4..8] == b"ftyp" {
        let brand = &b[8..12];
        return Some(if brand == b"qt  " {
            Container::Mov
        } else {
            Container::Mp4
        });
    }
    if b.len() >= 8
        && matches!(
            &b[4..8],
            b"moov" | b"mdat" | b"wide" | b"free" | b"skip" | b"pnot"
        )
    {
        return Some(Container::Mov);
    }
    if b.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return Some(Container::Matroska);
    }
    if b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"AVI " {
        return Some(Container::Avi);
    }
    if b.starts_with(b"FLV\x01") {
        return Some(Container::Flv);
    }
    if b.starts_with(&[
        0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11, 0xA6, 0xD9, 0x00, 0xAA, 0x00, 0x62, 0xCE,
        0x6C,
    ]) {
        return Some(Container::Asf);
    }
    if b.starts_with(&[0, 0, 1, 0xBA]) || b.starts_with(&[0, 0, 1, 0xB3]) {
        return Some(Container::MpegPs);
    }
    if b.len() >= 3 * 188 && (0..3).all(|i| b[i * 188] == 0x47) {
        return Some(Container::MpegTs);
    }
    if b.starts_with(b"OggS") {
        return Some(Container::Ogg);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes() {
        assert_eq!(
            sniff(b"\0\0\0\x18ftypisom\0\0\0\0isomiso2"),
            Some(Container::Mp4)
        );
        assert_eq!(sniff(b"\0\0\0\x14ftypqt  \0\0\0\0"), Some(Container::Mov));
        assert_eq!(sniff(b"\0\0\0\x08wide\0\0\0\0"), Some(Container::Mov));
        assert_eq!(
            sniff(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"),
            None,
            "HEIC is an image"
        );
        assert_eq!(
            sniff(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81"),
            Some(Container::Matroska)
        );
        assert_eq!(sniff(b"RIFF\0\0\0\0AVI LIST"), Some(Container::Avi));
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVEfmt "), None);
        assert_eq!(sniff(b"FLV\x01\x05"), Some(Container::Flv));
        assert_eq!(sniff(b"\0\0\x01\xba\x44"), Some(Container::MpegPs));
        let mut ts = vec![0u8; 188 * 3];
        for i in 0..3 {
            ts[i * 188] = 0x47;
        }
        assert_eq!(sniff(&ts), Some(Container::MpegTs));
        assert_eq!(sniff(b"OggS\0\x02"), Some(Container::Ogg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"hello world"), None);
    }
}
