export {
  Program,
  RuntimeError,
  ortClock,
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
