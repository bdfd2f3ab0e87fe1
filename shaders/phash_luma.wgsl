// CPU twin: phash::luma::pillow_l. Pillow's RGB -> L in 16-bit fixed point:
// (R*19595 + G*38470 + B*7471 + 0x8000) >> 16; grey bytes are copied. One thread per pixel
// (grid-stride), workgroup y = image.

fn byte_at(i: u32) -> u32 {
    return (pixels[i >> 2u] >> ((i & 3u) * 8u)) & 255u;
}

@compute @workgroup_size(256)
fn phash_luma(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let img = images[gid.y];
    let total = img.width * img.height;
    let step = nwg.x * WG;
    for (var p = gid.x; p < total; p = p + step) {
        var l: u32;
        if (img.grey != 0u) {
            l = byte_at(img.px_byte + p);
        } else {
            let b = img.px_byte + 3u * p;
            // At most 255 * 65536 + 0x8000: no u32 overflow; the weights sum to 65536.
            l = (byte_at(b) * 19595u + byte_at(b + 1u) * 38470u + byte_at(b + 2u) * 7471u
                + 0x8000u) >> 16u;
        }
        work[img.luma_off + p] = l;
    }
}
