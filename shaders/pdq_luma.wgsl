// CPU twin: oracle::luma. One thread per pixel (grid-stride), workgroup y = image.
// The pixels arrive as the image's bytes (RGB, 3 per pixel, or grey, 1 per pixel) starting at
// word `src_word` of `pixels`, little-endian within each word.
// RGB: ((0.299f*R) + (0.587f*G)) + (0.114f*B) with the products looked up from CPU tables;
// grey: the byte as a float.

fn pixel_byte(base_word: u32, i: u32) -> u32 {
    return (pixels[base_word + (i >> 2u)] >> ((i & 3u) * 8u)) & 255u;
}

@compute @workgroup_size(256)
fn pdq_luma(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let img = images[gid.y];
    let total = img.width * img.height;
    let step = nwg.x * 256u;
    for (var p = gid.x; p < total; p = p + step) {
        var y: f32;
        if (img.grey != 0u) {
            y = f32(pixel_byte(img.src_word, p));
        } else {
            let b0 = 3u * p;
            let r = consts[LUMA_TABLE + pixel_byte(img.src_word, b0)];
            let g = consts[LUMA_TABLE + 256u + pixel_byte(img.src_word, b0 + 1u)];
            let b = consts[LUMA_TABLE + 512u + pixel_byte(img.src_word, b0 + 2u)];
            y = opq(opq(r + g) + b);
        }
        buf_a[img.offset + p] = y;
    }
}
