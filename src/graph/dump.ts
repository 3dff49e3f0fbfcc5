import type { Graph } from './ir.js';
import { shapeToString } from './shape.js';

/** A readable text listing of a graph, one node per line, for debugging. */
export function dumpGraph(g: Graph): string {
  const lines: string[] = [`graph ${g.name}(`];
  for (const v of g.inputs) lines.push(`  ${v.toString()},`);
  lines.push(') {');
  for (const [v, t] of g.constants)
    lines.push(`  ${v.toString()} = const${t.size <= 8 ? ` [${t.toArray().join(', ')}]` : ''}`);
  for (const n of g.nodes) {
    const attrs = Object.entries(n.attrs)
      .map(
        ([k, a]) =>
          `${k}=${JSON.stringify(Object.values(a)[0] instanceof Object && 'shape' in Object.values(a)[0] ? '<tensor>' : Object.values(a)[0])}`,
      )
      .join(', ');
    const outs = n.outputs.map((o) => `%${o.name}: ${o.dtype}${shapeToString(o.shape)}`).join(', ');
    const ins = n.inputs.map((x) => (x ? `%${x.name}` : '_')).join(', ');
    lines.push(`  ${outs} = ${n.domain ? n.domain + '.' : ''}${n.op}(${ins})${attrs ? ` {${attrs}}` : ''}`);
  }
  lines.push(`  return ${g.outputs.map((o) => `%${o.name}`).join(', ')}`);
  lines.push('}');
  return lines.join('\n');
}
