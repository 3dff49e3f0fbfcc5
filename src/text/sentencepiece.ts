// SentencePiece in TypeScript: reads official `.model` files and encodes/decodes exactly like the
// official library (checked on every fixture case and by differential tests against the official C++
// compiled to WebAssembly).
//
// Why hand-written: the npm ports of SentencePiece (sentencepiece-js and forks) are the C++ library
// compiled to WASM; they import Node's `fs` at module top level (so they do not load in a browser
// without bundler shims), are async-only with manual `.delete()` memory management, ship ~4 MB per
// copy, and include no trainer. The encoders are a few hundred lines, run synchronously in Node and
// the browser alike, and share their pieces with our Unigram trainer.
import { SentencePieceModelError, TokenizerError } from './errors.js';
import {
  decodeModelProto,
  encodeModelProto,
  ModelType,
  PieceType,
  type ModelProtoData,
} from './model-proto.js';
import { Normalizer, SPACE_SYMBOL } from './normalizer.js';
import { BpeSegmenter, UnigramSegmenter } from './segmenters.js';
import { utf8Decode, utf8Encode } from './utf8.js';

const DEFAULT_UNK_SURFACE = ' \u2047 ';
const BYTE_PIECE = /^<0x([0-9A-F]{2})>$/;

export interface EncodedPiece {
  piece: string;
  id: number;
}

export class SentencePieceProcessor {
  readonly model: ModelProtoData;
  readonly modelType: ModelType;
  private readonly normalizer: Normalizer;
  private readonly pieceIds = new Map<string, number>(); // NORMAL / USER_DEFINED / UNUSED
  private readonly reservedIds = new Map<string, number>(); // CONTROL / UNKNOWN / BYTE
  private readonly byteIds = new Int32Array(256).fill(-1);
  private readonly unigram?: UnigramSegmenter;
  private readonly bpe?: BpeSegmenter;
  private readonly unkSurface: string;
  private readonly byteFallback: boolean;
  readonly unkId: number;

  private constructor(model: ModelProtoData, source: string) {
    this.model = model;
    this.modelType = model.trainerSpec.modelType ?? ModelType.UNIGRAM;
    let unkId = -1;
    const userSymbols = new Set<string>();
    model.pieces.forEach((p, id) => {
      const normal =
        p.type === PieceType.NORMAL || p.type === PieceType.USER_DEFINED || p.type === PieceType.UNUSED;
      const table = normal ? this.pieceIds : this.reservedIds;
      if (this.pieceIds.has(p.piece) || this.reservedIds.has(p.piece))
        throw new SentencePieceModelError(
          `${source}: piece ${JSON.stringify(p.piece)} appears twice (ids ${table.get(p.piece) ?? '?'} and ${id})`,
        );
      table.set(p.piece, id);
      if (p.type === PieceType.USER_DEFINED) userSymbols.add(p.piece);
      if (p.type === PieceType.UNKNOWN) {
        if (unkId >= 0)
          throw new SentencePieceModelError(
            `${source}: more than one unknown piece (ids ${unkId} and ${id})`,
          );
        unkId = id;
      }
      if (p.type === PieceType.BYTE) {
        const m = BYTE_PIECE.exec(p.piece);
        if (!m)
          throw new SentencePieceModelError(
            `${source}: byte piece ${id} is ${JSON.stringify(p.piece)}, expected <0xXX>`,
          );
        this.byteIds[parseInt(m[1], 16)] = id;
      }
    });
    if (unkId < 0) throw new SentencePieceModelError(`${source}: model has no unknown piece (<unk>)`);
    this.unkId = unkId;
    this.byteFallback = model.trainerSpec.byteFallback ?? false;
    this.unkSurface = model.trainerSpec.unkSurface ?? DEFAULT_UNK_SURFACE;
    this.normalizer = new Normalizer(model.normalizerSpec, {
      treatWhitespaceAsSuffix: model.trainerSpec.treatWhitespaceAsSuffix ?? false,
      userDefinedSymbols: userSymbols,
    });
    if (this.modelType === ModelType.UNIGRAM) this.unigram = new UnigramSegmenter(model.pieces, unkId);
    else if (this.modelType === ModelType.BPE)
      this.bpe = new BpeSegmenter(model.pieces, this.pieceIds, userSymbols, (p) => this.pieceToId(p));
    else
      throw new SentencePieceModelError(
        `${source}: model type ${ModelType[this.modelType] ?? this.modelType} is not supported (UNIGRAM and BPE are)`,
      );
  }

  /**
   * Loads a `.model` file: a path or file: URL in Node; an http(s)/blob/data URL (fetched) anywhere.
   * Node's fs is imported only here, on demand, so the class also runs in browsers.
   */
  static async load(pathOrUrl: string | URL): Promise<SentencePieceProcessor> {
    const source = String(pathOrUrl);
    const isNode =
      typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node ===
      'string';
    let bytes: Uint8Array;
    try {
      if (/^(https?|blob|data):/i.test(source) || !isNode) {
        const res = await fetch(source);
        if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
        bytes = new Uint8Array(await res.arrayBuffer());
      } else {
        // bounded, regular files only (a FIFO or /dev/zero must not hang the tokenizer load)
        const { readFileBounded, READ_LIMITS } = await import('../util/read.node.js');
        bytes = await readFileBounded(pathOrUrl instanceof URL ? pathOrUrl.pathname : pathOrUrl, READ_LIMITS.tokenizerModel, 'SentencePiece model');
      }
    } catch (e) {
      throw new SentencePieceModelError(`cannot read SentencePiece model ${source}: ${(e as Error).message}`);
    }
    return SentencePieceProcessor.fromBytes(bytes, source);
  }

  static fromBytes(bytes: Uint8Array, source = '<bytes>'): SentencePieceProcessor {
    return new SentencePieceProcessor(decodeModelProto(bytes, source), source);
  }

  static fromModel(model: ModelProtoData, source = '<model>'): SentencePieceProcessor {
    return new SentencePieceProcessor(model, source);
  }

  /** The model serialized in the official `.model` format. */
  serialize(): Uint8Array {
    return encodeModelProto(this.model);
  }

  get vocabSize(): number {
    return this.model.pieces.length;
  }

  /** Id of `piece`; the unknown id when the piece is not in the vocabulary (as the official PieceToId). */
  pieceToId(piece: string): number {
    return this.reservedIds.get(piece) ?? this.pieceIds.get(piece) ?? this.unkId;
  }

  idToPiece(id: number): string {
    this.checkId(id);
    return this.model.pieces[id].piece;
  }

  getScore(id: number): number {
    this.checkId(id);
    return this.model.pieces[id].score;
  }

  isControl(id: number): boolean {
    return this.model.pieces[id]?.type === PieceType.CONTROL;
  }
  isUnknown(id: number): boolean {
    return this.model.pieces[id]?.type === PieceType.UNKNOWN;
  }
  isUnused(id: number): boolean {
    return this.model.pieces[id]?.type === PieceType.UNUSED;
  }
  isByte(id: number): boolean {
    return this.model.pieces[id]?.type === PieceType.BYTE;
  }

  /** Id of a CONTROL piece such as `<s>`, or -1 when the model has none. */
  controlId(piece: string): number {
    const id = this.reservedIds.get(piece);
    return id !== undefined && this.isControl(id) ? id : -1;
  }
  get bosId(): number {
    return this.controlId((this.model.trainerSpec.bosPiece as string | undefined) ?? '<s>');
  }
  get eosId(): number {
    return this.controlId((this.model.trainerSpec.eosPiece as string | undefined) ?? '</s>');
  }
  get padId(): number {
    return this.controlId((this.model.trainerSpec.padPiece as string | undefined) ?? '<pad>');
  }

  /** The normalized text the model segments (with '▁' for spaces and the dummy prefix). */
  normalize(text: string): string {
    return this.normalizer.normalize(text);
  }

  /** Pieces with ids; consecutive unknown pieces are merged into one (or split into bytes with byte fallback). */
  encodeWithPieces(text: string): EncodedPiece[] {
    const norm = this.normalizer.normalizeBytes(utf8Encode(text));
    const raw: [string, number][] = this.unigram
      ? this.unigram.encode(norm).map(([s, e, id]) => [utf8Decode(norm.subarray(s, e)), id])
      : this.bpe!.encode(utf8Decode(norm));
    const out: EncodedPiece[] = [];
    let prevUnk = false;
    for (const [piece, id] of raw) {
      const unk = this.isUnknown(id);
      if (unk && this.byteFallback) {
        for (const b of utf8Encode(piece)) {
          const byteId = this.byteIds[b];
          out.push({
            piece: byteId >= 0 ? this.model.pieces[byteId].piece : piece,
            id: byteId >= 0 ? byteId : id,
          });
        }
      } else if (unk && prevUnk) {
        out[out.length - 1].piece += piece;
      } else {
        out.push({ piece, id });
      }
      prevUnk = unk;
    }
    return out;
  }

  encode(text: string): number[] {
    return this.encodeWithPieces(text).map((p) => p.id);
  }

  encodePieces(text: string): string[] {
    return this.encodeWithPieces(text).map((p) => p.piece);
  }

  decode(ids: readonly number[]): string {
    for (const id of ids) this.checkId(id);
    return this.decodePieces(ids.map((id) => this.model.pieces[id].piece));
  }

  /** Detokenizes pieces: controls vanish, `<unk>` shows as ' ⁇ ', '▁' becomes ' ', the leading one is dropped. */
  decodePieces(pieces: readonly string[]): string {
    let text = '';
    let pendingBytes: number[] = [];
    const flushBytes = (): void => {
      if (pendingBytes.length === 0) return;
      // Invalid UTF-8 in byte pieces decodes to U+FFFD, as the official decoder does.
      text += this.surface(utf8Decode(Uint8Array.from(pendingBytes)), text.length === 0);
      pendingBytes = [];
    };
    for (const piece of pieces) {
      const id = this.pieceToId(piece);
      if (this.isByte(id)) {
        pendingBytes.push(parseInt(piece.slice(3, 5), 16));
        continue;
      }
      flushBytes();
      if (this.isControl(id)) continue;
      if (this.isUnknown(id)) {
        text += piece === this.model.pieces[id].piece ? this.unkSurface : piece;
        continue;
      }
      text += this.surface(piece, text.length === 0);
    }
    flushBytes();
    return text;
  }

  private surface(piece: string, atStart: boolean): string {
    const p = atStart && piece.startsWith(SPACE_SYMBOL) ? piece.slice(SPACE_SYMBOL.length) : piece;
    return p.split(SPACE_SYMBOL).join(' ');
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.model.pieces.length)
      throw new TokenizerError(`piece id ${id} is out of range [0, ${this.model.pieces.length})`);
  }
}
