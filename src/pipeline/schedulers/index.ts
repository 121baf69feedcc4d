/**
 * The schedulers `--scheduler` can name. Each reads the model's `scheduler_config.json`, so one
 * exported config serves every scheduler (diffusers' `from_config` swap).
 */
import { UsageError } from '../../errors';
import { createDDIMSchedulerFromConfig } from './ddim-scheduler';
import { createEulerDiscreteSchedulerFromConfig } from './euler-discrete-scheduler';
import type { Scheduler } from './scheduler';

export * from './scheduler';
export { DDIMScheduler, createDDIMSchedulerFromConfig, type DDIMSchedulerConfig } from './ddim-scheduler';
export { EulerDiscreteScheduler, createEulerDiscreteSchedulerFromConfig } from './euler-discrete-scheduler';

/** Scheduler names, in `--scheduler` order; the first is the default. */
export const SCHEDULER_NAMES = ['ddim', 'euler'] as const;
export type SchedulerName = (typeof SCHEDULER_NAMES)[number];

/** Scheduler name → factory from parsed `scheduler_config.json`. */
export const SCHEDULERS: Readonly<Record<SchedulerName, (configJson: unknown) => Scheduler>> = Object.freeze({
  ddim: createDDIMSchedulerFromConfig,
  euler: createEulerDiscreteSchedulerFromConfig,
});

/** Creates the scheduler `name` from parsed `scheduler_config.json`; an unknown name lists the valid ones. */
export function createScheduler(name: string, configJson: unknown): Scheduler {
  if (!isSchedulerName(name)) {
    throw new UsageError(`unknown scheduler "${name}"; valid: ${SCHEDULER_NAMES.join(', ')}`);
  }
  return SCHEDULERS[name](configJson);
}

/** True when `name` is one of SCHEDULER_NAMES. */
export function isSchedulerName(name: string): name is SchedulerName {
  return (SCHEDULER_NAMES as readonly string[]).includes(name);
}
