/** The captioning fixture's incremental decode (forced words, then beam search) against the reference. */
import { Tensor } from '../../../graph/tensor.js';
import { captionBeamSearch } from '../beam.js';
import { CaptionDecoder, pastFeeds } from '../decoder.js';
import type { Beit3ForCaptioning } from '../heads/captioning.js';
import { type FixtureJson, pick, type Recorded } from './fixtures.node.js';

export async function decodeCase(
  model: Beit3ForCaptioning,
  io: Recorded,
  beam: { maskId: number; numBeams: number; maxLen: number; lengthPenalty: number } | undefined,
  threads?: number,
): Promise<Record<string, Tensor>> {
  const dec = new CaptionDecoder(model, { threads, allLogits: true });
  try {
    const outs: Record<string, Tensor> = {};
    const image = pick(io, 'in.decode.image', 'captioning');
    const first = await (
      await dec.first()
    ).run({ image, text_ids: pick(io, 'out.decode.step0.input_ids', 'captioning') });
    outs['decode.step0.logits'] = first.all_logits;
    // the reference stores the cache after the trim of its last (<mask>) entry
    for (let l = 0; l < model.cfg.layers; l++) {
      outs[`decode.step0.cache.layer${l}.prev_key`] = dropLastPosition(first[`cache.layer${l}.key`]);
      outs[`decode.step0.cache.layer${l}.prev_value`] = dropLastPosition(first[`cache.layer${l}.value`]);
    }
    // forced words, one beam: the step graph with src = identity, beam scores 0
    const B = image.shape[0];
    const step = await dec.step(1, 1);
    let past = pastFeeds(first);
    for (let k = 1; io.has(`out.decode.step${k}.logits`); k++) {
      const r = await step.run({
        text_ids: pick(io, `out.decode.step${k}.input_ids`, 'captioning'),
        text_len: Tensor.scalar(2 + k, 'int64'),
        src: Tensor.i64(
          [B],
          Array.from({ length: B }, (_, i) => i),
        ),
        beam_scores: Tensor.f32([B]),
        ...past,
      });
      outs[`decode.step${k}.logits`] = r.all_logits;
      past = pastFeeds(r);
    }
    if (beam) {
      const ref = pick(io, 'out.beam.token_ids', 'captioning');
      const r = await captionBeamSearch(dec, image, beam);
      // batch_decode(skip_special_tokens=True): drop 0,1,2,3 and <mask>; right-pad with -1.
      const special = new Set([0, 1, 2, 3, beam.maskId]);
      const W = ref.shape[1];
      const rows = r.map((x) => x.decodedIds.filter((t) => !special.has(t)));
      outs['beam.token_ids'] = Tensor.i64(
        [rows.length, W],
        rows.flatMap((row) => [...row, ...Array(W).fill(-1)].slice(0, W)),
      );
    }
    return outs;
  } finally {
    await dec.release();
  }
}

/** (B, H, L, d) → (B, H, L − 1, d). */
function dropLastPosition(t: Tensor): Tensor {
  const [B, H, L, d] = t.shape;
  const out = new Float32Array(B * H * (L - 1) * d);
  const src = t.data as Float32Array;
  for (let i = 0; i < B * H; i++) out.set(src.subarray(i * L * d, (i * L + L - 1) * d), i * (L - 1) * d);
  return new Tensor('float32', [B, H, L - 1, d], out);
}

/** Beam settings from the recorded python call (fallback: the json's tiny_config; <mask> = vocab − 1). */
export function beamSettings(python: string, js: FixtureJson) {
  const num = (re: RegExp) => {
    const m = re.exec(python);
    return m ? Number(m[1]) : undefined;
  };
  const vocab = Number(js.encoder_config.vocab_size);
  return {
    numBeams: num(/num_beams=(\d+)/) ?? js.tiny_config?.num_beams ?? 3,
    maxLen: num(/num_max_bpe_tokens=(\d+)/) ?? js.tiny_config?.beam_max_len ?? 64,
    lengthPenalty: num(/length_penalty=([\d.]+)/) ?? 0.6,
    maskId: num(/mask=(\d+)/) ?? vocab - 1,
  };
}

