import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The version in the package's package.json (`dist/cli` → package root). */
export function getDurianVersion(): string {
  const pkg = JSON.parse(readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}
