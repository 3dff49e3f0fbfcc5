import { Beit3Error } from '../util/errors.js';
/**
 * A restricted Python unpickler (protocols 2–5), the JavaScript analogue of
 * `torch.load(weights_only=True)`: it interprets the opcodes that build plain data (None, bools,
 * numbers, strings, bytes, tuples, lists, dicts, sets) and resolves globals ONLY through a
 * caller-supplied whitelist of JavaScript implementations. Any other global (os.system,
 * builtins.eval, ...) is refused with an error naming it; nothing from the file is ever executed.
 * Hand-written because no npm package offers a safe, whitelisting unpickler.
 */

export class UnpicklingError extends Beit3Error {
  override name = 'UnpicklingError';
}

/** A Python dict / OrderedDict. `attrs` holds instance attributes set by BUILD (e.g. state_dict `_metadata`). */
export class PyDict extends Map<unknown, unknown> {
  attrs = new Map<string, unknown>();
  constructor(readonly kind: 'dict' | 'OrderedDict' = 'dict') {
    super();
  }
}

/** A Python tuple (kept distinct from lists, which are plain arrays). */
export class PyTuple {
  constructor(readonly items: unknown[]) {}
}

/** What a whitelisted global resolves to: something callable by REDUCE / NEWOBJ, or an opaque marker. */
export interface PyGlobal {
  readonly qualifiedName: string;
  /** Called for REDUCE / NEWOBJ with the positional arguments. Absent: the global cannot be called. */
  call?: (args: unknown[]) => unknown;
}

/**
 * An inert stand-in for a non-whitelisted global (only with `opaqueGlobals`): "calling" it just
 * records the arguments, BUILD records the state. No Python semantics are ever applied.
 */
export class PyOpaque implements PyGlobal {
  args: unknown[] | undefined;
  state: unknown;
  constructor(readonly qualifiedName: string) {}
  call = (args: unknown[]): PyOpaque => {
    const o = new PyOpaque(this.qualifiedName);
    o.args = args;
    return o;
  };
}

export interface UnpickleOptions {
  /** 'module.name' -> implementation. Anything not listed is refused (unless `opaqueGlobals`). */
  globals: Map<string, PyGlobal>;
  /**
   * Turn non-whitelisted globals into inert PyOpaque placeholders instead of refusing the file
   * (for checkpoints that also carry e.g. argparse.Namespace args next to the weights).
   */
  opaqueGlobals?: boolean;
  /** Resolves persistent ids (torch uses them for storages). Absent: persistent ids are refused. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Name used in error messages. */
  source?: string;
}

/** Interprets a pickle. Throws UnpicklingError on refused globals, unknown opcodes, or malformed data. */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions): unknown {
  const src = opts.source ?? '<pickle>';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const latin1 = new TextDecoder('latin1');
  let pos = 0;
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();

  const fail: (msg: string) => never = (msg) => {
    throw new UnpicklingError(`${src}: ${msg} (at byte ${pos})`);
  };
  const need = (n: number) => {
    if (n < 0 || pos + n > bytes.length)
      fail(`truncated pickle: need ${n} bytes, ${bytes.length - pos} left`);
  };
  const u8 = () => (need(1), bytes[pos++]);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const i32 = () => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(bytes.length)) fail(`length ${v} exceeds the pickle size`);
    return Number(v);
  };
  const take = (n: number) => (need(n), (pos += n), bytes.subarray(pos - n, pos));
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('truncated pickle: missing newline');
    const s = latin1.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = () => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1]))
      fail('stack underflow');
    return stack.pop();
  };
  const top = () => {
    if (stack.length === 0) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = () => {
    const m = marks.pop();
    if (m === undefined) fail('no mark on the stack');
    return stack.splice(m);
  };
  const memoGet = (i: number) => {
    if (!memo.has(i)) fail(`memo key ${i} is undefined`);
    return memo.get(i);
  };
  const resolveGlobal = (module: string, name: string): PyGlobal => {
    const q = `${module}.${name}`;
    const g = opts.globals.get(q);
    if (!g && opts.opaqueGlobals) return new PyOpaque(q);
    if (!g)
      throw new UnpicklingError(
        `${src}: refusing to load global '${q}': only plain tensor checkpoints are accepted ` +
          `(allowed: ${[...opts.globals.keys()].join(', ')}). Nothing was executed. If the object is not part ` +
          `of the weights (e.g. saved training args), opaqueGlobals (CLI: --opaque-objects) keeps it as an inert placeholder.`,
      );
    return g;
  };
  const callGlobal = (fn: unknown, args: unknown): unknown => {
    const g = fn as PyGlobal;
    if (!g || typeof g !== 'object' || typeof g.qualifiedName !== 'string')
      fail('REDUCE on a non-callable object');
    if (!g.call) fail(`global '${g.qualifiedName}' is not callable`);
    if (!(args instanceof PyTuple)) fail(`arguments of '${g.qualifiedName}' are not a tuple`);
    return g.call((args as PyTuple).items);
  };
  const asDict = (d: unknown, op: string): PyDict => {
    if (!(d instanceof PyDict)) fail(`${op} on a non-dict`);
    return d as PyDict;
  };
  const asList = (l: unknown, op: string): unknown[] => {
    if (!Array.isArray(l)) fail(`${op} on a non-list`);
    return l as unknown[];
  };
  const dictKey = (k: unknown): unknown => {
    // Tuples as keys would compare by identity in a Map; state dicts only use strings and ints.
    if (k instanceof PyTuple) return JSON.stringify(k.items);
    return k;
  };
  const decodeLong = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('unsupported pickle protocol');
        break;
      case 0x95: // FRAME: a length hint only
        u64();
        break;
      case 0x2e: {
        // STOP
        if (stack.length !== 1 || marks.length) fail(`malformed pickle: ${stack.length} values left at STOP`);
        return stack[0];
      }
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        if (stack.length && marks.length && stack.length === marks[marks.length - 1]) marks.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(decodeLong(take(u8())));
        break;
      case 0x8b: {
        // LONG4
        const n = i32();
        if (n < 0) fail('negative LONG4 length');
        stack.push(decodeLong(take(n)));
        break;
      }
      case 0x47: // BINFLOAT (big-endian double)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(decodeUtf8(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(decodeUtf8(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(decodeUtf8(take(u64())));
        break;
      case 0x54: {
        // BINSTRING (python 2 str)
        const n = i32();
        if (n < 0) fail('negative BINSTRING length');
        stack.push(latin1.decode(take(n)));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        stack.push(latin1.decode(take(u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(take(u64()).slice());
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x85: // TUPLE1
        stack.push(new PyTuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b, c]));
        break;
      }
      case 0x74: // TUPLE
        stack.push(new PyTuple(popMark()));
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        asList(top(), 'APPEND').push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const l = asList(top(), 'APPENDS');
        for (const v of items) l.push(v);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict());
        break;
      case 0x64: {
        // DICT
        const items = popMark();
        if (items.length % 2) fail('DICT with an odd number of items');
        const d = new PyDict();
        for (let i = 0; i < items.length; i += 2) d.set(dictKey(items[i]), items[i + 1]);
        stack.push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        asDict(top(), 'SETITEM').set(dictKey(k), v);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        if (items.length % 2) fail('SETITEMS with an odd number of items');
        const d = asDict(top(), 'SETITEMS');
        for (let i = 0; i < items.length; i += 2) d.set(dictKey(items[i]), items[i + 1]);
        break;
      }
      case 0x8f: // EMPTY_SET (a set of plain values; represented as a JS Set)
        stack.push(new Set());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail('ADDITEMS on a non-set');
        for (const v of items) (s as Set<unknown>).add(v);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(new Set(popMark()));
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
        stack.push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(u32()));
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        const name = line();
        stack.push(resolveGlobal(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(resolveGlobal(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(callGlobal(fn, args));
        break;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args) — only for whitelisted callables
        const args = pop();
        const cls = pop();
        stack.push(callGlobal(cls, args));
        break;
      }
      case 0x62: {
        // BUILD: only dict instance state (`obj.__dict__.update(state)`) on our dicts is supported
        const state = pop();
        const obj = top();
        let dictState = state;
        if (obj instanceof PyOpaque) {
          obj.state = state;
          break;
        }
        if (state instanceof PyTuple && state.items.length === 2) dictState = state.items[0]; // (state, slotstate)
        if (!(obj instanceof PyDict)) fail('BUILD (setstate) is only supported on dicts');
        if (dictState === null) break;
        if (!(dictState instanceof PyDict)) fail('BUILD state is not a dict');
        for (const [k, v] of dictState as PyDict) (obj as PyDict).attrs.set(String(k), v);
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (!opts.persistentLoad) fail('persistent ids are not allowed here');
        stack.push(opts.persistentLoad!(pid));
        break;
      }
      default:
        fail(`unsupported or refused pickle opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }

  function decodeUtf8(b: Uint8Array): string {
    try {
      return utf8.decode(b);
    } catch {
      return fail('invalid UTF-8 in a string');
    }
  }
}
