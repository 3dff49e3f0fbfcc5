export { Program, RuntimeError, type CompileOptions } from './session.js';
