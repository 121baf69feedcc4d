import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

import { UsageError } from '../../../../src/errors';
import {
  SCHEDULERS,
  SCHEDULER_NAMES,
  createScheduler,
  isSchedulerName,
  type Scheduler,
  type SchedulerName,
} from '../../../../src/pipeline/schedulers';

const FIXTURES = path.join(__dirname, '../../../fixtures/schedulers');
const FIXTURE_FILES = readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort();

/** Each fixture: its scheduler name and scheduler_config.json. */
const CASES = FIXTURE_FILES.map((file) => {
  const json = JSON.parse(readFileSync(path.join(FIXTURES, file), 'utf8')) as { scheduler: SchedulerName; config: unknown };
  return [file, json.scheduler, json.config] as const;
});

/** Scales and steps a fixed sample and model output at every timestep; all outputs, in order. */
function stepAll(s: Scheduler, n: number): Float32Array[] {
  s.setTimesteps(n);
  const sample = Float32Array.from({ length: 32 }, (_, i) => Math.sin(i) * s.initNoiseSigma);
  const eps = Float32Array.from({ length: 32 }, (_, i) => Math.cos(i));
  return s.timesteps.flatMap((t) => {
    const out = s.step(eps, t, sample);
    return [s.scaleModelInput(sample, t), out.prevSample, out.predOriginalSample];
  });
}

describe('scheduler table', () => {
  it('names every scheduler once, in a frozen table', () => {
    expect(SCHEDULER_NAMES).toEqual(['ddim', 'euler']);
    expect(Object.keys(SCHEDULERS)).toEqual([...SCHEDULER_NAMES]);
    expect(Object.isFrozen(SCHEDULERS)).toBe(true);
    expect(isSchedulerName('euler')).toBe(true);
    expect(isSchedulerName('EULER')).toBe(false);
  });

  it('throws a UsageError listing the valid names for an unknown scheduler', () => {
    expect(() => createScheduler('dpm++', {})).toThrow(UsageError);
    expect(() => createScheduler('dpm++', {})).toThrow('unknown scheduler "dpm++"; valid: ddim, euler');
  });

  it('has a golden fixture for every scheduler', () => {
    expect(new Set(CASES.map(([, name]) => name))).toEqual(new Set(SCHEDULER_NAMES));
  });
});

describe.each(SCHEDULER_NAMES)('%s scheduler contract', (name) => {
  const config = CASES.find(([, n]) => n === name)![2];

  it('exposes the public API', () => {
    const s = createScheduler(name, config);
    for (const method of ['setTimesteps', 'scaleModelInput', 'step'] as const) expect(typeof s[method]).toBe('function');
    expect(Object.isFrozen(s.config)).toBe(true);
    expect(s.timesteps).toEqual([]);
    s.setTimesteps(5);
    expect(s.timesteps).toHaveLength(5);
    expect(s.timesteps.every((t) => typeof t === 'number')).toBe(true);
    expect(s.initNoiseSigma).toBeGreaterThanOrEqual(1);
    const sample = new Float32Array(2 * 4 * 3 * 2 * 2).fill(0.5); // [B, 4, F, h, w]
    expect(s.scaleModelInput(sample, s.timesteps[0]!)).toHaveLength(sample.length);
    const out = s.step(sample, s.timesteps[0]!, sample);
    expect(out.prevSample).toBeInstanceOf(Float32Array);
    expect(out.prevSample).toHaveLength(sample.length);
    expect(out.predOriginalSample).toHaveLength(sample.length);
    expect(out.prevSample).not.toBe(sample);
  });

  it('throws on step before setTimesteps', () => {
    const s = createScheduler(name, config);
    expect(() => s.step(new Float32Array(4), 901, new Float32Array(4))).toThrow(/before setTimesteps/);
  });

  it('throws on numInferenceSteps ≤ 0', () => {
    expect(() => createScheduler(name, config).setTimesteps(0)).toThrow(UsageError);
  });

  it('rejects an unknown prediction_type, listing the valid ones', () => {
    expect(() => createScheduler(name, { ...(config as object), prediction_type: 'flow' })).toThrow(
      /unknown prediction_type "flow"; valid: epsilon, v_prediction/,
    );
  });

  it('rejects an unknown timestep_spacing, listing the valid ones', () => {
    expect(() => createScheduler(name, { ...(config as object), timestep_spacing: 'uniform' })).toThrow(
      /unknown timestep_spacing "uniform"; valid: leading, linspace, trailing/,
    );
  });
});

describe.each(CASES)('config round-trip: %s', (_file, name, config) => {
  it('JSON → scheduler → config → scheduler gives the same config and identical step output', () => {
    const first = createScheduler(name, config);
    const second = createScheduler(name, JSON.parse(JSON.stringify(first.config)));
    expect(second.config).toEqual(first.config);
    expect(stepAll(second, 7)).toEqual(stepAll(first, 7));
  });
});

describe('one scheduler_config.json serves every scheduler (diffusers from_config swap)', () => {
  it.each(CASES.filter(([, name]) => name === 'ddim'))('%s read as euler', (_file, _name, config) => {
    const ddim = createScheduler('ddim', config);
    const euler = createScheduler('euler', config);
    ddim.setTimesteps(10);
    euler.setTimesteps(10);
    expect(euler.timesteps).toEqual(ddim.timesteps);
    expect(euler.config.prediction_type).toBe(ddim.config.prediction_type);
  });
});
