/**
 * Class masks for real photos, in the classes the durian model uses (background, face, clothes,
 * hair, hat, glasses, beard), from the person mask of the selfie segmenter and polygons over the
 * 468 mesh points.
 *
 * HEURISTICS, NOT A PARSER: no face-parsing, hair, hat or glasses model is obtainable offline
 * (docs/face.md). What each class really is:
 * - face: the face-oval polygon (eyes, brows and lips stay inside, as the synthetic renderer
 *   draws them) plus a neck band under the chin within the person mask (a fixed fraction of the
 *   face width, not a measured neck);
 * - hair: person ∧ ¬dilated face oval ∧ a head band (above the chin line, within one face width of
 *   the face's axis) — anything in that band that is not face counts, a hat or a raised hand too;
 * - hat: the part of the hair region above the top of the face oval: where a hat would sit. The
 *   segmenter cannot tell hat from hair, so on a bare head this is hair;
 * - glasses: the eye polygons enlarged to lens size plus a bridge: where glasses would be, whether
 *   or not they are there;
 * - beard: the lower face from the ears over the chin up to the nose base, minus the lips: where a
 *   beard would grow, whether or not it does;
 * - clothes: person below the chin line that is not face or hair; background: 1 − person.
 * Regions may overlap (hair/hat, face/glasses, face/beard), unlike the renderer's exclusive masks.
 */
import {
  FACE_OVAL_POLYGON, LEFT_EYE_POLYGON, LIPS_OUTER_POLYGON, RIGHT_EYE_POLYGON,
} from './mesh-topology';
import { dilateBox, fillPolygon, pickPoints, rasterizePolygon } from './raster';

/** The classes produced here (the durian model's mask classes, as its manifest names them). */
export const FACE_MASK_CLASSES = ['background', 'face', 'clothes', 'hair', 'hat', 'glasses', 'beard'] as const;
export type FaceMaskClass = (typeof FACE_MASK_CLASSES)[number];

/** Heuristic proportions, in face widths (oval extent along the eye line) or face heights. */
export const MASK_HEURISTICS = Object.freeze({
  /** Face-oval dilation that hair must stay out of (skin at the oval's edge is not hair). */
  ovalMargin: 0.06,
  /** Half-width of the hair band around the face axis. */
  hairHalfWidth: 1.0,
  /** Neck band: half-width, and depth below the chin in face heights. */
  neckHalfWidth: 0.3,
  neckDepth: 0.45,
  /** Lens size relative to the eye opening: along the eye line and across it. */
  lensScaleU: 2.0,
  lensScaleV: 3.5,
  /** Bridge half-height between the lenses, in face widths. */
  bridgeHalfHeight: 0.03,
});

/** Lower face, for the beard region: oval from the left ear over the chin to the right ear, back by the nose base. */
const LOWER_FACE_CLOSE = [98, 2, 327] as const;

/** Face axes: origin between the outer eye corners, u along the eye line, v down the face. */
interface FaceFrame {
  ox: number; oy: number; cos: number; sin: number;
}

function getFaceFrame(points: Float32Array): FaceFrame {
  const x0 = points[33 * 3]!, y0 = points[33 * 3 + 1]!, x1 = points[263 * 3]!, y1 = points[263 * 3 + 1]!;
  const angle = Math.atan2(y1 - y0, x1 - x0);
  return { ox: (x0 + x1) / 2, oy: (y0 + y1) / 2, cos: Math.cos(angle), sin: Math.sin(angle) };
}

const toU = (f: FaceFrame, x: number, y: number): number => f.cos * (x - f.ox) + f.sin * (y - f.oy);
const toV = (f: FaceFrame, x: number, y: number): number => -f.sin * (x - f.ox) + f.cos * (y - f.oy);

/** A polygon scaled about its centroid by (su, sv) along the face axes. */
function scalePolygon(poly: Float32Array, f: FaceFrame, su: number, sv: number): Float32Array {
  let cx = 0, cy = 0;
  for (let i = 0; i < poly.length; i += 2) { cx += poly[i]!; cy += poly[i + 1]!; }
  cx /= poly.length / 2; cy /= poly.length / 2;
  const out = new Float32Array(poly.length);
  for (let i = 0; i < poly.length; i += 2) {
    const dx = poly[i]! - cx, dy = poly[i + 1]! - cy;
    const u = (f.cos * dx + f.sin * dy) * su, v = (-f.sin * dx + f.cos * dy) * sv;
    out[i] = cx + f.cos * u - f.sin * v;
    out[i + 1] = cy + f.sin * u + f.cos * v;
  }
  return out;
}

/**
 * Class masks [H, W] in [0, 1] from mesh points (flat x, y, z per point, image pixels) and the
 * person probability [H, W] of the selfie segmenter. See the file comment for what they mean.
 */
export function createFaceMasks(width: number, height: number, points: Float32Array, person: Float32Array): Record<FaceMaskClass, Float32Array> {
  const h = MASK_HEURISTICS;
  const plane = width * height;
  const f = getFaceFrame(points);
  const oval = pickPoints(points, FACE_OVAL_POLYGON);
  let uMin = Infinity, uMax = -Infinity, vTop = Infinity;
  for (let i = 0; i < oval.length; i += 2) {
    const u = toU(f, oval[i]!, oval[i + 1]!);
    uMin = Math.min(uMin, u); uMax = Math.max(uMax, u);
    vTop = Math.min(vTop, toV(f, oval[i]!, oval[i + 1]!));
  }
  const faceWidth = uMax - uMin, uAxis = (uMin + uMax) / 2;
  const vChin = toV(f, points[152 * 3]!, points[152 * 3 + 1]!);
  const faceHeight = vChin - vTop;

  // 1. Geometric regions from the mesh
  const ovalMask = rasterizePolygon(width, height, oval);
  const nearFace = dilateBox(ovalMask, width, height, h.ovalMargin * faceWidth);
  const glasses = new Float32Array(plane);
  for (const eye of [RIGHT_EYE_POLYGON, LEFT_EYE_POLYGON]) fillPolygon(glasses, width, height, scalePolygon(pickPoints(points, eye), f, h.lensScaleU, h.lensScaleV));
  const inner = pickPoints(points, [133, 362]);
  const bh = h.bridgeHalfHeight * faceWidth, nx = -f.sin * bh, ny = f.cos * bh;
  fillPolygon(glasses, width, height, [inner[0]! - nx, inner[1]! - ny, inner[2]! - nx, inner[3]! - ny, inner[2]! + nx, inner[3]! + ny, inner[0]! + nx, inner[1]! + ny]);
  const start = FACE_OVAL_POLYGON.indexOf(454), end = FACE_OVAL_POLYGON.indexOf(234);
  const beard = rasterizePolygon(width, height, pickPoints(points, [...FACE_OVAL_POLYGON.slice(start, end + 1), ...LOWER_FACE_CLOSE]));
  const lips = rasterizePolygon(width, height, pickPoints(points, LIPS_OUTER_POLYGON));

  // 2. Per pixel: combine with the person mask in face coordinates
  const masks = Object.fromEntries(FACE_MASK_CLASSES.map((c) => [c, new Float32Array(plane)])) as Record<FaceMaskClass, Float32Array>;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const p = person[i]!;
      const u = toU(f, x + 0.5, y + 0.5) - uAxis, v = toV(f, x + 0.5, y + 0.5);
      const neck = v > vChin - 0.1 * faceHeight && v < vChin + h.neckDepth * faceHeight && Math.abs(u) < h.neckHalfWidth * faceWidth && p > 0.5;
      const face = ovalMask[i]! > 0.5 || neck;
      const hair = !face && nearFace[i]! < 0.5 && v < vChin && Math.abs(u) < h.hairHalfWidth * faceWidth ? p : 0;
      masks.background[i] = 1 - p;
      masks.face[i] = face ? 1 : 0;
      masks.hair[i] = hair;
      masks.hat[i] = v < vTop ? hair : 0;
      masks.glasses[i] = glasses[i]!;
      masks.beard[i] = lips[i]! > 0.5 ? 0 : beard[i]!;
      masks.clothes[i] = !face && hair === 0 && v > vChin ? p : 0;
    }
  }
  return masks;
}
