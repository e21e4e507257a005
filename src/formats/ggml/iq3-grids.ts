// The IQ3 grids and ggml's neighbour machinery (iq3xs_init_impl in ggml/src/ggml-quants.c of ggml
// 0.23.0), shared by IQ3_XXS (256 grid points) and IQ3_S (512). A grid point is four 3-bit levels
// l0..l3 packed as l0 | l1<<3 | l2<<6 | l3<<9; the quantizer works with the values 2l+1.
//
// KGRID_256 / KGRID_512 are transcribed (by script, then checked) from kgrid_256 / kgrid_512 in
// iq3xs_init_impl. The dequantization tables of ggml-common.h follow from them: iq3s_grid holds the
// bytes 2l+1, and iq3xxs_grid the bytes IQ3XXS_LEVELS[l] (4, 12, …, 52 and 62, not 60). The tests
// check both against ggml by dequantizing crafted blocks that use every grid index.
//
// For points of the 8^4 lattice not on the grid, iq3xs_init_impl stores the grid points at the
// nwant smallest distinct squared distances (2 for 256, 3 for 512), ordered by (distance, index)
// (its qsort key); the search visits them in that order, so ties go to the first. buildNeighbours
// reproduces the lists and their order exactly; map[u] is the grid index of lattice point u, or
// -(offset + 1) of its list [count, index…] in neighbours, as ggml's kmap_q3xs.

/** kgrid_256 of iq3xs_init_impl (IQ3_XXS). */
export const KGRID_256: Uint16Array = Uint16Array.of(
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
);

/** kgrid_512 of iq3xs_init_impl (IQ3_S). */
export const KGRID_512: Uint16Array = Uint16Array.of(
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
);

/** iq3xxs_grid's byte for level l (ggml-common.h): 8l + 4, except 62 for l = 7. */
export const IQ3XXS_LEVELS: Uint8Array = Uint8Array.of(4, 12, 20, 28, 36, 44, 52, 62);

/** ksigns_iq2xs (ggml-common.h): 7 sign bits plus an 8th that makes the count of set bits even. */
export const KSIGNS: Uint8Array = (() => {
  const t = new Uint8Array(128);
  for (let i = 0; i < 128; i++) {
    let p = 0;
    for (let b = 0; b < 7; b++) p ^= (i >> b) & 1;
    t[i] = i | (p << 7);
  }
  return t;
})();

export interface Iq3Grid {
  readonly size: number;
  /** levels[4k + i]: level l (0..7) of grid point k at position i */
  readonly levels: Uint8Array;
  /** kmap_q3xs: lattice point (12 bits) → grid index, or -(offset + 1) into neighbours */
  readonly map: Int32Array;
  /** kneighbors_q3xs: per off-grid lattice point, [count, grid index…] */
  readonly neighbours: Uint16Array;
}

function buildGrid(kgrid: Uint16Array, nwant: number): Iq3Grid {
  const size = kgrid.length;
  const levels = new Uint8Array(size * 4);
  for (let k = 0; k < size; k++) for (let i = 0; i < 4; i++) levels[4 * k + i] = (kgrid[k]! >> (3 * i)) & 7;
  const map = new Int32Array(4096).fill(-1);
  for (let k = 0; k < size; k++) map[kgrid[k]!] = k; // the packed levels are the lattice index
  const d2 = new Int32Array(size);
  const lists: number[] = [];
  const wanted = new Int32Array(nwant);
  for (let u = 0; u < 4096; u++) {
    if (map[u]! >= 0) continue;
    // squared distances of the 2l+1 values: 4·Σ(Δl)²
    for (let j = 0; j < size; j++) {
      let s = 0;
      for (let i = 0; i < 4; i++) {
        const dl = levels[4 * j + i]! - ((u >> (3 * i)) & 7);
        s += 4 * dl * dl;
      }
      d2[j] = s;
    }
    // the nwant smallest distinct distances, ascending
    let have = 0;
    let prev = -1;
    while (have < nwant) {
      let m = 0x7fffffff;
      for (let j = 0; j < size; j++) { const v = d2[j]!; if (v > prev && v < m) m = v; }
      if (m === 0x7fffffff) break;
      wanted[have++] = m;
      prev = m;
    }
    const start = lists.length;
    map[u] = -(start + 1);
    lists.push(0);
    for (let h = 0; h < have; h++) {
      const v = wanted[h]!;
      for (let j = 0; j < size; j++) if (d2[j] === v) lists.push(j);
    }
    lists[start] = lists.length - start - 1;
  }
  return { size, levels, map, neighbours: Uint16Array.from(lists) };
}

let grid256: Iq3Grid | null = null;
let grid512: Iq3Grid | null = null;

/** The IQ3_XXS grid with its map and neighbour lists (built on first use, as ggml_quantize_init). */
export function iq3Grid256(): Iq3Grid {
  return (grid256 ??= buildGrid(KGRID_256, 2));
}

/** The IQ3_S grid with its map and neighbour lists (built on first use). */
export function iq3Grid512(): Iq3Grid {
  return (grid512 ??= buildGrid(KGRID_512, 3));
}

// Dequantization (IQ3_XXS and IQ3_S's TypeScript paths): a value is the level value of its grid
// point, scaled (fround(db·value), eight per 32 values, precomputed by the caller) and signed.

/** A grid as level numbers (0..7), four per grid index (times 4). */
export function gridLevels(kgrid: Uint16Array): Uint8Array {
  const t = new Uint8Array(kgrid.length * 4);
  for (let k = 0; k < kgrid.length; k++) for (let i = 0; i < 4; i++) t[4 * k + i] = (kgrid[k]! >> (3 * i)) & 7;
  return t;
}

/** SIGN_FACTORS[8s + j]: the factor (±1) bit j of sign byte s applies. */
export const SIGN_FACTORS: Float64Array = (() => {
  const t = new Float64Array(256 * 8);
  for (let s = 0; s < 256; s++) for (let j = 0; j < 8; j++) t[8 * s + j] = (s >> j) & 1 ? -1 : 1;
  return t;
})();

/**
 * Eight values at dst[y…]: the grid points g1 and g2 (grid index × 4, into gridl), dv[level] each
 * (the scaled level values), times the signs of sign byte sg / 8.
 */
export function put8(dst: Float32Array, y: number, dv: Float64Array, gridl: Uint8Array, g1: number, g2: number, sg: number): void {
  const sf = SIGN_FACTORS;
  dst[y] = dv[gridl[g1]!]! * sf[sg]!;
  dst[y + 1] = dv[gridl[g1 + 1]!]! * sf[sg + 1]!;
  dst[y + 2] = dv[gridl[g1 + 2]!]! * sf[sg + 2]!;
  dst[y + 3] = dv[gridl[g1 + 3]!]! * sf[sg + 3]!;
  dst[y + 4] = dv[gridl[g2]!]! * sf[sg + 4]!;
  dst[y + 5] = dv[gridl[g2 + 1]!]! * sf[sg + 5]!;
  dst[y + 6] = dv[gridl[g2 + 2]!]! * sf[sg + 6]!;
  dst[y + 7] = dv[gridl[g2 + 3]!]! * sf[sg + 7]!;
}
