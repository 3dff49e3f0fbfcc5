/**
 * Training core: schedules, parameter groups, task objectives and the compiled train step.
 *
 * Public API (stable; the loop in loop.ts and the CLI build on it):
 *
 *   // 1. a task objective for a model (graph inputs = the official collate keys, see objectives.ts)
 *   const obj = buildObjective(model, 'vqav2', { batchSize: 8, textLen: 64 });
 *   // 2. the official optimizer groups (get_parameter_groups with layer decay / head weight)
 *   const groups = finetuneGroups(model, { weightDecay: 0.05, layerDecay: 0.65 });
 *   // 3. the official schedule, one value per optimizer step (utils.cosine_scheduler)
 *   const lrs = finetuneSchedule({ lr, minLr, epochs, warmupEpochs, warmupSteps }, stepsPerEpoch);
 *   // 4. the compiled stepper (update_freq 1: one ORT program; > 1: accumulate + update programs)
 *   const step = await TrainStep.compile({
 *     graph: obj.graph, loss: obj.loss, params: obj.params, outputs: obj.outputs, noise: obj.noise,
 *     groups, adamw: { beta1: 0.9, beta2: 0.999, eps: 1e-8 }, clipGradNorm: 3.0, updateFreq: 2, seed,
 *   });
 *   //    (steps 1–4 in one call: compileFinetune(model, task, hp, { batchSize, textLen, seed }))
 *   step.init(model.stateDict());            // every parameter (unused ones are carried unchanged)
 *   // 5. one micro-batch: i = micro index, k = i // update_freq (the optimizer step)
 *   const r = await step.microStep(obj.feeds(batch, { globalStep: k }), lrs[k]);
 *   //    r.loss (before /update_freq), r.outputs.acc, r.update, r.gradNorm (pre-clip), r.clipCoef, r.lr[g]
 *   //    a non-finite loss/grad norm throws NonFiniteError and leaves the state as before
 *   // 6. checkpoint / resume: plain data, exact
 *   const st: TrainState = step.getState();  // {step, microStep, accumulated, lr, params, m, v, extra, grads, ema}
 *   step.setState(st);
 *
 * Models other than BEiT-3 (VQ-KD, pretraining) build their own graph and pass their groups
 * (getParameterGroups with their GroupRule) and non-parameter state (`state: [{input, next}]`,
 * updated inside the step) to TrainStep.compile the same way.
 */
export * from './schedule.js';
export * from './param-groups.js';
export * from './optim.js';
export * from './step.js';
export * from './objectives.js';
export * from './finetune.js';
