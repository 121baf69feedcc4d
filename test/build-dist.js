'use strict';
const { execFileSync } = require('node:child_process');
const path = require('node:path');

/** jest globalSetup: compile src/ to dist/ so e2e tests spawn the current code. */
module.exports = async function buildDist() {
  const root = path.resolve(__dirname, '..');
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  });
};
