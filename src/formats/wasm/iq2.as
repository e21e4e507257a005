// IQ2_XXS, IQ2_XS and IQ2_S quantize (AssemblyScript; compiled by scripts/build-wasm.mjs): ggml's
// quantize_row_iq2_xxs_impl, quantize_row_iq2_xs_impl and quantize_row_iq2_s_impl (ggml-quants.c of ggml 0.23.0). The
// TypeScript codecs (../ggml/iq2_xxs.ts, iq2_xs.ts, iq2_s.ts, iq2-grids.ts, search-k.ts) stay the reference.
// Every f32 op is one IEEE single op in C's order (no fused multiply-add). Reorderings that cannot
// change a result: the terms w·x·q and w·q² of each value and level are computed once per block
// (as iq2-grids.ts termTables), and a neighbour's error terms once per coordinate and level.
// Where ggml aborts (no neighbour below FLT_MAX, a point off the grid, a NaN scale) the kernel
// raises a flag that iq2_failed() reads; the codec then reruns its TypeScript path, which throws.
import { f32ToHalf } from './common';
import { iq3_tables_end } from './iq3';

// kgrid_2bit_256, kgrid_2bit_512 and kgrid_2bit_1024 of iq2xs_init_impl (ggml-quants.c), transcribed by script
// from ../ggml/iq2-grid-tables.ts (KGRID_2BIT_256, KGRID_2BIT_512, KGRID_2BIT_1024), whose tests check them.
const KG256 = memory.data<u16>([
  0, 2, 5, 8, 10, 17, 20, 32, 34, 40, 42, 65, 68, 80, 88, 97,
  100, 128, 130, 138, 162, 257, 260, 272, 277, 320, 388, 408, 512, 514, 546, 642,
  1025, 1028, 1040, 1057, 1060, 1088, 1090, 1096, 1120, 1153, 1156, 1168, 1188, 1280, 1282, 1288,
  1312, 1350, 1385, 1408, 1425, 1545, 1552, 1600, 1668, 1700, 2048, 2053, 2056, 2068, 2088, 2113,
  2116, 2128, 2130, 2184, 2308, 2368, 2562, 2580, 4097, 4100, 4112, 4129, 4160, 4192, 4228, 4240,
  4245, 4352, 4360, 4384, 4432, 4442, 4480, 4644, 4677, 5120, 5128, 5152, 5157, 5193, 5248, 5400,
  5474, 5632, 5654, 6145, 6148, 6160, 6208, 6273, 6400, 6405, 6560, 6737, 8192, 8194, 8202, 8260,
  8289, 8320, 8322, 8489, 8520, 8704, 8706, 9217, 9220, 9232, 9280, 9302, 9472, 9537, 9572, 9872,
  10248, 10272, 10388, 10820, 16385, 16388, 16400, 16408, 16417, 16420, 16448, 16456, 16470, 16480, 16513, 16516,
  16528, 16640, 16672, 16737, 16768, 16773, 16897, 16912, 16968, 16982, 17000, 17408, 17416, 17440, 17536, 17561,
  17682, 17700, 17920, 18433, 18436, 18448, 18496, 18501, 18688, 18776, 18785, 18818, 19013, 19088, 20480, 20488,
  20497, 20505, 20512, 20608, 20616, 20740, 20802, 20900, 21137, 21648, 21650, 21770, 22017, 22100, 22528, 22545,
  22553, 22628, 22848, 23048, 24580, 24592, 24640, 24680, 24832, 24917, 25112, 25184, 25600, 25605, 25872, 25874,
  25988, 26690, 32768, 32770, 32778, 32833, 32898, 33028, 33048, 33088, 33297, 33793, 33796, 33808, 33813, 33856,
  33888, 34048, 34118, 34196, 34313, 34368, 34400, 34818, 35076, 35345, 36868, 36880, 36900, 36928, 37025, 37142,
  37248, 37445, 37888, 37922, 37956, 38225, 39041, 39200, 40962, 41040, 41093, 41225, 41472, 42008, 43088, 43268,
]);
const KG512 = memory.data<u16>([
  0, 2, 5, 8, 10, 17, 20, 22, 25, 32, 34, 37, 40, 65, 68, 70,
  73, 80, 82, 85, 88, 97, 100, 128, 130, 133, 136, 145, 148, 153, 160, 257,
  260, 262, 265, 272, 274, 277, 280, 282, 289, 292, 320, 322, 325, 328, 337, 340,
  352, 360, 385, 388, 400, 512, 514, 517, 520, 529, 532, 544, 577, 580, 592, 597,
  640, 650, 1025, 1028, 1030, 1033, 1040, 1042, 1045, 1048, 1057, 1060, 1088, 1090, 1093, 1096,
  1105, 1108, 1110, 1120, 1153, 1156, 1168, 1280, 1282, 1285, 1288, 1297, 1300, 1312, 1345, 1348,
  1360, 1377, 1408, 1537, 1540, 1552, 1574, 1600, 1602, 1668, 2048, 2050, 2053, 2056, 2058, 2065,
  2068, 2080, 2085, 2113, 2116, 2128, 2136, 2176, 2208, 2218, 2305, 2308, 2320, 2368, 2433, 2441,
  2560, 2592, 2600, 2710, 2720, 4097, 4100, 4102, 4105, 4112, 4114, 4117, 4120, 4129, 4132, 4160,
  4162, 4165, 4168, 4177, 4180, 4192, 4202, 4225, 4228, 4240, 4352, 4354, 4357, 4360, 4369, 4372,
  4384, 4417, 4420, 4432, 4480, 4500, 4502, 4609, 4612, 4614, 4624, 4672, 4704, 5120, 5122, 5125,
  5128, 5137, 5140, 5152, 5185, 5188, 5193, 5200, 5220, 5248, 5377, 5380, 5392, 5440, 5632, 5652,
  5705, 6145, 6148, 6160, 6162, 6208, 6228, 6278, 6400, 6405, 6502, 6737, 6825, 8192, 8194, 8197,
  8200, 8202, 8209, 8212, 8224, 8257, 8260, 8272, 8320, 8352, 8449, 8452, 8464, 8512, 8520, 8549,
  8704, 8738, 8832, 8872, 9217, 9220, 9232, 9257, 9280, 9472, 9537, 9554, 9625, 9729, 9754, 9894,
  10240, 10248, 10250, 10272, 10325, 10376, 10402, 10600, 10640, 10760, 10784, 10882, 10888, 10890, 16385, 16388,
  16390, 16393, 16400, 16402, 16405, 16408, 16417, 16420, 16448, 16450, 16453, 16456, 16458, 16465, 16468, 16480,
  16485, 16513, 16516, 16528, 16640, 16642, 16645, 16648, 16657, 16660, 16672, 16705, 16708, 16720, 16768, 16773,
  16802, 16897, 16900, 16912, 16914, 16937, 16960, 17408, 17410, 17413, 17416, 17425, 17428, 17433, 17440, 17473,
  17476, 17488, 17536, 17556, 17665, 17668, 17680, 17700, 17728, 17818, 17920, 17930, 17988, 18000, 18433, 18436,
  18448, 18496, 18501, 18516, 18530, 18688, 18705, 18756, 18768, 18793, 18948, 20480, 20482, 20485, 20488, 20497,
  20500, 20512, 20520, 20545, 20548, 20560, 20608, 20737, 20740, 20752, 20757, 20800, 20802, 20992, 21060, 21162,
  21505, 21508, 21520, 21537, 21568, 21600, 21633, 21665, 21760, 21768, 21888, 21896, 22049, 22120, 22177, 22528,
  22548, 22593, 22608, 22681, 22810, 22848, 22850, 23173, 24577, 24580, 24592, 24640, 24660, 24674, 24710, 24745,
  24832, 25124, 25162, 25234, 25600, 25622, 25872, 25920, 25925, 26020, 26625, 26730, 26917, 27142, 27220, 27234,
  32768, 32770, 32773, 32776, 32785, 32788, 32800, 32810, 32833, 32836, 32848, 32896, 32898, 32936, 32938, 33025,
  33028, 33030, 33040, 33088, 33105, 33113, 33280, 33312, 33408, 33410, 33440, 33448, 33793, 33796, 33808, 33810,
  33813, 33856, 33888, 33929, 34048, 34116, 34213, 34328, 34410, 34816, 34824, 34853, 34906, 34944, 34946, 34984,
  35078, 35362, 35456, 35464, 35478, 35496, 36865, 36868, 36880, 36928, 36950, 36996, 37120, 37154, 37220, 37462,
  37513, 37888, 37893, 37956, 37968, 37976, 38185, 38288, 38290, 38465, 38993, 39078, 39241, 39445, 39520, 40960,
  40962, 40968, 40970, 40992, 41002, 41120, 41297, 41305, 41382, 41472, 41474, 41480, 41514, 41600, 41632, 42048,
  42133, 42597, 42648, 43018, 43040, 43042, 43048, 43168, 43176, 43268, 43396, 43398, 43560, 43562, 43665, 43690,
]);
const KG1024 = memory.data<u16>([
  0, 2, 5, 8, 10, 17, 20, 22, 25, 32, 34, 37, 40, 65, 68, 70,
  73, 80, 82, 85, 88, 97, 100, 102, 105, 128, 130, 133, 136, 145, 148, 160,
  165, 170, 257, 260, 262, 265, 272, 274, 277, 280, 289, 292, 320, 322, 325, 328,
  337, 340, 342, 345, 352, 357, 360, 385, 388, 400, 402, 405, 417, 420, 512, 514,
  517, 520, 529, 532, 544, 554, 577, 580, 582, 585, 592, 597, 640, 645, 650, 660,
  674, 1025, 1028, 1030, 1033, 1040, 1042, 1045, 1048, 1057, 1060, 1062, 1065, 1088, 1090, 1093,
  1096, 1098, 1105, 1108, 1110, 1113, 1120, 1122, 1125, 1153, 1156, 1158, 1161, 1168, 1173, 1176,
  1185, 1188, 1280, 1282, 1285, 1288, 1290, 1297, 1300, 1302, 1305, 1312, 1317, 1320, 1345, 1348,
  1350, 1353, 1360, 1362, 1365, 1368, 1377, 1380, 1408, 1410, 1413, 1416, 1425, 1428, 1440, 1537,
  1540, 1542, 1545, 1552, 1557, 1600, 1605, 1608, 1617, 1620, 1632, 1665, 1668, 1680, 2048, 2050,
  2053, 2056, 2065, 2068, 2070, 2073, 2080, 2085, 2090, 2113, 2116, 2118, 2121, 2128, 2130, 2133,
  2136, 2145, 2148, 2176, 2181, 2196, 2218, 2305, 2308, 2320, 2322, 2325, 2328, 2337, 2368, 2373,
  2376, 2385, 2388, 2400, 2433, 2448, 2560, 2577, 2580, 2594, 2600, 2602, 2640, 2713, 4097, 4100,
  4102, 4105, 4112, 4114, 4117, 4120, 4129, 4132, 4134, 4160, 4162, 4165, 4168, 4177, 4180, 4182,
  4185, 4192, 4194, 4197, 4200, 4225, 4228, 4230, 4240, 4245, 4248, 4257, 4260, 4352, 4354, 4357,
  4360, 4362, 4369, 4372, 4374, 4377, 4384, 4386, 4389, 4392, 4417, 4420, 4422, 4425, 4432, 4434,
  4437, 4440, 4449, 4452, 4480, 4482, 4485, 4488, 4497, 4500, 4609, 4612, 4617, 4624, 4629, 4641,
  4644, 4672, 4677, 4689, 4692, 4737, 4740, 4752, 5120, 5122, 5125, 5128, 5137, 5140, 5142, 5145,
  5152, 5157, 5160, 5185, 5188, 5190, 5193, 5200, 5202, 5205, 5208, 5217, 5220, 5248, 5250, 5253,
  5256, 5265, 5268, 5280, 5377, 5380, 5382, 5385, 5392, 5394, 5397, 5400, 5409, 5412, 5440, 5442,
  5445, 5448, 5457, 5460, 5472, 5505, 5508, 5520, 5632, 5637, 5640, 5649, 5652, 5664, 5697, 5700,
  5712, 5760, 5802, 6145, 6148, 6150, 6153, 6160, 6165, 6168, 6177, 6208, 6210, 6213, 6216, 6225,
  6228, 6240, 6273, 6276, 6400, 6402, 6405, 6408, 6417, 6420, 6432, 6465, 6468, 6480, 6505, 6562,
  6660, 6672, 6720, 6742, 8192, 8194, 8197, 8200, 8209, 8212, 8214, 8217, 8224, 8229, 8234, 8257,
  8260, 8272, 8274, 8277, 8292, 8320, 8330, 8340, 8362, 8449, 8452, 8464, 8466, 8469, 8481, 8512,
  8514, 8517, 8529, 8532, 8544, 8577, 8580, 8592, 8704, 8714, 8738, 8744, 8746, 8772, 8784, 8840,
  8842, 8872, 9217, 9220, 9222, 9225, 9232, 9237, 9240, 9249, 9252, 9280, 9282, 9285, 9288, 9297,
  9300, 9312, 9345, 9348, 9360, 9472, 9477, 9480, 9489, 9492, 9504, 9537, 9540, 9552, 9574, 9600,
  9729, 9732, 9744, 9792, 9817, 10240, 10245, 10257, 10260, 10305, 10308, 10320, 10378, 10410, 10497, 10500,
  10512, 10645, 10762, 10786, 10852, 10888, 10890, 16385, 16388, 16390, 16393, 16400, 16402, 16405, 16408, 16410,
  16417, 16420, 16422, 16448, 16450, 16453, 16456, 16458, 16465, 16468, 16470, 16473, 16480, 16482, 16485, 16513,
  16516, 16528, 16533, 16536, 16545, 16548, 16640, 16642, 16645, 16648, 16657, 16660, 16662, 16665, 16672, 16674,
  16677, 16705, 16708, 16710, 16713, 16720, 16722, 16725, 16728, 16737, 16740, 16768, 16770, 16773, 16776, 16785,
  16788, 16800, 16897, 16900, 16912, 16914, 16917, 16920, 16932, 16960, 16965, 16968, 16977, 16980, 16992, 17025,
  17028, 17408, 17410, 17413, 17416, 17418, 17425, 17428, 17430, 17433, 17440, 17442, 17445, 17448, 17473, 17476,
  17478, 17481, 17488, 17490, 17493, 17496, 17505, 17508, 17536, 17538, 17541, 17544, 17553, 17556, 17568, 17665,
  17668, 17670, 17673, 17680, 17682, 17685, 17688, 17697, 17700, 17728, 17730, 17733, 17736, 17745, 17748, 17760,
  17770, 17793, 17796, 17808, 17920, 17922, 17925, 17928, 17937, 17940, 17952, 17985, 17988, 18000, 18048, 18085,
  18433, 18436, 18441, 18448, 18450, 18453, 18456, 18465, 18468, 18496, 18498, 18501, 18504, 18513, 18516, 18528,
  18564, 18576, 18688, 18690, 18693, 18696, 18705, 18708, 18720, 18753, 18756, 18768, 18816, 18838, 18945, 18948,
  18960, 19008, 20480, 20482, 20485, 20488, 20497, 20500, 20502, 20505, 20512, 20514, 20517, 20520, 20545, 20548,
  20550, 20553, 20560, 20562, 20565, 20568, 20577, 20580, 20608, 20610, 20613, 20616, 20625, 20628, 20737, 20740,
  20742, 20745, 20752, 20754, 20757, 20760, 20769, 20772, 20800, 20802, 20805, 20808, 20817, 20820, 20832, 20865,
  20868, 20880, 20992, 20997, 21000, 21009, 21012, 21024, 21057, 21060, 21072, 21097, 21120, 21505, 21508, 21510,
  21513, 21520, 21522, 21525, 21528, 21537, 21540, 21568, 21570, 21573, 21576, 21585, 21588, 21600, 21633, 21636,
  21648, 21760, 21762, 21765, 21768, 21777, 21780, 21792, 21825, 21828, 21840, 21888, 22017, 22020, 22032, 22054,
  22080, 22528, 22530, 22533, 22536, 22545, 22548, 22560, 22593, 22596, 22608, 22618, 22656, 22785, 22788, 22800,
  22848, 23040, 23065, 23173, 23208, 24577, 24580, 24582, 24592, 24594, 24597, 24600, 24609, 24612, 24640, 24645,
  24648, 24657, 24660, 24672, 24708, 24720, 24832, 24834, 24837, 24840, 24849, 24852, 24864, 24897, 24900, 24912,
  24960, 24985, 25092, 25104, 25152, 25174, 25249, 25600, 25605, 25608, 25617, 25620, 25632, 25665, 25668, 25680,
  25728, 25857, 25860, 25872, 25920, 25930, 25960, 26002, 26112, 26260, 26625, 26628, 26640, 26725, 26776, 26880,
  26922, 27202, 27297, 32768, 32770, 32773, 32776, 32785, 32788, 32793, 32800, 32805, 32833, 32836, 32848, 32850,
  32853, 32856, 32865, 32896, 32901, 32913, 32916, 33025, 33028, 33033, 33040, 33042, 33045, 33048, 33057, 33060,
  33088, 33090, 33093, 33096, 33105, 33108, 33153, 33156, 33168, 33193, 33280, 33285, 33290, 33297, 33300, 33345,
  33348, 33360, 33793, 33796, 33798, 33801, 33808, 33810, 33813, 33816, 33825, 33856, 33858, 33861, 33864, 33873,
  33876, 33888, 33921, 33924, 33936, 34048, 34050, 34053, 34056, 34065, 34068, 34080, 34113, 34116, 34128, 34176,
  34186, 34305, 34308, 34320, 34345, 34368, 34816, 34821, 34833, 34836, 34881, 34884, 34896, 34978, 35073, 35076,
  35136, 35173, 35362, 35416, 35418, 35458, 35490, 36865, 36868, 36873, 36880, 36882, 36885, 36888, 36900, 36928,
  36930, 36933, 36936, 36945, 36948, 36960, 36993, 36996, 37008, 37120, 37125, 37137, 37140, 37185, 37188, 37200,
  37210, 37377, 37380, 37392, 37440, 37542, 37888, 37890, 37893, 37896, 37905, 37908, 37920, 37953, 37956, 37968,
  38016, 38038, 38145, 38148, 38160, 38208, 38296, 38305, 38400, 38470, 38500, 38913, 38916, 38928, 38950, 38976,
  39081, 39168, 39241, 39250, 39568, 40960, 40965, 40970, 40980, 40994, 41002, 41025, 41028, 41040, 41122, 41130,
  41280, 41317, 41474, 41482, 41506, 41512, 41514, 41602, 41608, 41610, 41640, 41985, 41988, 42000, 42048, 42121,
  42148, 42240, 42265, 42577, 43018, 43048, 43170, 43348, 43398, 43528, 43530, 43552, 43554, 43560, 43656, 43690,
]);

// @ts-ignore: decorator
@inline const KMAP: i32 = 43692; // ggml's kmap_size

// The map and neighbour lists of a grid are built on first use past the IQ3 tables (bump
// allocated, memory grown as needed): map (i32 per level code u: the grid index, or -(offset + 1)
// of u's list [count, index…] in u16 units from the grid's list base). Only codes with levels 0..2
// are searched (ggml clamps the levels to MIN(2, …)), so only their lists are built.
let bump: usize = 0;
let map256: usize = 0, nb256: usize = 0;
let map512: usize = 0, nb512: usize = 0;
let map1024: usize = 0, nb1024: usize = 0;
const DIST = memory.data(1024 * 4, 16);
const CNT = memory.data(80 * 4, 16);

function grow(end: usize): void {
  const have = <usize>memory.size() << 16;
  if (end > have) {
    if (memory.grow(<i32>((end - have + 0xffff) >> 16)) < 0) unreachable();
  }
}

function build(kg: usize, size: i32, nwant: i32): usize {
  if (bump == 0) bump = (iq3_tables_end() + 15) & ~<usize>15;
  const map = bump;
  grow(map + (<usize>KMAP << 2));
  for (let u = 0; u < KMAP; u++) store<i32>(map + (<usize>u << 2), 0x7fffffff);
  for (let k = 0; k < size; k++) store<i32>(map + (<usize>load<u16>(kg + (<usize>k << 1)) << 2), k);
  const nb = map + (<usize>KMAP << 2);
  let len = 0;
  for (let u = 0; u < KMAP; u++) {
    if (load<i32>(map + (<usize>u << 2)) != 0x7fffffff) continue;
    let ok = true;
    for (let i = 0; i < 8; i++) if (((u >> (2 * i)) & 3) == 3) ok = false;
    if (!ok) continue;
    memory.fill(CNT, 0, 80 * 4);
    for (let j = 0; j < size; j++) {
      const c = <i32>load<u16>(kg + (<usize>j << 1));
      let d = 0;
      for (let i = 0; i < 8; i++) { const e = 2 * (((c >> (2 * i)) & 3) - ((u >> (2 * i)) & 3)); d += e * e; }
      store<i32>(DIST + (<usize>j << 2), d);
      store<i32>(CNT + (<usize>d << 2), load<i32>(CNT + (<usize>d << 2)) + 1);
    }
    let nhave = 0, maxD = 0, n = 0;
    for (let d = 0; d < 80 && nhave < nwant; d++) {
      const c = load<i32>(CNT + (<usize>d << 2));
      if (c > 0) { nhave++; maxD = d; n += c; }
    }
    grow(nb + (<usize>(len + n + 1) << 1));
    store<i32>(map + (<usize>u << 2), -(len + 1));
    store<u16>(nb + (<usize>len << 1), <u16>n);
    let at = len + 1;
    // in increasing (distance, index) order, as ggml's qsort
    for (let d = 0; d <= maxD; d++) {
      if (load<i32>(CNT + (<usize>d << 2)) == 0) continue;
      for (let j = 0; j < size; j++) if (load<i32>(DIST + (<usize>j << 2)) == d) { store<u16>(nb + (<usize>at << 1), <u16>j); at++; }
    }
    len = at;
  }
  for (let u = 0; u < KMAP; u++) if (load<i32>(map + (<usize>u << 2)) == 0x7fffffff) store<i32>(map + (<usize>u << 2), 0x7ffffffe);
  bump = (nb + (<usize>len << 1) + 15) & ~<usize>15;
  return nb;
}

/** Builds the tables of grid 256 (0), 512 (1) or 1024 (2) if not yet built; returns the end of all tables. */
export function iq2_init(which: i32): usize {
  if (which == 0 && map256 == 0) { nb256 = build(KG256, 256, 2); map256 = nb256 - (<usize>KMAP << 2); }
  if (which == 1 && map512 == 0) { nb512 = build(KG512, 512, 2); map512 = nb512 - (<usize>KMAP << 2); }
  if (which == 2 && map1024 == 0) { nb1024 = build(KG1024, 1024, 1); map1024 = nb1024 - (<usize>KMAP << 2); }
  return bump;
}

let failed: i32 = 0;

/** 1 when a kernel call since the last read met a block ggml aborts on (then reset). */
export function iq2_failed(): i32 {
  const f = failed;
  failed = 0;
  return f;
}

// @ts-ignore: decorator
@inline function nearestInt(f: f32): i32 {
  return (reinterpret<i32>(f + <f32>12582912.0) & 0x7fffff) - 0x400000;
}

// per block: |x| (XV), weights (WE), their square roots (WA), terms of value i at level l at 4i + l
const XV = memory.data(32 * 4, 16);
const WE = memory.data(32 * 4, 16);
const WA = memory.data(32 * 4, 16);
const WXQ = memory.data(128 * 4, 16);
const WQQ = memory.data(128 * 4, 16);
const EE = memory.data(32 * 4, 16); // neighbour search: w·(scale·q − x)² of coordinate i, level l at 4i + l
const LQ = memory.data(32, 16); // make_qp_quants levels
const SC = memory.data(16 * 4, 16);
const Q2 = memory.data(16 * 4, 16);
const SGN = memory.data(4, 16);

/** Levels MAX(0, MIN(2, nearest_int(0.5f·(id·x − 1)))) of the 4 values at p, one per lane. */
// @ts-ignore: decorator
@inline function levels4(idv: v128, p: usize): v128 {
  const v = f32x4.mul(f32x4.splat(0.5), f32x4.sub(f32x4.mul(idv, v128.load(p)), f32x4.splat(1)));
  const l = i32x4.sub(v128.and(f32x4.add(v, f32x4.splat(12582912.0)), i32x4.splat(0x7fffff)), i32x4.splat(0x400000));
  return i32x4.min_s(i32x4.max_s(l, i32x4.splat(0)), i32x4.splat(2));
}

/** The level code of the 8 values at XV + 32k at inverse scale id (value i in bits 2i..2i+1). */
// @ts-ignore: decorator
@inline function code8(id: f32, k: i32): i32 {
  const p = XV + (<usize>k << 5);
  const idv = f32x4.splat(id);
  const s = i32x4.add(
    i32x4.mul(levels4(idv, p), i32x4(1, 4, 16, 64)),
    i32x4.mul(levels4(idv, p + 16), i32x4(256, 1024, 4096, 16384)),
  );
  const t = i32x4.add(s, i32x4.shuffle(s, s, 2, 3, 0, 1));
  return i32x4.extract_lane(t, 0) + i32x4.extract_lane(t, 1);
}

/** iq2_find_best_neighbour for group k (values at XV + 32k, weights WA) at scale; returns the code
 *  of the best point (its index in bits 16..), or -1 (failed) when none is below FLT_MAX. */
function bestNeighbour(kg: usize, nb: usize, m: i32, k: i32, scale: f32): i32 {
  const xo = XV + (<usize>k << 5), wo = WA + (<usize>k << 5);
  // w·(scale·q − x)² of coordinate i at each level (q = 1, 3, 5, 7) in one step
  const sq = f32x4.mul(f32x4.splat(scale), f32x4(1, 3, 5, 7));
  for (let i = 0; i < 8; i++) {
    const d = f32x4.sub(sq, v128.load32_splat(xo + (<usize>i << 2)));
    v128.store(EE + (<usize>i << 4), f32x4.mul(f32x4.mul(v128.load32_splat(wo + (<usize>i << 2)), d), d));
  }
  const p = nb + (<usize>(-m - 1) << 1);
  const n = <i32>load<u16>(p);
  let best: f32 = F32.MAX_VALUE;
  let gi = -1;
  for (let j = 1; j <= n; j++) {
    const idx = <i32>load<u16>(p + (<usize>j << 1));
    const c = <usize>load<u16>(kg + (<usize>idx << 1));
    let d2 = load<f32>(EE + ((c & 3) << 2)) + load<f32>(EE + ((4 + ((c >> 2) & 3)) << 2));
    d2 += load<f32>(EE + ((8 + ((c >> 4) & 3)) << 2));
    d2 += load<f32>(EE + ((12 + ((c >> 6) & 3)) << 2));
    d2 += load<f32>(EE + ((16 + ((c >> 8) & 3)) << 2));
    d2 += load<f32>(EE + ((20 + ((c >> 10) & 3)) << 2));
    d2 += load<f32>(EE + ((24 + ((c >> 12) & 3)) << 2));
    d2 += load<f32>(EE + ((28 + ((c >> 14) & 3)) << 2));
    if (d2 < best) { best = d2; gi = idx; }
  }
  if (gi < 0) { failed = 1; return 0; }
  return <i32>load<u16>(kg + (<usize>gi << 1));
}

/** The terms (w·x)·q and (w·q)·q of the n values at XV/WE, q = 2l + 1, at 4i + l. */
function termTables(n: i32): void {
  for (let i = 0; i < n; i++) {
    const w = load<f32>(WE + (<usize>i << 2));
    const wx = w * load<f32>(XV + (<usize>i << 2));
    for (let l = 0; l < 4; l++) {
      const qi: i32 = 2 * l + 1;
      const q = <f32>qi;
      store<f32>(WXQ + (<usize>(4 * i + l) << 2), wx * q);
      store<f32>(WQQ + (<usize>(4 * i + l) << 2), w * q * q);
    }
  }
}

let sumQx: f32 = 0;
/** Σ w·q·q over groups 0..ng-1 with level codes at CODES (Σ w·x·q left in sumQx), C's order. */
function sums(codes: usize, ng: i32): f32 {
  let sx: f32 = 0, sq: f32 = 0;
  for (let k = 0; k < ng; k++) {
    const c = load<i32>(codes + (<usize>k << 2));
    for (let i = 0; i < 8; i++) {
      const t = <usize>(4 * (8 * k + i) + ((c >> (2 * i)) & 3)) << 2;
      sx += load<f32>(WXQ + t);
      sq += load<f32>(WQQ + t);
    }
  }
  sumQx = sx;
  return sq;
}

const CA = memory.data(4 * 4, 16); // codes of the trial at hand
const CB = memory.data(4 * 4, 16); // codes of the best trial

/** make_qp_quants(32, 4, XV, LQ, WE) (as search-k.ts makeQp). */
function makeQp(): f32 {
  const n = 32, nmax = 4;
  let max: f32 = 0;
  for (let i = 0; i < n; i++) { const v = load<f32>(XV + (<usize>i << 2)); max = max > v ? max : v; }
  if (max < <f32>1e-15) { memory.fill(LQ, 0, 32); return 0; }
  let iscale: f32 = <f32>nmax / max;
  for (let i = 0; i < n; i++) store<u8>(LQ + <usize>i, <u8>nearestInt(iscale * load<f32>(XV + (<usize>i << 2))));
  const scale: f32 = <f32>1 / iscale;
  let bestMse: f32 = 0;
  for (let i = 0; i < n; i++) {
    const diff = load<f32>(XV + (<usize>i << 2)) - scale * <f32>load<u8>(LQ + <usize>i);
    bestMse += load<f32>(WE + (<usize>i << 2)) * diff * diff;
  }
  for (let is = -4; is <= 4; is++) {
    if (is == 0) continue;
    const iscaleIs: f32 = (<f32>0.1 * <f32>is + <f32>nmax) / max;
    const scaleIs: f32 = <f32>1 / iscaleIs;
    let mse: f32 = 0;
    for (let i = 0; i < n; i++) {
      const xi = load<f32>(XV + (<usize>i << 2));
      let l = nearestInt(iscaleIs * xi);
      if (l > nmax) l = nmax;
      const diff = xi - scaleIs * <f32>l;
      mse += load<f32>(WE + (<usize>i << 2)) * diff * diff;
    }
    if (mse < bestMse) { bestMse = mse; iscale = iscaleIs; }
  }
  let sumlx: f32 = 0, suml2: f32 = 0;
  for (let i = 0; i < n; i++) {
    const xi = load<f32>(XV + (<usize>i << 2));
    let l = nearestInt(iscale * xi);
    if (l > nmax) l = nmax;
    store<u8>(LQ + <usize>i, <u8>l);
    const w = load<f32>(WE + (<usize>i << 2));
    const lf = <f32>l; // C sums the int level, not the uint8 it stores
    sumlx += w * xi * lf;
    suml2 += w * lf * lf;
  }
  for (let itry = 0; itry < 5; itry++) {
    let nChanged = 0;
    for (let i = 0; i < n; i++) {
      const w = load<f32>(WE + (<usize>i << 2));
      const xi = load<f32>(XV + (<usize>i << 2));
      const li = <f32>load<u8>(LQ + <usize>i);
      let slx = sumlx - w * xi * li;
      let sl2 = suml2 - w * li * li;
      if (slx > 0 && sl2 > 0) {
        let newL = nearestInt(xi * sl2 / slx);
        if (newL > nmax) newL = nmax;
        if (<f32>newL != li) {
          slx = slx + w * xi * <f32>newL;
          sl2 = sl2 + w * <f32>newL * <f32>newL;
          if (slx * slx * suml2 > sumlx * sumlx * sl2) {
            store<u8>(LQ + <usize>i, <u8>newL); sumlx = slx; suml2 = sl2;
            nChanged++;
          }
        }
      }
    }
    if (!nChanged) break;
  }
  return suml2 > 0 ? sumlx / suml2 : 0;
}

/** One IQ2_XXS super-block: 256 floats at x → 66 bytes at y, importances at qw. */
function quantXxs(x: usize, y: usize, qw: usize): void {
  const map = map256, nb = nb256, kg = KG256;
  memory.fill(Q2, 0, 64);
  let sumx2: f32 = 0;
  for (let i = 0; i < 256; i++) { const v = load<f32>(x + (<usize>i << 2)); sumx2 += v * v; }
  const sigma2: f32 = sumx2 / <f32>256;
  let maxScale: f32 = 0;
  for (let ib = 0; ib < 8; ib++) {
    const xb = x + (<usize>ib << 7), qb = qw + (<usize>ib << 7);
    for (let i = 0; i < 32; i++) {
      const v = load<f32>(xb + (<usize>i << 2));
      const w = load<f32>(qb + (<usize>i << 2)) * sqrt<f32>(sigma2 + v * v);
      store<f32>(WE + (<usize>i << 2), w);
      store<f32>(WA + (<usize>i << 2), sqrt<f32>(w));
    }
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
    if (max < <f32>1e-15) { store<f32>(SC + (<usize>ib << 2), 0); continue; }
    let scale = makeQp();
    const effMax: f32 = scale * <f32>3;
    if (effMax <= 0) { store<f32>(SC + (<usize>ib << 2), 0); continue; }
    termTables(32);
    let best: f32 = 0;
    for (let is = -6; is <= 6; is++) {
      const id: f32 = (<f32>5 + <f32>is * <f32>0.1) / effMax;
      const ts: f32 = <f32>1 / id;
      for (let k = 0; k < 4; k++) {
        let u = code8(id, k);
        const m = load<i32>(map + (<usize>u << 2));
        if (m < 0) u = bestNeighbour(kg, nb, m, k, ts);
        store<i32>(CA + (<usize>k << 2), u);
      }
      const sq = sums(CA, 4), sx = sumQx;
      if (sq > 0 && sx * sx > best * sq) {
        scale = sx / sq; best = scale * sx;
        v128.store(CB, v128.load(CA));
      }
    }
    if (scale > 0) {
      const id: f32 = <f32>1 / scale;
      for (let k = 0; k < 4; k++) {
        let u = code8(id, k);
        const m = load<i32>(map + (<usize>u << 2));
        if (m < 0) u = bestNeighbour(kg, nb, m, k, scale);
        store<i32>(CB + (<usize>k << 2), u);
      }
      const sq = sums(CB, 4);
      if (sq > 0) scale = sumQx / sq;
    }
    if (scale < 0) { scale = -scale; signs = ~signs & 0x0fffffff; }
    let idx: u32 = 0;
    for (let k = 0; k < 4; k++) {
      const gi = load<i32>(map + (<usize>load<i32>(CB + (<usize>k << 2)) << 2));
      if (gi < 0 || gi >= 0x7ffffffe) { failed = 1; }
      idx |= <u32>(gi & 255) << (8 * k);
    }
    if (!(scale >= 0)) failed = 1;
    store<u32>(Q2 + (<usize>(2 * ib) << 2), idx);
    store<u32>(Q2 + (<usize>(2 * ib + 1) << 2), signs);
    store<f32>(SC + (<usize>ib << 2), scale);
    maxScale = maxScale > scale ? maxScale : scale;
  }
  if (maxScale == 0) { memory.fill(y, 0, 66); return; }
  const d: f32 = maxScale / 31;
  store<u16>(y, <u16>f32ToHalf(d));
  const id: f32 = <f32>1 / d;
  for (let ib = 0; ib < 8; ib++) {
    let l = nearestInt(<f32>0.5 * (id * load<f32>(SC + (<usize>ib << 2)) - <f32>1));
    l = l < 0 ? 0 : l > 15 ? 15 : l;
    const o = Q2 + (<usize>(2 * ib + 1) << 2);
    store<u32>(o, load<u32>(o) | (<u32>l << 28));
  }
  memory.copy(y + 2, Q2, 64);
}

/** One IQ2_S super-block: 256 floats at x → 82 bytes at y (qw: importances or 0). */
function quantS(x: usize, y: usize, qw: usize): void {
  const map = map1024, nb = nb1024, kg = KG1024;
  memory.fill(y, 0, 82);
  let sumx2: f32 = 0;
  for (let i = 0; i < 256; i++) { const v = load<f32>(x + (<usize>i << 2)); sumx2 += v * v; }
  const sigma2: f32 = <f32>2 * sumx2 / <f32>256;
  const sigma2q: f32 = <f32>0.25 * sigma2;
  let maxScale: f32 = 0;
  for (let ib = 0; ib < 16; ib++) {
    const xb = x + (<usize>ib << 6);
    for (let i = 0; i < 16; i++) {
      const v = load<f32>(xb + (<usize>i << 2));
      const w = qw ? load<f32>(qw + (<usize>(16 * ib + i) << 2)) * sqrt<f32>(sigma2 + v * v) : sigma2q + v * v;
      store<f32>(WE + (<usize>i << 2), w);
      store<f32>(WA + (<usize>i << 2), sqrt<f32>(w));
    }
    let s0 = 0, s1 = 0;
    for (let i = 0; i < 16; i++) {
      const o = <usize>i << 2;
      const v = load<f32>(xb + o);
      if (v >= 0) store<f32>(XV + o, v);
      else { store<f32>(XV + o, -v); if (i < 8) s0 |= 1 << i; else s1 |= 1 << (i - 8); }
    }
    let max = load<f32>(XV);
    for (let i = 1; i < 16; i++) { const v = load<f32>(XV + (<usize>i << 2)); max = max > v ? max : v; }
    if (max < <f32>1e-8) { store<f32>(SC + (<usize>ib << 2), 0); continue; }
    termTables(16);
    let best: f32 = 0;
    let scale: f32 = max / 5;
    let og0 = true, og1 = true;
    // no trial taken: the levels stay 0 (code 0, on the grid)
    store<i32>(CB, 0); store<i32>(CB + 4, 0);
    for (let is = -9; is <= 9; is++) {
      const id: f32 = (<f32>5 + <f32>is * <f32>0.1) / max;
      const ts: f32 = <f32>1 / id;
      let a0 = true, a1 = true;
      for (let k = 0; k < 2; k++) {
        let u = code8(id, k);
        const m = load<i32>(map + (<usize>u << 2));
        if (m < 0) {
          if (k == 0) a0 = false; else a1 = false;
          u = bestNeighbour(kg, nb, m, k, ts);
        }
        store<i32>(CA + (<usize>k << 2), u);
      }
      const sq = sums(CA, 2), sx = sumQx;
      if (sq > 0 && sx * sx > best * sq) {
        scale = sx / sq; best = scale * sx;
        store<u64>(CB, load<u64>(CA));
        og0 = a0; og1 = a1;
      }
    }
    if ((!og0 || !og1) && scale > 0) {
      const id: f32 = <f32>1 / scale;
      for (let k = 0; k < 2; k++) {
        if (k == 0 ? og0 : og1) continue;
        let u = code8(id, k);
        const m = load<i32>(map + (<usize>u << 2));
        if (m < 0) u = bestNeighbour(kg, nb, m, k, scale);
        store<i32>(CB + (<usize>k << 2), u);
      }
      const sq = sums(CB, 2);
      if (sq > 0) scale = sumQx / sq;
    }
    if (scale < 0) { scale = -scale; s0 = ~s0 & 255; s1 = ~s1 & 255; }
    for (let k = 0; k < 2; k++) {
      const gi = load<i32>(map + (<usize>load<i32>(CB + (<usize>k << 2)) << 2));
      if (gi < 0 || gi >= 0x7ffffffe) { failed = 1; continue; }
      const i8 = 2 * ib + k;
      store<u8>(y + 2 + <usize>i8, <u8>gi);
      const h = y + 66 + <usize>(i8 >> 2);
      store<u8>(h, load<u8>(h) | <u8>((gi >> 8) << (2 * (i8 & 3))));
      store<u8>(y + 34 + <usize>i8, <u8>(k == 0 ? s0 : s1));
    }
    if (!(scale >= 0)) failed = 1;
    store<f32>(SC + (<usize>ib << 2), scale);
    maxScale = maxScale > scale ? maxScale : scale;
  }
  if (maxScale == 0) return;
  const d: f32 = maxScale / 31;
  store<u16>(y, <u16>f32ToHalf(d * <f32>0.9875));
  const id: f32 = <f32>1 / d;
  for (let ib = 0; ib < 16; ib += 2) {
    let l0 = nearestInt(<f32>0.5 * (id * load<f32>(SC + (<usize>ib << 2)) - <f32>1));
    l0 = l0 < 0 ? 0 : l0 > 15 ? 15 : l0;
    let l1 = nearestInt(<f32>0.5 * (id * load<f32>(SC + (<usize>(ib + 1) << 2)) - <f32>1));
    l1 = l1 < 0 ? 0 : l1 > 15 ? 15 : l1;
    store<u8>(y + 74 + <usize>(ib >> 1), <u8>(l0 | (l1 << 4)));
  }
}

export function iq2_s_quant(src: usize, dst: usize, nb: i32): void {
  for (let b = 0; b < nb; b++) quantS(src + (<usize>b << 10), dst + <usize>b * 82, 0);
}

export function iq2_s_quant_imatrix(src: usize, dst: usize, nRows: i32, nPerRow: i32, qw: usize): void {
  const nb = nPerRow >> 8;
  for (let r = 0; r < nRows; r++) {
    for (let b = 0; b < nb; b++) {
      quantS(src + ((<usize>r * <usize>nPerRow + (<usize>b << 8)) << 2), dst + (<usize>r * <usize>nb + <usize>b) * 82, qw + (<usize>b << 10));
    }
  }
}

export function iq2_xxs_quant_imatrix(src: usize, dst: usize, nRows: i32, nPerRow: i32, qw: usize): void {
  const nb = nPerRow >> 8;
  for (let r = 0; r < nRows; r++) {
    for (let b = 0; b < nb; b++) {
      quantXxs(src + ((<usize>r * <usize>nPerRow + (<usize>b << 8)) << 2), dst + (<usize>r * <usize>nb + <usize>b) * 66, qw + (<usize>b << 10));
    }
  }
}

/** One IQ2_XS super-block: 256 floats at x → 74 bytes at y, importances at qw. */
function quantXs(x: usize, y: usize, qw: usize): void {
  const map = map512, nb = nb512, kg = KG512;
  memory.fill(Q2, 0, 64);
  let sumx2: f32 = 0;
  for (let i = 0; i < 256; i++) { const v = load<f32>(x + (<usize>i << 2)); sumx2 += v * v; }
  const sigma2: f32 = sumx2 / <f32>256;
  let maxScale: f32 = 0;
  for (let ib = 0; ib < 16; ib++) {
    const xb = x + (<usize>ib << 6), qb = qw + (<usize>ib << 6);
    for (let i = 0; i < 16; i++) {
      const v = load<f32>(xb + (<usize>i << 2));
      const w = load<f32>(qb + (<usize>i << 2)) * sqrt<f32>(sigma2 + v * v);
      store<f32>(WE + (<usize>i << 2), w);
      store<f32>(WA + (<usize>i << 2), sqrt<f32>(w));
    }
    let s0 = 0, s1 = 0;
    for (let k = 0; k < 2; k++) {
      let nflip = 0, s = 0;
      for (let i = 0; i < 8; i++) {
        const o = <usize>(8 * k + i) << 2;
        const v = load<f32>(xb + o);
        if (v >= 0) store<f32>(XV + o, v);
        else { store<f32>(XV + o, -v); nflip++; s |= 1 << i; }
      }
      if (nflip & 1) {
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
      if (k == 0) s0 = s & 127; else s1 = s & 127;
    }
    let max = load<f32>(XV);
    for (let i = 1; i < 16; i++) { const v = load<f32>(XV + (<usize>i << 2)); max = max > v ? max : v; }
    if (max < <f32>1e-15) { store<f32>(SC + (<usize>ib << 2), 0); continue; }
    termTables(16);
    let best: f32 = 0;
    let scale: f32 = max / 5;
    let og0 = true, og1 = true;
    // no trial taken: the levels stay 0 (code 0, on the grid)
    store<i32>(CB, 0); store<i32>(CB + 4, 0);
    for (let is = -9; is <= 9; is++) {
      const id: f32 = (<f32>5 + <f32>is * <f32>0.1) / max;
      const ts: f32 = <f32>1 / id;
      let a0 = true, a1 = true;
      for (let k = 0; k < 2; k++) {
        let u = code8(id, k);
        const m = load<i32>(map + (<usize>u << 2));
        if (m < 0) {
          if (k == 0) a0 = false; else a1 = false;
          u = bestNeighbour(kg, nb, m, k, ts);
        }
        store<i32>(CA + (<usize>k << 2), u);
      }
      const sq = sums(CA, 2), sx = sumQx;
      if (sq > 0 && sx * sx > best * sq) {
        scale = sx / sq; best = scale * sx;
        store<u64>(CB, load<u64>(CA));
        og0 = a0; og1 = a1;
      }
    }
    if ((!og0 || !og1) && scale > 0) {
      const id: f32 = <f32>1 / scale;
      for (let k = 0; k < 2; k++) {
        if (k == 0 ? og0 : og1) continue;
        let u = code8(id, k);
        const m = load<i32>(map + (<usize>u << 2));
        if (m < 0) u = bestNeighbour(kg, nb, m, k, scale);
        store<i32>(CB + (<usize>k << 2), u);
      }
      const sq = sums(CB, 2);
      if (sq > 0) scale = sumQx / sq;
    }
    if (scale < 0) { scale = -scale; s0 = ~s0 & 127; s1 = ~s1 & 127; }
    for (let k = 0; k < 2; k++) {
      const gi = load<i32>(map + (<usize>load<i32>(CB + (<usize>k << 2)) << 2));
      if (gi < 0 || gi >= 0x7ffffffe) { failed = 1; continue; }
      store<u16>(Q2 + (<usize>(2 * ib + k) << 1), <u16>(gi | ((k == 0 ? s0 : s1) << 9)));
    }
    if (!(scale >= 0)) failed = 1;
    store<f32>(SC + (<usize>ib << 2), scale);
    maxScale = maxScale > scale ? maxScale : scale;
  }
  if (maxScale == 0) { memory.fill(y, 0, 74); return; }
  const d: f32 = maxScale / 31;
  store<u16>(y, <u16>f32ToHalf(d));
  const id: f32 = <f32>1 / d;
  for (let ib = 0; ib < 16; ib += 2) {
    let l0 = nearestInt(<f32>0.5 * (id * load<f32>(SC + (<usize>ib << 2)) - <f32>1));
    l0 = l0 < 0 ? 0 : l0 > 15 ? 15 : l0;
    let l1 = nearestInt(<f32>0.5 * (id * load<f32>(SC + (<usize>(ib + 1) << 2)) - <f32>1));
    l1 = l1 < 0 ? 0 : l1 > 15 ? 15 : l1;
    store<u8>(y + 66 + <usize>(ib >> 1), <u8>(l0 | (l1 << 4)));
  }
  memory.copy(y + 2, Q2, 64);
}

export function iq2_xs_quant_imatrix(src: usize, dst: usize, nRows: i32, nPerRow: i32, qw: usize): void {
  const nb = nPerRow >> 8;
  for (let r = 0; r < nRows; r++) {
    for (let b = 0; b < nb; b++) {
      quantXs(src + ((<usize>r * <usize>nPerRow + (<usize>b << 8)) << 2), dst + (<usize>r * <usize>nb + <usize>b) * 74, qw + (<usize>b << 10));
    }
  }
}
