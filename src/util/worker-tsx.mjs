// Worker shim used only when beit3 runs from its TypeScript sources (vitest, tsx): Node 20
// workers do not inherit the parent's TS loader, so register tsx here, then load the real entry.
// The built package starts dist/util/worker-entry.js directly and never needs this file.
import { workerData } from 'piscina';

const { register } = await import(workerData.tsxApi);
register();
const entry = await import(workerData.entry);
export default entry.default;
