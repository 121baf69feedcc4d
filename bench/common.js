'use strict';
/** What every bench script shares: the repository root and `--name value` arguments. */
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

/** The value after `--name` on the command line, else `def`. */
function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}

module.exports = { ROOT, arg };
