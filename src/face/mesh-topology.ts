/**
 * MediaPipe face-mesh topology: the 468-point mesh's contour connections, and closed polygons
 * built from them for mask rasterisation.
 *
 * The connection lists are copied verbatim from `@mediapipe/face_mesh` 0.4.1657299874
 * (`face_mesh.js` / `index.d.ts`, exports FACEMESH_*), Copyright Google LLC, Apache-2.0.
 * "Right" and "left" are the subject's: the right eye is on the image's left in a frontal photo.
 */

/** A directed edge between two mesh point indices, as MediaPipe lists it. */
export type Connection = readonly [number, number];

/** Face oval, a closed loop from the forehead top (10) clockwise in the image. */
export const FACEMESH_FACE_OVAL: readonly Connection[] = [
  [10, 338], [338, 297], [297, 332], [332, 284], [284, 251], [251, 389], [389, 356], [356, 454], [454, 323], [323, 361],
  [361, 288], [288, 397], [397, 365], [365, 379], [379, 378], [378, 400], [400, 377], [377, 152], [152, 148], [148, 176],
  [176, 149], [149, 150], [150, 136], [136, 172], [172, 58], [58, 132], [132, 93], [93, 234], [234, 127], [127, 162],
  [162, 21], [21, 54], [54, 103], [103, 67], [67, 109], [109, 10],
];

/** Lips: outer lower, outer upper, inner lower, inner upper contours, each from the right corner (61 / 78) to the left (291 / 308). */
export const FACEMESH_LIPS: readonly Connection[] = [
  [61, 146], [146, 91], [91, 181], [181, 84], [84, 17], [17, 314], [314, 405], [405, 321], [321, 375], [375, 291],
  [61, 185], [185, 40], [40, 39], [39, 37], [37, 0], [0, 267], [267, 269], [269, 270], [270, 409], [409, 291],
  [78, 95], [95, 88], [88, 178], [178, 87], [87, 14], [14, 317], [317, 402], [402, 318], [318, 324], [324, 308],
  [78, 191], [191, 80], [80, 81], [81, 82], [82, 13], [13, 312], [312, 311], [311, 310], [310, 415], [415, 308],
];

/** Right eye (the subject's right, image left): lower lid then upper lid, outer corner 33 to inner corner 133. */
export const FACEMESH_RIGHT_EYE: readonly Connection[] = [
  [33, 7], [7, 163], [163, 144], [144, 145], [145, 153], [153, 154], [154, 155], [155, 133], [33, 246], [246, 161],
  [161, 160], [160, 159], [159, 158], [158, 157], [157, 173], [173, 133],
];

/** Left eye: lower lid then upper lid, outer corner 263 to inner corner 362. */
export const FACEMESH_LEFT_EYE: readonly Connection[] = [
  [263, 249], [249, 390], [390, 373], [373, 374], [374, 380], [380, 381], [381, 382], [382, 362], [263, 466], [466, 388],
  [388, 387], [387, 386], [386, 385], [385, 384], [384, 398], [398, 362],
];

/** Right eyebrow: lower edge 46→55, upper edge 70→107 (outer to inner). */
export const FACEMESH_RIGHT_EYEBROW: readonly Connection[] = [
  [46, 53], [53, 52], [52, 65], [65, 55], [70, 63], [63, 105], [105, 66], [66, 107],
];

/** Left eyebrow: lower edge 276→285, upper edge 300→336 (outer to inner). */
export const FACEMESH_LEFT_EYEBROW: readonly Connection[] = [
  [276, 283], [283, 282], [282, 295], [295, 285], [300, 293], [293, 334], [334, 296], [296, 336],
];

/**
 * Follows directed connections from the edge `first` until no edge continues or the path closes;
 * returns the visited indices in order (a closed loop does not repeat its start).
 */
export function walkConnections(pairs: readonly Connection[], first: Connection): number[] {
  const next = new Map<number, number[]>();
  for (const [a, b] of pairs) next.set(a, [...(next.get(a) ?? []), b]);
  const path = [first[0], first[1]];
  const seen = new Set(path);
  for (;;) {
    const last = path[path.length - 1]!;
    const candidates = next.get(last) ?? [];
    const step = candidates.find((c) => !seen.has(c));
    if (step === undefined) return path;
    path.push(step);
    seen.add(step);
  }
}

/** A closed polygon from two paths that share their end points (e.g. lower and upper lid). */
function joinPaths(lower: number[], upper: number[]): readonly number[] {
  const back = [...upper].reverse().filter((i) => i !== lower[0] && i !== lower[lower.length - 1]);
  return Object.freeze([...lower, ...back]);
}

/** Face oval, 36 points from the forehead top (10), closed. */
export const FACE_OVAL_POLYGON = Object.freeze(walkConnections(FACEMESH_FACE_OVAL, [10, 338]));
/** Outer lip contour: lower lip 61→291, then the upper lip back to 61. */
export const LIPS_OUTER_POLYGON = joinPaths(walkConnections(FACEMESH_LIPS, [61, 146]), walkConnections(FACEMESH_LIPS, [61, 185]));
/** Inner lip contour (the mouth opening): 78→308 along the lower lip, back along the upper. */
export const LIPS_INNER_POLYGON = joinPaths(walkConnections(FACEMESH_LIPS, [78, 95]), walkConnections(FACEMESH_LIPS, [78, 191]));
/** Right eye opening: lower lid 33→133, upper lid back. */
export const RIGHT_EYE_POLYGON = joinPaths(walkConnections(FACEMESH_RIGHT_EYE, [33, 7]), walkConnections(FACEMESH_RIGHT_EYE, [33, 246]));
/** Left eye opening: lower lid 263→362, upper lid back. */
export const LEFT_EYE_POLYGON = joinPaths(walkConnections(FACEMESH_LEFT_EYE, [263, 249]), walkConnections(FACEMESH_LEFT_EYE, [263, 466]));
/** Right brow: lower edge outer→inner, then the upper edge inner→outer (the closing edges are ours). */
export const RIGHT_BROW_POLYGON = Object.freeze([
  ...walkConnections(FACEMESH_RIGHT_EYEBROW, [46, 53]),
  ...walkConnections(FACEMESH_RIGHT_EYEBROW, [70, 63]).reverse(),
]);
/** Left brow: lower edge outer→inner, then the upper edge inner→outer. */
export const LEFT_BROW_POLYGON = Object.freeze([
  ...walkConnections(FACEMESH_LEFT_EYEBROW, [276, 283]),
  ...walkConnections(FACEMESH_LEFT_EYEBROW, [300, 293]).reverse(),
]);
