/** Files of onnxruntime-web copied beside the bundle (fetched by ORT at run time). */
export declare const ORT_FILES: string[];
/** Bundles beit3/web, the worker and the page into `out` (default dist-web/); returns its absolute path. */
export declare function buildWeb(out?: string, opts?: { minify?: boolean }): Promise<string>;
