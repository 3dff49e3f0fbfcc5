import type { Command } from 'commander';
import { register as convert } from './convert.js';
import { register as corpus } from './corpus.js';
import { register as demo } from './demo.js';
import { register as evalCommand } from './eval.js';
import { register as finetune } from './finetune.js';
import { register as tokenize } from './tokenize.js';
import { register as info } from './info.js';
import { register as parity } from './parity.js';
import { register as pretrain } from './pretrain.js';
import { register as serve } from './serve.js';
import { register as visualTokenize } from './visual-tokenize.js';
import { register as visualTokenizerTrain } from './visual-tokenizer-train.js';
import { taskCommands } from './task-commands.js';

/** Each command module exports one `register(program)`; add it to this list. */
export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [convert, corpus, demo, evalCommand, finetune, pretrain, tokenize, info, parity, ...taskCommands, visualTokenize, visualTokenizerTrain, serve];
