/** A trie over UTF-8 bytes mapping piece bytes to ids; walked byte by byte during Viterbi. */
export class ByteTrie {
  private readonly edges = new Map<number, number>(); // node * 256 + byte -> child node
  private values: number[] = [-1]; // node -> id, -1 when no piece ends here
  private nodes = 1;

  insert(bytes: Uint8Array, id: number): void {
    let node = 0;
    for (const b of bytes) {
      const key = node * 256 + b;
      let next = this.edges.get(key);
      if (next === undefined) {
        next = this.nodes++;
        this.values.push(-1);
        this.edges.set(key, next);
      }
      node = next;
    }
    this.values[node] = id;
  }

  /** Child of `node` by `byte`, or -1. The root is node 0. */
  child(node: number, byte: number): number {
    return this.edges.get(node * 256 + byte) ?? -1;
  }

  /** Id of the piece ending at `node`, or -1. */
  value(node: number): number {
    return this.values[node];
  }
}
