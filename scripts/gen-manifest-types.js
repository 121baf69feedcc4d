#!/usr/bin/env node
// Writes src/onnx/manifest-types.ts from tools/export/durian_export/manifest.schema.json, the one
// manifest contract. `--check` writes nothing and exits 1 when the checked-in file is out of date
// (scripts/test.sh runs it so), so the TypeScript types cannot drift from the schema.
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');
const path = require('node:path');
const { compile } = require('json-schema-to-typescript');

const root = path.resolve(__dirname, '..');
const schemaFile = path.join(root, 'tools/export/durian_export/manifest.schema.json');
const outFile = path.join(root, 'src/onnx/manifest-types.ts');

async function main() {
  const schema = JSON.parse(readFileSync(schemaFile, 'utf8'));
  const banner = '/* Generated from tools/export/durian_export/manifest.schema.json by scripts/gen-manifest-types.js\n'
    + ' * (npm run gen:manifest-types). Do not edit: change the schema and regenerate. */';
  const ts = await compile(schema, 'DurianManifest', {
    bannerComment: banner,
    additionalProperties: false,
    unreachableDefinitions: false,
    // tuples up to 3 items ([height, width], RGB colours); longer bounded arrays (face_template) stay T[]
    maxItems: 3,
    style: { singleQuote: true, printWidth: 120 },
  });
  if (process.argv.includes('--check')) {
    const current = readFileSync(outFile, 'utf8');
    if (current !== ts) {
      console.error(`${path.relative(root, outFile)} is out of date with the schema: run npm run gen:manifest-types`);
      process.exit(1);
    }
    return;
  }
  writeFileSync(outFile, ts);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
