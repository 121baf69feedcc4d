/**
 * Which analyser suits an image (docs/face.md, "Which analyser runs"): the model's parser knows the synthetic domain it was
 * trained on; real photos need the face front end. Two independent signals decide:
 *
 * - landmark disagreement, the decisive one: the mean distance between the parser's 68 keypoints
 *   and the face mesh's, over the inter-ocular distance. Measured with models/durian-synth on the
 *   11 synthetic example images: 0.08–0.20; on real ones (astronaut, grace_hopper, frames of
 *   franck.mp4 and cap13_edit2.mp4): 0.29–3.9 (the parser's keypoints mean nothing outside its
 *   domain; the mesh lands on both);
 * - parser confidence, the mean over pixels of the parser's largest class probability, overlaps
 *   between the domains (synthetic 0.94–0.99, real 0.81–0.94) and only overrides when very low.
 *
 * An image is synthetic when the keypoints agree and the parser is not lost (or when the front end
 * finds no face at all); anything else goes to the face front end.
 */

/** Below this mean top-class probability the parser is outside its domain whatever the keypoints say. */
export const MIN_PARSER_CONFIDENCE = 0.85;
/** Above this keypoint disagreement (in inter-ocular distances) the parser is outside its domain. */
export const MAX_LANDMARK_DISAGREEMENT = 0.25;

export type Domain = 'synthetic' | 'real';

export interface DomainCheck {
  domain: Domain;
  parserConfidence: number;
  /** Undefined when the face front end found no face (then the parser is all there is). */
  landmarkDisagreement?: number;
}

/** Mean over pixels of the largest class probability; masks are per-class planes of equal size. */
export function getParserConfidence(masks: Record<string, Float32Array>): number {
  const planes = Object.values(masks);
  const n = planes[0]?.length ?? 0;
  if (n === 0) return 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (const m of planes) if (m[i]! > best) best = m[i]!;
    sum += best;
  }
  return sum / n;
}

/** Mean of the eye centres' distance (points 36–41 and 42–47) of flat 68 keypoints. */
export function getInterocularDistance(kp: ArrayLike<number>): number {
  const centre = (from: number) => {
    let x = 0, y = 0;
    for (let i = from; i < from + 6; i++) {
      x += kp[2 * i]!;
      y += kp[2 * i + 1]!;
    }
    return [x / 6, y / 6] as const;
  };
  const [a, b] = [centre(36), centre(42)];
  return Math.hypot(a[0] - b[0], a[1] - b[1]);
}

/** Mean point distance between two flat 68-keypoint sets, in inter-ocular distances of `reference`. */
export function getLandmarkDisagreement(keypoints: ArrayLike<number>, reference: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < 68; i++) sum += Math.hypot(keypoints[2 * i]! - reference[2 * i]!, keypoints[2 * i + 1]! - reference[2 * i + 1]!);
  return sum / 68 / Math.max(getInterocularDistance(reference), 1e-6);
}

export function classifyDomain(parserConfidence: number, landmarkDisagreement?: number): DomainCheck {
  // no face for the front end: the parser is the only analyser left, whatever its confidence
  const synthetic = landmarkDisagreement === undefined
    || (parserConfidence >= MIN_PARSER_CONFIDENCE && landmarkDisagreement <= MAX_LANDMARK_DISAGREEMENT);
  return { domain: synthetic ? 'synthetic' : 'real', parserConfidence, landmarkDisagreement };
}
