/**
 * Models on the Hugging Face Hub, for `dass pull org/name[@revision][:gguf]`: the repository's file listing
 * (`GET <endpoint>/api/models/<repo>/revision/<rev>?blobs=true`) becomes a registry entry pinned to the
 * commit the revision points at, so every file comes from that one commit. Weights are Git LFS files
 * whose sha256 the listing gives; the small Git files (config.json, tokenizer.json) are verified by
 * size, and a cached copy of one is reused only if it was downloaded for the same Git blob.
 *
 * What is fetched: the top-level `config.json`, the transformers weights (`model.safetensors`, or the
 * `model-NNNNN-of-NNNNN.safetensors` shards with `model.safetensors.index.json`), and the tokenizer and
 * generation side files. Other weights are never fetched: pickled PyTorch `*.bin`, Mistral's
 * `consolidated.safetensors` (a second copy in another layout), adapters. With `:gguf` (a file name, or
 * a quantisation tag such as `Q4_K_M`, as llama.cpp's `-hf` takes it) the one GGUF file it names is
 * fetched instead; it carries its own config and vocabulary.
 *
 * The endpoint is `HF_ENDPOINT` (default https://huggingface.co); a token for gated or private models
 * comes from `HF_TOKEN` and is sent to the endpoint only (fetch drops it on the redirect to the CDN).
 */
import { ArgumentError } from "../errors.js";
import { DownloadError } from "./errors.js";
import { httpGet } from "./download.js";
import type { RegistryFile, RegistryModel } from "./registry.js";

/** The Hub's default endpoint. */
export const HUB_ENDPOINT = "https://huggingface.co";

/** A parsed `org/name[@revision][:gguf]`. */
export interface HubSpec {
  repo: string;
  revision: string;
  /** A GGUF file of the repository, by name or by the quantisation tag its name ends with. */
  gguf?: string;
}

// Hub repository ids: a namespace and a name of letters, digits, "-", "_", "."; no "--" or ".." runs.
const REPO_PART = /^(?!.*(--|\.\.))[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;

/**
 * `org/name`, `org/name@revision`, each optionally with `:gguf`, as a Hub model; null for a name without
 * "/" (a registry name). ArgumentError for something with a "/" that is not a valid repository id.
 */
export function parseHubSpec(name: string): HubSpec | null {
  if (!name.includes("/")) return null;
  const colon = name.lastIndexOf(":"); // Git refs cannot hold ":"
  const head = colon < 0 ? name : name.slice(0, colon);
  const gguf = colon < 0 ? undefined : name.slice(colon + 1);
  const at = head.indexOf("@");
  const repo = at < 0 ? head : head.slice(0, at);
  const revision = at < 0 ? "main" : head.slice(at + 1);
  const parts = repo.split("/");
  if (parts.length !== 2 || !parts.every((p) => REPO_PART.test(p)) || revision === "" || /[\s]/.test(revision) ||
      (gguf !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(gguf))) {
    throw new ArgumentError("name", `${JSON.stringify(name)} is not a Hugging Face model id (expected org/name, org/name@revision, or either with :Q4_K_M or :file.gguf)`);
  }
  return { repo, revision, ...(gguf !== undefined ? { gguf } : {}) };
}

/** Options of hubModel(). */
export interface HubOptions {
  /** Default: `HF_ENDPOINT`, else https://huggingface.co. */
  endpoint?: string;
  /** Default: `HF_TOKEN` (or the older `HUGGING_FACE_HUB_TOKEN`). */
  token?: string;
  env?: Record<string, string | undefined>;
  signal?: AbortSignal;
}

/** A Hub model resolved to a commit: a registry entry plus where it came from. */
export interface HubModel extends RegistryModel {
  /** The commit the revision pointed at. */
  commit: string;
  /** Headers to send with each download (the token), for the endpoint's host only. */
  headers: Record<string, string>;
}

const SIDE_FILES = new Set(["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"]);
/** Up to six names, for messages. */
const listed = (xs: string[]) => `${xs.slice(0, 6).join(", ")}${xs.length > 6 ? ", ..." : ""}`;
/** The weight files transformers (and dass's reader) use. */
const WEIGHTS = /^model(-\d+-of-\d+)?\.safetensors$/;

interface Sibling {
  rfilename: string;
  size?: number;
  blobId?: string;
  lfs?: { sha256?: string; size?: number };
}

/** Lists `spec` on the Hub and builds its registry entry (see the module comment). */
export async function hubModel(spec: HubSpec, opts: HubOptions = {}): Promise<HubModel> {
  const env = opts.env ?? (typeof process !== "undefined" ? process.env : {});
  const endpoint = (opts.endpoint ?? (env.HF_ENDPOINT || HUB_ENDPOINT)).replace(/\/+$/, "");
  if (!/^https?:\/\/[^/]/i.test(endpoint)) {
    throw new ArgumentError(opts.endpoint !== undefined ? "endpoint" : "HF_ENDPOINT", `expected an http(s) URL, got ${JSON.stringify(endpoint)}`);
  }
  const token = opts.token ?? (env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined);
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const url = `${endpoint}/api/models/${spec.repo}/revision/${encodeURIComponent(spec.revision)}?blobs=true`;
  const what = `${spec.repo}@${spec.revision}`;
  const res = await httpGet(url, headers, opts.signal, what);
  const text = await res.text();
  let info: unknown;
  try {
    info = JSON.parse(text);
  } catch {
    info = null;
  }
  if (!res.ok) {
    const said = typeof (info as { error?: unknown } | null)?.error === "string" ? `: ${(info as { error: string }).error}` : "";
    const hint = res.status === 401 || res.status === 403
      ? token ? " (the token in HF_TOKEN has no access: accept the model's terms on its page, or check the token)" : " (a gated or private model needs HF_TOKEN set to an access token; a misspelt name answers the same)"
      : res.status === 404 ? " (no such model or revision)" : "";
    throw new DownloadError(url, `${what}: HTTP ${res.status}${said}${hint}`, res.status);
  }
  const commit = (info as { sha?: unknown } | null)?.sha;
  const siblings = (info as { siblings?: unknown } | null)?.siblings;
  if (typeof commit !== "string" || !/^[0-9a-f]{40}$/.test(commit) || !Array.isArray(siblings)) {
    throw new DownloadError(url, `${what}: the Hub's answer has no commit id and file list; is ${endpoint} a Hugging Face endpoint?`);
  }
  const top = (siblings as Sibling[]).filter((s) => s && typeof s.rfilename === "string" && !s.rfilename.includes("/"));
  const names = top.map((s) => s.rfilename);
  // llama.cpp's multimodal projectors (mmproj-*.gguf) are not language models.
  const ggufs = names.filter((n) => /\.gguf$/i.test(n) && !/^mmproj/i.test(n));
  const fileEntry = (s: Sibling): RegistryFile => {
    const n = s.rfilename;
    const bytes = s.lfs?.size ?? s.size;
    const sha256 = typeof s.lfs?.sha256 === "string" ? s.lfs.sha256.toLowerCase() : undefined;
    if (typeof bytes !== "number" || !Number.isSafeInteger(bytes) || bytes < 0 || (sha256 !== undefined && !/^[0-9a-f]{64}$/.test(sha256))) {
      throw new DownloadError(url, `${what}: the Hub's listing of ${n} has no usable size${sha256 === undefined ? "" : " or sha256"}`);
    }
    return {
      name: n,
      role: /\.(safetensors|gguf)$/i.test(n) ? "model" : n === "tokenizer.json" ? "tokenizer" : "config",
      url: `${endpoint}/${spec.repo}/resolve/${commit}/${encodeURIComponent(n)}`,
      bytes,
      sha256,
      blob: sha256 === undefined && typeof s.blobId === "string" ? s.blobId : undefined,
    };
  };
  const license = (info as { cardData?: { license?: unknown } }).cardData?.license;
  const entry = (format: HubModel["format"], files: RegistryFile[]): HubModel => ({
    name: spec.repo,
    description: `${spec.repo} at ${commit.slice(0, 12)} (${spec.revision}) from ${endpoint}`,
    format,
    license: typeof license === "string" ? license : "see the model card",
    files,
    commit,
    headers,
  });
  if (spec.gguf !== undefined) {
    const picked = pickGguf(ggufs, spec.gguf, (m) => new DownloadError(url, `${what}: ${m}`));
    return entry("gguf", picked.map((file) => fileEntry(top.find((s) => s.rfilename === file)!)));
  }
  if (!names.includes("config.json")) {
    if (ggufs.length) throw new DownloadError(url, `${what} holds GGUF files, not a transformers model: pull one as ${spec.repo}:<quantisation or file> (${listed(ggufs)})`);
    throw new DownloadError(url, `${what} has no config.json: not a transformers model`);
  }
  const weights = names.filter((n) => WEIGHTS.test(n));
  if (!weights.length) {
    const other = names.filter((n) => /\.(bin|pt|pth|gguf|ckpt|safetensors)$/.test(n));
    throw new DownloadError(
      url,
      `${what} has no safetensors weights${other.length ? ` (only ${other.slice(0, 4).join(", ")}${other.length > 4 ? ", ..." : ""})` : ""}; dass reads Hugging Face models as safetensors`,
    );
  }
  const files: RegistryFile[] = [];
  for (const s of top) {
    const n = s.rfilename;
    const isWeights = WEIGHTS.test(n) || n === "model.safetensors.index.json";
    if (isWeights || n === "config.json" || SIDE_FILES.has(n)) files.push(fileEntry(s));
  }
  return entry("safetensors", files);
}

/**
 * The GGUF `want` names: the file itself (with or without `.gguf`), or the one whose name ends with it
 * after a "-", "." or "_" (a quantisation tag: `Q4_K_M` picks `model-Q4_K_M.gguf`), case-insensitively;
 * or every part of a split model (`-00001-of-00003.gguf` and on, which must all be there), first part first.
 */
function pickGguf(ggufs: string[], want: string, fail: (m: string) => Error): string[] {
  const w = want.toLowerCase().replace(/\.gguf$/, "");
  // A file's name without ".gguf", and without a split file's "-0000k-of-0000n" (so its tag still shows).
  const base = (n: string) => n.toLowerCase().replace(/\.gguf$/, "");
  const stem = (n: string) => base(n).replace(/-\d{5}-of-\d{5}$/, "");
  const exact = ggufs.filter((n) => base(n) === w);
  const tagged = ggufs.filter((n) => stem(n).endsWith(w) && /[-._]$/.test(stem(n).slice(0, -w.length)));
  const hits = exact.length ? exact : tagged;
  if (!ggufs.length) throw fail("has no GGUF files");
  if (!hits.length) throw fail(`no GGUF file is ${JSON.stringify(want)} or ends with it (${listed(ggufs)})`);
  const splitOf = (n: string) => /^(.*)-(\d{5})-of-(\d{5})\.gguf$/i.exec(n);
  const split = hits.map(splitOf);
  if (split.every((m) => m) && new Set(split.map((m) => `${m![1]}/${m![3]}`.toLowerCase())).size === 1) {
    const count = Number(split[0]![3]);
    const parts = [...hits].sort((a, b) => Number(splitOf(a)![2]) - Number(splitOf(b)![2]));
    if (parts.length !== count || parts.some((n, i) => Number(splitOf(n)![2]) !== i + 1)) {
      throw fail(`${parts[0]} is split into ${count} files but the repository has ${listed(parts)}`);
    }
    return parts;
  }
  if (hits.length > 1) throw fail(`${JSON.stringify(want)} matches ${hits.join(", ")}; name the file`);
  return hits;
}
