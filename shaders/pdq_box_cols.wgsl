// CPU twin: oracle::box1d along columns (`buf_b` → `buf_a`). One thread per column, workgroup
// y = image, the oracle's four phases in order (add, then subtract), one float32 running sum.

@compute @workgroup_size(64)
fn pdq_box_cols(@builtin(global_invocation_id) gid: vec3<u32>) {
    let img = images[gid.y];
    if (img.skip_blur != 0u || gid.x >= img.width) {
        return;
    }
    let n = img.height;
    let stride = img.width;
    let w = img.win_cols;
    let half = (w + 2u) / 2u;
    let base = img.offset + gid.x;
    var li = base;
    var ri = base;
    var oi = base;
    var sum = 0.0;
    var cnt = 0u;
    for (var k = 0u; k < half - 1u; k = k + 1u) {
        sum = opq(sum + buf_b[ri]);
        cnt = cnt + 1u;
        ri = ri + stride;
    }
    for (var k = 0u; k < w - half + 1u; k = k + 1u) {
        sum = opq(sum + buf_b[ri]);
        cnt = cnt + 1u;
        buf_a[oi] = div_small(sum, cnt);
        ri = ri + stride;
        oi = oi + stride;
    }
    for (var k = 0u; k < n - w; k = k + 1u) {
        sum = opq(sum + buf_b[ri]);
        sum = opq(sum - buf_b[li]);
        buf_a[oi] = div_small(sum, cnt);
        li = li + stride;
        ri = ri + stride;
        oi = oi + stride;
    }
    for (var k = 0u; k < half - 1u; k = k + 1u) {
        sum = opq(sum - buf_b[li]);
        cnt = cnt - 1u;
        buf_a[oi] = div_small(sum, cnt);
        li = li + stride;
        oi = oi + stride;
    }
}
