/**
 * Ctrl-C for long training commands: the first SIGINT aborts the returned signal (the loop
 * finishes the current step and writes checkpoint-last), the handler then removes itself so a
 * second Ctrl-C kills the process as usual.
 */
export async function withInterrupt<T>(log: (line: string) => void, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onSigint = () => {
    log('interrupted: finishing the current step and writing checkpoint-last (Ctrl-C again to kill)');
    ac.abort();
    process.off('SIGINT', onSigint);
  };
  process.on('SIGINT', onSigint);
  try {
    return await run(ac.signal);
  } finally {
    process.off('SIGINT', onSigint);
  }
}
