// The SentencePiece `.model` file: a serialized `sentencepiece.ModelProto` (sentencepiece_model.proto,
// proto2). protobufjs does the wire format; this file only declares the schema (field numbers as in the
// official proto) and the plain-object view the rest of text/ works with.
import protobuf from 'protobufjs';
import { SentencePieceModelError } from './errors.js';

export enum PieceType {
  NORMAL = 1,
  UNKNOWN = 2,
  CONTROL = 3,
  USER_DEFINED = 4,
  UNUSED = 5,
  BYTE = 6,
}

export enum ModelType {
  UNIGRAM = 1,
  BPE = 2,
  WORD = 3,
  CHAR = 4,
}

export interface ModelPiece {
  piece: string;
  score: number;
  type: PieceType;
}

export interface NormalizerSpec {
  name?: string;
  precompiledCharsmap?: Uint8Array;
  addDummyPrefix?: boolean;
  removeExtraWhitespaces?: boolean;
  escapeWhitespaces?: boolean;
  normalizationRuleTsv?: string;
}

/** TrainerSpec fields; only those set are written. Names follow protobufjs' camelCase of the proto names. */
export type TrainerSpec = Record<string, unknown> & {
  modelType?: ModelType;
  vocabSize?: number;
  byteFallback?: boolean;
  treatWhitespaceAsSuffix?: boolean;
  unkSurface?: string;
};

export interface ModelProtoData {
  pieces: ModelPiece[];
  trainerSpec: TrainerSpec;
  normalizerSpec: NormalizerSpec;
  denormalizerSpec?: NormalizerSpec;
}

const opt = (type: string, id: number) => ({ type, id });
const rep = (type: string, id: number) => ({ type, id, rule: 'repeated' });

// Field numbers from sentencepiece_model.proto (sentencepiece 0.1.9x / 0.2.x).
const schema = {
  nested: {
    sentencepiece: {
      nested: {
        TrainerSpec: {
          fields: {
            input: rep('string', 1),
            inputFormat: opt('string', 7),
            modelPrefix: opt('string', 2),
            modelType: opt('int32', 3),
            vocabSize: opt('int32', 4),
            acceptLanguage: rep('string', 5),
            selfTestSampleSize: opt('int32', 6),
            enableDifferentialPrivacy: opt('bool', 50),
            differentialPrivacyNoiseLevel: opt('float', 51),
            differentialPrivacyClippingThreshold: opt('uint64', 52),
            characterCoverage: opt('float', 10),
            inputSentenceSize: opt('uint64', 11),
            shuffleInputSentence: opt('bool', 19),
            miningSentenceSize: opt('int32', 12),
            trainingSentenceSize: opt('int32', 13),
            seedSentencepieceSize: opt('int32', 14),
            shrinkingFactor: opt('float', 15),
            maxSentenceLength: opt('int32', 18),
            numThreads: opt('int32', 16),
            numSubIterations: opt('int32', 17),
            maxSentencepieceLength: opt('int32', 20),
            splitByUnicodeScript: opt('bool', 21),
            splitByNumber: opt('bool', 23),
            splitByWhitespace: opt('bool', 22),
            treatWhitespaceAsSuffix: opt('bool', 24),
            allowWhitespaceOnlyPieces: opt('bool', 26),
            splitDigits: opt('bool', 25),
            pretokenizationDelimiter: opt('string', 53),
            controlSymbols: rep('string', 30),
            userDefinedSymbols: rep('string', 31),
            requiredChars: opt('string', 36),
            byteFallback: opt('bool', 35),
            vocabularyOutputPieceScore: opt('bool', 32),
            hardVocabLimit: opt('bool', 33),
            useAllVocab: opt('bool', 34),
            unkId: opt('int32', 40),
            bosId: opt('int32', 41),
            eosId: opt('int32', 42),
            padId: opt('int32', 43),
            unkPiece: opt('string', 45),
            bosPiece: opt('string', 46),
            eosPiece: opt('string', 47),
            padPiece: opt('string', 48),
            unkSurface: opt('string', 44),
            trainExtremelyLargeCorpus: opt('bool', 49),
            seedSentencepiecesFile: opt('string', 54),
          },
        },
        NormalizerSpec: {
          fields: {
            name: opt('string', 1),
            precompiledCharsmap: opt('bytes', 2),
            addDummyPrefix: opt('bool', 3),
            removeExtraWhitespaces: opt('bool', 4),
            escapeWhitespaces: opt('bool', 5),
            normalizationRuleTsv: opt('string', 6),
          },
        },
        SelfTestData: {
          fields: { samples: rep('Sample', 1) },
          nested: { Sample: { fields: { input: opt('string', 1), expected: opt('string', 2) } } },
        },
        ModelProto: {
          fields: {
            pieces: rep('SentencePiece', 1),
            trainerSpec: opt('TrainerSpec', 2),
            normalizerSpec: opt('NormalizerSpec', 3),
            selfTestData: opt('SelfTestData', 4),
            denormalizerSpec: opt('NormalizerSpec', 5),
          },
          nested: {
            SentencePiece: {
              fields: { piece: opt('string', 1), score: opt('float', 2), type: opt('int32', 3) },
            },
          },
        },
      },
    },
  },
};

// protobufjs treats JSON schemas as proto3 (zero values not written) unless each message says proto2.
function markProto2(node: Record<string, unknown>): void {
  if ('fields' in node) node.edition = 'proto2';
  for (const child of Object.values((node.nested ?? {}) as Record<string, Record<string, unknown>>))
    markProto2(child);
}
markProto2(schema);

const ModelProtoType = protobuf.Root.fromJSON(schema).lookupType('sentencepiece.ModelProto');

/** Parses `.model` bytes. Never trusts the file: malformed protobuf or empty/invalid pieces raise a typed error. */
export function decodeModelProto(bytes: Uint8Array, source = '<bytes>'): ModelProtoData {
  let msg: protobuf.Message;
  try {
    msg = ModelProtoType.decode(bytes);
  } catch (e) {
    throw new SentencePieceModelError(
      `${source}: not a SentencePiece model (protobuf decode failed: ${(e as Error).message})`,
    );
  }
  const obj = ModelProtoType.toObject(msg, {
    longs: Number,
    bytes: Uint8Array as unknown as StringConstructor,
  }) as {
    pieces?: { piece?: string; score?: number; type?: number }[];
    trainerSpec?: TrainerSpec;
    normalizerSpec?: NormalizerSpec;
    denormalizerSpec?: NormalizerSpec;
  };
  const raw = obj.pieces ?? [];
  if (raw.length === 0) throw new SentencePieceModelError(`${source}: model has no pieces`);
  const pieces = raw.map((p, i): ModelPiece => {
    if (!p.piece) throw new SentencePieceModelError(`${source}: piece ${i} is empty`);
    const type = p.type ?? PieceType.NORMAL;
    if (!(type in PieceType))
      throw new SentencePieceModelError(`${source}: piece ${i} has unknown type ${type}`);
    return { piece: p.piece, score: p.score ?? 0, type };
  });
  return {
    pieces,
    trainerSpec: obj.trainerSpec ?? {},
    normalizerSpec: obj.normalizerSpec ?? {},
    denormalizerSpec: obj.denormalizerSpec,
  };
}

/** Serializes to `.model` bytes in the official layout (fields in field-number order). */
export function encodeModelProto(model: ModelProtoData): Uint8Array {
  const payload = {
    // The official writer leaves out type NORMAL (the default); doing the same keeps files byte-identical.
    pieces: model.pieces.map((p) => (p.type === PieceType.NORMAL ? { piece: p.piece, score: p.score } : p)),
    trainerSpec: model.trainerSpec,
    normalizerSpec: model.normalizerSpec,
    ...(model.denormalizerSpec ? { denormalizerSpec: model.denormalizerSpec } : {}),
  };
  const err = ModelProtoType.verify(payload);
  if (err) throw new SentencePieceModelError(`cannot serialize model: ${err}`);
  return ModelProtoType.encode(ModelProtoType.fromObject(payload)).finish();
}
