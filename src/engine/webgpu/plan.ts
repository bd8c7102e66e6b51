/**
 * How a product is cut for the GPU: its tile shape and split (productPlan), and the forms it can take that compute
 * the same numbers (TileForm), of which tune.ts keeps the fastest on the GPU at hand; products.ts builds the kernels.
 */

/** The depth of a tile along K (a `deep` form's unsplit small tiles: twice that). */
export const TK = 16;

/** Accumulator columns per thread of a tiled product N wide. */
export const tnFor = (N: number) => (N >= 64 ? 4 : N >= 32 ? 2 : 1);

/**
 * The forms a tiled product can take, each computing the same numbers bit for bit (the same sums in the same order:
 * only which thread loads what, and when, differs), of which tune.ts times each on the GPU at hand and keeps the
 * fastest (one may hide load latency on one GPU and spill registers on another):
 * - `prefetch`: each thread fetches its elements of the next tiles of A and B into registers while the current tiles
 *   are multiplied, so that the loads' latency is hidden where a product has few workgroups per multiprocessor
 *   (batch 128). On lavapipe the kernels take 1.3x as long with it (the MLP VAE at batch 128: 430 → 568 ms of kernels
 *   a step), its barriers keeping more values alive.
 * - `deep`: tiles 32 deep instead of 16 where the product is not split (a split product's chunks of K are multiples
 *   of the depth: their sums would change) and its tile is small (at most 32 x 32: a deeper large tile would pass
 *   WebGPU's default 16 KiB of workgroup memory): half the barriers and twice the loads in flight a step of K, for the
 *   long thin products of a small batch. Past K's end the tiles hold zeros, and fma(0, 0, s) = s (a sum that
 *   starts at +0 is never −0).
 * - `tiles`: the next larger or smaller tile shape in productPlan's list than the one it plans, with the split it
 *   plans (each output's sum is then the same): fewer workgroups doing more each, or more doing less. productPlan
 *   aims at ~200 workgroups for a GPU of 132 multiprocessors; what a product needs on another is for it to say.
 * - `vector`: each thread's block of C is tm consecutive rows by tn consecutive columns (not rows 16 apart), so that
 *   it reads its values of A and B from workgroup memory as vectors (vec4, vec2: one 128-bit load instead of four
 *   32-bit ones). The plain form's 4x4 block reads 8 values for 16 multiply-adds a step of K: on an NVIDIA GPU, whose
 *   multiprocessor issues four warps' multiply-adds for each warp's load from shared memory, the loads are what it
 *   waits on; as vectors, 2 loads. With `tiles: 'larger'` a vector product planned in 64 x 64 tiles takes 128 x 64
 *   (8 x 4 a thread: 3 loads for 32 multiply-adds), the shape of the GEMMs that come near a GPU's fp32 peak; only the
 *   vector form has it (the plain form's loads would not keep up). Where the block is one value (1 x 1), the form is
 *   the plain one. Prefetching too, the last form is the classic fp32 GEMM of a GPU (global loads into registers
 *   while multiplying, stored in workgroup memory between two barriers, vector reads from there).
 */
export interface TileForm {
  prefetch: boolean;
  deep: boolean;
  tiles?: 'larger' | 'smaller';
  vector?: boolean;
}

export const PLAIN_TILES: TileForm = { prefetch: false, deep: false };

/** Every form tune.ts tries, the plain one first (what runs where none is timed). */
export const TILE_FORMS: TileForm[] = [PLAIN_TILES, { prefetch: true, deep: false }, { prefetch: false, deep: true }, { prefetch: true, deep: true },
  { prefetch: false, deep: false, tiles: 'larger' }, { prefetch: false, deep: false, tiles: 'smaller' },
  { prefetch: false, deep: false, vector: true }, { prefetch: false, deep: false, vector: true, tiles: 'larger' },
  { prefetch: true, deep: false, vector: true, tiles: 'larger' }];

/**
 * The form of an untuned step on a software adapter (lavapipe, SwiftShader: compiling every form takes them longer
 * than tuning saves, so the tuner is off there by default): on lavapipe its tuner keeps this form for nearly every
 * product (the MLP at batch 128: all 9; the 28x28 conv VAE: 10 of 16, and 4 more in the vector form), and training
 * takes ~0.6-0.8x the time of the plain form's (bench/README.md). The same numbers as every form.
 */
export const SOFTWARE_TILES: TileForm = TILE_FORMS.find((f) => f.vector && f.tiles === 'larger' && !f.prefetch)!;

let tileForm: TileForm = PLAIN_TILES;

/** `build` (which makes kernels) with its tiled products in `form`. */
export function withTileForm<T>(form: TileForm, build: () => T): T {
  const was = tileForm;
  tileForm = form;
  try {
    return build();
  } finally {
    tileForm = was;
  }
}

/** The depth of a planned product's tiles in the form being built. */
export const tileDepth = (p: { tm: number; tn: number; splits: number }) => (tileForm.deep && p.splits === 1 && p.tm * p.tn <= 4 ? 2 * TK : TK);

/** The products being built are in the `deep` form (half.ts deepens the matrix form's tiles further). */
export const deepTiles = () => tileForm.deep;

/** The products being built fetch their next tiles while multiplying (the `prefetch` form). */
export const prefetching = () => tileForm.prefetch;

/** The products being built read their blocks of A and B as vectors (the `vector` form). */
export const vectorBlocks = () => tileForm.vector === true;

/** Workgroups the GPU should have to run at once (a few per streaming multiprocessor of an H100/H200: 132). */
const GPU_GROUPS = 264;

/**
 * How a product of M x N (rows: at most M) over K is cut. A weight gradient (a sum over the batch) takes the
 * largest tiles and gets its parallelism from splitting K into chunks of 256 or more. Any other product takes the
 * largest tile whose count still fills the GPU (a small-M product in big tiles leaves most of it idle, each
 * workgroup waiting on its own loads), and splits K too where K is long and the tiles few.
 */
export function productPlan(M: number, N: number, K: number, sumOverRows: boolean): { tm: number; tn: number; splits: number } {
  const shapes = [[4, 4], [4, 2], [2, 2], [4, 1], [2, 1], [1, 1]].filter(([, tn]) => tn <= tnFor(N));
  const tilesOf = ([tm, tn]: number[]) => Math.ceil(M / (16 * tm)) * Math.ceil(N / (16 * tn));
  const [tm, tn] = sumOverRows ? shapes[0] : shapes.find((shape) => tilesOf(shape) >= (3 * GPU_GROUPS) / 4) ?? [1, 1];
  const tiles = tilesOf([tm, tn]);
  const splits = sumOverRows ? Math.max(1, Math.min(Math.ceil((2 * GPU_GROUPS) / tiles), Math.floor(K / 256)))
    : K >= 2048 && tiles < GPU_GROUPS ? Math.min(Math.ceil(GPU_GROUPS / tiles), Math.floor(K / 256)) : 1;
  if (!tileForm.tiles) return { tm, tn, splits };
  // The form with the next shape (the same split: the same sums), where there is one; a vector form's larger shape
  // may be one no plan picks (128 x 64).
  const formShapes = tileForm.vector ? [[8, 4], ...shapes].filter(([, n]) => n <= tnFor(N)) : shapes;
  const at = formShapes.findIndex(([m, n]) => m === tm && n === tn) + (tileForm.tiles === 'larger' ? -1 : 1);
  const [fm, fn] = formShapes[Math.max(0, Math.min(formShapes.length - 1, at))];
  return { tm: fm, tn: fn, splits };
}

/**
 * How a product of M rows is cut along M for tiles of 16·tm rows: where M is fixed (a weight gradient's: its inputs
 * and the bias's row of ones, 257 or 513 or 785) and its last tile would be mostly empty, into its whole tiles and the
 * rows left over in the smallest tiles that hold them (257: 4 tiles of 64 and one of 16, instead of 5 of 64, a
 * quarter of whose rows were past M). Each output is summed as before (the same K, chunks and order): the same bits.
 */
export function rowParts(M: string, tm: number): { tm: number; rows?: [number, number] }[] {
  const fixed = /^(\d+)u$/.exec(M);
  if (!fixed) return [{ tm }];
  const rows = Number(fixed[1]), whole = Math.floor(rows / (16 * tm)) * 16 * tm, left = rows - whole;
  const small = [1, 2, 4, 8].find((t) => t < tm && 16 * t >= left);
  if (left === 0 || small === undefined) return [{ tm }];
  if (whole === 0) return [{ tm: small }];
  return [{ tm, rows: [0, whole] }, { tm: small, rows: [whole, rows] }];
}
