import type { Command } from 'commander';

/** Each command module exports one `register(program)`; add it to this list. */
export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [];
