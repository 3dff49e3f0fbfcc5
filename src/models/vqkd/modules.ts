/**
 * A plain nn.Module that only holds named children / parameters, for trees whose official
 * layout has such namespaces (CLIP's `mlp` Sequential, `conv1`, `transformer`, `teacher_model`).
 */
import type { Init } from '../../nn/init.js';
import { Module, type Parameter } from '../../nn/module.js';

/** A module that is only a namespace: children and parameters added by name from outside. */
export class Container extends Module {
  add<M extends Module>(name: string, m: M): M {
    return this.addModule(name, m);
  }
  param(name: string, shape: readonly number[], init: Init): Parameter {
    return this.addParameter(name, shape, init);
  }
}
