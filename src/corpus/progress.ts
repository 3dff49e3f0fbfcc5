/** Progress: a bar on a TTY, JSON lines otherwise (at most one per 10% per stage). */
export type ProgressFn = (stage: string, done: number, total: number) => void;

export function makeProgress(stream: NodeJS.WriteStream | null = process.stderr): ProgressFn {
  if (!stream) return () => {};
  const lastPct = new Map<string, number>();
  return (stage, done, total) => {
    const pct = total ? Math.floor((100 * done) / total) : 100;
    if (stream.isTTY) {
      const width = 30;
      const fill = Math.round((width * pct) / 100);
      stream.write(
        `\r${stage.padEnd(12)} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${done}/${total}${done >= total ? '\n' : ''}`,
      );
      return;
    }
    const prev = lastPct.get(stage) ?? -100;
    if (pct - prev >= 10 || done >= total) {
      if (prev === 100) return;
      lastPct.set(stage, pct);
      stream.write(JSON.stringify({ progress: stage, done, total }) + '\n');
    }
  };
}
