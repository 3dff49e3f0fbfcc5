export { Program, RuntimeError, type CompileOptions, type RunOptions } from './session.js';
export { writeExternalModel, initializerBytes, type ExternalModel } from './external.js';
