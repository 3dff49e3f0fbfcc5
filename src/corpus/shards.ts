import { dirname } from 'node:path';
import tar from 'tar-stream';
import { ensureDir, withAtomicFile } from '../util/atomic.node.js';

export interface ShardSample {
  /** WebDataset key: the part of the member names before the first dot. */
  key: string;
  /** extension -> bytes, e.g. { png: <Buffer>, json: <Buffer> } */
  files: Record<string, Uint8Array>;
}

/**
 * Write samples into WebDataset tar shards of at most `perShard` samples each
 * (`<prefix>-000000.tar`, ...). Members carry a fixed mtime so that shards are byte-reproducible.
 * Returns the shard paths.
 */
export async function writeShards(
  prefix: string,
  samples: readonly ShardSample[],
  perShard = 2000,
): Promise<string[]> {
  const paths: string[] = [];
  await ensureDir(dirname(prefix));
  for (let s = 0; s * perShard < samples.length || (s === 0 && samples.length === 0); s++) {
    const path = `${prefix}-${String(s).padStart(6, '0')}.tar`;
    const part = samples.slice(s * perShard, (s + 1) * perShard);
    for (const sample of part)
      if (sample.key.includes('.')) throw new RangeError(`WebDataset key '${sample.key}' must not contain a dot`);
    // streamed into the one atomic write: a killed build never leaves a half-written shard
    await withAtomicFile(path, async (fh) => {
      const pack = tar.pack();
      // drain the tar stream into the temp file while entries are added
      const done = (async () => {
        for await (const chunk of pack as AsyncIterable<Uint8Array>) {
          for (let off = 0; off < chunk.length; ) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
        }
      })();
      try {
        for (const sample of part) {
          for (const ext of Object.keys(sample.files).sort()) {
            const data = sample.files[ext]!;
            await new Promise<void>((resolve, reject) =>
              pack.entry(
                { name: `${sample.key}.${ext}`, size: data.length, mtime: new Date(0), mode: 0o644, uid: 0, gid: 0 },
                Buffer.from(data),
                (err) => (err ? reject(err) : resolve()),
              ),
            );
          }
        }
        pack.finalize();
      } catch (e) {
        pack.destroy(e as Error);
        await done.catch(() => undefined);
        throw e;
      }
      await done;
    });
    paths.push(path);
    if (samples.length === 0) break;
  }
  return paths;
}
