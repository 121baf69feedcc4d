import { classifyDomain, getInterocularDistance, getLandmarkDisagreement, getParserConfidence, MAX_LANDMARK_DISAGREEMENT, MIN_PARSER_CONFIDENCE } from '../../src/pipeline/domain';

/** 68 keypoints with the eyes (36–47) around (30, 50) and (70, 50): inter-ocular distance 40. */
function face(dx = 0): Float32Array {
  const kp = new Float32Array(136);
  for (let i = 0; i < 68; i++) {
    const x = i >= 36 && i < 42 ? 30 : i >= 42 && i < 48 ? 70 : 50;
    kp[2 * i] = x + dx;
    kp[2 * i + 1] = 50 + (i % 5);
  }
  return kp;
}

describe('domain check', () => {
  it('parser confidence is the mean top-class probability', () => {
    expect(getParserConfidence({ a: Float32Array.of(1, 0.5), b: Float32Array.of(0, 0.5) })).toBeCloseTo(0.75);
    expect(getParserConfidence({})).toBe(0);
  });

  it('landmark disagreement is in inter-ocular distances of the reference', () => {
    expect(getInterocularDistance(face())).toBeCloseTo(40);
    expect(getLandmarkDisagreement(face(4), face())).toBeCloseTo(0.1);
    expect(getLandmarkDisagreement(face(), face())).toBe(0);
  });

  it('synthetic only when both signals say so; no face means the parser decides', () => {
    expect(classifyDomain(0.98, 0.1).domain).toBe('synthetic');
    expect(classifyDomain(MIN_PARSER_CONFIDENCE - 0.01, 0.1).domain).toBe('real');
    expect(classifyDomain(0.98, MAX_LANDMARK_DISAGREEMENT + 0.01).domain).toBe('real');
    expect(classifyDomain(0.5, undefined).domain).toBe('synthetic');
  });
});
