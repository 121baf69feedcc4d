/**
 * Relative motion retargeting (docs/architecture.md, "Guidance"): each driving frame's
 * displacement from the driving video's first frame, normalised by face size, applied to the
 * identity's own keypoints — the face shape stays the identity's.
 */

/** Face size of 68 keypoints: distance between the outer eye corners (36, 45) plus eye-line to chin (8). */
export function getFaceSize(kp: ArrayLike<number>): number {
  const ex = (kp[72]! + kp[90]!) / 2, ey = (kp[73]! + kp[91]!) / 2;
  const eyes = Math.hypot(kp[90]! - kp[72]!, kp[91]! - kp[73]!);
  const chin = Math.hypot(kp[16]! - ex, kp[17]! - ey);
  return eyes + chin;
}

/** Identity keypoints moved as the driver moves: identity + (drive_f − drive_0) · size_id / size_drive. */
export function retargetKeypoints(identity: ArrayLike<number>, driving: ArrayLike<number>[]): Float32Array[] {
  if (driving.length === 0) return [];
  const first = driving[0]!;
  const scale = getFaceSize(identity) / getFaceSize(first);
  return driving.map((d) => {
    const out = new Float32Array(identity.length);
    for (let i = 0; i < identity.length; i++) out[i] = identity[i]! + (d[i]! - first[i]!) * scale;
    return out;
  });
}
