// esbuild plugin for every browser bundle of src/: `*.node.ts` modules are Node-only. Platform-free
// code may import one lazily behind a run-time Node check (src/text/sentencepiece.ts reads local
// files through util/read.node.ts); in a browser bundle that import resolves to a module that throws.
export const nodeOnlyStub = {
  name: 'node-only-stub',
  setup(b) {
    b.onResolve({ filter: /\.node\.js$/ }, (a) => ({ path: a.path, namespace: 'node-only' }));
    b.onLoad({ filter: /.*/, namespace: 'node-only' }, (a) => ({
      contents: `throw new Error(${JSON.stringify(`${a.path} is Node-only: pass bytes or a URL in the browser`)});`,
    }));
  },
};
