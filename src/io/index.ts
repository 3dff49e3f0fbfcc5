export {
  SafetensorsError,
  SafetensorsFile,
  TensorMap,
  loadSafetensors,
  parseSafetensors,
  parseSafetensorsHeader,
  saveSafetensors,
  serializeSafetensors,
  type SafetensorsEntry,
  type SafetensorsHeader,
} from './safetensors.js';
export {
  PthArchive,
  PthError,
  TensorRef,
  loadPth,
  parsePth,
  selectStateDict,
  type PthOptions,
} from './pth.js';
export {
  UnpicklingError,
  unpickle,
  PyDict,
  PyOpaque,
  PyTuple,
  type PyGlobal,
  type UnpickleOptions,
} from './pickle.js';
export { crc32, savePth, serializePth, type PthWriteOptions } from './pth-write.js';
export { ZipError, ZipReader } from './zip.js';
export {
  CheckpointError,
  detectCheckpointFormat,
  loadCheckpoint,
  type CheckpointFormat,
  type LoadCheckpointOptions,
} from './checkpoint.js';
export { InterpolateError, bicubicResizeGrid, resamplePositionTable } from './interpolate.js';
export {
  bf16ArrayToF32,
  bf16BitsToF32,
  f16ArrayToF32,
  f16BitsToF32,
  f32ArrayToBf16,
  f32ArrayToF16,
  f32ToBf16Bits,
  f32ToF16Bits,
  toBFloat16,
  toFloat16,
  toFloat32,
} from './half.js';
