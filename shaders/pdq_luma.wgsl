// CPU twin: oracle::luma. One thread per pixel (grid-stride), workgroup y = image.
// RGB: ((0.299f*R) + (0.587f*G)) + (0.114f*B) with the products looked up from CPU tables;
// grey: the byte as a float.

@compute @workgroup_size(256)
fn pdq_luma(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let img = images[gid.y];
    let total = img.width * img.height;
    let step = nwg.x * 256u;
    for (var p = gid.x; p < total; p = p + step) {
        let v = pixels[img.offset + p];
        var y: f32;
        if (img.grey != 0u) {
            y = f32(v & 255u);
        } else {
            let r = consts[LUMA_TABLE + (v & 255u)];
            let g = consts[LUMA_TABLE + 256u + ((v >> 8u) & 255u)];
            let b = consts[LUMA_TABLE + 512u + ((v >> 16u) & 255u)];
            y = opq(opq(r + g) + b);
        }
        buf_a[img.offset + p] = y;
    }
}
