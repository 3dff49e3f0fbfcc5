import type { Plugin } from 'esbuild';
/** esbuild plugin: every `*.node.js` import resolves to a module that throws (browser bundles). */
export declare const nodeOnlyStub: Plugin;
