/**
 * Temp files being written right now, removed if the process is interrupted (Ctrl-C / SIGTERM)
 * so no half-written `.tmp` file is left beside the output. The signal handlers exist only while
 * something is tracked: they must not delay Ctrl-C during long synchronous work, and a library
 * should not change how its host reacts to signals the rest of the time.
 */
import { rmSync } from 'node:fs';

const live = new Set<string>();
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

function onSignal(signal: NodeJS.Signals): void {
  for (const p of live) rmSync(p, { force: true, recursive: true });
  live.clear();
  uninstall();
  // Nobody else listens: behave as if we had not been here (default action: terminate).
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function install(): void {
  for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstall(): void {
  for (const s of SIGNALS) process.off(s, onSignal);
}

/** Tracks `path` until the returned function is called (call it after the rename or unlink). */
export function trackTempFile(path: string): () => void {
  if (live.size === 0) install();
  live.add(path);
  return () => {
    if (live.delete(path) && live.size === 0) uninstall();
  };
}
