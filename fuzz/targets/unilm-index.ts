import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as fc from 'fast-check';
import { readAnswer2Label, readUnilmIndex, UNILM_TASKS, type UnilmTask } from '../../src/data/readers/unilmIndex.js';
import { expect, type FuzzTarget } from '../lib/target.js';

const enc = new TextEncoder();

export const target: FuzzTarget = {
  name: 'unilm-index',
  entry: 'readUnilmIndex for every task (vqav2, nlvr2, retrieval, captioning, imagenet) and readAnswer2Label',
  async run(input, { dir }) {
    const task: UnilmTask = UNILM_TASKS[(input[0] ?? 0) % UNILM_TASKS.length];
    const path = join(dir, 'index.jsonl');
    writeFileSync(path, input.subarray(1));
    let error: unknown;
    try {
      for await (const item of readUnilmIndex(path, task)) {
        expect(typeof item.image_path === 'string' && item.image_path.length > 0, 'image_path');
        const seg = (item as { text_segment?: number[] | null }).text_segment;
        if (seg) expect(seg.every((i) => Number.isSafeInteger(i) && i >= 0), 'token ids are non-negative integers');
      }
    } catch (e) {
      error = e;
    }
    // the same bytes as a VQA answer2label.txt: an index is rarely one, so only both refusing is a refusal
    const labels = await readAnswer2Label(path).catch((e: unknown) => e);
    if (Array.isArray(labels)) expect(labels.every((a) => typeof a === 'string'), 'answers are strings');
    else if (error) {
      if (!(labels instanceof Error && labels.name === 'DataFormatError') && !(labels instanceof Error && labels.name === 'DataError')) throw labels;
      throw error;
    }
  },
  seeds: () => [
    enc.encode('\x00{"image_path": "a.jpg", "text_segment": [1, 2, 3], "labels": [0], "scores": [1.0], "qid": 7}\n'),
    enc.encode('\x01{"image_path": "a.jpg", "image2_path": "b.jpg", "text_segment": [5], "label": 1, "identifier": "x"}\n'),
    enc.encode('\x02{"image_path": "a.jpg", "text_segment": [4, 5], "image_id": 3}\n'),
    enc.encode('\x03{"image_path": "a.jpg", "text_segment": null, "image_id": 3}\n'),
    enc.encode('\x04{"image_path": "n01/a.JPEG", "label": 12}\n'),
    enc.encode('\x00{"answer": "yes", "label": 0}\n{"answer": "no", "label": 1}\n'),
  ],
  hostile: () =>
    fc
      .tuple(
        fc.nat(4),
        fc.record({
          image_path: fc.oneof(fc.string(), fc.constant(''), fc.integer()),
          text_segment: fc.oneof(fc.array(fc.oneof(fc.integer(), fc.double(), fc.constant(2 ** 53))), fc.constant(null), fc.string()),
          labels: fc.array(fc.integer()),
          scores: fc.array(fc.double()),
          qid: fc.oneof(fc.integer(), fc.double(), fc.constant(1e308)),
          label: fc.oneof(fc.integer({ min: -2, max: 3 }), fc.constant(2 ** 53 + 2)),
          image_id: fc.oneof(fc.integer(), fc.string()),
          answer: fc.string(),
        }),
      )
      .map(([t, r]) => enc.encode(`${String.fromCharCode(t)}${JSON.stringify(r)}\n`)),
  dict: ['"image_path"', '"text_segment"', '"labels"', '"scores"', '"qid"', '"label"', '"image_id"', '"answer"', '"image2_path"', '"identifier"', 'null', '1e308', '-1', '\n'],
};
