/**
 * A fixed 468 → 68 index map from the MediaPipe face mesh to the iBUG-68 (300-W / dlib) layout the
 * synthetic renderer emits (docs/face.md). "Right"/"left" are the subject's: iBUG point 0 and the
 * right eye (36–41) are on the image's left in a frontal photo, as is mesh point 33.
 *
 * How the indices were chosen: per group, among the points of the matching mesh contour
 * (mesh-topology.ts), the one that lands where the iBUG point sits. Two measurements on the mesh
 * of astronaut.png and grace_hopper.jpg guided it: the distance to OpenFace's mean dlib-68 shape
 * (its `align_dlib.py` TEMPLATE) after a similarity fit on eye corners and nose, for the jaw and
 * nose; and, for lids and lips, whose shape changes with expression, the point's position along
 * the corner-to-corner axis compared with the mean shape's (e.g. iBUG 37 sits 0.30 of the way from
 * the outer to the inner eye corner). Every right-side index has its mesh mirror at the mirrored
 * iBUG position. Checked by eye on overlays of both portraits.
 */

/** Mesh index for each iBUG-68 point, in iBUG order. */
export const MESH_TO_IBUG68: readonly number[] = Object.freeze([
  // Jaw 0–16: the lower face oval from the right ear (just below the eye line) over the chin
  // (152, iBUG 8) to the left ear. The oval has 12 points per side from ear to chin; the 8 kept
  // are the ones nearest the mean shape's evenly spaced jaw points.
  127, 234, 132, 58, 172, 150, 149, 148, 152, 377, 378, 379, 397, 288, 361, 454, 356,
  // Brows 17–26: the upper brow edge, right brow outer → inner, then left brow inner → outer.
  70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
  // Nose 27–30: the ridge from the nasion between the eyes (168) down to the tip (4; mesh 1 is
  // the tip's lower, more protruding point). 31–35: the nose base, right alar base (75), right
  // nostril (97), subnasale (2), left nostril (326), left alar base (305).
  168, 197, 5, 4, 75, 97, 2, 326, 305,
  // Right eye 36–41: outer corner 33, upper lid (160, 158), inner corner 133, lower lid (153, 144).
  33, 160, 158, 133, 153, 144,
  // Left eye 42–47: inner corner 362, upper lid (385, 387), outer corner 263, lower lid (373, 380).
  362, 385, 387, 263, 373, 380,
  // Outer lips 48–59: right corner 61, upper lip (39, the cupid's bow peak 37, centre 0, 267, 269)
  // to the left corner 291, then the lower lip back (321, 314, centre 17, 84, 91).
  61, 39, 37, 0, 267, 269, 291, 321, 314, 17, 84, 91,
  // Inner lips 60–67: right inner corner 78, upper inner lip (82, centre 13, 312), left inner
  // corner 308, lower inner lip (317, centre 14, 87).
  78, 82, 13, 312, 308, 317, 14, 87,
]);

/** iBUG-68 groups as [start, end) ranges, for drawing and tests. */
export const IBUG68_GROUPS: Readonly<Record<string, readonly [number, number]>> = Object.freeze({
  jaw: [0, 17], brows: [17, 27], nose: [27, 36], eyeRight: [36, 42], eyeLeft: [42, 48], mouthOuter: [48, 60], mouthInner: [60, 68],
});

/** 68 keypoints flat [x0, y0, …] from mesh points (flat, `stride` values per point, default x, y, z). */
export function toIbug68(meshPoints: ArrayLike<number>, stride = 3): Float32Array {
  const out = new Float32Array(2 * MESH_TO_IBUG68.length);
  MESH_TO_IBUG68.forEach((p, i) => {
    out[2 * i] = meshPoints[p * stride]!;
    out[2 * i + 1] = meshPoints[p * stride + 1]!;
  });
  return out;
}

/** The 68 keypoints' 3-D mesh points, flat [x0, y0, z0, …] (the mesh's x, y pixels and relative z). */
export function toIbug68Points3d(meshPoints: ArrayLike<number>): Float32Array {
  const out = new Float32Array(3 * MESH_TO_IBUG68.length);
  MESH_TO_IBUG68.forEach((p, i) => {
    for (let d = 0; d < 3; d++) out[3 * i + d] = meshPoints[3 * p + d]!;
  });
  return out;
}
