import * as fs from 'fs';
import * as path from 'path';

/** The version in package.json (two folders up from both src/ and dist/). */
export const TOOL_VERSION: string = (() => {
  try {
    return (JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();
