import type { Command } from 'commander';
import type { Tensor } from '../../graph/tensor.js';
import { saveSafetensors } from '../../io/safetensors.js';
import { CliError } from '../errors.js';
import { type ModelCliOptions, print, taskCommand } from '../task-options.js';

/** `beit3 features IMAGE... --config C --out feats.safetensors` */
export function register(program: Command): void {
  taskCommand(
    program,
    {
      name: 'features',
      task: 'backbone',
      description: 'backbone features: per-layer hidden states, pooled cls, simple feature pyramid',
      define: (c) =>
        c
          .argument('[images...]', 'image files')
          .option(
            '--text <texts...>',
            'texts (alone: text features; with images: one text per image, fused input)',
          )
          .option('-o, --out <file>', 'write every tensor to a .safetensors file')
          .option('--no-pyramid', 'skip the feature pyramid'),
      examples: [
        'beit3 features img.jpg --model beit3_base_patch16_224 -w beit3_base_patch16_224.pth --out feats.safetensors',
        'beit3 features a.png b.png --config backbone/config.json --json   # shapes and pooled features',
      ],
    },
    async (
      [images]: [string[]],
      o: ModelCliOptions & { text?: string[]; out?: string; pyramid?: boolean },
      open,
    ) => {
      if (!images.length && !o.text?.length) throw new CliError('features: give images and/or --text');
      const p = await open();
      const r = await p.run(images.length ? images : undefined, { texts: o.text, pyramid: o.pyramid });
      const tensors = new Map<string, Tensor>([['last_hidden_state', r.lastHiddenState]]);
      r.hiddenStates.forEach((t, i) => tensors.set(`hidden_state.${i}`, t));
      if (r.pooled) tensors.set('pooled', r.pooled);
      r.pyramid?.forEach((t, i) => tensors.set(`pyramid.${i}`, t));
      if (o.out) await saveSafetensors(o.out, tensors);
      const shapes = Object.fromEntries([...tensors].map(([k, t]) => [k, t.shape]));
      print(
        o,
        { out: o.out, shapes, pooled: r.pooled ? Array.from(r.pooled.data as Float32Array) : undefined },
        () => [
          ...[...tensors].map(([k, t]) => `${k.padEnd(20)} [${t.shape.join(', ')}]`),
          ...(o.out ? [`wrote ${o.out}`] : []),
        ],
      );
    },
  );
}
