// The BEiT-3 text convention: unilm wraps its SentencePiece model in HF `XLMRobertaTokenizer`
// (fairseq ids: <s>=0 <pad>=1 </s>=2 <unk>=3, spm id i>0 → i+1, <mask> = len(spm)+1) and builds
// fixed-length segments with `BaseDataset._get_text_segment`.
import { Tensor } from '../graph/tensor.js';
import { TokenizerError } from './errors.js';
import { SentencePieceProcessor } from './sentencepiece.js';

export const BOS_ID = 0;
export const PAD_ID = 1;
export const EOS_ID = 2;
export const UNK_ID = 3;
const FAIRSEQ_OFFSET = 1;

/** Maximum text lengths (num_max_bpe_tokens) the official recipes use, incl. <s> and </s>. */
export const TEXT_MAX_LEN = {
  default: 64,
  vqav2: 64,
  nlvr2: 64,
  retrieval: 64,
  captioning: 32,
} as const;
export type TextTask = keyof typeof TEXT_MAX_LEN;

export interface TextSegment {
  /** <s> ids… </s> then <pad> up to maxLen. */
  tokens: number[];
  /** 0 on real tokens (incl. <s>, </s>), 1 on padding. */
  paddingMask: number[];
  /** Real tokens incl. <s> and </s>. */
  numTokens: number;
}

export interface TextBatch {
  /** int64 [batch, maxLen] */
  languageTokens: Tensor;
  /** int64 [batch, maxLen], 1 = padding */
  paddingMask: Tensor;
  numTokens: number[];
}

export interface TokenDecodeOptions {
  /** Drop <s>, <pad>, </s>, <unk>, <mask> (HF skip_special_tokens). Default false. */
  skipSpecialTokens?: boolean;
  /** HF clean_up_tokenization_spaces (" ." → ".", " n't" → "n't", …). Default true, as in HF. */
  cleanUpTokenizationSpaces?: boolean;
}

export class Beit3Tokenizer {
  readonly spm: SentencePieceProcessor;
  readonly maskId: number;
  /** len(spm) + 2: the ids this tokenizer can produce (the model's embedding may be larger, e.g. 64010). */
  readonly vocabSize: number;
  readonly bosId = BOS_ID;
  readonly padId = PAD_ID;
  readonly eosId = EOS_ID;
  readonly unkId = UNK_ID;
  private readonly specialTokens: ReadonlyMap<number, string>;

  constructor(spm: SentencePieceProcessor) {
    this.spm = spm;
    this.maskId = spm.vocabSize + FAIRSEQ_OFFSET;
    this.vocabSize = spm.vocabSize + 2;
    this.specialTokens = new Map([
      [BOS_ID, '<s>'],
      [PAD_ID, '<pad>'],
      [EOS_ID, '</s>'],
      [UNK_ID, '<unk>'],
      [this.maskId, '<mask>'],
    ]);
  }

  static async load(path: string | URL): Promise<Beit3Tokenizer> {
    return new Beit3Tokenizer(await SentencePieceProcessor.load(path));
  }

  static fromBytes(bytes: Uint8Array, source?: string): Beit3Tokenizer {
    return new Beit3Tokenizer(SentencePieceProcessor.fromBytes(bytes, source));
  }

  /** The SentencePiece pieces (HF `tokenize`, without its special-token splitting). */
  tokenize(text: string): string[] {
    return this.spm.encodePieces(text);
  }

  /** XLM-R ids of the pieces (what unilm stores in its index files); no <s>/</s>. */
  encode(text: string): number[] {
    return this.spm.encode(text).map((id) => this.fromSpmId(id));
  }

  fromSpmId(spmId: number): number {
    return this.spm.isUnknown(spmId) ? UNK_ID : spmId + FAIRSEQ_OFFSET;
  }

  /** XLM-R id → token string (HF convert_ids_to_tokens). */
  idToToken(id: number): string {
    const special = this.specialTokens.get(id);
    if (special !== undefined) return special;
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize)
      throw new TokenizerError(`token id ${id} is out of range [0, ${this.vocabSize})`);
    return this.spm.idToPiece(id - FAIRSEQ_OFFSET);
  }

  /**
   * unilm `_get_text_segment`: truncate to maxLen−2, wrap in <s> … </s>, pad with <pad> to maxLen.
   * Empty input is an error, as in the official code (which raises RuntimeError).
   */
  textSegment(ids: readonly number[], maxLen: number = TEXT_MAX_LEN.default): TextSegment {
    // bounded up front: `--max-len 1000000000` padded a billion-entry array and aborted V8
    if (!Number.isInteger(maxLen) || maxLen < 3 || maxLen > MAX_SEGMENT_LEN)
      throw new TokenizerError(`maxLen must be an integer in [3, ${MAX_SEGMENT_LEN}], got ${maxLen}`);
    if (ids.length === 0)
      throw new TokenizerError('text segment is empty: it must contain at least one token');
    const body = ids.slice(0, maxLen - 2);
    const tokens = [BOS_ID, ...body, EOS_ID];
    const numTokens = tokens.length;
    const padding = maxLen - numTokens;
    return {
      tokens: tokens.concat(new Array<number>(padding).fill(PAD_ID)),
      paddingMask: new Array<number>(numTokens).fill(0).concat(new Array<number>(padding).fill(1)),
      numTokens,
    };
  }

  /** Tokenizes a text and builds its segment; empty (or whitespace-only) text is an error. */
  segment(text: string, maxLen: number = TEXT_MAX_LEN.default): TextSegment {
    const ids = this.encode(text);
    if (ids.length === 0)
      throw new TokenizerError(
        `text ${JSON.stringify(text.slice(0, 40))} has no tokens (empty or whitespace only)`,
      );
    return this.textSegment(ids, maxLen);
  }

  /** Segments collated to int64 tensors `language_tokens` and `padding_mask` of shape [batch, maxLen]. */
  batch(texts: readonly (string | readonly number[])[], maxLen: number = TEXT_MAX_LEN.default): TextBatch {
    const segments = texts.map((t, i) => {
      if (typeof t === 'string') return this.segment(t, maxLen);
      if (!Array.isArray(t))
        throw new TokenizerError(
          `text ${i} must be a string or an array of token ids, got ${t === null ? 'null' : typeof t}`,
        );
      return this.textSegment(t, maxLen);
    });
    return collateSegments(segments, maxLen);
  }

  /** HF `decode` / `batch_decode` for one sequence (XLMRobertaTokenizer slow tokenizer). */
  decode(ids: readonly number[], options: TokenDecodeOptions = {}): string {
    const skip = options.skipSpecialTokens ?? false;
    const tokens: string[] = [];
    for (const id of ids) {
      if (skip && this.specialTokens.has(id)) continue;
      tokens.push(this.idToToken(id));
    }
    const text = tokens.join('').replaceAll('\u2581', ' ').trim();
    return (options.cleanUpTokenizationSpaces ?? true) ? cleanUpTokenization(text) : text;
  }

  batchDecode(batch: readonly (readonly number[])[], options: TokenDecodeOptions = {}): string[] {
    return batch.map((ids) => this.decode(ids, options));
  }
}

/** Longest text segment (tokens): 64x the official 1024-position tables; beyond it nothing can use the padding. */
export const MAX_SEGMENT_LEN = 65536;

/** Stacks equal-length segments into int64 [batch, maxLen] tensors. */
export function collateSegments(segments: readonly TextSegment[], maxLen: number): TextBatch {
  const n = segments.length;
  const tokens = new BigInt64Array(n * maxLen);
  const mask = new BigInt64Array(n * maxLen);
  segments.forEach((s, b) => {
    if (s.tokens.length !== maxLen)
      throw new TokenizerError(`segment ${b} has length ${s.tokens.length}, expected ${maxLen}`);
    for (let i = 0; i < maxLen; i++) {
      tokens[b * maxLen + i] = BigInt(s.tokens[i]);
      mask[b * maxLen + i] = BigInt(s.paddingMask[i]);
    }
  });
  return {
    languageTokens: new Tensor('int64', [n, maxLen], tokens),
    paddingMask: new Tensor('int64', [n, maxLen], mask),
    numTokens: segments.map((s) => s.numTokens),
  };
}

/** HF `clean_up_tokenization`. */
export function cleanUpTokenization(text: string): string {
  return text
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}
