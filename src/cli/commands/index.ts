import type { Command } from 'commander';
import { register as convert } from './convert.js';
import { register as corpus } from './corpus.js';
import { register as tokenize } from './tokenize.js';

/** Each command module exports one `register(program)`; add it to this list. */
export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [convert, corpus, tokenize];
