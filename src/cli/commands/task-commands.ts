// The task commands (issue 5), registered together so the shared registry gets one entry.
import { register as caption } from './caption.js';
import { register as classify } from './classify.js';
import { register as exportCmd } from './export.js';
import { register as features } from './features.js';
import { register as imageIndex } from './image-index.js';
import { register as nlvr2 } from './nlvr2.js';
import { register as quantize } from './quantize.js';
import { register as retrieve } from './retrieve.js';
import { register as search } from './search.js';
import { register as vqa } from './vqa.js';
import type { Command } from 'commander';

export const taskCommands: ((program: Command) => void)[] = [
  classify,
  retrieve,
  imageIndex,
  search,
  vqa,
  nlvr2,
  caption,
  features,
  exportCmd,
  quantize,
];
