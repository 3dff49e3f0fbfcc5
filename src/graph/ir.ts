import type { DType } from './dtype.js';
import { type Shape, shapeToString } from './shape.js';
import type { Tensor } from './tensor.js';
import { Beit3Error } from '../util/errors.js';

/** Typed ONNX attribute values (ONNX distinguishes int from float attributes). */
export type Attr =
  | { i: number }
  | { f: number }
  | { ints: readonly number[] }
  | { floats: readonly number[] }
  | { s: string }
  | { t: Tensor };

export class GraphError extends Beit3Error {
  override name = 'GraphError';
}

/** A symbolic tensor inside a graph: produced by one node, or a graph input, or a constant. */
export class Value {
  constructor(
    readonly graph: Graph,
    readonly id: number,
    readonly dtype: DType,
    readonly shape: Shape,
    readonly producer: Node | null,
    public name: string,
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  toString(): string {
    return `%${this.name}: ${this.dtype}${shapeToString(this.shape)}`;
  }
}

export class Node {
  constructor(
    readonly op: string,
    readonly domain: string,
    readonly inputs: readonly (Value | null)[],
    readonly outputs: readonly Value[],
    readonly attrs: Readonly<Record<string, Attr>>,
  ) {}
}

/**
 * An alternative single-node computation of a value (an ORT fused/contrib kernel). Composites
 * register one; serialization with `fuse` emits it instead of the primitive chain, and the
 * chain is then dropped as dead code. Autodiff only ever sees the primitive nodes.
 */
export interface FusedForm {
  op: string;
  domain: string;
  inputs: readonly (Value | null)[];
  attrs?: Readonly<Record<string, Attr>>;
}

export interface OutputSpec {
  dtype: DType;
  shape: Shape;
}

/**
 * A tensor program under construction. Inputs are named (parameters are inputs too, so one
 * program serves inference, where the runtime binds them as initializers, and training).
 */
export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  readonly constants = new Map<Value, Tensor>();
  /** Fused alternatives for values, used by inference serialization (see FusedForm). */
  readonly fusions = new Map<Value, FusedForm>();
  private nextId = 0;
  private readonly names = new Set<string>();

  constructor(readonly name = 'beit3') {}

  private uniqueName(base: string): string {
    let name = base;
    for (let k = 1; this.names.has(name); k++) name = `${base}_${k}`;
    this.names.add(name);
    return name;
  }

  private newValue(dtype: DType, shape: Shape, producer: Node | null, name: string): Value {
    return new Value(this, this.nextId++, dtype, [...shape], producer, name);
  }

  /** Declares a named runtime input (a feed, or a parameter). */
  input(name: string, dtype: DType, shape: Shape): Value {
    if (this.names.has(name))
      throw new GraphError(`input name "${name}" is already used in graph ${this.name}`);
    this.names.add(name);
    const v = this.newValue(dtype, shape, null, name);
    this.inputs.push(v);
    return v;
  }

  /** Embeds a constant tensor (an ONNX initializer). */
  constant(t: Tensor, name = 'const'): Value {
    const v = this.newValue(t.dtype, t.shape, null, this.uniqueName(name));
    this.constants.set(v, t);
    return v;
  }

  /** Adds a node; output types come from the op builder's shape inference. */
  addNode(
    op: string,
    inputs: readonly (Value | null)[],
    outputs: readonly OutputSpec[],
    attrs: Record<string, Attr> = {},
    domain = '',
  ): Value[] {
    for (const x of inputs)
      if (x && x.graph !== this) throw new GraphError(`${op}: input ${x.name} belongs to another graph`);
    const outs: Value[] = [];
    const node = new Node(op, domain, inputs, outs, attrs);
    for (const spec of outputs)
      outs.push(this.newValue(spec.dtype, spec.shape, node, this.uniqueName(`v${this.nextId}`)));
    this.nodes.push(node);
    return outs;
  }

  /** Marks a value as a named program output. */
  output(v: Value, name?: string): Value {
    if (v.graph !== this) throw new GraphError(`output ${v.name} belongs to another graph`);
    if (name !== undefined && name !== v.name) {
      if (this.names.has(name))
        throw new GraphError(`output name "${name}" is already used in graph ${this.name}`);
      // Rename in place when the value is an internal node result; otherwise add an Identity.
      if (v.producer && !this.outputs.includes(v)) {
        this.names.delete(v.name);
        this.names.add(name);
        v.name = name;
      } else {
        const [id] = this.addNode('Identity', [v], [{ dtype: v.dtype, shape: v.shape }]);
        this.names.delete(id.name);
        this.names.add(name);
        id.name = name;
        v = id;
      }
    }
    this.outputs.push(v);
    return v;
  }

  findInput(name: string): Value | undefined {
    return this.inputs.find((v) => v.name === name);
  }
}
