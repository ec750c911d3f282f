// Chat templates: rendered as transformers renders them (trimmed and left-stripped blocks, special-token
// variables), found where HF folders and GGUF files keep them; special-token texts read as tokens by GGUF
// SentencePiece vocabularies; errors.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ArgumentError, FormatError } from "../src/errors.js";
import { convertModel, ggufVocab, MemoryFile, MemoryFolder, openModel, readGGUF, writeGGUF, writeSafetensors } from "../src/formats/index.js";
import { GGUFTokenizer, TokenType } from "../src/tokenizers/gguf.js";
import { readChatTemplate, renderChat, type ChatTemplate } from "../src/generate/index.js";
import { syntheticModel } from "./util/synthetic-model.js";

const chat = suite("chat templates");

const CHATML =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
const tpl = (source: string, specialTokens: Record<string, string> = {}): ChatTemplate => ({ source, origin: "test", specialTokens });
const user = (content: string) => ({ role: "user", content });

chat("ChatML and a Llama 3-style template render as transformers does; the generation prompt is optional", () => {
  const msgs = [{ role: "system", content: "Be brief." }, user("Hi")];
  assert.is(renderChat(tpl(CHATML), msgs), "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  assert.is(renderChat(tpl(CHATML), msgs, { addGenerationPrompt: false }), "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
  const llama3 = [
    "{{- bos_token }}",
    "{%- for message in messages %}",
    "    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}",
    "{%- endfor %}",
    "{%- if add_generation_prompt %}",
    "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}",
    "{%- endif %}",
  ].join("\n");
  assert.is(
    renderChat(tpl(llama3, { bos_token: "<|begin_of_text|>" }), [user("  Hi  ")]),
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
  );
  // trim_blocks and lstrip_blocks, as transformers sets them (Python's Jinja2 renders this "[U]Hi\n").
  const blocks = "{% for m in messages %}\n  {% if m.role == 'user' %}\n[U]{{ m.content }}\n  {% endif %}\n{% endfor %}";
  assert.is(renderChat(tpl(blocks), [user("Hi"), { role: "assistant", content: "Yo" }]), "[U]Hi\n");
});

chat("a template that raises, one that does not parse, and malformed messages are clear errors", () => {
  const alternate =
    "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{{ message['content'] }}{% endfor %}";
  assert.is(renderChat(tpl(alternate), [user("a"), { role: "assistant", content: "b" }, user("c")]), "abc");
  assert.throws(() => renderChat(tpl(alternate), [user("a"), user("b")]), (e: unknown) => e instanceof ArgumentError && e.arg === "messages" && /roles must alternate/.test(e.message));
  assert.throws(() => renderChat(tpl("{% for %}"), [user("a")]), (e: unknown) => e instanceof FormatError && /chat template does not parse/.test(e.message));
  assert.throws(() => renderChat(tpl(CHATML), []), (e: unknown) => e instanceof ArgumentError && e.arg === "messages");
  assert.throws(() => renderChat(tpl(CHATML), [{ role: "user" } as never]), (e: unknown) => e instanceof ArgumentError && e.arg === "messages[0]");
});

chat("HF folders: chat_template.jinja, else tokenizer_config.json's (the default of a named list); special tokens as text", async () => {
  const m = syntheticModel("llama", 3);
  const folder = async (extraFiles: Record<string, string>) => {
    const out = new MemoryFolder("hf");
    const enc = Object.fromEntries(Object.entries(extraFiles).map(([k, v]) => [k, new TextEncoder().encode(v)]));
    await writeSafetensors(out, m.config, m.source, { extraFiles: enc });
    return openModel({ files: out.files, name: "hf" });
  };
  const config = { bos_token: { content: "<s>", lstrip: false }, eos_token: "</s>", chat_template: CHATML };
  const a = await readChatTemplate(await folder({ "tokenizer_config.json": JSON.stringify(config) }));
  assert.equal(a, { source: CHATML, origin: "tokenizer_config.json chat_template", specialTokens: { bos_token: "<s>", eos_token: "</s>" } });
  const named = { ...config, chat_template: [{ name: "tool_use", template: "T" }, { name: "default", template: "D" }] };
  assert.is((await readChatTemplate(await folder({ "tokenizer_config.json": JSON.stringify(named) })))?.source, "D");
  const file = await readChatTemplate(await folder({ "tokenizer_config.json": JSON.stringify(config), "chat_template.jinja": "J" }));
  assert.equal([file?.source, file?.origin, file?.specialTokens.eos_token], ["J", "chat_template.jinja", "</s>"]);
  assert.is(await readChatTemplate(await folder({})), null);
  try {
    await readChatTemplate(await folder({ "tokenizer_config.json": "{ nope" }));
    assert.unreachable("malformed tokenizer_config.json");
  } catch (e) {
    assert.ok(e instanceof FormatError && /tokenizer_config\.json/.test(e.message), String(e));
  }
});

// A SentencePiece vocabulary with control tokens <s> </s>, a user-defined <start_of_turn>, and merges
// "▁" + "h" (score -1) then "▁h" + "i" (-0.5), "h" + "i" (-2).
const pieces = ["<unk>", "<s>", "</s>", "<start_of_turn>", "\u2581", "h", "i", "\u2581h", "\u2581hi", "hi", "<", ">", "s", "/"];
const types = pieces.map((_, i) => (i === 0 ? TokenType.UNKNOWN : i < 3 ? TokenType.CONTROL : i === 3 ? TokenType.USER_DEFINED : TokenType.NORMAL));
const scores = pieces.map((p) => (p === "\u2581h" ? -1 : p === "\u2581hi" ? -0.5 : p === "hi" ? -2 : -10));
const vocab = { tokens: pieces, scores, tokenTypes: types, bosId: 1, eosId: 2, unkId: 0, model: "llama" };

chat("GGUF: tokenizer.chat_template with the vocabulary's special-token texts; SentencePiece reads them as tokens when asked", async () => {
  const tok = new GGUFTokenizer(vocab);
  // As llama.cpp: each text fragment after a special token starts with the dummy prefix.
  assert.equal(tok.encode("<s>hi<start_of_turn>hi</s>", { parseSpecial: true }), [1, 8, 3, 8, 2]);
  assert.equal(tok.encode("hi<s>", { parseSpecial: true, bos: true }), [1, 8, 1]);
  assert.not.ok(tok.encode("<s>hi").includes(1), "without parseSpecial, <s> is text");
  assert.equal(tok.encode("hi"), [8]);
  const m = syntheticModel("llama", 4, { ropeLayout: "adjacent", overrides: { vocabSize: pieces.length } });
  const out = new MemoryFolder("g");
  await writeGGUF(out, m.config, m.source, { vocab: { ...vocab, chatTemplate: CHATML, eotId: 3 } });
  const r = await readGGUF(new MemoryFile(out.files.get("model.gguf")!, "g.gguf"));
  const t = await readChatTemplate(r);
  assert.equal([t?.source, t?.specialTokens], [CHATML, { bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>" }]);
  // Converted copies keep it: a GGUF in tokenizer.chat_template (with the end-of-turn id), a HF folder in chat_template.jinja.
  const again = new MemoryFolder("g2");
  await convertModel(r, "gguf", again);
  const r2 = await readGGUF(new MemoryFile(again.files.get("model.gguf")!, "g2.gguf"));
  assert.equal([(await readChatTemplate(r2))?.source, ggufVocab(r2)?.eotId], [CHATML, 3]);
  const hf = new MemoryFolder("hf");
  await convertModel(r, "safetensors", hf);
  assert.equal((await readChatTemplate(await openModel({ files: hf.files, name: "hf" })))?.source, CHATML);
  const plain = new MemoryFolder("p");
  await writeGGUF(plain, m.config, m.source, { vocab });
  assert.is(await readChatTemplate(await readGGUF(new MemoryFile(plain.files.get("model.gguf")!, "p.gguf"))), null);
});

chat.run();
