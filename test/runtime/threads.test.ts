import { describe, expect, it } from 'vitest';
import { Graph, ops, Program, RuntimeError, Tensor } from '../../src/index.js';

describe('session thread count', () => {
  const graph = (): Graph => {
    const g = new Graph('threads');
    g.output(ops.add(g.input('x', 'float32', [2]), 1), 'y');
    return g;
  };

  it('refuses absurd or invalid counts with a RuntimeError instead of stalling in ORT', async () => {
    // ORT would try to start 100000 spinning threads (the process stalls for minutes).
    for (const threads of [100_000, -1, 1.5]) {
      await expect(Program.compile(graph(), { threads })).rejects.toThrow(RuntimeError);
      await expect(Program.compile(graph(), { threads })).rejects.toThrow(
        /threads must be an integer in \[0, \d+\].*got/,
      );
    }
  }, 20_000);

  it('still runs with a valid count', async () => {
    const p = await Program.compile(graph(), { threads: 2 });
    expect(Array.from((await p.run({ x: Tensor.f32([2], [1, 2]) })).y.data as Float32Array)).toEqual([2, 3]);
  });
});

describe('default thread count (every core the process may use)', () => {
  it('sessions default to availableCores(), which follows CPU affinity', async () => {
    const { availableParallelism } = await import('node:os');
    const { availableCores, cgroupQuotaCores, resolveThreads, sessionOptions } = await import(
      '../../src/runtime/index.js'
    );
    const quota = cgroupQuotaCores();
    const expected = quota === undefined ? availableParallelism() : Math.min(availableParallelism(), quota);
    expect(availableCores()).toBe(expected);
    expect(resolveThreads(undefined)).toBe(expected);
    expect(sessionOptions({}).intraOpNumThreads).toBe(expected);
    // An explicit count (the --threads option and the library option) still wins; 0 = ORT's choice.
    expect(sessionOptions({ threads: 1 }).intraOpNumThreads).toBe(1);
    expect(sessionOptions({ threads: 0 }).intraOpNumThreads).toBe(0);
  });

  it('idle intra-op threads do not spin unless asked (they would steal the cores of the other sessions)', async () => {
    const { sessionOptions } = await import('../../src/runtime/index.js');
    const spin = (o: object) => (sessionOptions(o).extra as { session: { intra_op: { allow_spinning: string } } }).session.intra_op.allow_spinning;
    expect(spin({})).toBe('0');
    expect(spin({ spinning: true })).toBe('1');
    expect(spin({ spinning: false })).toBe('0');
  });

  it('reads a cgroup CPU quota (v2 cpu.max, v1 cfs files) and ignores "no limit"', async () => {
    const { cgroupQuotaCores, threadsPerWorker } = await import('../../src/runtime/index.js');
    const files = (m: Record<string, string>) => (p: string) => m[p];
    expect(cgroupQuotaCores(files({ '/sys/fs/cgroup/cpu.max': '150000 100000\n' }))).toBe(1);
    expect(cgroupQuotaCores(files({ '/sys/fs/cgroup/cpu.max': '400000 100000' }))).toBe(4);
    expect(cgroupQuotaCores(files({ '/sys/fs/cgroup/cpu.max': 'max 100000' }))).toBeUndefined();
    expect(
      cgroupQuotaCores(
        files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '200000', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000' }),
      ),
    ).toBe(2);
    expect(
      cgroupQuotaCores(
        files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000' }),
      ),
    ).toBeUndefined();
    expect(cgroupQuotaCores(files({}))).toBeUndefined();
    // Pools splitting cores never oversubscribe.
    expect(threadsPerWorker(2, 2)).toBe(1);
    expect(threadsPerWorker(3, 8)).toBe(2);
    expect(threadsPerWorker(4, 2)).toBe(1);
  });
});
