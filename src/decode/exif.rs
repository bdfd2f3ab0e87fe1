//! EXIF orientation, applied as Pillow's `ImageOps.exif_transpose` does.

use std::io::Cursor;

use crate::RgbImage;

/// The EXIF Orientation tag (1..=8) of the primary image, if the container carries one.
pub fn orientation(bytes: &[u8]) -> Option<u16> {
    let exif = exif::Reader::new()
        .read_from_container(&mut Cursor::new(bytes))
        .ok()?;
    let field = exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)?;
    let v = field.value.get_uint(0)?;
    u16::try_from(v).ok().filter(|v| (1..=8).contains(v))
}

/// Apply orientation `o` (2..=8; others leave the image as it is) exactly as Pillow's
/// `exif_transpose`: 2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 clockwise,
/// 7 transverse, 8 rotate 90 counter-clockwise.
pub fn apply_orientation(img: &RgbImage, o: u16) -> RgbImage {
    let (w, h) = (img.width as usize, img.height as usize);
    if !(2..=8).contains(&o) {
        return img.clone();
    }
    let swap = o >= 5;
    let (ow, oh) = if swap { (h, w) } else { (w, h) };
    let mut out = Vec::with_capacity(w * h * 3);
    for y in 0..oh {
        for x in 0..ow {
            let (sx, sy) = match o {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (y, h - 1 - x),
                7 => (w - 1 - y, h - 1 - x),
                _ => (w - 1 - y, x),
            };
            let i = (sy * w + sx) * 3;
            out.extend_from_slice(&img.data[i..i + 3]);
        }
    }
    RgbImage {
        width: ow as u32,
        height: oh as u32,
        data: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(w: u32, h: u32) -> RgbImage {
        let data = (0..w * h).flat_map(|i| [i as u8, 0, 0]).collect();
        RgbImage {
            width: w,
            height: h,
            data,
        }
    }

    fn px(i: &RgbImage, x: u32, y: u32) -> u8 {
        i.data[((y * i.width + x) * 3) as usize]
    }

    #[test]
    fn corners_move_as_pillow_transposes() {
        // 3x2 image, values 0..6 row-major: [0 1 2; 3 4 5].
        let a = img(3, 2);
        let r6 = apply_orientation(&a, 6); // rotate 90 clockwise: [3 0; 4 1; 5 2]
        assert_eq!((r6.width, r6.height), (2, 3));
        assert_eq!([px(&r6, 0, 0), px(&r6, 1, 0), px(&r6, 0, 2)], [3, 0, 5]);
        let r8 = apply_orientation(&a, 8); // rotate 90 ccw: [2 5; 1 4; 0 3]
        assert_eq!([px(&r8, 0, 0), px(&r8, 1, 0), px(&r8, 0, 2)], [2, 5, 0]);
        let r5 = apply_orientation(&a, 5); // transpose: [0 3; 1 4; 2 5]
        assert_eq!([px(&r5, 0, 0), px(&r5, 1, 0), px(&r5, 0, 2)], [0, 3, 2]);
        let r7 = apply_orientation(&a, 7); // transverse: [5 2; 4 1; 3 0]
        assert_eq!([px(&r7, 0, 0), px(&r7, 1, 0), px(&r7, 0, 2)], [5, 2, 3]);
        let r2 = apply_orientation(&a, 2);
        assert_eq!([px(&r2, 0, 0), px(&r2, 2, 1)], [2, 3]);
        let r3 = apply_orientation(&a, 3);
        assert_eq!([px(&r3, 0, 0), px(&r3, 2, 1)], [5, 0]);
        let r4 = apply_orientation(&a, 4);
        assert_eq!([px(&r4, 0, 0), px(&r4, 2, 1)], [3, 2]);
        assert_eq!(apply_orientation(&a, 1), a);
    }
}
