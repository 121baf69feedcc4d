/**
 * Non-maximum suppression of face detections: MediaPipe's weighted variant
 * (NonMaxSuppressionCalculator, algorithm WEIGHTED, overlap type IoU) and plain NMS for comparison.
 */

/** An axis-aligned box: top-left corner and size (units of whoever made it). */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A face detection: box, 6 keypoints flat [x0, y0, …, x5, y5], score in [0, 1]. */
export interface Detection {
  box: Box;
  keypoints: Float32Array;
  score: number;
}

/** Intersection over union of two boxes; 0 for empty boxes. */
export function getIou(a: Box, b: Box): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Weighted NMS (MediaPipe): take the best remaining detection, gather every remaining detection
 * whose IoU with it exceeds `minIou` (itself included), replace the box and keypoints by their
 * score-weighted mean, keep the best score; repeat on the rest. Returns best first.
 */
export function suppressWeighted(detections: readonly Detection[], minIou: number): Detection[] {
  let remaining = [...detections].sort((a, b) => b.score - a.score);
  const out: Detection[] = [];
  while (remaining.length > 0) {
    const best = remaining[0]!;
    const group = remaining.filter((d) => getIou(best.box, d.box) > minIou || d === best);
    remaining = remaining.filter((d) => !group.includes(d));
    let total = 0;
    const box = { x: 0, y: 0, width: 0, height: 0 };
    const keypoints = new Float32Array(best.keypoints.length);
    for (const d of group) {
      total += d.score;
      box.x += d.score * d.box.x;
      box.y += d.score * d.box.y;
      box.width += d.score * d.box.width;
      box.height += d.score * d.box.height;
      for (let k = 0; k < keypoints.length; k++) keypoints[k] = keypoints[k]! + d.score * d.keypoints[k]!;
    }
    out.push({
      box: { x: box.x / total, y: box.y / total, width: box.width / total, height: box.height / total },
      keypoints: keypoints.map((v) => v / total),
      score: best.score,
    });
  }
  return out;
}

/** Plain NMS: keep the best, drop every detection overlapping a kept one by more than `maxIou`. */
export function suppressPlain(detections: readonly Detection[], maxIou: number): Detection[] {
  const kept: Detection[] = [];
  for (const d of [...detections].sort((a, b) => b.score - a.score)) {
    if (kept.every((k) => getIou(k.box, d.box) <= maxIou)) kept.push(d);
  }
  return kept;
}
