/**
 * Image I/O through sharp (libvips).
 */
import sharp from 'sharp';

/** sharp's and libvips' versions. */
export function getSharpVersions(): { sharp: string; libvips: string } {
  const versions = sharp.versions as Record<string, string | undefined>;
  return { sharp: versions.sharp ?? 'unknown', libvips: versions.vips ?? 'unknown' };
}
