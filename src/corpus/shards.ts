import { createWriteStream } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';

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
  await mkdir(dirname(prefix), { recursive: true });
  for (let s = 0; s * perShard < samples.length || (s === 0 && samples.length === 0); s++) {
    const path = `${prefix}-${String(s).padStart(6, '0')}.tar`;
    const tmp = `${path}.tmp-${process.pid}`;
    const pack = tar.pack();
    const done = pipeline(pack, createWriteStream(tmp));
    for (const sample of samples.slice(s * perShard, (s + 1) * perShard)) {
      if (sample.key.includes('.'))
        throw new RangeError(`WebDataset key '${sample.key}' must not contain a dot`);
      for (const ext of Object.keys(sample.files).sort()) {
        const data = sample.files[ext]!;
        await new Promise<void>((resolve, reject) =>
          pack.entry(
            {
              name: `${sample.key}.${ext}`,
              size: data.length,
              mtime: new Date(0),
              mode: 0o644,
              uid: 0,
              gid: 0,
            },
            Buffer.from(data),
            (err) => (err ? reject(err) : resolve()),
          ),
        );
      }
    }
    pack.finalize();
    await done;
    await rename(tmp, path);
    paths.push(path);
    if (samples.length === 0) break;
  }
  return paths;
}
