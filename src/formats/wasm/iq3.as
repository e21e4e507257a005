// IQ3_XXS and IQ3_S quantize (AssemblyScript; compiled by scripts/build-wasm.mjs): ggml's
// quantize_row_iq3_xxs_impl and quantize_row_iq3_s_impl (ggml-quants.c of ggml 0.23.0), with and
// without an importance matrix. The TypeScript codecs (../ggml/iq3_xxs.ts, iq3_s.ts,
// iq3-search.ts) stay the reference. Every f32 op is one IEEE single op, as in ggml's C (no fused
// multiply-add). The work is reordered only where that cannot change a result:
// - four neighbours' errors are computed side by side (one per lane: the same products, summed in
//   C's order), each lane keeps its first minimum and the lanes are merged by (error, position),
//   which is C's first minimum over the list;
// - the lattice points of four groups come from one SIMD step, and a trial whose points all equal
//   the trial before's, all on the grid, has the same grid points (nothing to redo);
// - a trial's sums Σ w·x·q and Σ w·q² restart at the first group of four whose grid point differs
//   from the trial before (prefix sums kept per value: the same additions in the same order);
// - the terms w·x·q and w·q² of each value and level are computed once per 32 values.
// Where ggml aborts (no neighbour with a finite error, a NaN scale), the kernel raises a flag that
// iq3_failed() reads; the codec then throws its LowbitError.
import { f32ToHalf } from './common';

// kgrid_256 and kgrid_512 of iq3xs_init_impl (ggml-quants.c), transcribed by script from
// ../ggml/iq3-grids.ts (KGRID_256, KGRID_512), whose tests check them against ggml.
export const KG256 = memory.data<u16>([
  0, 2, 4, 9, 11, 15, 16, 18, 25, 34, 59, 61, 65, 67, 72, 74,
  81, 85, 88, 90, 97, 108, 120, 128, 130, 132, 137, 144, 146, 153, 155, 159,
  169, 175, 189, 193, 199, 200, 202, 213, 248, 267, 287, 292, 303, 315, 317, 321,
  327, 346, 362, 413, 436, 456, 460, 462, 483, 497, 513, 515, 520, 522, 529, 531,
  536, 538, 540, 551, 552, 576, 578, 585, 592, 594, 641, 643, 648, 650, 657, 664,
  698, 704, 706, 720, 729, 742, 758, 769, 773, 808, 848, 852, 870, 889, 901, 978,
  992, 1024, 1026, 1033, 1035, 1040, 1042, 1046, 1049, 1058, 1089, 1091, 1093, 1096, 1098, 1105,
  1112, 1139, 1143, 1144, 1152, 1154, 1161, 1167, 1168, 1170, 1183, 1184, 1197, 1217, 1224, 1228,
  1272, 1276, 1309, 1323, 1347, 1367, 1377, 1404, 1473, 1475, 1486, 1509, 1537, 1544, 1546, 1553,
  1555, 1576, 1589, 1594, 1600, 1602, 1616, 1625, 1636, 1638, 1665, 1667, 1672, 1685, 1706, 1722,
  1737, 1755, 1816, 1831, 1850, 1856, 1862, 1874, 1901, 1932, 1950, 1971, 2011, 2032, 2052, 2063,
  2077, 2079, 2091, 2095, 2172, 2192, 2207, 2208, 2224, 2230, 2247, 2277, 2308, 2345, 2356, 2389,
  2403, 2424, 2501, 2504, 2506, 2520, 2570, 2593, 2616, 2624, 2630, 2646, 2669, 2700, 2714, 2746,
  2754, 2795, 2824, 2835, 2839, 2874, 2882, 2905, 2984, 3028, 3042, 3092, 3108, 3110, 3124, 3153,
  3185, 3215, 3252, 3288, 3294, 3364, 3397, 3434, 3483, 3523, 3537, 3587, 3589, 3591, 3592, 3610,
  3626, 3670, 3680, 3722, 3749, 3754, 3776, 3789, 3803, 3824, 3857, 3873, 3904, 3906, 3924, 3992,
]);
export const KG512 = memory.data<u16>([
  0, 1, 2, 5, 7, 8, 9, 10, 12, 14, 16, 17, 21, 27, 32, 34,
  37, 39, 41, 43, 48, 50, 57, 60, 63, 64, 65, 66, 68, 72, 73, 77,
  80, 83, 87, 89, 93, 100, 113, 117, 122, 128, 129, 133, 135, 136, 139, 142,
  145, 149, 152, 156, 162, 165, 167, 169, 171, 184, 187, 195, 201, 205, 208, 210,
  217, 219, 222, 228, 232, 234, 247, 249, 253, 256, 267, 271, 273, 276, 282, 288,
  291, 297, 312, 322, 324, 336, 338, 342, 347, 353, 357, 359, 374, 379, 390, 393,
  395, 409, 426, 441, 448, 450, 452, 464, 466, 470, 475, 488, 492, 512, 513, 514,
  516, 520, 521, 523, 525, 527, 528, 530, 537, 540, 542, 556, 558, 561, 570, 576,
  577, 579, 582, 584, 588, 593, 600, 603, 609, 616, 618, 632, 638, 640, 650, 653,
  655, 656, 660, 666, 672, 675, 685, 688, 698, 705, 708, 711, 712, 715, 721, 727,
  728, 732, 737, 754, 760, 771, 773, 778, 780, 793, 795, 802, 806, 808, 812, 833,
  840, 843, 849, 856, 858, 873, 912, 916, 919, 932, 934, 961, 963, 968, 970, 977,
  989, 993, 1010, 1016, 1024, 1025, 1027, 1029, 1031, 1032, 1034, 1036, 1038, 1041, 1043, 1047,
  1048, 1050, 1057, 1059, 1061, 1064, 1066, 1079, 1080, 1083, 1085, 1088, 1090, 1096, 1099, 1103,
  1106, 1109, 1113, 1116, 1122, 1129, 1153, 1156, 1159, 1169, 1171, 1176, 1183, 1185, 1195, 1199,
  1209, 1212, 1216, 1218, 1221, 1225, 1234, 1236, 1241, 1243, 1250, 1256, 1270, 1281, 1287, 1296,
  1299, 1306, 1309, 1313, 1338, 1341, 1348, 1353, 1362, 1375, 1376, 1387, 1400, 1408, 1410, 1415,
  1425, 1453, 1457, 1477, 1481, 1494, 1496, 1507, 1512, 1538, 1545, 1547, 1549, 1551, 1554, 1561,
  1563, 1565, 1570, 1572, 1575, 1577, 1587, 1593, 1601, 1603, 1605, 1612, 1617, 1619, 1632, 1648,
  1658, 1662, 1664, 1674, 1680, 1690, 1692, 1704, 1729, 1736, 1740, 1745, 1747, 1751, 1752, 1761,
  1763, 1767, 1773, 1787, 1795, 1801, 1806, 1810, 1817, 1834, 1840, 1844, 1857, 1864, 1866, 1877,
  1882, 1892, 1902, 1915, 1934, 1953, 1985, 1987, 2000, 2002, 2013, 2048, 2052, 2058, 2064, 2068,
  2071, 2074, 2081, 2088, 2104, 2114, 2119, 2121, 2123, 2130, 2136, 2141, 2147, 2153, 2157, 2177,
  2179, 2184, 2189, 2193, 2203, 2208, 2223, 2226, 2232, 2244, 2249, 2251, 2256, 2258, 2265, 2269,
  2304, 2306, 2324, 2335, 2336, 2361, 2373, 2375, 2385, 2418, 2443, 2460, 2480, 2504, 2509, 2520,
  2531, 2537, 2562, 2568, 2572, 2578, 2592, 2596, 2599, 2602, 2614, 2620, 2625, 2627, 2629, 2634,
  2641, 2650, 2682, 2688, 2697, 2707, 2712, 2718, 2731, 2754, 2759, 2760, 2775, 2788, 2793, 2805,
  2811, 2817, 2820, 2832, 2842, 2854, 2890, 2902, 2921, 2923, 2978, 3010, 3012, 3026, 3081, 3083,
  3085, 3097, 3099, 3120, 3136, 3152, 3159, 3188, 3210, 3228, 3234, 3245, 3250, 3256, 3264, 3276,
  3281, 3296, 3349, 3363, 3378, 3392, 3395, 3420, 3440, 3461, 3488, 3529, 3531, 3584, 3588, 3591,
  3600, 3602, 3614, 3616, 3628, 3634, 3650, 3657, 3668, 3683, 3685, 3713, 3716, 3720, 3726, 3729,
  3736, 3753, 3778, 3802, 3805, 3819, 3841, 3845, 3851, 3856, 3880, 3922, 3938, 3970, 3993, 4032,
]);

// Tables built on first use (as iq3xs_init_impl): per grid: map (lattice point → grid index, or
// -(offset + 1) into the neighbour lists, as i16), neighbour lists [count, index…] (u16), the
// levels l of each grid point as bytes, and for the neighbour search the lists again in chunks of
// four neighbours (QC: 64 bytes, the values q = 2l+1 as f32, neighbour c at position i at float
// 4i + c; CH: per lattice point the byte offset of its first chunk). They take ~1.1 MB, so they
// live past the static data, from __heap_base up to iq3_tables_end(): kernels.ts moves its
// windows past that before the first IQ3 call.
const NB256_LEN = 22825; // lengths of the lists and chunk counts (checked when built)
const NB512_LEN = 28317;
const QC256_LEN = 6038;
const QC512_LEN = 7427;
// @ts-ignore: decorator
@inline const MAP256_OFF: usize = 0;
// @ts-ignore: decorator
@inline const MAP512_OFF: usize = MAP256_OFF + 4096 * 2;
// @ts-ignore: decorator
@inline const CH256_OFF: usize = MAP512_OFF + 4096 * 2;
// @ts-ignore: decorator
@inline const CH512_OFF: usize = CH256_OFF + 4096 * 4;
// @ts-ignore: decorator
@inline const LV256_OFF: usize = CH512_OFF + 4096 * 4;
// @ts-ignore: decorator
@inline const LV512_OFF: usize = LV256_OFF + 256 * 4;
// @ts-ignore: decorator
@inline const QC256_OFF: usize = LV512_OFF + 512 * 4;
// @ts-ignore: decorator
@inline const QC512_OFF: usize = QC256_OFF + QC256_LEN * 64;
// @ts-ignore: decorator
@inline const NB256_OFF: usize = QC512_OFF + QC512_LEN * 64;
// @ts-ignore: decorator
@inline const NB512_OFF: usize = NB256_OFF + ((NB256_LEN * 2 + 15) & ~15);
// @ts-ignore: decorator
@inline const TABLES_BYTES: usize = NB512_OFF + ((NB512_LEN * 2 + 15) & ~15);

/** Where the tables start: __heap_base rounded up to 16. */
// @ts-ignore: decorator
@inline function tables(): usize {
  return (__heap_base + 15) & ~<usize>15;
}

/** First byte after the IQ3 tables (the JavaScript side's buffers go from there). */
export function iq3_tables_end(): usize {
  return tables() + TABLES_BYTES;
}
const D2 = memory.data(512 * 4, 16); // scratch of the build
let ready256 = false;
let ready512 = false;

/** iq3xs_init_impl's map and neighbour lists: for each lattice point not on the grid, the grid
 *  points at the nwant smallest distinct squared distances, by (distance, index). */
function build(kg: usize, size: i32, nwant: i32, map: usize, nb: usize, lv: usize, nbLen: i32, ch: usize, qc: usize, qcLen: i32): void {
  for (let k = 0; k < size; k++) {
    const p = <i32>load<u16>(kg + (<usize>k << 1));
    for (let i = 0; i < 4; i++) store<u8>(lv + (<usize>(4 * k + i)), <u8>((p >> (3 * i)) & 7));
  }
  for (let u = 0; u < 4096; u++) store<i16>(map + (<usize>u << 1), -1);
  for (let k = 0; k < size; k++) store<i16>(map + (<usize>load<u16>(kg + (<usize>k << 1)) << 1), <i16>k);
  let len = 0;
  for (let u = 0; u < 4096; u++) {
    if (load<i16>(map + (<usize>u << 1)) >= 0) continue;
    for (let j = 0; j < size; j++) {
      let s = 0;
      for (let i = 0; i < 4; i++) {
        const dl = <i32>load<u8>(lv + <usize>(4 * j + i)) - ((u >> (3 * i)) & 7);
        s += dl * dl;
      }
      store<i32>(D2 + (<usize>j << 2), s);
    }
    const start = len;
    store<i16>(map + (<usize>u << 1), <i16>(-(start + 1)));
    len++;
    let prev = -1;
    for (let h = 0; h < nwant; h++) {
      let m = 0x7fffffff;
      for (let j = 0; j < size; j++) { const v = load<i32>(D2 + (<usize>j << 2)); if (v > prev && v < m) m = v; }
      if (m == 0x7fffffff) break;
      for (let j = 0; j < size; j++) {
        if (load<i32>(D2 + (<usize>j << 2)) == m) { if (len < nbLen) store<u16>(nb + (<usize>len << 1), <u16>j); len++; }
      }
      prev = m;
    }
    if (start < nbLen) store<u16>(nb + (<usize>start << 1), <u16>(len - start - 1));
  }
  if (len != nbLen) unreachable(); // the static sizes above are wrong
  // the chunks of four
  let c = 0;
  for (let u = 0; u < 4096; u++) {
    const m = <i32>load<i16>(map + (<usize>u << 1));
    if (m >= 0) continue;
    const p = nb + (<usize>(-m - 1) << 1);
    const n = <i32>load<u16>(p);
    store<i32>(ch + (<usize>u << 2), c << 6);
    for (let j0 = 0; j0 < n; j0 += 4, c++) {
      if (c >= qcLen) unreachable();
      for (let lane = 0; lane < 4; lane++) {
        const j = j0 + lane;
        const idx = j < n ? <i32>load<u16>(p + (<usize>(1 + j) << 1)) : 0;
        for (let i = 0; i < 4; i++) {
          const q = j < n ? 2 * <i32>load<u8>(lv + <usize>(4 * idx + i)) + 1 : 0;
          store<f32>(qc + (<usize>c << 6) + (<usize>(4 * i + lane) << 2), <f32>q);
        }
      }
    }
  }
  if (c != qcLen) unreachable();
}

// @ts-ignore: decorator
@inline function ensure256(): void {
  const t = tables();
  if (!ready256) { build(KG256, 256, 2, t + MAP256_OFF, t + NB256_OFF, t + LV256_OFF, NB256_LEN, t + CH256_OFF, t + QC256_OFF, QC256_LEN); ready256 = true; }
}
// @ts-ignore: decorator
@inline function ensure512(): void {
  const t = tables();
  if (!ready512) { build(KG512, 512, 3, t + MAP512_OFF, t + NB512_OFF, t + LV512_OFF, NB512_LEN, t + CH512_OFF, t + QC512_OFF, QC512_LEN); ready512 = true; }
}

let failed: i32 = 0;

/** 1 when a kernel call since the last read met a block ggml aborts on (then reset). */
export function iq3_failed(): i32 {
  const f = failed;
  failed = 0;
  return f;
}

// per 32 values: |x| (XV), weights (WE), their square roots (WA), and the terms w·x·q (WXQ) and
// w·q·q (WQQ) of value i at level l at 8i + l; prefix sums of the latest trial (PX, PQ)
const XV = memory.data(32 * 4, 16);
const WE = memory.data(32 * 4, 16);
const WA = memory.data(32 * 4, 16);
const WXQ = memory.data(256 * 4, 16);
const WQQ = memory.data(256 * 4, 16);
const PX = memory.data(32 * 4, 16);
const PQ = memory.data(32 * 4, 16);
const GC = memory.data(8 * 4, 16); // grid index per group, latest trial
const GB = memory.data(8 * 4, 16); // grid index per group, best trial, then the result
const SC = memory.data(8 * 4, 16); // scales of the 32-blocks
const SG = memory.data(8 * 4, 16); // IQ3_XXS: sign words; IQ3_S: sign bytes
const Q3 = memory.data(64, 16);

/**
 * iq3_find_best_neighbour: the first neighbour (in list order) of the n in the list at p with the
 * smallest Σ waux·(scale·q - x)² for group k (-1 when none is below FLT_MAX: ggml aborts). Four
 * neighbours per step from their chunks at qc: lane c holds neighbour 4·step + c, each lane's
 * error the same float32 products and sums in C's order (C's initial 0 + only changes the sign of
 * a zero, which no comparison sees); each lane keeps its first minimum, then the lanes' minima
 * are merged by (error, list position).
 */
function bestNeighbour(p: usize, qc: usize, k: i32, scale: f32): i32 {
  const n = <i32>load<u16>(p);
  const xo = XV + (<usize>k << 4), wo = WA + (<usize>k << 4);
  const x0 = v128.load32_splat(xo), x1 = v128.load32_splat(xo + 4), x2 = v128.load32_splat(xo + 8), x3 = v128.load32_splat(xo + 12);
  const w0 = v128.load32_splat(wo), w1 = v128.load32_splat(wo + 4), w2 = v128.load32_splat(wo + 8), w3 = v128.load32_splat(wo + 12);
  const sv = f32x4.splat(scale);
  const inf = f32x4.splat(Infinity);
  let bestv = f32x4.splat(F32.MAX_VALUE);
  let posv = i32x4.splat(-1);
  let cur = i32x4(0, 1, 2, 3);
  const four = i32x4.splat(4);
  const nv = i32x4.splat(n);
  for (let j = 0; j < n; j += 4, qc += 64) {
    const q0 = v128.load(qc), q1 = v128.load(qc, 16), q2 = v128.load(qc, 32), q3 = v128.load(qc, 48);
    let d = f32x4.sub(f32x4.mul(sv, q0), x0);
    let d2 = f32x4.mul(f32x4.mul(w0, d), d);
    d = f32x4.sub(f32x4.mul(sv, q1), x1);
    d2 = f32x4.add(d2, f32x4.mul(f32x4.mul(w1, d), d));
    d = f32x4.sub(f32x4.mul(sv, q2), x2);
    d2 = f32x4.add(d2, f32x4.mul(f32x4.mul(w2, d), d));
    d = f32x4.sub(f32x4.mul(sv, q3), x3);
    d2 = f32x4.add(d2, f32x4.mul(f32x4.mul(w3, d), d));
    d2 = v128.bitselect(d2, inf, i32x4.lt_s(cur, nv)); // lanes past the list never win
    const lt = f32x4.lt(d2, bestv);
    bestv = v128.bitselect(d2, bestv, lt);
    posv = v128.bitselect(cur, posv, lt);
    cur = i32x4.add(cur, four);
  }
  // merge the lanes: the smaller error, on a tie the earlier position (lanes without a winner
  // hold FLT_MAX and -1, and every winner's error is below FLT_MAX)
  let eo = i32x4.shuffle(bestv, bestv, 1, 0, 3, 2), po = i32x4.shuffle(posv, posv, 1, 0, 3, 2);
  let take = v128.or(f32x4.lt(eo, bestv), v128.and(f32x4.eq(eo, bestv), i32x4.lt_s(po, posv)));
  bestv = v128.bitselect(eo, bestv, take);
  posv = v128.bitselect(po, posv, take);
  eo = i32x4.shuffle(bestv, bestv, 2, 3, 0, 1); po = i32x4.shuffle(posv, posv, 2, 3, 0, 1);
  take = v128.or(f32x4.lt(eo, bestv), v128.and(f32x4.eq(eo, bestv), i32x4.lt_s(po, posv)));
  posv = v128.bitselect(po, posv, take);
  const pos = i32x4.extract_lane(posv, 0);
  return pos < 0 ? -1 : <i32>load<u16>(p + (<usize>(1 + pos) << 1));
}

/** Levels nearest_int(0.5f·(id·x - 1)) clamped to 0..7 of group k, weighted 1, 8, 64, 512. */
// @ts-ignore: decorator
@inline function levels(idv: v128, k: i32): v128 {
  const p = f32x4.mul(f32x4.splat(0.5), f32x4.sub(f32x4.mul(idv, v128.load(XV + (<usize>k << 4))), f32x4.splat(1)));
  let l = i32x4.sub(v128.and(f32x4.add(p, f32x4.splat(12582912.0)), i32x4.splat(0x7fffff)), i32x4.splat(0x400000));
  l = i32x4.min_s(i32x4.max_s(l, i32x4.splat(0)), i32x4.splat(7));
  return i32x4.mul(l, i32x4(1, 8, 64, 512));
}

/** Lattice points of groups k..k+3 at inverse scale id, one per lane. */
// @ts-ignore: decorator
@inline function lattice4(idv: v128, k: i32): v128 {
  const a0 = levels(idv, k), a1 = levels(idv, k + 1), a2 = levels(idv, k + 2), a3 = levels(idv, k + 3);
  const t0 = i32x4.add(i32x4.shuffle(a0, a1, 0, 4, 1, 5), i32x4.shuffle(a0, a1, 2, 6, 3, 7));
  const t1 = i32x4.add(i32x4.shuffle(a2, a3, 0, 4, 1, 5), i32x4.shuffle(a2, a3, 2, 6, 3, 7));
  return i32x4.add(i32x4.shuffle(t0, t1, 0, 1, 4, 5), i32x4.shuffle(t0, t1, 2, 3, 6, 7));
}

const U = memory.data(8 * 4, 16); // lattice points of the 8 groups at the trial at hand

/** Grid index of group k whose lattice point is u, at scale s (a neighbour when off the grid);
 *  bit 16 set when the point was on the grid. */
// @ts-ignore: decorator
@inline function snap(map: usize, nb: usize, ch: usize, qc: usize, u: i32, k: i32, s: f32): i32 {
  let gi = <i32>load<i16>(map + (<usize>u << 1));
  if (gi >= 0) return gi | 0x10000;
  gi = bestNeighbour(nb + (<usize>(-gi - 1) << 1), qc + <usize>load<i32>(ch + (<usize>u << 2)), k, s);
  if (gi < 0) { failed = 1; gi = 0; }
  return gi;
}

/**
 * The scale search for the 32 values at XV/WE/WA whose largest is max: 2·ntry + 1 trial scales,
 * then the final re-snap of the groups off the grid (skipOnGrid: IQ3_XXS skips the groups that
 * were on it; IQ3_S re-snaps all). Leaves the grid index of each group at GB; returns the scale.
 */
function search(ntry: i32, onGridInit: bool, skipOnGrid: bool, max: f32, map: usize, nb: usize, ch: usize, qc: usize, lv: usize): f32 {
  const q0 = f32x4(1, 3, 5, 7), q1 = f32x4(9, 11, 13, 15);
  for (let i = 0; i < 32; i++) {
    const w = load<f32>(WE + (<usize>i << 2));
    const wx = f32x4.splat(w * load<f32>(XV + (<usize>i << 2)));
    const wv = f32x4.splat(w);
    v128.store(WXQ + (<usize>i << 5), f32x4.mul(wx, q0));
    v128.store(WXQ + (<usize>i << 5), f32x4.mul(wx, q1), 16);
    v128.store(WQQ + (<usize>i << 5), f32x4.mul(f32x4.mul(wv, q0), q0));
    v128.store(WQQ + (<usize>i << 5), f32x4.mul(f32x4.mul(wv, q1), q1), 16);
  }
  for (let k = 0; k < 8; k++) store<i32>(GC + (<usize>k << 2), -1);
  let best: f32 = 0;
  let scale: f32 = max / 15;
  let bestOng = -1;
  let sumqx: f32 = 0, sumq2: f32 = 0;
  let pu0 = i32x4.splat(-1), pu1 = pu0, prevOng = 0, ong = 0;
  for (let is = -ntry; is <= ntry; is++) {
    const id: f32 = (<f32>15 + <f32>is * <f32>0.2) / max;
    const ts: f32 = <f32>1 / id;
    const idv = f32x4.splat(id);
    const u0 = lattice4(idv, 0), u1 = lattice4(idv, 4);
    let first = 8;
    // the same lattice points as the trial before, all on the grid: the same grid points
    if (prevOng == 0xff && i32x4.all_true(i32x4.eq(u0, pu0)) && i32x4.all_true(i32x4.eq(u1, pu1))) {
      ong = 0xff;
    } else {
      pu0 = u0; pu1 = u1;
      v128.store(U, u0);
      v128.store(U, u1, 16);
      ong = 0;
      for (let k = 0; k < 8; k++) {
        let gi = snap(map, nb, ch, qc, load<i32>(U + (<usize>k << 2)), k, ts);
        if (gi & 0x10000) { gi &= 0xffff; ong |= 1 << k; }
        if (gi != load<i32>(GC + (<usize>k << 2))) {
          store<i32>(GC + (<usize>k << 2), gi);
          if (first == 8) first = k;
        }
      }
    }
    prevOng = ong;
    if (first < 8) {
      let i = first << 2;
      let sx: f32 = 0, sq: f32 = 0;
      if (i > 0) { sx = load<f32>(PX + (<usize>(i - 1) << 2)); sq = load<f32>(PQ + (<usize>(i - 1) << 2)); }
      for (let k = first; k < 8; k++) {
        const g = lv + (<usize>load<i32>(GC + (<usize>k << 2)) << 2);
        for (let m = 0; m < 4; m++, i++) {
          const j = (<usize>i << 5) + (<usize>load<u8>(g + <usize>m) << 2);
          sx += load<f32>(WXQ + j);
          sq += load<f32>(WQQ + j);
          store<f32>(PX + (<usize>i << 2), sx);
          store<f32>(PQ + (<usize>i << 2), sq);
        }
      }
      sumqx = sx;
      sumq2 = sq;
    }
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      scale = sumqx / sumq2;
      best = scale * sumqx;
      v128.store(GB, v128.load(GC));
      v128.store(GB, v128.load(GC, 16), 16);
      bestOng = ong;
    }
  }
  let onGrid = onGridInit ? 0xff : 0;
  if (bestOng >= 0) onGrid = bestOng;
  else {
    // no trial taken: ggml's levels stay 0, lattice point 0 (on both grids)
    const g0 = i32x4.splat(<i32>load<i16>(map));
    v128.store(GB, g0);
    v128.store(GB, g0, 16);
  }
  if (onGrid != 0xff && scale > 0) {
    const id: f32 = <f32>1 / scale;
    const idv = f32x4.splat(id);
    v128.store(U, lattice4(idv, 0));
    v128.store(U, lattice4(idv, 4), 16);
    for (let k = 0; k < 8; k++) {
      if (skipOnGrid && ((onGrid >> k) & 1)) continue;
      store<i32>(GB + (<usize>k << 2), snap(map, nb, ch, qc, load<i32>(U + (<usize>k << 2)), k, scale) & 0xffff);
    }
    let sx: f32 = 0, sq: f32 = 0;
    for (let k = 0; k < 8; k++) {
      const g = lv + (<usize>load<i32>(GB + (<usize>k << 2)) << 2);
      for (let m = 0; m < 4; m++) {
        const j = (<usize>(4 * k + m) << 5) + (<usize>load<u8>(g + <usize>m) << 2);
        sx += load<f32>(WXQ + j);
        sq += load<f32>(WQQ + j);
      }
    }
    if (sq > 0) scale = sx / sq;
  }
  return scale;
}

/** sigma2 = 2·Σx²/256 of a super-block, in ggml's order. */
function sigma2Of(x: usize): f32 {
  let s: f32 = 0;
  for (let i = 0; i < 256; i++) { const v = load<f32>(x + (<usize>i << 2)); s += v * v; }
  return <f32>2 * s / <f32>256;
}

/** WE and WA for the 32 values at xb (qw: their importances, or 0 for none). */
function setWeights(xb: usize, qw: usize, sigma2: f32): void {
  const s2 = f32x4.splat(sigma2);
  for (let o: usize = 0; o < 128; o += 16) {
    const x = v128.load(xb + o);
    const x2 = f32x4.mul(x, x);
    const w = qw ? f32x4.mul(v128.load(qw + o), f32x4.sqrt(f32x4.add(s2, x2))) : x2;
    v128.store(WE + o, w);
    v128.store(WA + o, f32x4.sqrt(w));
  }
}

// @ts-ignore: decorator
@inline function nearestInt(f: f32): i32 {
  return (reinterpret<i32>(f + <f32>12582912.0) & 0x7fffff) - 0x400000;
}

/** One IQ3_XXS super-block: 256 floats at x → 98 bytes at y (qw: importances or 0). */
function quantXxs(x: usize, y: usize, qw: usize): void {
  const t = tables();
  const sigma2 = sigma2Of(x);
  let maxScale: f32 = 0;
  for (let ib = 0; ib < 8; ib++) {
    const xb = x + (<usize>ib << 7);
    setWeights(xb, qw ? qw + (<usize>ib << 7) : 0, sigma2);
    let signs: u32 = 0;
    for (let k = 0; k < 4; k++) {
      let nflip = 0, s = 0;
      for (let i = 0; i < 8; i++) {
        const o = <usize>(8 * k + i) << 2;
        const v = load<f32>(xb + o);
        if (v >= 0) store<f32>(XV + o, v);
        else { store<f32>(XV + o, -v); nflip++; s |= 1 << i; }
      }
      if (nflip & 1) {
        // an odd count: flip the sign of the value that costs least (weight·x², first minimum)
        let imin = 0;
        let v = load<f32>(xb + (<usize>(8 * k) << 2));
        let min = load<f32>(WE + (<usize>(8 * k) << 2)) * v * v;
        for (let i = 1; i < 8; i++) {
          v = load<f32>(xb + (<usize>(8 * k + i) << 2));
          const ax = load<f32>(WE + (<usize>(8 * k + i) << 2)) * v * v;
          if (ax < min) { min = ax; imin = i; }
        }
        const o = <usize>(8 * k + imin) << 2;
        store<f32>(XV + o, -load<f32>(XV + o));
        s ^= 1 << imin;
      }
      signs |= <u32>(s & 127) << (7 * k);
    }
    let max = load<f32>(XV);
    for (let i = 1; i < 32; i++) { const v = load<f32>(XV + (<usize>i << 2)); max = max > v ? max : v; }
    if (max < <f32>1e-8) {
      store<f32>(SC + (<usize>ib << 2), 0);
      store<u32>(SG + (<usize>ib << 2), 0);
      store<u64>(Q3 + (<usize>ib << 3), 0);
      continue;
    }
    let scale = search(15, true, true, max, t + MAP256_OFF, t + NB256_OFF, t + CH256_OFF, t + QC256_OFF, t + LV256_OFF);
    if (scale < 0) {
      scale = -scale;
      signs = ~signs & 0x0fffffff;
    }
    for (let k = 0; k < 8; k++) store<u8>(Q3 + <usize>(8 * ib + k), <u8>load<i32>(GB + (<usize>k << 2)));
    store<u32>(SG + (<usize>ib << 2), signs);
    if (!(scale >= 0)) failed = 1;
    store<f32>(SC + (<usize>ib << 2), scale);
    maxScale = maxScale > scale ? maxScale : scale;
  }
  if (maxScale == 0) {
    memory.fill(y, 0, 98);
    return;
  }
  const d: f32 = maxScale / 31;
  store<u16>(y, <u16>f32ToHalf(d * <f32>1.0125));
  const id: f32 = <f32>1 / d;
  memory.copy(y + 2, Q3, 64);
  for (let ib = 0; ib < 8; ib++) {
    let l = nearestInt(<f32>0.5 * (id * load<f32>(SC + (<usize>ib << 2)) - <f32>1));
    l = l < 0 ? 0 : l > 15 ? 15 : l;
    store<u32>(y + 66 + (<usize>ib << 2), load<u32>(SG + (<usize>ib << 2)) | (<u32>l << 28));
  }
}

/** One IQ3_S super-block: 256 floats at x → 110 bytes at y (qw: importances or 0). */
function quantS(x: usize, y: usize, qw: usize): void {
  const t = tables();
  memory.fill(y, 0, 110);
  const sigma2 = sigma2Of(x);
  // as in ggml, the qs and signs cursors advance only past 32-blocks that are not all zero, while
  // the 9th index bits (qh) go by block number
  let qs = y + 2, sgn = y + 74;
  let maxScale: f32 = 0;
  for (let ib = 0; ib < 8; ib++) {
    const xb = x + (<usize>ib << 7);
    setWeights(xb, qw ? qw + (<usize>ib << 7) : 0, sigma2);
    let signs: u32 = 0;
    for (let i = 0; i < 32; i++) {
      const o = <usize>i << 2;
      const v = load<f32>(xb + o);
      if (v >= 0) store<f32>(XV + o, v);
      else { store<f32>(XV + o, -v); signs |= <u32>1 << i; }
    }
    let max = load<f32>(XV);
    for (let i = 1; i < 32; i++) { const v = load<f32>(XV + (<usize>i << 2)); max = max > v ? max : v; }
    if (max == 0) { store<f32>(SC + (<usize>ib << 2), 0); continue; }
    let scale = search(9, false, false, max, t + MAP512_OFF, t + NB512_OFF, t + CH512_OFF, t + QC512_OFF, t + LV512_OFF);
    if (scale < 0) {
      scale = -scale;
      signs = ~signs;
    }
    let qh = 0;
    for (let k = 0; k < 8; k++) {
      const gi = load<i32>(GB + (<usize>k << 2));
      store<u8>(qs + <usize>k, <u8>gi);
      qh |= (gi >> 8) << k;
    }
    store<u8>(y + 66 + <usize>ib, <u8>qh);
    qs += 8;
    store<u32>(sgn, signs);
    sgn += 4;
    if (!(scale >= 0)) failed = 1;
    store<f32>(SC + (<usize>ib << 2), scale);
    maxScale = maxScale > scale ? maxScale : scale;
  }
  if (maxScale == 0) return;
  const d: f32 = maxScale / 31;
  store<u16>(y, <u16>f32ToHalf(d * <f32>1.033));
  const id: f32 = <f32>1 / d;
  for (let ib = 0; ib < 8; ib += 2) {
    let l1 = nearestInt(<f32>0.5 * (id * load<f32>(SC + (<usize>ib << 2)) - <f32>1));
    l1 = l1 < 0 ? 0 : l1 > 15 ? 15 : l1;
    let l2 = nearestInt(<f32>0.5 * (id * load<f32>(SC + (<usize>(ib + 1) << 2)) - <f32>1));
    l2 = l2 < 0 ? 0 : l2 > 15 ? 15 : l2;
    store<u8>(y + 106 + <usize>(ib >> 1), <u8>(l1 | (l2 << 4)));
  }
}

export function iq3_xxs_quant(src: usize, dst: usize, nb: i32): void {
  ensure256();
  for (let b = 0; b < nb; b++) quantXxs(src + (<usize>b << 10), dst + <usize>b * 98, 0);
}

export function iq3_s_quant(src: usize, dst: usize, nb: i32): void {
  ensure512();
  for (let b = 0; b < nb; b++) quantS(src + (<usize>b << 10), dst + <usize>b * 110, 0);
}

export function iq3_xxs_quant_imatrix(src: usize, dst: usize, nRows: i32, nPerRow: i32, qw: usize): void {
  ensure256();
  const nb = nPerRow >> 8;
  for (let r = 0; r < nRows; r++) {
    for (let b = 0; b < nb; b++) {
      quantXxs(src + ((<usize>r * <usize>nPerRow + (<usize>b << 8)) << 2), dst + (<usize>r * <usize>nb + <usize>b) * 98, qw + (<usize>b << 10));
    }
  }
}

export function iq3_s_quant_imatrix(src: usize, dst: usize, nRows: i32, nPerRow: i32, qw: usize): void {
  ensure512();
  const nb = nPerRow >> 8;
  for (let r = 0; r < nRows; r++) {
    for (let b = 0; b < nb; b++) {
      quantS(src + ((<usize>r * <usize>nPerRow + (<usize>b << 8)) << 2), dst + (<usize>r * <usize>nb + <usize>b) * 110, qw + (<usize>b << 10));
    }
  }
}
