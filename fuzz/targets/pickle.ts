import * as fc from 'fast-check';
import { f32Bytes, PickleWriter, zipArchive } from '../../test/io/torchsave.js';
import type { FuzzTarget } from '../lib/target.js';
import { runPth } from './pth.js';

const storage = f32Bytes(Array.from({ length: 16 }, (_, i) => i));

const op = (c: string) => c.charCodeAt(0);

export const target: FuzzTarget = {
  name: 'pickle',
  entry: 'the restricted unpickler (io/pickle.ts) via parsePth/loadPth, with the fuzzed bytes as data.pkl',
  // the archive around the pickle is rebuilt for every input so CRCs stay valid
  run: (input, { dir }) => runPth(zipArchive(input, { '0': storage }), dir),
  seeds() {
    const p = new PickleWriter().proto();
    p.op('}').str('model').op('}').op('(');
    p.str('w').tensor('0', 'FloatStorage', 16, 0, [4, 4], [4, 1]);
    p.str('b').tensor('0', 'FloatStorage', 16, 4, [4], [1]);
    p.op('u').op('s').op('.');
    // args next to the weights (an opaque global; accepted only with opaqueGlobals)
    const q = new PickleWriter().proto();
    q.op('}').op('(').str('args').global('argparse', 'Namespace').op(')').op('R').str('model').op('}').str('w');
    q.tensor('0', 'FloatStorage', 16, 0, [16], [1]).op('s').op('u').op('.');
    return [p.bytes(), q.bytes(), new PickleWriter().proto().op('}').op('.').bytes()];
  },
  hostile: () =>
    fc.oneof(
      // deep nesting: lists/tuples/dicts inside each other
      fc.tuple(fc.integer({ min: 1, max: 200000 }), fc.constantFrom(']', ')', '}')).map(([n, c]) => {
        const b = new Uint8Array(2 + 2 * n + 1);
        b[0] = 0x80;
        b[1] = 2;
        for (let i = 0; i < n; i++) {
          b[2 + 2 * i] = op('(');
          b[3 + 2 * i] = op(c);
        }
        b[b.length - 1] = op('.');
        return b;
      }),
      // a list that contains itself via the memo, then a dict keyed by it
      fc.constant(new Uint8Array([0x80, 2, op(']'), op('q'), 0, op('h'), 0, op('a'), op('}'), op('h'), 0, op('K'), 1, op('s'), op('.')])),
      // huge declared lengths (BINUNICODE8 / BINBYTES8 / LONG4 / FRAME)
      fc.tuple(fc.constantFrom(0x8d, 0x8e, 0x8b, 0x95, 0x58, 0x42), fc.constantFrom(2 ** 31, 2 ** 32 - 1, 2 ** 53, 1e18)).map(([code, n]) => {
        const b = new Uint8Array(2 + 1 + 8 + 4);
        b[0] = 0x80;
        b[1] = 4;
        b[2] = code;
        new DataView(b.buffer).setBigUint64(3, BigInt(Math.min(n, 2 ** 63)), true);
        return b;
      }),
      // a refused global must stay refused (nothing executed)
      fc.constantFrom('os\nsystem\n', 'builtins\neval\n', 'torch._utils\n_rebuild_tensor_v2\n', 'collections\nOrderedDict\n').map((g) =>
        new Uint8Array([0x80, 2, op('c'), ...new TextEncoder().encode(g), op('('), op('X'), 1, 0, 0, 0, op('x'), op('t'), op('R'), op('.')]),
      ),
      fc.uint8Array({ maxLength: 256 }).map((b) => Uint8Array.from([0x80, 2, ...b])),
    ),
  dict: [
    '\x80\x02', '\x80\x05', '}', ']', '(', 't', 'u', 's', 'R', 'b', 'Q', 'q\x00', 'h\x00', 'r\x00\x00\x00\x00', 'j\x00\x00\x00\x00', '.',
    'ctorch._utils\n_rebuild_tensor_v2\n', 'ccollections\nOrderedDict\n', 'ctorch\nFloatStorage\n', 'X\x07\x00\x00\x00storage', '\x8c', '\x94', '\x95',
  ],
  maxLen: 8192,
};
