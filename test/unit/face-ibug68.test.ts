import { IBUG68_GROUPS, MESH_TO_IBUG68, toIbug68 } from '../../src/face/ibug68';
import {
  FACE_OVAL_POLYGON, FACEMESH_FACE_OVAL, FACEMESH_LIPS, LEFT_BROW_POLYGON, LEFT_EYE_POLYGON, LIPS_INNER_POLYGON,
  LIPS_OUTER_POLYGON, RIGHT_BROW_POLYGON, RIGHT_EYE_POLYGON, walkConnections,
} from '../../src/face/mesh-topology';

/**
 * Mirror pairs of the MediaPipe mesh used by the map (subject's right ↔ left), from the symmetric
 * order of FACEMESH_FACE_OVAL / LIPS / *_EYE / *_EYEBROW; midline points map to themselves.
 */
const MIRROR: Record<number, number> = {
  127: 356, 234: 454, 132: 361, 58: 288, 172: 397, 150: 379, 149: 378, 148: 377, 152: 152,
  70: 300, 63: 293, 105: 334, 66: 296, 107: 336, 168: 168, 197: 197, 5: 5, 4: 4, 75: 305, 97: 326, 2: 2,
  33: 263, 160: 387, 158: 385, 133: 362, 153: 380, 144: 373,
  61: 291, 39: 269, 37: 267, 0: 0, 91: 321, 84: 314, 17: 17, 78: 308, 82: 312, 13: 13, 87: 317, 14: 14,
};
/** iBUG-68 mirror of each point index (jaw, brows, nose, eyes, lips). */
function mirrorIbug(i: number): number {
  if (i < 17) return 16 - i;
  if (i < 27) return 43 - i;
  if (i < 31) return i;
  if (i < 36) return 66 - i;
  if (i < 48) {
    const eye = [45, 44, 43, 42, 47, 46];
    return i < 42 ? eye[i - 36]! : 36 + eye.indexOf(i);
  }
  if (i < 60) return i <= 54 ? 102 - i : 114 - i;
  return i <= 64 ? 124 - i : 132 - i;
}

describe('468 → 68 map', () => {
  it('has 68 distinct mesh indices', () => {
    expect(MESH_TO_IBUG68).toHaveLength(68);
    expect(new Set(MESH_TO_IBUG68).size).toBe(68);
    MESH_TO_IBUG68.forEach((m) => expect(m >= 0 && m < 468).toBe(true));
  });

  it('is left-right symmetric', () => {
    const all: Record<number, number> = { ...MIRROR, ...Object.fromEntries(Object.entries(MIRROR).map(([a, b]) => [b, Number(a)])) };
    MESH_TO_IBUG68.forEach((m, i) => expect([i, all[m]]).toEqual([i, MESH_TO_IBUG68[mirrorIbug(i)]]));
  });

  it.each([
    ['jaw', FACE_OVAL_POLYGON],
    ['brows', [...RIGHT_BROW_POLYGON, ...LEFT_BROW_POLYGON]],
    ['eyeRight', RIGHT_EYE_POLYGON],
    ['eyeLeft', LEFT_EYE_POLYGON],
    ['mouthOuter', LIPS_OUTER_POLYGON],
    ['mouthInner', LIPS_INNER_POLYGON],
  ] as const)('takes the %s from the matching mesh contour', (group, contour) => {
    const [a, b] = IBUG68_GROUPS[group]!;
    for (const m of MESH_TO_IBUG68.slice(a, b)) expect(contour).toContain(m);
  });

  it.each([
    [8, 152, 'chin'], [30, 4, 'nose tip'], [33, 2, 'subnasale'], [36, 33, 'right eye outer corner'], [39, 133, 'right eye inner corner'],
    [42, 362, 'left eye inner corner'], [45, 263, 'left eye outer corner'], [48, 61, 'right mouth corner'], [54, 291, 'left mouth corner'],
    [51, 0, 'upper lip centre'], [57, 17, 'lower lip centre'], [62, 13, 'upper inner lip centre'], [66, 14, 'lower inner lip centre'],
  ])('iBUG %i is mesh %i (%s)', (ibug, mesh) => {
    expect(MESH_TO_IBUG68[ibug]).toBe(mesh);
  });

  it('picks x, y of the mapped points', () => {
    const mesh = Float32Array.from({ length: 468 * 3 }, (_, i) => i);
    const kp = toIbug68(mesh);
    expect(kp).toHaveLength(136);
    expect([kp[16], kp[17]]).toEqual([152 * 3, 152 * 3 + 1]);
  });
});

describe('mesh topology', () => {
  it('walks the oval as one closed loop of 36 points', () => {
    expect(FACE_OVAL_POLYGON).toHaveLength(36);
    expect(new Set(FACE_OVAL_POLYGON).size).toBe(36);
    expect(FACEMESH_FACE_OVAL).toContainEqual([FACE_OVAL_POLYGON[35], FACE_OVAL_POLYGON[0]]);
  });

  it('builds lip and eye polygons whose consecutive points are connected', () => {
    for (const [poly, pairs] of [[LIPS_OUTER_POLYGON, FACEMESH_LIPS], [LIPS_INNER_POLYGON, FACEMESH_LIPS]] as const) {
      expect(poly).toHaveLength(20);
      poly.forEach((p, i) => {
        const q = poly[(i + 1) % poly.length]!;
        expect(pairs.some(([a, b]) => (a === p && b === q) || (a === q && b === p))).toBe(true);
      });
    }
    expect(RIGHT_EYE_POLYGON).toHaveLength(16);
    expect(LEFT_EYE_POLYGON).toHaveLength(16);
  });

  it('stops an open path at its end', () => {
    expect(walkConnections([[1, 2], [2, 3], [5, 6]], [1, 2])).toEqual([1, 2, 3]);
  });
});
