import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SOURCES, type SourceSpec } from './sources.js';
import { SourceUnavailableError } from './util.js';

const run = promisify(execFile);

export function sourcePresent(from: string, spec: SourceSpec): boolean {
  return existsSync(join(from, spec.id, spec.probe));
}

/**
 * Fetch every missing pinned source into `dir` with the ordinary clients: `npm pack` for npm
 * packages, `apt-get download` + `dpkg-deb -x` for Debian ones. Sources already present are
 * left alone, so an interrupted fetch resumes where it stopped.
 */
export async function fetchSources(
  dir: string,
  opts: { only?: string[]; log?: (msg: string) => void } = {},
): Promise<void> {
  const log = opts.log ?? (() => {});
  await mkdir(dir, { recursive: true });
  for (const spec of SOURCES) {
    if (opts.only && !opts.only.includes(spec.id)) continue;
    if (sourcePresent(dir, spec)) continue;
    log(`fetching ${spec.kind} ${spec.name}@${spec.version}`);
    const tmp = await mkdtemp(join(dir, `.fetch-${spec.id}-`));
    try {
      const root = join(tmp, 'root');
      await mkdir(root);
      if (spec.kind === 'npm') await fetchNpm(spec, tmp, root);
      else await fetchDeb(spec, tmp, root);
      const staged = join(tmp, 'kept');
      await keepOnly(root, staged, spec.keep);
      await writeFile(
        join(staged, '.beit3-source.json'),
        JSON.stringify({ name: spec.name, version: spec.version }) + '\n',
      );
      await rm(join(dir, spec.id), { recursive: true, force: true });
      await rename(staged, join(dir, spec.id));
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
}

async function fetchNpm(spec: SourceSpec, tmp: string, root: string): Promise<void> {
  let file: string;
  try {
    const { stdout } = await run(
      'npm',
      ['pack', '--silent', `${spec.name}@${spec.version}`, '--pack-destination', tmp],
      {
        maxBuffer: 1 << 20,
      },
    );
    file = stdout.trim().split('\n').pop()!;
  } catch (e) {
    throw new SourceUnavailableError(
      `npm pack ${spec.name}@${spec.version} failed (${(e as Error).message.split('\n')[0]}); fetch it elsewhere and pass --from DIR with it extracted under DIR/${spec.id}/`,
    );
  }
  await run('tar', ['xzf', join(tmp, file), '-C', root, '--strip-components=1']);
}

async function fetchDeb(spec: SourceSpec, tmp: string, root: string): Promise<void> {
  for (const tool of ['apt-get', 'dpkg-deb']) {
    try {
      await run('sh', ['-c', `command -v ${tool}`]);
    } catch {
      throw new SourceUnavailableError(
        `Debian package ${spec.name} is needed but ${tool} is not available here: on a Debian machine run ` +
          `'apt-get download ${spec.name}=${spec.version} && dpkg-deb -x ${spec.name}_*.deb DIR/${spec.id}' and pass --from DIR`,
      );
    }
  }
  try {
    await run('apt-get', ['download', `${spec.name}=${spec.version}`], { cwd: tmp, maxBuffer: 1 << 22 });
  } catch (e) {
    throw new SourceUnavailableError(
      `apt-get download ${spec.name}=${spec.version} failed (${(e as Error).message.split('\n')[0]}); run 'apt-get update' first, or extract the package elsewhere and pass --from DIR`,
    );
  }
  const deb = (await readdir(tmp)).find((f) => f.endsWith('.deb'));
  if (!deb) throw new SourceUnavailableError(`apt-get download ${spec.name} produced no .deb file`);
  await run('dpkg-deb', ['-x', join(tmp, deb), root]);
}

async function keepOnly(root: string, dest: string, keep: string[] | undefined): Promise<void> {
  if (!keep) {
    await rename(root, dest);
    return;
  }
  await mkdir(dest, { recursive: true });
  for (const rel of keep) {
    if (existsSync(join(root, rel))) await cp(join(root, rel), join(dest, rel), { recursive: true });
  }
}
