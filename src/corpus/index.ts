export { buildCorpus, countsTable, CORPUS_FORMAT } from './build.js';
export type { BuildOptions, Manifest } from './build.js';
export { fetchSources } from './fetch.js';
export { SOURCES } from './sources.js';
export type { SourceSpec } from './sources.js';
export { splitOf, groupIdentities, SPLIT_SALT } from './identity.js';
export { emojiIdentity } from './sources/emoji.js';
export * from '../train/metrics/index.js'; // moved to train/ (the training loop evaluates with them)
export type { ImageRecord, FashionRecord, Split, PairStream, ItemMeta } from './types.js';
export { FASHION_LABELS } from './types.js';
export { CorpusError, SourceUnavailableError, SourceFormatError } from './util.js';
