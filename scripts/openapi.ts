// Writes the OpenAPI description the app serves at /openapi.json to a file (or stdout), built as
// the app builds it, with no database or other service: `tsx scripts/openapi.ts [file]`.
import { writeFileSync } from 'node:fs';
import { apiDescription } from '../src/http/app.js';

const text = JSON.stringify(apiDescription(), null, 2) + '\n';
const file = process.argv[2];
if (file) writeFileSync(file, text);
else process.stdout.write(text);
