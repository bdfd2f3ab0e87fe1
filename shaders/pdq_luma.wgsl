// CPU twin: oracle::luma. Workgroup = 32×32 tiles of one image (workgroup y = image).
// The pixels arrive as the image's bytes (RGB, 3 per pixel, or grey, 1 per pixel) starting at
// word `src_word` of `pixels`, little-endian within each word.
// RGB: ((0.299f*R) + (0.587f*G)) + (0.114f*B) with the products looked up from CPU tables;
// grey: the byte as a float.
//
// The luma is written transposed ("column-major": x * height + y) into `buf_a`, through a tile
// in workgroup memory so both the reads and the writes are coalesced: the first blur pass walks
// rows, and in this layout neighbouring rows are neighbouring addresses (pdq_box.wgsl).

fn pixel_byte(base_word: u32, i: u32) -> u32 {
    return (pixels[base_word + (i >> 2u)] >> ((i & 3u) * 8u)) & 255u;
}

var<workgroup> luma_tile: array<f32, 1056>; // 32 rows × (32 + 1 padding)

@compute @workgroup_size(32, 8)
fn pdq_luma(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let img = images[wid.y];
    // Workgroup x takes tiles x, x + nwg.x, … of this image (so a batch mixing sizes does
    // not dispatch its largest image's tile grid for every image).
    let tiles_x = (img.width + 31u) / 32u;
    let tiles = tiles_x * ((img.height + 31u) / 32u);
    for (var tile = wid.x; tile < tiles; tile = tile + nwg.x) {
        let x0 = (tile % tiles_x) * 32u;
        let y0 = (tile / tiles_x) * 32u;
        for (var k = 0u; k < 32u; k = k + 8u) {
            let x = x0 + lid.x;
            let y = y0 + lid.y + k;
            if (x < img.width && y < img.height) {
                let p = y * img.width + x;
                var v: f32;
                if (img.grey != 0u) {
                    v = f32(pixel_byte(img.src_word, p));
                } else {
                    let b0 = 3u * p;
                    let r = consts[LUMA_TABLE + pixel_byte(img.src_word, b0)];
                    let g = consts[LUMA_TABLE + 256u + pixel_byte(img.src_word, b0 + 1u)];
                    let b = consts[LUMA_TABLE + 512u + pixel_byte(img.src_word, b0 + 2u)];
                    v = opq(opq(r + g) + b);
                }
                luma_tile[(lid.y + k) * 33u + lid.x] = v;
            }
        }
        workgroupBarrier();
        for (var k = 0u; k < 32u; k = k + 8u) {
            let x = x0 + lid.y + k;
            let y = y0 + lid.x;
            if (x < img.width && y < img.height) {
                buf_a[img.offset + x * img.height + y] = luma_tile[lid.x * 33u + lid.y + k];
            }
        }
        workgroupBarrier();
    }
}
