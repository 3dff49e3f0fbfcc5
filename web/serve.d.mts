import type { Server } from 'node:http';
/** The headers that make a page cross-origin isolated (needed for WASM threads). */
export declare const ISOLATION_HEADERS: Record<string, string>;
/** Serves `dir` on 127.0.0.1:`port` (0 = any free port) with COOP/COEP. */
export declare function serveStatic(dir: string, port?: number): Promise<{ url: string; server: Server }>;
