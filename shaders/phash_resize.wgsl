// CPU twin: phash::lanczos::resize_lanczos (Pillow's ImagingResample{Horizontal,Vertical}_8bpc).
// Each output sample: clip8((1 << 21) + sum(src[i] * w[i])) in i32, the weights being the
// CPU's `lanczos::Coeffs` (22-bit fixed point). The CPU plans both passes per image (which
// axis goes first, Pillow 13's rule, and the source rows the first pass covers); an unneeded
// pass is an identity pass (one weight of 1 << 22 per sample), which copies exactly.
// One thread per output sample (grid-stride), workgroup y = image.

const PRECISION_BITS: u32 = 22u;

// Pillow's clip8.
fn clip8(acc: i32) -> u32 {
    if (acc >= (1i << (PRECISION_BITS + 8u))) {
        return 255u;
    }
    if (acc <= 0i) {
        return 0u;
    }
    return u32(acc >> PRECISION_BITS);
}

fn resample(ps: Pass, start: u32, step: u32) {
    let total = ps.out_w * ps.out_h;
    for (var i = start; i < total; i = i + step) {
        let x = i % ps.out_w;
        let y = i / ps.out_w;
        var k: u32;
        var base: u32;
        var stride: u32;
        if (ps.axis == 0u) {
            k = x;
            base = ps.in_off + y * ps.in_stride;
            stride = 1u;
        } else {
            k = y;
            base = ps.in_off + x;
            stride = ps.in_stride;
        }
        let hdr = ps.coef + 3u * k;
        let lo = u32(coefs[hdr]);
        let n = u32(coefs[hdr + 1u]);
        let w0 = u32(coefs[hdr + 2u]);
        // Cannot overflow: the CPU checks every coefficient set against i32 (Coeffs::lanczos).
        var acc = 1i << (PRECISION_BITS - 1u);
        for (var j = 0u; j < n; j = j + 1u) {
            acc = acc + i32(work[base + (lo + j) * stride]) * coefs[w0 + j];
        }
        work[ps.out_off + i] = clip8(acc);
    }
}

@compute @workgroup_size(256)
fn phash_resize_first(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    resample(images[gid.y].first, gid.x, nwg.x * WG);
}

@compute @workgroup_size(256)
fn phash_resize_second(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    resample(images[gid.y].second, gid.x, nwg.x * WG);
}
