/**
 * `npm run demo`: prune one small LLaMA-architecture model with every method (magnitude, Wanda,
 * SparseGPT, DaSS) at 50% unstructured, 4:8 and 2:4 on the MLP (gate, up, down), evaluate each
 * pruned model, and print one table: method x pattern -> perplexity, actual sparsity, pruning
 * seconds, with the dense model's row on top.
 *
 * Works offline on a fresh machine:
 * - Data folder: `$DASS_DEMO_DATA`, else `../shared/data` when it sits next to the repository (the
 *   project's own workspace and CI have it; a fresh clone does not, and then there is none).
 * - Model: stories260K from the `dass pull` cache; else from the data folder's `models/` when it
 *   has it; else downloaded with `pull` (offline: said plainly); else a synthetic model with
 *   stories260K's shapes and seeded random weights (no tokenizer: everything below works on tokens).
 * - Text: with a data folder and a model with a tokenizer, calibration windows come from the
 *   folder's `text/c4_sample_200docs.jsonl` (as in the paper) and perplexity is measured on
 *   `text/tinystories_valid_first1000.txt`. Without them (no text is bundled), token streams are
 *   sampled from the model itself (temperature 1, seeds 0 and 1): one for the calibration windows,
 *   one held out for perplexity.
 *
 * Sizes are modest so that the whole run takes about a minute on 2 cores; they are printed.
 * `bench/prune.ts` runs the full-size version (128 x 512 calibration on C4, whole test texts).
 */
import {
  createRuntime, evaluatePerplexity, findCachedModel, loadTokenizer, mulberry32, OfflineError, openModel,
  perplexityOfTokens, prune, pull, readCalibrationFile, sampleWindows, tensorReader, Transformer,
  expectedTensors, numel, type ModelConfig, type ModelReader, type PruneMethod, type Runtime, type Tokenizer,
} from "../../src/index.js";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const METHODS: readonly PruneMethod[] = ["magnitude", "wanda", "sparsegpt", "dass"];
const PATTERNS = ["0.5", "4:8", "2:4"] as const;
/** Calibration: windows x tokens, drawn with seed 0 from a sampled stream of STREAM tokens. */
const NSAMPLES = 64, SEQLEN = 256, STREAM = 16384;
/** Evaluation: paper protocol, windows of EVAL_SEQLEN tokens over EVAL_TOKENS held-out tokens. */
const EVAL_SEQLEN = 256, EVAL_TOKENS = 8192;
/** With a data folder: the first this many tokens of the TinyStories validation text. */
const DATA_EVAL_TOKENS = 64 * EVAL_SEQLEN;

const log = (s: string) => process.stderr.write(s + "\n");
const now = () => performance.now();

interface DemoModel {
  name: string;
  origin: string;
  reader: ModelReader;
  tokenizer: Tokenizer | null;
}

/** stories260K from the cache, the data folder, or the network; null when none of them has it. */
async function findStories(dataDir: string | undefined): Promise<DemoModel | null> {
  const fromFiles = async (model: string, tok: string | undefined, origin: string): Promise<DemoModel> => {
    const reader = await openModel(model);
    const tokenizer = tok ? await loadTokenizer(tok, { vocabSize: reader.config.vocabSize }) : null;
    return { name: "stories260K", origin, reader, tokenizer };
  };
  const cached = await findCachedModel("stories260K");
  if (cached) return fromFiles(cached.modelPath, cached.tokenizerPath, `pull cache (${cached.modelPath})`);
  if (dataDir) {
    const m = join(dataDir, "models", "stories260K.bin"), t = join(dataDir, "models", "tok512.bin");
    if (existsSync(m) && existsSync(t)) return fromFiles(m, t, `data folder (${m})`);
  }
  log("stories260K is not in the pull cache: trying to download it (1 MiB)...");
  try {
    const got = await pull("stories260K", { signal: AbortSignal.timeout(120_000) });
    return fromFiles(got.modelPath, got.tokenizerPath, `downloaded to the pull cache (${got.modelPath})`);
  } catch (e) {
    if (e instanceof OfflineError) log(`offline: ${(e as Error).message}`);
    else log(`download failed: ${(e as Error).message}`);
    log("using a synthetic model with stories260K's shapes instead");
    return null;
  }
}

/**
 * A synthetic model with stories260K's shapes. Seeded Gaussian weights scaled like a trained
 * network's (1/sqrt(fan-in)), with log-normal norm weights and MLP neuron scales, so that channels
 * and neurons differ in size the way real activations do: the setting where activation-aware
 * methods (Wanda, DaSS) and magnitude pruning part ways.
 */
function syntheticStories(seed: number): DemoModel {
  const config: ModelConfig = {
    arch: "llama", dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, headDim: 8, vocabSize: 512, seqLen: 512,
    normEps: 1e-5, ropeTheta: 10000, ropeLayout: "adjacent", tiedEmbeddings: true, qkvBias: false, act: "silu",
    embedScale: 1, normPlusOne: false, bosId: 1, eosId: 2,
  };
  const r = mulberry32(seed);
  const randn = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const tensors = new Map<string, Float32Array>();
  for (const spec of expectedTensors(config)) {
    const a = new Float32Array(numel(spec.shape));
    const [rows, cols] = spec.shape.length === 2 ? spec.shape : [1, spec.shape[0]];
    if (spec.shape.length === 1) {
      for (let i = 0; i < a.length; i++) a[i] = Math.exp(0.5 * randn());
    } else if (spec.name === "tok_embeddings") {
      for (let i = 0; i < a.length; i++) a[i] = 0.3 * randn();
    } else {
      const neuron = /mlp\.(gate|up)$/.test(spec.name);
      for (let i = 0; i < rows; i++) {
        const s = (neuron ? Math.exp(0.5 * randn()) : 1) / Math.sqrt(cols);
        for (let j = 0; j < cols; j++) a[i * cols + j] = s * randn();
      }
    }
    tensors.set(spec.name, a);
  }
  return { name: "synthetic (stories260K shapes)", origin: `random weights from seed ${seed}: only the comparison between rows means something`, reader: tensorReader(config, tensors, "<synthetic>"), tokenizer: null };
}

/**
 * `n` tokens sampled from the model at temperature 1 with mulberry32(seed): sequences start at BOS
 * and end at BOS/EOS or the context length (the next one then starts), like documents.
 */
async function sampleTokens(model: Transformer, n: number, seed: number): Promise<Int32Array> {
  const rnd = mulberry32(seed);
  const { bosId, eosId } = model.config;
  const out = new Int32Array(n);
  let have = 0;
  const cache = model.newCache();
  try {
    while (have < n) {
      let token = bosId;
      for (let pos = 0; pos < model.contextLength && have < n; pos++) {
        const logits = await model.decode(token, pos, cache);
        let max = -Infinity;
        for (const x of logits) if (x > max) max = x;
        let sum = 0;
        for (const x of logits) sum += Math.exp(x - max);
        let u = rnd() * sum, next = logits.length - 1;
        for (let i = 0; i < logits.length; i++) {
          u -= Math.exp(logits[i] - max);
          if (u < 0) { next = i; break; }
        }
        if (next === bosId || next === eosId) break;
        out[have++] = next;
        token = next;
      }
    }
  } finally {
    cache.free();
  }
  return out;
}

interface Row { method: string; pattern: string; ppl: number; sparsity: number; pruneSeconds: number; nmValid: boolean | null }

async function main(): Promise<void> {
  const t0 = now();
  const dataDir = process.env.DASS_DEMO_DATA || undefined;
  if (dataDir && !existsSync(dataDir)) log(`DASS_DEMO_DATA=${dataDir} does not exist: ignored`);
  // dist/examples/node/demo.js -> the folder next to the repository.
  const sibling = fileURLToPath(new URL("../../../../shared/data", import.meta.url));
  const data = dataDir ? (existsSync(dataDir) ? dataDir : undefined) : existsSync(sibling) ? sibling : undefined;
  const demo = (await findStories(data)) ?? syntheticStories(0);
  const rt: Runtime = await createRuntime();
  try {
    const load = () => Transformer.load(demo.reader, rt);
    const dense = await load();
    const calibText = data && demo.tokenizer ? join(data, "text", "c4_sample_200docs.jsonl") : undefined;
    let calibDesc: string;
    let calibStream: ArrayLike<number>;
    if (calibText && existsSync(calibText)) {
      // Calibration as the paper draws it: windows of a C4 sample, tokenized as one stream.
      calibStream = demo.tokenizer!.encode((await readCalibrationFile(calibText)).text);
      calibDesc = `${calibText} (${calibStream.length} tokens)`;
    } else {
      log(`sampling ${STREAM} calibration tokens from the model...`);
      calibStream = await sampleTokens(dense, STREAM, 0);
      calibDesc = `${STREAM} tokens sampled from the model (temperature 1, seed 0)`;
    }
    const windows = sampleWindows(calibStream, { nsamples: NSAMPLES, seqlen: SEQLEN, seed: 0, source: calibDesc });

    const evalText = data && demo.tokenizer ? join(data, "text", "tinystories_valid_first1000.txt") : undefined;
    let evalDesc = `${Math.floor((EVAL_TOKENS + 1) / EVAL_SEQLEN)} windows x ${EVAL_SEQLEN} tokens of held-out text sampled from the model (temperature 1, seed 1)`;
    let text: string | undefined;
    if (evalText && existsSync(evalText)) {
      text = (await readCalibrationFile(evalText)).text;
      evalDesc = `the first ${DATA_EVAL_TOKENS} tokens (${DATA_EVAL_TOKENS / EVAL_SEQLEN} windows x ${EVAL_SEQLEN}) of ${evalText}`;
    } else if (data) {
      log(demo.tokenizer ? `${evalText} not found: evaluating on sampled text` : "the synthetic model has no tokenizer: evaluating on sampled text, not on the data folder's");
    }
    const heldOut = text === undefined ? await sampleTokens(dense, EVAL_TOKENS, 1) : [];
    const perplexity = async (m: Transformer): Promise<number> =>
      (text !== undefined
        ? await evaluatePerplexity(m, demo.tokenizer!, text, { seqLen: EVAL_SEQLEN, maxTokens: DATA_EVAL_TOKENS })
        : await perplexityOfTokens(m, heldOut, { seqLen: EVAL_SEQLEN })).ppl;

    const rows: Row[] = [];
    rows.push({ method: "dense", pattern: "-", ppl: await perplexity(dense), sparsity: 0, pruneSeconds: 0, nmValid: null });
    dense.close();
    for (const method of METHODS) {
      for (const pattern of PATTERNS) {
        const model = await load();
        try {
          const { report } = await prune(model, {
            method, pattern, targets: "mlp", reconError: false,
            ...(method === "magnitude" ? {} : { calib: windows }),
          });
          const ppl = await perplexity(model);
          rows.push({ method, pattern, ppl, sparsity: report.totals.pruned.sparsity, pruneSeconds: report.pruneSeconds, nmValid: report.nmValid });
          log(`  ${method} ${pattern}: perplexity ${ppl.toFixed(3)}`);
        } finally {
          model.close();
        }
      }
    }

    const out: string[] = [];
    out.push("", "dass-wasm demo: prune with every method, evaluate each pruned model", "");
    out.push(`model:       ${demo.name}, ${demo.origin}`);
    out.push(`runtime:     ${rt.threads} thread${rt.threads > 1 ? "s" : ""}, Wasm SIMD${rt.relaxedSimd ? " + relaxed SIMD" : ""}`);
    out.push(`calibration: ${NSAMPLES} windows x ${SEQLEN} tokens (window seed 0) from ${calibDesc}`);
    out.push(`evaluation:  perplexity, paper protocol, on ${evalDesc}`);
    out.push("targets:     mlp (gate, up, down of every block); sparsity = zeros / weights of those matrices");
    out.push("");
    const head = ["method", "pattern", "perplexity", "vs dense", "sparsity", "N:M valid", "pruning s"];
    const denseRow = rows[0];
    const cells = rows.map((r) => [
      r.method, r.pattern, r.ppl.toFixed(3),
      r.method === "dense" ? "-" : `${r.ppl >= denseRow.ppl ? "+" : ""}${((100 * (r.ppl - denseRow.ppl)) / denseRow.ppl).toFixed(1)}%`,
      `${(100 * r.sparsity).toFixed(2)}%`, r.nmValid === null ? "-" : r.nmValid ? "yes" : "NO", r.method === "dense" ? "-" : r.pruneSeconds.toFixed(3),
    ]);
    const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
    const line = (c: string[]) => `| ${c.map((x, i) => (i < 2 ? x.padEnd(w[i]) : x.padStart(w[i]))).join(" | ")} |`;
    out.push(line(head), `|${w.map((x, i) => (i < 2 ? ":" + "-".repeat(x + 1) : "-".repeat(x + 1) + ":")).join("|")}|`);
    for (const c of cells) out.push(line(c));
    out.push("", `pruning s: time spent pruning (statistics, scores, masks, SparseGPT's updates), excluding forward passes; total run ${((now() - t0) / 1000).toFixed(1)} s`);
    process.stdout.write(out.join("\n") + "\n");
  } finally {
    rt.close();
    await demo.reader.close();
  }
}

await main();
