export {
  Program,
  RuntimeError,
  ortClock,
  resolveThreads,
  sessionOptions,
  type CompileOptions,
  type ModelCompileOptions,
  type InputSignature,
  type RunOptions,
} from './session.js';
export {
  writeExternalModel,
  writeExternalModelProto,
  initializerBytes,
  modelInitializerBytes,
  type ExternalModel,
} from './external.js';
export { availableCores, cgroupQuotaCores, threadsPerWorker } from '../util/cores.node.js';
